"""docs/protocol-vectors.json: what a consumer in another language checks, checked here too."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from edge_agent.protocol.crypto.envelope import (
    EnvelopeHeader,
    Opener,
    ReceiptVerifier,
    Suite,
    pack_bundle,
    parse_envelope,
    sign_receipt,
    split_payload,
)
from edge_agent.protocol.crypto.keys import key_id, raw_public
from edge_agent.protocol.reads import decode, encode

REPO = Path(__file__).resolve().parents[2]
V = json.loads((REPO / "docs" / "protocol-vectors.json").read_text())
K = V["keys"]
E = V["envelope"]
R = V["receipt"]


def _keys() -> tuple[Ed25519PrivateKey, X25519PrivateKey, Ed25519PrivateKey]:
    return (
        Ed25519PrivateKey.from_private_bytes(bytes.fromhex(K["device_ed25519_private"])),
        X25519PrivateKey.from_private_bytes(bytes.fromhex(K["city_x25519_private"])),
        Ed25519PrivateKey.from_private_bytes(bytes.fromhex(K["receipt_ed25519_private"])),
    )


def test_public_keys_and_key_ids() -> None:
    device, city, receipt = _keys()
    assert raw_public(device.public_key()).hex() == K["device_ed25519_public"]
    assert raw_public(city.public_key()).hex() == K["city_x25519_public"]
    assert key_id(device).hex() == K["device_key_id"]
    assert key_id(city).hex() == K["city_key_id"]
    assert key_id(receipt).hex() == K["receipt_key_id"]


def test_header_bytes_are_exact() -> None:
    header = EnvelopeHeader(
        Suite(E["suite"]),
        bytes.fromhex(K["city_key_id"]),
        bytes.fromhex(K["device_key_id"]),
        bytes.fromhex(E["read_id"]),
        E["seq"],
        E["device_id"],
    )
    assert header.encode().hex() == E["header"]
    env = bytes.fromhex(E["envelope"])
    assert env.startswith(bytes.fromhex(E["header"]))
    parsed = parse_envelope(env)
    assert parsed.signed.hex() == E["signed"]
    assert parsed.ciphertext.hex() == E["hpke_output"]


def test_signature_is_exact_and_verifies() -> None:
    device, _, _ = _keys()
    assert device.sign(bytes.fromhex(E["signature_input"])).hex() == E["signature"]
    public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(K["device_ed25519_public"]))
    public.verify(bytes.fromhex(E["signature"]), bytes.fromhex(E["signature_input"]))
    assert bytes.fromhex(E["envelope"]).endswith(bytes.fromhex(E["signature"]))


def test_hpke_opens_to_the_exact_plaintext() -> None:
    _, city, _ = _keys()
    suite = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)
    plaintext = suite.decrypt(bytes.fromhex(E["hpke_output"]), city, info=bytes.fromhex(E["hpke_info"]))
    assert plaintext.decode("ascii") == E["plaintext"]
    assert encode(decode(plaintext)) == plaintext  # canonical encoding round-trips


def test_opener_opens_the_vector() -> None:
    device, city, _ = _keys()
    header, read = Opener([city], lambda d: [device.public_key()]).open(bytes.fromhex(E["envelope"]), "cam-0001")
    assert (header.seq, read.text, read.read_id.hex()) == (42, "ABC1234", E["read_id"])


def test_receipt_bytes_are_exact() -> None:
    _, _, receipt = _keys()
    ids = [bytes.fromhex(i) for i in R["read_ids"]]
    data = sign_receipt(receipt, R["device_id"], ids, issued_at=R["issued_at_ms"] / 1000)
    assert data.hex() == R["receipt"]
    verified = ReceiptVerifier(R["device_id"], [receipt.public_key()]).verify(data)
    assert verified.read_ids == tuple(ids)


def test_vector_file_is_current() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "make_test_vectors.py"), "--check"], capture_output=True, check=False
    )
    assert result.returncode == 0, result.stderr.decode()


def test_bundle_bytes_are_exact_and_split_into_the_envelope() -> None:
    env = bytes.fromhex(E["envelope"])
    bundle = bytes.fromhex(V["bundle"]["bundle"])
    assert pack_bundle([env, env]) == bundle
    assert bundle[:6] == b"EA\x03\x01\x00\x02"
    assert bundle[6:10] == len(env).to_bytes(4, "big")
    assert split_payload(bundle) == [env, env]
    assert split_payload(env) == [env]  # a lone envelope is its own payload


def _reason_of(payload: bytes, topic: str) -> str | None:
    """What the reference ingest does with a payload on a topic: None when it opens, else the rejection reason."""
    from edge_agent.city.ingest.service import _reason
    from edge_agent.errors import CryptoError

    device, city, _ = _keys()
    enrolled = {"cam-0001": [device.public_key()]}
    opener = Opener([city], lambda d: enrolled.get(d, []))  # type: ignore[arg-type, return-value]
    try:
        opener.open(payload, expected_device=topic.split("/")[2])
    except CryptoError as exc:
        return _reason(exc)
    return None


def test_every_negative_vector_is_rejected_for_its_reason() -> None:
    assert _reason_of(bytes.fromhex(E["envelope"]), "alpr/v1/cam-0001/reads") is None
    assert len(V["negative"]) >= 8
    for case in V["negative"]:
        assert _reason_of(bytes.fromhex(case["payload"]), case["topic"]) == case["reason"], case["case"]


def test_the_aes128gcm_vector_opens_to_the_same_plaintext() -> None:
    device, city, _ = _keys()
    a = V["envelope_aes128gcm"]
    env = bytes.fromhex(a["envelope"])
    assert env.startswith(bytes.fromhex(a["header"])) and env[4] == 0x02
    header, read = Opener([city], lambda d: [device.public_key()]).open(env, "cam-0001")
    assert header.suite is Suite.X25519_SHA256_AES128GCM and header.seq == 43
    assert encode(read).decode("ascii") == E["plaintext"]
    suite = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_128_GCM)
    ciphertext = parse_envelope(env).ciphertext
    assert suite.decrypt(ciphertext, city, info=bytes.fromhex(a["hpke_info"])).decode("ascii") == E["plaintext"]


def test_the_status_vector_is_what_a_consumer_reads() -> None:
    from edge_agent.city.homeassistant import STATUS_FIELDS
    from edge_agent.metrics import device_metrics, exposition

    status = json.loads(V["status"]["payload"])
    assert {"v", "device_id", "state", "ts_ms"} <= status.keys()
    assert V["status"]["payload"] == json.dumps(status, sort_keys=True, separators=(",", ":"))
    assert status.keys() >= STATUS_FIELDS
    text = exposition(lambda: device_metrics(status)).decode()
    assert "edge_agent_tls_certificate_days_left 412.0" in text
