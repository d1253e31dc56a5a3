"""Ed25519 signature checks, the largest single cost of the city's ingest.

Every envelope carries a device signature that the ingest must check before it decrypts anything. libsodium
(through PyNaCl, the Python Cryptographic Authority's binding) checks one in roughly half the time OpenSSL 3 takes
through `cryptography` on the CPUs measured (`scripts/bench_verify.py`), and it runs outside the GIL, beside the
MQTT network thread. PyNaCl is in the `ingest` extra; without it `cryptography` verifies, with the same answers
for every signature a device makes. libsodium is the stricter of the two on crafted input (it refuses small-order
public keys and non-canonical points), which only ever refuses more forgeries.

Devices verify only a receipt now and then and do not need the extra.
"""

from __future__ import annotations

from typing import Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from edge_agent.protocol.crypto.keys import key_id, raw_public

Backend = Literal["libsodium", "openssl"]

try:
    import nacl.exceptions
    import nacl.signing

    DEFAULT_BACKEND: Backend = "libsodium"
except ImportError:  # pragma: no cover - exercised where the extra is not installed
    DEFAULT_BACKEND = "openssl"


def available_backends() -> tuple[Backend, ...]:
    """Backends this installation can use, fastest first."""
    return ("libsodium", "openssl") if DEFAULT_BACKEND == "libsodium" else ("openssl",)


class Ed25519Verifier:
    """One public key, ready to check signatures: key id computed once, the backend's key object built once."""

    __slots__ = ("_nacl", "backend", "key", "key_id")

    def __init__(self, key: Ed25519PublicKey, backend: Backend | None = None) -> None:
        self.key = key
        self.key_id = key_id(key)
        self.backend: Backend = backend or DEFAULT_BACKEND
        if self.backend not in available_backends():
            raise ValueError(f"Ed25519 backend {self.backend} is not installed (pip install 'edge-agent[ingest]')")
        self._nacl = nacl.signing.VerifyKey(raw_public(key)) if self.backend == "libsodium" else None

    def verify(self, signature: bytes, message: bytes) -> bool:
        """True when `signature` is this key's signature of `message`."""
        if self._nacl is not None:
            try:
                self._nacl.verify(message, signature)
            except (nacl.exceptions.BadSignatureError, ValueError, TypeError):
                return False
            return True
        try:
            self.key.verify(signature, message)
        except InvalidSignature:
            return False
        return True


class VerifierCache:
    """Verifiers by public key bytes, so that the new key objects of a registry reload reuse the verifiers built.

    Keys retired since stay until the cache reaches its bound and is cleared (then rebuilt on demand).
    """

    def __init__(self, backend: Backend | None = None, limit: int = 65536) -> None:
        self.backend = backend
        self._limit = limit
        self._by_key: dict[bytes, Ed25519Verifier] = {}

    def get(self, key: Ed25519PublicKey) -> Ed25519Verifier:
        """The verifier of `key`."""
        raw = key.public_bytes_raw()
        found = self._by_key.get(raw)
        if found is not None:
            return found
        if len(self._by_key) >= self._limit:
            self._by_key.clear()
        made = Ed25519Verifier(key, self.backend)
        self._by_key[raw] = made
        return made

    def __len__(self) -> int:
        return len(self._by_key)
