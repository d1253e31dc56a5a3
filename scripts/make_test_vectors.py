"""Regenerate docs/protocol-vectors.json: fixed keys -> exact bytes for envelopes, bundles and receipts.

Receipts and signatures are deterministic (Ed25519). HPKE sealing is not (a fresh ephemeral key per envelope,
which the HPKE implementation does not let a caller choose), so each envelope vector is one recorded sealing: a
consumer checks that it verifies and opens to exactly the given plaintext, and that its own header encoding and
signature match byte for byte. The ephemeral public key is the first 32 bytes of `hpke_output` (HPKE's `enc`).
Negative vectors are made from the recorded envelope by changing bytes (and signing again where the change must
pass the signature), so they are deterministic too; each names the rejection reason of docs/protocol.md
section 10. The status vector is a status message as a device publishes it (canonical JSON).

    .venv/bin/python scripts/make_test_vectors.py            # writes docs/protocol-vectors.json
    .venv/bin/python scripts/make_test_vectors.py --check    # exits 1 if the file's deterministic parts differ
"""

from __future__ import annotations

import argparse
import hashlib
import json
import struct
import sys
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from edge_agent.protocol.crypto.envelope import (
    ENVELOPE_CONTEXT,
    RECEIPT_CONTEXT,
    EnvelopeHeader,
    Sealer,
    Suite,
    pack_bundle,
    sign_receipt,
)
from edge_agent.protocol.crypto.keys import key_id, raw_public
from edge_agent.protocol.reads import PlateRead, encode

OUT = Path(__file__).resolve().parent.parent / "docs" / "protocol-vectors.json"


def seed(label: str) -> bytes:
    """A fixed 32-byte secret derived from a label (test keys only, never for real use)."""
    return hashlib.sha256(b"edge-agent test vector " + label.encode()).digest()


def _resign(device: Ed25519PrivateKey, header: bytes, ciphertext: bytes) -> bytes:
    signed = header + struct.pack(">I", len(ciphertext)) + ciphertext
    return signed + device.sign(ENVELOPE_CONTEXT + signed)


def negatives(envelope: bytes, header: bytes, ciphertext: bytes, city: X25519PrivateKey) -> list[dict[str, str]]:
    """Envelopes a consumer must reject, each with the topic it arrived on and the reason it is rejected for."""
    device = Ed25519PrivateKey.from_private_bytes(seed("device"))
    stranger = Ed25519PrivateKey.from_private_bytes(seed("a device the city never enrolled"))
    topic = "alpr/v1/cam-0001/reads"
    flipped = envelope[:-1] + bytes([envelope[-1] ^ 0x01])
    longer = bytearray(envelope)
    struct.pack_into(">I", longer, len(header), len(ciphertext) + 1)
    unknown_signer = EnvelopeHeader(
        Suite.X25519_SHA256_CHACHA20POLY1305, key_id(city), key_id(stranger), header[21:37], 42, "cam-0001"
    ).encode()
    huge_seq = EnvelopeHeader(
        Suite.X25519_SHA256_CHACHA20POLY1305, key_id(city), key_id(device), header[21:37], 2**63, "cam-0001"
    ).encode()
    unknown_device = EnvelopeHeader(
        Suite.X25519_SHA256_CHACHA20POLY1305, key_id(city), key_id(device), header[21:37], 42, "cam-9999"
    ).encode()
    cases = [
        ("the signature's last byte flipped", topic, flipped, "signature"),
        ("the ciphertext length one more than the bytes that follow", topic, bytes(longer), "malformed"),
        ("one byte after the signature", topic, envelope + b"\x00", "malformed"),
        ("signed by a key the city does not hold for this device", topic,
         _resign(stranger, unknown_signer, ciphertext), "unknown_key"),
        ("published on another device's topic", "alpr/v1/cam-0002/reads", envelope, "signature"),
        ("a sequence number of 2^63", topic, _resign(device, huge_seq, ciphertext), "malformed"),
        ("a device that is not enrolled", "alpr/v1/cam-9999/reads", _resign(device, unknown_device, ciphertext),
         "unknown_device"),
        ("empty", topic, b"", "malformed"),
    ]  # fmt: skip
    return [{"case": c, "topic": t, "payload": b.hex(), "reason": r} for c, t, b, r in cases]


def build(existing_envelope: str | None, existing_aes: str | None = None) -> dict[str, object]:
    device = Ed25519PrivateKey.from_private_bytes(seed("device"))
    city = X25519PrivateKey.from_private_bytes(seed("city"))
    receipt = Ed25519PrivateKey.from_private_bytes(seed("receipt"))
    read = PlateRead(
        read_id=bytes.fromhex("00112233445566778899aabbccddeeff"),
        device_id="cam-0001",
        camera="north",
        text="ABC1234",
        confidence=0.9731,
        first_seen=1795000000.125,
        last_seen=1795000001.875,
        frames=14,
        direction="approaching",
        clock_synced=True,
        box=(812, 604, 148, 52),
        models={"detector": "1.0.0", "reader": "1.0.0"},
    )

    def sealed(suite: Suite, seq: int, existing: str | None) -> tuple[bytes, bytes]:
        """(header, envelope) of the read sealed with `suite` at `seq`; the recorded sealing when there is one."""
        header = EnvelopeHeader(suite, key_id(city), key_id(device), read.read_id, seq, read.device_id).encode()
        if existing is not None:
            return header, bytes.fromhex(existing)
        return header, Sealer(read.device_id, device, city.public_key(), suite).seal(read, seq)

    header, envelope = sealed(Suite.X25519_SHA256_CHACHA20POLY1305, 42, existing_envelope)
    ct_len = struct.unpack_from(">I", envelope, len(header))[0]
    signed = envelope[: len(header) + 4 + ct_len]
    ciphertext = envelope[len(header) + 4 : len(header) + 4 + ct_len]
    aes_header, aes_envelope = sealed(Suite.X25519_SHA256_AES128GCM, 43, existing_aes)
    status = {
        "v": 1, "device_id": "cam-0001", "state": "online", "ts_ms": 1795000003000, "version": "0.1.0",
        "location": "Elm St northbound", "models": {"detector": "1.2.0", "reader": "reader-20261206-293bb51f"},
        "uptime_s": 3600, "clock_synced": True, "cpu_temp_c": 51.2,
        "frames": {"in": 54000, "dropped": 12, "analysed": 9800, "strided": 40100},
        "reads": {"made": 310, "sealed": 310, "rejected_full": 0, "unspooled": 0},
        "spool": {"depth": 2, "bytes": 840, "oldest_age_s": 0.4, "purged": 0, "dropped_full": 0, "deleted": 308},
        "tls": {"cert_days_left": 412},
        "uplink": {"state": "online", "in_flight": 2, "last_receipt_ms": 1795000002500, "receipts_rejected": 0,
                   "puback_failures": 0, "resent": 0},
    }  # fmt: skip
    ids = [bytes.fromhex("00112233445566778899aabbccddeeff"), bytes.fromhex("ffeeddccbbaa99887766554433221100")]
    return {
        "note": "Test keys derived from public labels: never use them for anything real.",
        "keys": {
            "device_ed25519_private": seed("device").hex(),
            "device_ed25519_public": raw_public(device.public_key()).hex(),
            "device_key_id": key_id(device).hex(),
            "city_x25519_private": seed("city").hex(),
            "city_x25519_public": raw_public(city.public_key()).hex(),
            "city_key_id": key_id(city).hex(),
            "receipt_ed25519_private": seed("receipt").hex(),
            "receipt_ed25519_public": raw_public(receipt.public_key()).hex(),
            "receipt_key_id": key_id(receipt).hex(),
        },
        "envelope": {
            "suite": int(Suite.X25519_SHA256_CHACHA20POLY1305),
            "seq": 42,
            "device_id": read.device_id,
            "read_id": read.read_id.hex(),
            "plaintext": encode(read).decode("ascii"),
            "header": header.hex(),
            "hpke_info": (ENVELOPE_CONTEXT + header).hex(),
            "hpke_output": envelope[len(header) + 4 : len(header) + 4 + ct_len].hex(),
            "signed": signed.hex(),
            "signature_input": (ENVELOPE_CONTEXT + signed).hex(),
            "signature": device.sign(ENVELOPE_CONTEXT + signed).hex(),
            "envelope": envelope.hex(),
        },
        "envelope_aes128gcm": {
            "note": "The same read sealed with suite 0x02 (HPKE AEAD AES-128-GCM), sequence number 43.",
            "suite": int(Suite.X25519_SHA256_AES128GCM),
            "seq": 43,
            "header": aes_header.hex(),
            "hpke_info": (ENVELOPE_CONTEXT + aes_header).hex(),
            "envelope": aes_envelope.hex(),
        },
        "status": {
            "topic": "alpr/v1/cam-0001/status",
            "retained": True,
            "payload": json.dumps(status, sort_keys=True, separators=(",", ":")),
        },
        "negative": negatives(envelope, header, ciphertext, city),
        "bundle": {
            "note": "The envelope above twice (a resend can meet its original in one bundle): stored once.",
            "members": 2,
            "bundle": pack_bundle([envelope, envelope]).hex(),
        },
        "receipt": {
            "device_id": "cam-0001",
            "issued_at_ms": 1795000002500,
            "read_ids": [i.hex() for i in ids],
            "signature_context": RECEIPT_CONTEXT.hex(),
            "receipt": sign_receipt(receipt, "cam-0001", ids, issued_at=1795000002.5).hex(),
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="verify the committed file instead of writing it")
    args = parser.parse_args()
    current = json.loads(OUT.read_text()) if OUT.exists() else None
    recorded = current["envelope"]["envelope"] if current else None
    recorded_aes = current.get("envelope_aes128gcm", {}).get("envelope") if current else None
    fresh = build(recorded, recorded_aes)
    if args.check:
        if fresh != current:
            print(f"{OUT} is out of date: run scripts/make_test_vectors.py", file=sys.stderr)
            return 1
        print(f"{OUT}: ok")
        return 0
    OUT.write_text(json.dumps(fresh, indent=2) + "\n")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
