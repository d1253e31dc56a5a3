"""Envelopes and receipts: round trip, and every way a forgery or a wrong key is refused."""

from __future__ import annotations

import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_agent.errors import CryptoError, MalformedError, SignatureError, UnknownDeviceError, UnknownKeyError
from edge_agent.protocol.crypto.envelope import (
    MAX_BUNDLE_BYTES,
    MAX_BUNDLE_READS,
    Opener,
    ReceiptVerifier,
    Sealer,
    Suite,
    bundle_size,
    pack_bundle,
    parse_envelope,
    sign_receipt,
    split_payload,
)
from edge_agent.protocol.crypto.keys import key_id
from edge_agent.protocol.reads import PlateRead, new_read_id

DEVICE_KEY = Ed25519PrivateKey.generate()
CITY_KEY = X25519PrivateKey.generate()
RECEIPT_KEY = Ed25519PrivateKey.generate()


def _read(device: str = "cam-1", text: str = "ABC123", crop: bytes | None = None) -> PlateRead:
    now = time.time()
    return PlateRead(
        new_read_id(), device, "north", text, 0.91, now - 2, now, 7, "approaching", True, (1, 2, 3, 4), crop
    )


def _opener(keys: dict[str, list[object]] | None = None) -> Opener:
    table = keys if keys is not None else {"cam-1": [DEVICE_KEY.public_key()]}
    return Opener([CITY_KEY], lambda d: table.get(d, []))  # type: ignore[arg-type, return-value]


@pytest.mark.parametrize("suite", list(Suite))
def test_round_trip(suite: Suite) -> None:
    read = _read(crop=b"\xff\xd8jpeg")
    env = Sealer("cam-1", DEVICE_KEY, CITY_KEY.public_key(), suite).seal(read, 42)
    header, opened = _opener().open(env, expected_device="cam-1")
    assert header.seq == 42 and header.read_id == read.read_id and header.suite is suite
    assert (opened.text, opened.crop_jpeg, opened.box, opened.frames) == ("ABC123", b"\xff\xd8jpeg", (1, 2, 3, 4), 7)
    assert abs(opened.first_seen - read.first_seen) < 0.001


def test_no_plate_and_no_time_in_the_clear() -> None:
    read = _read(text="ZZ99QQ7")
    env = Sealer("cam-1", DEVICE_KEY, CITY_KEY.public_key()).seal(read, 1)
    assert b"ZZ99QQ7" not in env
    assert str(round(read.first_seen * 1000)).encode() not in env
    assert "ZZ99QQ7" not in repr(read) and "ZZ99QQ7" not in str(read)


@pytest.mark.parametrize("where", ["header", "ciphertext", "signature"])
def test_any_flipped_bit_is_refused(where: str) -> None:
    env = bytearray(Sealer("cam-1", DEVICE_KEY, CITY_KEY.public_key()).seal(_read(), 1))
    parsed = parse_envelope(bytes(env))
    index = {"header": 30, "ciphertext": len(parsed.signed) - 5, "signature": len(env) - 3}[where]
    env[index] ^= 0x01
    with pytest.raises(SignatureError):
        _opener().open(bytes(env))


def test_unknown_device_and_keys() -> None:
    env = Sealer("cam-1", DEVICE_KEY, CITY_KEY.public_key()).seal(_read(), 1)
    with pytest.raises(UnknownDeviceError, match="cam-1 is not enrolled"):
        _opener({}).open(env)
    with pytest.raises(UnknownKeyError, match="no enrolled signing key"):
        _opener({"cam-1": [Ed25519PrivateKey.generate().public_key()]}).open(env)
    other_city = X25519PrivateKey.generate()
    env2 = Sealer("cam-1", DEVICE_KEY, other_city.public_key()).seal(_read(), 2)
    with pytest.raises(UnknownKeyError, match=f"unknown city key {key_id(other_city).hex()}"):
        _opener().open(env2)


def test_rotation_opens_with_old_and_new_city_keys() -> None:
    old, new = X25519PrivateKey.generate(), X25519PrivateKey.generate()
    opener = Opener([new, old], lambda d: [DEVICE_KEY.public_key()])
    for key in (old, new):
        _, read = opener.open(Sealer("cam-1", DEVICE_KEY, key.public_key()).seal(_read(), 3))
        assert read.text == "ABC123"


def test_device_cannot_pass_its_read_off_as_another_devices() -> None:
    env = Sealer("cam-1", DEVICE_KEY, CITY_KEY.public_key()).seal(_read(), 1)
    with pytest.raises(SignatureError, match="arrived on the topic of cam-2"):
        _opener().open(env, expected_device="cam-2")
    with pytest.raises(CryptoError):
        Sealer("cam-1", DEVICE_KEY, CITY_KEY.public_key()).seal(_read(device="cam-2"), 1)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_random_bytes_never_crash_the_opener(data: bytes) -> None:
    with pytest.raises(CryptoError):
        _opener().open(data)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=10**6), st.integers(min_value=0, max_value=255))
def test_mutated_envelopes_never_open(position: int, value: int) -> None:
    env = bytearray(Sealer("cam-1", DEVICE_KEY, CITY_KEY.public_key()).seal(_read(), 9))
    position %= len(env)
    if env[position] == value:
        return
    env[position] = value
    with pytest.raises(CryptoError):
        _opener().open(bytes(env))


def test_bundle_round_trip_and_every_member_opens() -> None:
    sealer = Sealer("cam-1", DEVICE_KEY, CITY_KEY.public_key())
    envelopes = [sealer.seal(_read(text=f"AB{i:04d}"), i + 1) for i in range(5)]
    bundle = pack_bundle(envelopes)
    assert bundle_size(bundle) == 5 and bundle_size(envelopes[0]) == 1
    assert pack_bundle(envelopes[:1]) == envelopes[0]
    members = split_payload(bundle)
    assert members == envelopes
    assert [_opener().open(m)[1].text for m in members] == [f"AB{i:04d}" for i in range(5)]


def test_bundle_framing_errors_are_malformed() -> None:
    env = Sealer("cam-1", DEVICE_KEY, CITY_KEY.public_key()).seal(_read(), 1)
    bundle = pack_bundle([env, env])
    bad = {
        "truncated": bundle[:-1],
        "trailing bytes": bundle + b"\x00",
        "header only": bundle[:6],
        "count 1": bundle[:4] + b"\x00\x01" + bundle[6:],
        "count too large": bundle[:4] + (MAX_BUNDLE_READS + 1).to_bytes(2, "big") + bundle[6:],
        "member past the end": bundle[:6] + (len(bundle)).to_bytes(4, "big") + bundle[10:],
        "version 2": bundle[:3] + b"\x02" + bundle[4:],
        "too large": bundle[:6] + b"\x00" * MAX_BUNDLE_BYTES,
    }
    for what, data in bad.items():
        with pytest.raises(MalformedError):
            split_payload(data)
            pytest.fail(what)
    with pytest.raises(ValueError, match="larger"):
        pack_bundle([b"\x00" * (MAX_BUNDLE_BYTES // 2)] * 3)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bundles_split_or_are_malformed(tail: bytes) -> None:
    data = b"EA\x03\x01" + tail
    try:
        members = split_payload(data)
    except MalformedError:
        return
    assert 2 <= len(members) <= MAX_BUNDLE_READS
    assert sum(len(m) + 4 for m in members) + 6 == len(data)


def test_receipt_round_trip_and_forgeries() -> None:
    ids = [new_read_id() for _ in range(5)]
    verifier = ReceiptVerifier("cam-1", [RECEIPT_KEY.public_key()])
    receipt = verifier.verify(sign_receipt(RECEIPT_KEY, "cam-1", ids))
    assert receipt.read_ids == tuple(ids)
    with pytest.raises(UnknownKeyError, match="untrusted key"):
        verifier.verify(sign_receipt(Ed25519PrivateKey.generate(), "cam-1", ids))
    with pytest.raises(SignatureError, match="not cam-1"):
        verifier.verify(sign_receipt(RECEIPT_KEY, "cam-2", ids))
    forged = bytearray(sign_receipt(RECEIPT_KEY, "cam-1", ids))
    forged[-70] ^= 0x40  # change a read id
    with pytest.raises(SignatureError):
        verifier.verify(bytes(forged))
    with pytest.raises(MalformedError):
        verifier.verify(b"EA\x02\x01" + b"\x00" * 20)
    with pytest.raises(ValueError):
        sign_receipt(RECEIPT_KEY, "cam-1", [])


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_random_receipts_refused(data: bytes) -> None:
    with pytest.raises(CryptoError):
        ReceiptVerifier("cam-1", [RECEIPT_KEY.public_key()]).verify(data)


def _plaintext(**changes: object) -> bytes:
    import json

    from edge_agent.protocol.reads import encode

    obj = json.loads(encode(_read()))
    obj.update(changes)
    return json.dumps(obj).encode()


@pytest.mark.parametrize(
    "changes",
    [
        {"clock_synced": "false"},  # a string is not a boolean (it was stored as synced)
        {"frames": "7"},
        {"first_seen_ms": 2**63},  # beyond what the city's databases hold: one such read wedged the store
        {"last_seen_ms": -1},
        {"v": True},
        {"read_id": "AB" * 16},  # upper case
        {"plate": "abc 123"},
        {"direction": "sideways"},
        {"box": [1, 2, 3]},
        {"confidence": "0.9"},
        {"camera": "north\u0000"},  # PostgreSQL refuses NUL in text: the batch would be retried for ever
    ],
)
def test_plaintext_of_the_wrong_type_or_range_is_malformed(changes: dict[str, object]) -> None:
    from edge_agent.protocol.reads import decode

    assert decode(_plaintext()).text == "ABC123"
    with pytest.raises(MalformedError):
        decode(_plaintext(**changes))


def test_a_sequence_number_above_what_stores_hold_is_malformed() -> None:
    env = Sealer("cam-1", DEVICE_KEY, CITY_KEY.public_key()).seal(_read(), 2**63)
    with pytest.raises(MalformedError, match="2\\^63"):
        _opener().open(env, expected_device="cam-1")
    assert _opener().open(Sealer("cam-1", DEVICE_KEY, CITY_KEY.public_key()).seal(_read(), 2**63 - 1))[0].seq


def test_a_crop_too_large_to_publish_is_left_out_not_the_read() -> None:
    from edge_agent.protocol.crypto.envelope import MAX_SEALED

    read = _read(crop=b"\xff" * (MAX_SEALED + 1000))
    env = Sealer("cam-1", DEVICE_KEY, CITY_KEY.public_key()).seal(read, 5)
    assert len(env) <= MAX_SEALED
    _, opened = _opener().open(env, expected_device="cam-1")
    assert opened.text == "ABC123" and opened.crop_jpeg is None
