"""Sealed envelopes (device -> city) and signed receipts (city -> device). Byte layout: docs/protocol.md.

Sealing is HPKE base mode (RFC 9180) to the city's X25519 key; the plaintext header (version, suite, key ids,
read id, sequence number, device id: no plate, no time) is bound to the ciphertext through HPKE `info`, and the
whole envelope is signed with the device's Ed25519 key. Opening verifies the signature first and decrypts only
what a known device signed. A receipt is a list of read ids signed by the ingest; a device deletes a read only
when a receipt that verifies against a trusted key names it.
"""

from __future__ import annotations

import dataclasses
import logging
import struct
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from edge_agent.config import Config
from edge_agent.errors import (
    CryptoError,
    KeyFileError,
    MalformedError,
    SignatureError,
    UnknownDeviceError,
    UnknownKeyError,
)
from edge_agent.protocol.crypto.keys import (
    KEY_ID_LEN,
    key_id,
    load_recipient_public,
    load_signing_key,
    load_verify_key,
)
from edge_agent.protocol.crypto.verify import Backend, Ed25519Verifier, VerifierCache
from edge_agent.protocol.reads import PlateRead, decode, encode

logger = logging.getLogger(__name__)

MAGIC = b"EA"
TYPE_ENVELOPE = 0x01
TYPE_RECEIPT = 0x02
TYPE_BUNDLE = 0x03
VERSION = 0x01
ENVELOPE_CONTEXT = b"edge-agent/v1/envelope\x00"
RECEIPT_CONTEXT = b"edge-agent/v1/receipt\x00"
READ_ID_LEN = 16
SIGNATURE_LEN = 64
MAX_DEVICE_ID = 63
MAX_RECEIPT_IDS = 4096
# The header field is u64, but the city's databases store signed 64-bit: a larger number is malformed.
MAX_SEQ = 2**63 - 1
MAX_ENVELOPE = 1 << 20
# What a device seals at most: the largest envelope plus a PUBLISH's header and a 63-character device id's topic
# stays inside the broker's max_packet_size of 1 MiB (docs/protocol.md section 3).
MAX_SEALED = 1_000_000
MAX_BUNDLE_READS = 256
MAX_BUNDLE_BYTES = 256 << 10  # well under the broker's max_packet_size (docs/mosquitto/mosquitto.conf)

# magic, type, version, suite, recipient key id, signer key id, read id, sequence, device id length
_ENV_FIXED = struct.Struct(">2sBBB8s8s16sQB")
# magic, type, version, signer key id, issued at (ms), device id length
_RCPT_FIXED = struct.Struct(">2sBB8sQB")
_BUNDLE_FIXED = struct.Struct(">2sBBH")
_LEN = struct.Struct(">I")
BUNDLE_HEADER = _BUNDLE_FIXED.size  # bytes before the first member
BUNDLE_MEMBER_PREFIX = _LEN.size  # length prefix of each member


class Suite(IntEnum):
    """HPKE cipher suites: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, and the AEAD named."""

    X25519_SHA256_CHACHA20POLY1305 = 0x01
    X25519_SHA256_AES128GCM = 0x02

    @classmethod
    def from_config(cls, aead: str) -> Suite:
        """Suite for the config's `crypto.aead` value."""
        return cls.X25519_SHA256_AES128GCM if aead == "aes128gcm" else cls.X25519_SHA256_CHACHA20POLY1305

    def hpke(self) -> hpke.Suite:
        """The `cryptography` HPKE suite object."""
        aead = hpke.AEAD.AES_128_GCM if self is Suite.X25519_SHA256_AES128GCM else hpke.AEAD.CHACHA20_POLY1305
        return hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, aead)


@dataclass(frozen=True)
class EnvelopeHeader:
    """The clear part of an envelope: enough to route, verify and pick a key; nothing about the plate."""

    suite: Suite
    recipient_key_id: bytes
    signer_key_id: bytes
    read_id: bytes
    seq: int
    device_id: str

    def encode(self) -> bytes:
        """Exact header bytes (also the HPKE `info` after the context label)."""
        dev = self.device_id.encode("ascii")
        if not 1 <= len(dev) <= MAX_DEVICE_ID:
            raise ValueError("device id must be 1-63 ASCII characters")
        return (
            _ENV_FIXED.pack(
                MAGIC,
                TYPE_ENVELOPE,
                VERSION,
                int(self.suite),
                self.recipient_key_id,
                self.signer_key_id,
                self.read_id,
                self.seq,
                len(dev),
            )
            + dev
        )


@dataclass(frozen=True)
class ParsedEnvelope:
    """An envelope split into its parts; nothing is verified yet."""

    header: EnvelopeHeader
    header_bytes: bytes
    ciphertext: bytes
    signed: bytes
    signature: bytes


def parse_envelope(data: bytes) -> ParsedEnvelope:
    """Split envelope bytes, checking lengths and constants only."""
    if len(data) > MAX_ENVELOPE:
        raise MalformedError(f"envelope of {len(data)} bytes is larger than {MAX_ENVELOPE}")
    if len(data) < _ENV_FIXED.size + 1 + 4 + SIGNATURE_LEN:
        raise MalformedError("envelope too short")
    magic, kind, version, suite, rkid, skid, read_id, seq, dev_len = _ENV_FIXED.unpack_from(data)
    if magic != MAGIC or kind != TYPE_ENVELOPE:
        raise MalformedError("not an edge-agent envelope")
    if version != VERSION:
        raise MalformedError(f"unsupported envelope version {version}")
    try:
        suite_id = Suite(suite)
    except ValueError:
        raise MalformedError(f"unknown cipher suite {suite}") from None
    if not 1 <= dev_len <= MAX_DEVICE_ID:
        raise MalformedError("bad device id length")
    head_end = _ENV_FIXED.size + dev_len
    if len(data) < head_end + 4 + SIGNATURE_LEN:
        raise MalformedError("envelope truncated")
    try:
        device_id = data[_ENV_FIXED.size : head_end].decode("ascii")
    except UnicodeDecodeError:
        raise MalformedError("device id is not ASCII") from None
    (ct_len,) = struct.unpack_from(">I", data, head_end)
    ct_start = head_end + 4
    if len(data) != ct_start + ct_len + SIGNATURE_LEN:
        raise MalformedError("envelope length does not match its ciphertext length field")
    if seq > MAX_SEQ:
        raise MalformedError(f"envelope: sequence number {seq} is above 2^63-1 (what the city's stores hold)")
    header = EnvelopeHeader(suite_id, rkid, skid, read_id, seq, device_id)
    return ParsedEnvelope(
        header=header,
        header_bytes=data[:head_end],
        ciphertext=data[ct_start : ct_start + ct_len],
        signed=data[: ct_start + ct_len],
        signature=data[ct_start + ct_len :],
    )


class Sealer:
    """Device side: turns a `PlateRead` into an envelope only the city can open."""

    def __init__(
        self,
        device_id: str,
        signing_key: Ed25519PrivateKey,
        recipient: X25519PublicKey,
        suite: Suite = Suite.X25519_SHA256_CHACHA20POLY1305,
    ) -> None:
        self.device_id = device_id
        self._signing_key = signing_key
        self._recipient = recipient
        self._suite = suite
        self._hpke = suite.hpke()
        self.recipient_key_id = key_id(recipient)
        self.signer_key_id = key_id(signing_key)

    def seal(self, read: PlateRead, seq: int) -> bytes:
        """Encrypt, bind and sign one read; the result is safe to store and send.

        An envelope never exceeds MAX_SEALED: one that would (a huge crop) is sealed again without its crop, so
        the read itself still reaches the city rather than being refused by the broker on every send.
        """
        if read.device_id != self.device_id:
            raise CryptoError(f"read of device {read.device_id} cannot be sealed by {self.device_id}")
        envelope = self._seal(read, seq)
        if len(envelope) > MAX_SEALED and read.crop_jpeg is not None:
            logger.warning("a read's crop made its envelope %d bytes: sent without the crop", len(envelope))
            envelope = self._seal(dataclasses.replace(read, crop_jpeg=None), seq)
        if len(envelope) > MAX_SEALED:
            raise CryptoError(f"a read seals to {len(envelope)} bytes, above the {MAX_SEALED} an envelope may have")
        return envelope

    def _seal(self, read: PlateRead, seq: int) -> bytes:
        header = EnvelopeHeader(
            self._suite, self.recipient_key_id, self.signer_key_id, read.read_id, seq, self.device_id
        ).encode()
        ciphertext = self._hpke.encrypt(encode(read), self._recipient, info=ENVELOPE_CONTEXT + header)
        signed = header + struct.pack(">I", len(ciphertext)) + ciphertext
        return signed + self._signing_key.sign(ENVELOPE_CONTEXT + signed)


# --- bundles --------------------------------------------------------------------------------------------------


def pack_bundle(envelopes: Sequence[bytes]) -> bytes:
    """One MQTT payload for `envelopes`: a single envelope as it is, several as a bundle (protocol section 3.5).

    A bundle adds no trust of its own: every envelope in it is signed and opened on its own, and the ingest
    acknowledges the message only once every read in it is stored.
    """
    if len(envelopes) == 1:
        return envelopes[0]
    if not 2 <= len(envelopes) <= MAX_BUNDLE_READS:
        raise ValueError(f"a bundle holds 2 to {MAX_BUNDLE_READS} envelopes, not {len(envelopes)}")
    parts = [_BUNDLE_FIXED.pack(MAGIC, TYPE_BUNDLE, VERSION, len(envelopes))]
    for env in envelopes:
        parts += [_LEN.pack(len(env)), env]
    out = b"".join(parts)
    if len(out) > MAX_BUNDLE_BYTES:
        raise ValueError(f"a bundle of {len(out)} bytes is larger than {MAX_BUNDLE_BYTES}")
    return out


def _is_bundle(data: bytes) -> bool:
    return len(data) >= 3 and data[2] == TYPE_BUNDLE and data[:2] == MAGIC


def bundle_size(data: bytes) -> int:
    """How many reads a payload on a reads topic declares: the bundle's count, else 1 (nothing is checked)."""
    if _is_bundle(data) and len(data) >= _BUNDLE_FIXED.size:
        return max(1, int.from_bytes(data[4:6], "big"))
    return 1


def split_payload(data: bytes) -> list[bytes]:
    """The envelopes in a payload on a reads topic: the payload itself, or the members of a bundle.

    Only the bundle framing is checked here; each member is parsed and verified by `Opener`.
    """
    if not _is_bundle(data):
        return [data]
    if len(data) > MAX_BUNDLE_BYTES:
        raise MalformedError(f"bundle of {len(data)} bytes is larger than allowed")
    if len(data) < _BUNDLE_FIXED.size:
        raise MalformedError("bundle too short")
    _, _, version, count = _BUNDLE_FIXED.unpack_from(data)
    if version != VERSION:
        raise MalformedError(f"unsupported bundle version {version}")
    if not 2 <= count <= MAX_BUNDLE_READS:
        raise MalformedError(f"bundle declares {count} envelopes (2 to {MAX_BUNDLE_READS} allowed)")
    out: list[bytes] = []
    pos = _BUNDLE_FIXED.size
    for _ in range(count):
        if pos + _LEN.size > len(data):
            raise MalformedError("bundle truncated")
        (size,) = _LEN.unpack_from(data, pos)
        pos += _LEN.size
        if size > len(data) - pos:
            raise MalformedError("bundle member runs past the end of the bundle")
        out.append(data[pos : pos + size])
        pos += size
    if pos != len(data):
        raise MalformedError("bytes after the last member of a bundle")
    return out


# --- opening --------------------------------------------------------------------------------------------------

DeviceKeys = Callable[[str], Sequence[Ed25519PublicKey]]


class Opener:
    """City side: verify the device's signature, then decrypt with the key the header names."""

    def __init__(
        self,
        recipient_keys: Iterable[X25519PrivateKey],
        device_keys: DeviceKeys,
        verify_backend: Backend | None = None,
    ) -> None:
        self._recipients = {key_id(k): (k, {s: s.hpke() for s in Suite}) for k in recipient_keys}
        self._device_keys = device_keys
        self._verifiers = VerifierCache(verify_backend)

    def verify(self, data: bytes, expected_device: str | None = None) -> ParsedEnvelope:
        """Parse and check the signature; raises on an unknown device or key, or a bad signature."""
        env = parse_envelope(data)
        device = env.header.device_id
        if expected_device is not None and device != expected_device:
            raise SignatureError(f"envelope names device {device} but arrived on the topic of {expected_device}")
        enrolled = self._device_keys(device)
        if not enrolled:
            raise UnknownDeviceError(f"device {device} is not enrolled")
        signer = next((v for v in map(self._verifiers.get, enrolled) if v.key_id == env.header.signer_key_id), None)
        if signer is None:
            raise UnknownKeyError(f"no enrolled signing key {env.header.signer_key_id.hex()} for device {device}")
        if not signer.verify(env.signature, ENVELOPE_CONTEXT + env.signed):
            raise SignatureError(f"envelope signature of device {device} does not verify")
        return env

    def open(self, data: bytes, expected_device: str | None = None) -> tuple[EnvelopeHeader, PlateRead]:
        """Verify, decrypt and parse one envelope."""
        env = self.verify(data, expected_device)
        found = self._recipients.get(env.header.recipient_key_id)
        if found is None:
            raise UnknownKeyError(f"envelope sealed to unknown city key {env.header.recipient_key_id.hex()}")
        recipient, suites = found
        try:
            plaintext = suites[env.header.suite].decrypt(
                env.ciphertext, recipient, info=ENVELOPE_CONTEXT + env.header_bytes
            )
        except (InvalidTag, ValueError):
            raise CryptoError("envelope does not decrypt with the city key it names") from None
        read = decode(plaintext)
        if read.read_id != env.header.read_id or read.device_id != env.header.device_id:
            raise MalformedError("sealed read does not match its envelope header")
        return env.header, read


# --- receipts -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Receipt:
    """A verified receipt: the ingest stored these read ids of `device_id`."""

    device_id: str
    read_ids: tuple[bytes, ...]
    issued_at: float
    signer_key_id: bytes


def sign_receipt(
    signing_key: Ed25519PrivateKey, device_id: str, read_ids: Sequence[bytes], issued_at: float | None = None
) -> bytes:
    """Receipt bytes for up to 4096 read ids of one device."""
    if not 1 <= len(read_ids) <= MAX_RECEIPT_IDS:
        raise ValueError(f"a receipt names 1 to {MAX_RECEIPT_IDS} read ids")
    dev = device_id.encode("ascii")
    when = round((time.time() if issued_at is None else issued_at) * 1000)
    body = (
        _RCPT_FIXED.pack(MAGIC, TYPE_RECEIPT, VERSION, key_id(signing_key), when, len(dev))
        + dev
        + struct.pack(">H", len(read_ids))
        + b"".join(read_ids)
    )
    return body + signing_key.sign(RECEIPT_CONTEXT + body)


class ReceiptVerifier:
    """Device side: accepts only receipts for this device signed by a trusted ingest key."""

    def __init__(self, device_id: str, trusted: Iterable[Ed25519PublicKey]) -> None:
        self.device_id = device_id
        self._trusted = {v.key_id: v for v in map(Ed25519Verifier, trusted)}

    def verify(self, data: bytes) -> Receipt:
        """Parse and verify a receipt; raises MalformedError, UnknownKeyError or SignatureError."""
        if len(data) < _RCPT_FIXED.size + 1 + 2 + READ_ID_LEN + SIGNATURE_LEN:
            raise MalformedError("receipt too short")
        magic, kind, version, skid, when, dev_len = _RCPT_FIXED.unpack_from(data)
        if magic != MAGIC or kind != TYPE_RECEIPT or version != VERSION:
            raise MalformedError("not an edge-agent receipt of a known version")
        off = _RCPT_FIXED.size
        device = data[off : off + dev_len].decode("ascii", errors="replace")
        off += dev_len
        (count,) = struct.unpack_from(">H", data, off) if len(data) >= off + 2 else (0,)
        off += 2
        if not 1 <= count <= MAX_RECEIPT_IDS or len(data) != off + count * READ_ID_LEN + SIGNATURE_LEN:
            raise MalformedError("receipt length does not match its read id count")
        key = self._trusted.get(skid)
        if key is None:
            raise UnknownKeyError(f"receipt signed by untrusted key {skid.hex()}")
        body, signature = data[:-SIGNATURE_LEN], data[-SIGNATURE_LEN:]
        if not key.verify(signature, RECEIPT_CONTEXT + body):
            raise SignatureError("receipt signature does not verify")
        if device != self.device_id:
            raise SignatureError(f"receipt is for device {device}, not {self.device_id}")
        ids = tuple(data[off + i * READ_ID_LEN : off + (i + 1) * READ_ID_LEN] for i in range(count))
        return Receipt(device, ids, when / 1000.0, skid)


__all__ = [
    "KEY_ID_LEN",
    "EnvelopeHeader",
    "Opener",
    "ParsedEnvelope",
    "Receipt",
    "ReceiptVerifier",
    "Sealer",
    "Suite",
    "parse_envelope",
    "sealer_for",
    "sign_receipt",
    "verifier_for",
]


def sealer_for(cfg: Config) -> Sealer:
    """The device's sealer from its config (keys loaded and mode-checked)."""
    if cfg.device.id is None or cfg.crypto.device_key is None or cfg.crypto.city_key is None:
        raise KeyFileError("device.id, crypto.device_key and crypto.city_key are needed to seal reads")
    return Sealer(
        cfg.device.id,
        load_signing_key(cfg.crypto.device_key),
        load_recipient_public(cfg.crypto.city_key),
        Suite.from_config(cfg.crypto.aead),
    )


def verifier_for(cfg: Config) -> ReceiptVerifier | None:
    """The device's receipt verifier from its config (None in `ack: puback` mode without receipt keys)."""
    if cfg.device.id is None:
        raise KeyFileError("device.id is needed to verify receipts")
    if not cfg.crypto.receipt_keys:
        return None
    return ReceiptVerifier(cfg.device.id, [load_verify_key(p) for p in cfg.crypto.receipt_keys])
