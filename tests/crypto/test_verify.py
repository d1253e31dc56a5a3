"""Both Ed25519 backends give the same answer on every envelope, genuine or tampered, and on the vectors."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_agent.errors import SignatureError
from edge_agent.protocol.crypto.envelope import Opener, Sealer
from edge_agent.protocol.crypto.keys import key_id
from edge_agent.protocol.crypto.verify import DEFAULT_BACKEND, Ed25519Verifier, VerifierCache, available_backends
from edge_agent.protocol.reads import PlateRead, new_read_id

DEVICE_KEY = Ed25519PrivateKey.generate()
OTHER_KEY = Ed25519PrivateKey.generate()
CITY_KEY = X25519PrivateKey.generate()
BACKENDS = available_backends()
VECTORS = Path(__file__).resolve().parents[2] / "docs" / "protocol-vectors.json"


def test_the_dev_install_has_the_fast_backend() -> None:
    # `.[dev]` includes PyNaCl; the bench figures assume it. A device without the extra falls back to OpenSSL.
    assert DEFAULT_BACKEND == "libsodium"
    assert BACKENDS == ("libsodium", "openssl")


@pytest.mark.parametrize("backend", BACKENDS)
def test_genuine_signatures_verify_and_others_do_not(backend: str) -> None:
    verifier = Ed25519Verifier(DEVICE_KEY.public_key(), backend)  # type: ignore[arg-type]
    message = b"edge-agent" * 40
    signature = DEVICE_KEY.sign(message)
    assert verifier.key_id == key_id(DEVICE_KEY.public_key())
    assert verifier.verify(signature, message)
    assert not verifier.verify(signature, message + b"x")
    assert not verifier.verify(OTHER_KEY.sign(message), message)
    assert not verifier.verify(signature[:63] + bytes([signature[63] ^ 1]), message)
    assert not verifier.verify(signature[:32], message)
    assert not verifier.verify(b"\x00" * 64, message)


@settings(max_examples=150, deadline=None)
@given(message=st.binary(max_size=600), flip=st.integers(min_value=0, max_value=64 * 8 - 1))
def test_backends_agree_on_flipped_signatures(message: bytes, flip: int) -> None:
    signature = bytearray(DEVICE_KEY.sign(message))
    signature[flip // 8] ^= 1 << (flip % 8)
    answers = {b: Ed25519Verifier(DEVICE_KEY.public_key(), b).verify(bytes(signature), message) for b in BACKENDS}
    assert set(answers.values()) == {False}, answers


@pytest.mark.parametrize("backend", BACKENDS)
def test_protocol_vector_envelope_verifies_with_each_backend(backend: str) -> None:
    vectors = json.loads(VECTORS.read_text())
    device = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(vectors["keys"]["device_ed25519_private"]))
    city = X25519PrivateKey.from_private_bytes(bytes.fromhex(vectors["keys"]["city_x25519_private"]))
    opener = Opener([city], lambda d: [device.public_key()], verify_backend=backend)  # type: ignore[arg-type]
    header, _ = opener.open(bytes.fromhex(vectors["envelope"]["envelope"]), "cam-0001")
    assert header.device_id == "cam-0001"


@pytest.mark.parametrize("backend", BACKENDS)
def test_opener_refuses_a_tampered_envelope_with_each_backend(backend: str) -> None:
    now = time.time()
    read = PlateRead(new_read_id(), "cam-1", "north", "ABC123", 0.9, now - 1, now)
    env = bytearray(Sealer("cam-1", DEVICE_KEY, CITY_KEY.public_key()).seal(read, 1))
    opener = Opener([CITY_KEY], lambda d: [DEVICE_KEY.public_key()], verify_backend=backend)  # type: ignore[arg-type]
    assert opener.open(bytes(env), "cam-1")[1].text == "ABC123"
    env[-70] ^= 0x01  # last byte of the ciphertext
    with pytest.raises(SignatureError):
        opener.open(bytes(env), "cam-1")


def test_cache_builds_one_verifier_per_key() -> None:
    cache = VerifierCache(limit=3)
    first, second, third, fourth = (Ed25519PrivateKey.generate().public_key() for _ in range(4))
    assert cache.get(first) is cache.get(first)
    # A registry reload hands out a new object for the same key: same verifier, the cache does not grow.
    reloaded = Ed25519PublicKey.from_public_bytes(first.public_bytes_raw())
    assert cache.get(reloaded) is cache.get(first) and len(cache) == 1
    assert cache.get(second).key is second
    assert cache.get(third).key is third and len(cache) == 3
    assert cache.get(fourth).key is fourth and len(cache) == 1  # over the bound: cleared, then rebuilt on demand
    assert cache.get(first).key.public_bytes_raw() == first.public_bytes_raw()
