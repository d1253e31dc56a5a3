"""Regenerate docs/protocol-vectors.json: fixed keys -> exact bytes for envelopes, bundles and receipts.

Receipts and signatures are deterministic (Ed25519). HPKE sealing is not (a fresh ephemeral key per envelope),
so the envelope vector is one recorded sealing: a consumer checks that it verifies and opens to exactly the
given plaintext, and that its own header encoding and signature match byte for byte.

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


def build(existing_envelope: str | None) -> dict[str, object]:
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
    suite = Suite.X25519_SHA256_CHACHA20POLY1305
    header = EnvelopeHeader(suite, key_id(city), key_id(device), read.read_id, 42, read.device_id).encode()
    if existing_envelope is None:
        envelope = Sealer(read.device_id, device, city.public_key(), suite).seal(read, 42)
    else:
        envelope = bytes.fromhex(existing_envelope)
    ct_len = struct.unpack_from(">I", envelope, len(header))[0]
    signed = envelope[: len(header) + 4 + ct_len]
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
            "suite": int(suite),
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
    fresh = build(recorded)
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
