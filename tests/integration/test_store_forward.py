"""Store-and-forward against a real mosquitto over mTLS: nothing lost, nothing stored twice, nothing readable left.

Every test runs the real spool, uplink and ingest; faults are real too (SIGKILL of the broker and of a device
process, an ingest stopped and started, forged receipts, ACL refusals).
"""

from __future__ import annotations

import json
import logging
import os
import random
import sqlite3
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge_agent.city.ingest.service import IngestService
from edge_agent.city.ingest.store import SqliteStore, StoredRead
from edge_agent.config import Config
from edge_agent.device.spool import Spool
from edge_agent.device.uplink import Uplink, _bundles
from edge_agent.errors import IngestError, SpoolError
from edge_agent.local.localcity import LocalCity
from edge_agent.protocol.crypto import envelope as envelope_module
from edge_agent.protocol.crypto.envelope import (
    MAX_BUNDLE_BYTES,
    Sealer,
    pack_bundle,
    sealer_for,
    sign_receipt,
    verifier_for,
)
from edge_agent.protocol.crypto.keys import load_signing_key
from edge_agent.protocol.reads import PlateRead, new_read_id

from .conftest import stored_ids, wait_for
from .mqtt_helpers import TestClient

REPO = Path(__file__).resolve().parents[2]


class Device:
    """The device half of the pipeline, in this process."""

    def __init__(self, city: LocalCity, device_id: str = "cam-1", **uplink: Any) -> None:
        self.cfg: Config = city.device_config(device_id, uplink=uplink)
        assert self.cfg.device.id is not None
        self.id = self.cfg.device.id
        self.spool = Spool(self.cfg.spool_path, commit_interval=0.002)
        self.sealer: Sealer = sealer_for(self.cfg)
        self.uplink = Uplink(self.cfg.uplink, self.id, self.spool, verifier_for(self.cfg))

    def add(self, n: int, text: str = "TST{:05d}", crop: bytes | None = None) -> list[bytes]:
        items = []
        for i in range(n):
            now = time.time()
            read = PlateRead(new_read_id(), self.id, "north", text.format(i), 0.9, now, now, 4, crop_jpeg=crop)
            seq = self.spool.reserve_seq()
            items.append((read.read_id, self.sealer.seal(read, seq), seq))
        for k in range(0, n, 500):
            self.spool.put_many(items[k : k + 500])
        return [rid for rid, _, _ in items]

    def close(self) -> None:
        self.uplink.stop()
        self.spool.close()


def _ingest(city: LocalCity, tmp: Path) -> IngestService:
    cfg = city.ingest_config(store_path=tmp / "reads.db").ingest
    assert cfg is not None
    service = IngestService(cfg)
    service.start()
    assert service.wait_connected(15)
    return service


def test_10000_reads_stored_exactly_once_and_spool_emptied(city: LocalCity, tmp_path: Path) -> None:
    ingest = _ingest(city, tmp_path)
    device = Device(city)
    try:
        ids = device.add(10_000)
        device.uplink.start()
        assert wait_for(lambda: len(device.spool) == 0, 240), device.spool.stats()
        stored, rows = stored_ids(tmp_path / "reads.db")
        assert rows == len(set(stored)) == 10_000
        assert set(stored) == set(ids)
        assert device.spool.stats().counters["deleted"] == 10_000
        assert ingest.counters["rejected_signature"] == 0
        # The backlog went in bundles: far fewer PUBLISHes than reads, each bundle opened member by member.
        assert device.uplink.counters["publishes"] * 4 < device.uplink.counters["published"]
        assert ingest.counters["bundles"] > 0
    finally:
        device.close()
        ingest.stop()


def test_broker_killed_five_times_and_ingest_restarted(city: LocalCity, tmp_path: Path) -> None:
    ingest = _ingest(city, tmp_path)
    device = Device(city, resend_after=3.0)
    rng = random.Random(4)
    try:
        ids = device.add(3000)
        device.uplink.start()
        for _ in range(5):
            time.sleep(rng.uniform(0.3, 1.2))
            city.broker.kill()  # SIGKILL: no clean shutdown, in-memory state since the last autosave is lost
            time.sleep(rng.uniform(0.1, 1.0))
            city.broker.start()
        ingest.stop()  # the city's ingest goes away for a while...
        time.sleep(2.0)
        ingest = _ingest(city, tmp_path)  # ...and comes back
        assert wait_for(lambda: len(device.spool) == 0, 240), device.spool.stats()
        stored, rows = stored_ids(tmp_path / "reads.db")
        assert rows == len(set(stored)), "a read was stored twice"
        assert set(ids) <= set(stored), f"{len(set(ids) - set(stored))} reads lost"
    finally:
        device.close()
        ingest.stop()


class _DroppingClient:
    """Stands in for paho at the moment a connection drops: publishes succeed, then fail with NO_CONN."""

    def __init__(self, accept: int) -> None:
        self.accept = accept
        self.mid = 0

    def publish(self, topic: str, payload: bytes, qos: int = 0, retain: bool = False) -> mqtt.MQTTMessageInfo:
        self.mid += 1
        info = mqtt.MQTTMessageInfo(self.mid)
        info.rc = mqtt.MQTT_ERR_SUCCESS if self.mid <= self.accept else mqtt.MQTT_ERR_NO_CONN
        return info

    def subscribe(self, topic: str, qos: int = 0) -> tuple[int, int]:
        return mqtt.MQTT_ERR_SUCCESS, 1


@pytest.mark.parametrize(("bundle", "accepted"), [(1, 10), (8, 2)])
def test_connection_dropping_mid_batch_strands_no_read(
    city: LocalCity, tmp_path: Path, bundle: int, accepted: int
) -> None:
    """A publish refused for want of a connection puts the rest of its batch back in the queue, in order."""
    device = Device(city, bundle=bundle)
    try:
        ids = device.add(40)
        device.uplink._fill_window(_DroppingClient(accept=accepted))  # type: ignore[arg-type]
        up = device.uplink
        sent = [rid for rids in up._inflight.values() for rid in rids]
        assert sent == ids[: 10 if bundle == 1 else 16]
        assert all(len(rids) <= bundle for rids in up._inflight.values())
        assert list(up._retry) == ids[len(sent) :], "reads handed to a dead connection were forgotten"
        # ...and a connection that comes back sends exactly those, before anything newer.
        client = _DroppingClient(accept=10**6)
        up._on_connected(client)  # type: ignore[arg-type]
        up._fill_window(client)  # type: ignore[arg-type]
        assert sorted(rid for rids in up._inflight.values() for rid in rids) == sorted(ids)
    finally:
        device.close()


def test_bundles_split_evenly_in_order_and_within_the_size_limit() -> None:
    small = [(i.to_bytes(16, "big"), b"x" * 400) for i in range(40)]
    assert [len(g) for g in _bundles(small, 32)] == [20, 20]
    assert [len(g) for g in _bundles(small[:1], 32)] == [1]
    assert [len(g) for g in _bundles(small, 1)] == [1] * 40
    big = [(i.to_bytes(16, "big"), b"x" * (MAX_BUNDLE_BYTES // 3)) for i in range(7)]
    groups = _bundles(big, 32)
    assert [len(g) for g in groups] == [2, 2, 2, 1]
    assert [rid for g in groups for rid, _ in g] == [rid for rid, _ in big]
    assert all(len(pack_bundle([b for _, b in g])) <= MAX_BUNDLE_BYTES for g in groups)


def test_idle_uplink_requeues_reads_nothing_tracks(city: LocalCity, tmp_path: Path) -> None:
    """The safety net: reads behind the cursor that nothing tracks are resent once the uplink is idle."""
    device = Device(city)
    try:
        ids = device.add(5)
        up = device.uplink
        up._cursor = device.spool.after(0, 5)[-1].seq  # as if they had been sent and then forgotten
        up._fill_window(_DroppingClient(accept=10**6))  # type: ignore[arg-type]
        assert list(up._retry) == ids and up.counters["reconciled"] == 5
    finally:
        device.close()


class _FailingStore(SqliteStore):
    """The real store, failing its first commits as a full disk would: once as the store reports it, once raw."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.failures: list[Exception] = [
            IngestError("storing reads failed (database or disk is full): is the disk full?"),
            sqlite3.OperationalError("database or disk is full"),
        ]

    def add(self, items: Sequence[StoredRead]) -> int:
        if self.failures and items:
            raise self.failures.pop(0)
        return super().add(items)


def test_failing_store_receipts_nothing_until_it_recovers(city: LocalCity, tmp_path: Path) -> None:
    cfg = city.ingest_config(store_path=tmp_path / "reads.db").ingest
    assert cfg is not None
    ingest = IngestService(cfg, store=_FailingStore(tmp_path / "reads.db"))
    ingest.start()
    assert ingest.wait_connected(15)
    device = Device(city)
    try:
        ids = device.add(300)
        device.uplink.start()
        assert wait_for(lambda: ingest.counters["store_failures"] >= 1, 30)
        assert len(device.spool) == 300 and ingest.counters["receipts"] == 0  # nothing receipted, nothing deleted
        assert wait_for(lambda: len(device.spool) == 0, 90), device.spool.stats()
        stored, rows = stored_ids(tmp_path / "reads.db")
        assert set(stored) == set(ids) and rows == 300
        assert ingest.counters["store_failures"] == 2
    finally:
        device.close()
        ingest.stop()


def test_device_process_sigkilled_at_20_random_moments(city: LocalCity, tmp_path: Path) -> None:
    ingest = _ingest(city, tmp_path)
    config = city.write_yaml(city.device_dict("cam-1", uplink={"resend_after": 3.0}), tmp_path / "device.yaml")
    ids_file = tmp_path / "committed.txt"
    cmd = [sys.executable, "-m", "tests.integration.forwarder_proc", str(config), str(ids_file), "400", "60"]
    rng = random.Random(20)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    try:
        for _ in range(20):
            proc = subprocess.Popen(cmd, cwd=REPO, env=env, stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(0.3, 1.5))
            proc.kill()
            proc.wait()
        final = subprocess.run(cmd, cwd=REPO, env=env, timeout=180, capture_output=True, check=False)
        assert final.returncode == 0, final.stderr.decode()[-2000:]
        committed = [bytes.fromhex(x) for x in ids_file.read_text().split()]
        assert len(committed) == 400
        assert wait_for(lambda: set(committed) <= set(stored_ids(tmp_path / "reads.db")[0]), 30)
        stored, rows = stored_ids(tmp_path / "reads.db")
        assert rows == len(set(stored)), "a read was stored twice"
        # Some reads were committed without their id reaching the file before a kill; they arrive too.
        assert len(set(stored)) >= 400
    finally:
        ingest.stop()


def test_forged_and_unsolicited_receipts_delete_nothing(city: LocalCity, tmp_path: Path) -> None:
    # No ingest runs: only the receipts this test publishes can reach the device.
    device = Device(city, receipt_window=5)
    publisher = TestClient(city.broker, city.pki, city.pki.service("ingest-8"), "ingest-forger")
    try:
        ids = device.add(20)
        device.uplink.start()
        assert wait_for(lambda: device.uplink.in_flight == 5, 10)
        topic = "alpr/v1/cam-1/receipts"
        # 1. signed by a key the device does not trust
        publisher.publish_wait(topic, sign_receipt(Ed25519PrivateKey.generate(), "cam-1", ids))
        assert wait_for(lambda: device.uplink.counters["receipts_rejected"] == 1, 10)
        # 2. validly signed, but naming reads this device never sent (only 5 of 20 were sent)
        real_key = load_signing_key(city.receipt_key)
        publisher.publish_wait(topic, sign_receipt(real_key, "cam-1", ids[5:]))
        assert wait_for(lambda: device.uplink.counters["receipts"] == 1, 10)
        assert device.uplink.counters["receipt_ids_unknown"] == 15
        # 3. a receipt meant for another device
        publisher.publish_wait(topic, sign_receipt(real_key, "cam-2", ids))
        assert wait_for(lambda: device.uplink.counters["receipts_rejected"] == 2, 10)
        time.sleep(0.3)
        assert len(device.spool) == 20, "a forged or unsolicited receipt deleted something"
        # a genuine receipt for what was sent does delete
        publisher.publish_wait(topic, sign_receipt(real_key, "cam-1", ids[:5]))
        assert wait_for(lambda: len(device.spool) <= 15, 10)
    finally:
        publisher.close()
        device.close()


def test_device_cannot_publish_receipts_for_another_device(city: LocalCity) -> None:
    rogue = TestClient(city.broker, city.pki, city.pki.device("cam-2"), "cam-2-rogue")
    try:
        real_key = load_signing_key(city.receipt_key)
        rc = rogue.publish_wait("alpr/v1/cam-1/receipts", sign_receipt(real_key, "cam-1", [b"\x00" * 16]))
        assert rc is None or rc == 0x87
    finally:
        rogue.close()


def test_puback_failure_deletes_nothing_in_puback_mode(city: LocalCity, tmp_path: Path) -> None:
    # cam-2's certificate, but cam-1's topics: the broker's ACL answers every PUBACK with 0x87.
    cfg = city.device_dict("cam-1", uplink={"ack": "puback", "resend_after": 0.5})
    cam2 = city.pki.device("cam-2")
    cfg["uplink"]["tls"].update(cert=str(cam2.cert), key=str(cam2.key))
    cfg["uplink"]["client_id"] = "cam-2"
    device_cfg = Config.model_validate(cfg)
    spool = Spool(device_cfg.spool_path)
    sealer = sealer_for(device_cfg)
    for i in range(5):
        read = PlateRead(new_read_id(), "cam-1", "north", f"PUB{i}", 0.9, time.time(), time.time())
        seq = spool.reserve_seq()
        spool.put(read.read_id, sealer.seal(read, seq), seq)
    uplink = Uplink(device_cfg.uplink, "cam-1", spool, None)
    try:
        uplink.start()
        assert wait_for(lambda: uplink.counters["puback_failures"] >= 10, 20), uplink.counters
        assert len(spool) == 5
        assert uplink.counters["deleted"] == 0
    finally:
        uplink.stop()
        spool.close()


def test_puback_mode_deletes_on_successful_puback(city: LocalCity, tmp_path: Path) -> None:
    ingest = _ingest(city, tmp_path)  # a subscriber: the broker answers 0x00, not 0x10 "no matching subscribers"
    device = Device(city, ack="puback")
    try:
        device.add(50)
        device.uplink.start()
        assert wait_for(lambda: len(device.spool) == 0, 30)
        assert device.uplink.counters["puback_failures"] == 0
    finally:
        device.close()
        ingest.stop()


def test_ingest_refuses_what_does_not_verify(city: LocalCity, tmp_path: Path) -> None:
    ingest = _ingest(city, tmp_path)
    (city.devices_dir / "cam-2.pub").unlink()  # cam-2 is no longer enrolled
    city.enroll("cam-3")
    time.sleep(2.1)  # the registry rescans at most every 2 s
    cam2 = Device(city, "cam-2")
    raw = TestClient(city.broker, city.pki, city.pki.device("cam-1"), "cam-1-raw")
    try:
        cam2.add(3)
        cam2.uplink.start()
        raw.publish_wait("alpr/v1/cam-1/reads", b"not an envelope")
        # cam-3's genuine envelope replayed by cam-1 on its own topic: signature fine, device mismatch
        cam3 = Device(city, "cam-3")
        now = time.time()
        stolen = cam3.sealer.seal(PlateRead(new_read_id(), "cam-3", "n", "STOLEN1", 0.9, now, now), 1)
        raw.publish_wait("alpr/v1/cam-1/reads", stolen)
        # an envelope with a flipped signature bit
        good = Device(city, "cam-1").sealer.seal(PlateRead(new_read_id(), "cam-1", "n", "FLIP1", 0.9, now, now), 1)
        raw.publish_wait("alpr/v1/cam-1/reads", good[:-1] + bytes([good[-1] ^ 1]))
        assert wait_for(
            lambda: (
                ingest.counters["rejected_unknown_device"] >= 3
                and ingest.counters["rejected_malformed"] >= 1
                and ingest.counters["rejected_signature"] >= 2
            ),
            20,
        ), ingest.counters
        assert stored_ids(tmp_path / "reads.db")[1] == 0
        assert ingest.counters["receipts"] == 0
        assert len(cam2.spool) == 3  # no receipt, nothing deleted
        cam3.close()
    finally:
        raw.close()
        cam2.close()
        ingest.stop()


def test_no_plaintext_on_device_disk_or_logs(city: LocalCity, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    plates = [f"PRIV{i:03d}X" for i in range(30)]
    crop = b"\xff\xd8\xff\xe0CROP-PIXELS-" + os.urandom(64) + b"\xff\xd9"
    ingest = _ingest(city, tmp_path)
    device = Device(city)
    try:
        device.add(30, text="PRIV{:03d}X", crop=crop)
        device.uplink.start()
        assert wait_for(lambda: len(device.spool) == 0, 60)
        device.add(10, text="PRIV{:03d}X", crop=crop)  # some still spooled at the end
    finally:
        device.close()
        ingest.stop()
    state = device.cfg.device.state_dir
    files = [p for p in state.rglob("*") if p.is_file()]
    assert any(p.name.endswith("-wal") or p.name == "spool.db" for p in files)
    for path in files:
        data = path.read_bytes()
        for plate in plates:
            assert plate.encode() not in data, f"{plate} in {path.name}"
        assert b"CROP-PIXELS-" not in data, f"crop bytes in {path.name}"
    log_text = "\n".join(r.getMessage() for r in caplog.records)
    assert "PRIV" not in log_text
    # and the city did decrypt them
    assert stored_ids(tmp_path / "reads.db")[1] == 30


def _sealed_with_plaintext(sealer: Sealer, read: PlateRead, plaintext: bytes, monkeypatch: pytest.MonkeyPatch) -> bytes:
    """A correctly signed envelope whose plaintext is `plaintext` (a device with a broken or hostile encoder)."""
    with monkeypatch.context() as m:
        m.setattr(envelope_module, "encode", lambda _read: plaintext)
        return sealer.seal(read, 1)


def test_poison_messages_are_rejected_alone_and_good_reads_go_on(
    city: LocalCity, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each poison below stopped the whole batch it came in, unacknowledged: its slots of the ingest's Receive
    # Maximum stayed taken, other devices' reads in the batch were never receipted, and a restart got it again.
    ingest = _ingest(city, tmp_path)
    cam2 = Device(city, "cam-2")
    cam1 = Device(city, "cam-1")
    raw = TestClient(city.broker, city.pki, city.pki.device("cam-1"), "cam-1-raw")
    try:
        now = time.time()
        base = PlateRead(new_read_id(), "cam-1", "n", "POISON1", 0.9, now, now).to_dict()
        poisons = {
            "models-list": json.dumps({**base, "models": ["d40"]}).encode(),
            "nan": json.dumps({**base, "confidence": float("nan")}).encode(),
            "deep": b'{"v":1,"x":' + b"[" * 5000 + b"]" * 5000 + b"}",
            "not-object": b"[1, 2, 3]",
        }
        for poison in poisons.values():
            read = PlateRead(new_read_id(), "cam-1", "n", "POISON1", 0.9, now, now)
            raw.publish_wait("alpr/v1/cam-1/reads", _sealed_with_plaintext(cam1.sealer, read, poison, monkeypatch))
        raw.publish_wait("alpr/v1/cam-1/status", b"[" * 3000 + b"]" * 3000)
        raw.publish_wait("alpr/v1/cam-1/status", b'{"state": "online", "pad": "' + b"x" * 40_000 + b'"}')
        raw.publish_wait("alpr/v1/cam-1/status", b"[]")
        good = cam2.add(40)
        good += cam1.add(10)
        cam2.uplink.start()
        cam1.uplink.start()
        assert wait_for(lambda: len(cam2.spool) == 0 and len(cam1.spool) == 0, 30), ingest.counters
        ids, rows = stored_ids(tmp_path / "reads.db")
        assert set(ids) == set(good)
        assert rows == 50
        assert ingest.counters["rejected_malformed"] >= len(poisons) + 2, ingest.counters
        assert ingest.counters["rejected_oversize"] == 1, ingest.counters
        assert ingest.counters["open_failures"] == 0
    finally:
        raw.close()
        cam1.close()
        cam2.close()
        ingest.stop()


def test_another_devices_read_id_does_not_make_a_real_read_a_duplicate(city: LocalCity, tmp_path: Path) -> None:
    # cam-1 (or anyone with its key) submits cam-2's next read id first. Keyed by the read id alone, cam-2's real
    # read was then a "duplicate": receipted, deleted from its spool, never stored.
    ingest = _ingest(city, tmp_path)
    cam1, cam2 = Device(city, "cam-1"), Device(city, "cam-2")
    try:
        [victim] = cam2.add(1, text="REAL222")
        now = time.time()
        squat = PlateRead(victim, "cam-1", "n", "SQUAT11", 0.9, now, now)
        seq = cam1.spool.reserve_seq()
        cam1.spool.put_many([(victim, cam1.sealer.seal(squat, seq), seq)])
        cam1.uplink.start()
        assert wait_for(lambda: len(cam1.spool) == 0, 20), ingest.counters
        cam2.uplink.start()
        assert wait_for(lambda: len(cam2.spool) == 0, 20), ingest.counters
        conn = sqlite3.connect(tmp_path / "reads.db")
        try:
            rows = sorted(conn.execute("SELECT device_id, plate FROM reads WHERE read_id = ?", (victim,)).fetchall())
        finally:
            conn.close()
        assert rows == [("cam-1", "SQUAT11"), ("cam-2", "REAL222")]
    finally:
        cam1.close()
        cam2.close()
        ingest.stop()


def test_ingest_counts_a_reused_sequence_number(city: LocalCity, tmp_path: Path) -> None:
    ingest = _ingest(city, tmp_path)
    cam = Device(city, "cam-1")
    try:
        now = time.time()
        items = []
        for text in ("FIRST11", "AGAIN22"):  # two reads numbered 5, as by a spool that started over
            read = PlateRead(new_read_id(), "cam-1", "n", text, 0.9, now, now)
            items.append((read.read_id, cam.sealer.seal(read, 5), 5))
        cam.spool.put_many(items[:1])
        cam.uplink.start()
        assert wait_for(lambda: len(cam.spool) == 0, 20)
        cam.spool.put_many(items[1:])
        assert wait_for(lambda: len(cam.spool) == 0, 20)
        assert stored_ids(tmp_path / "reads.db")[1] == 2
        assert ingest.counters["seq_reused"] == 1
    finally:
        cam.close()
        ingest.stop()


def test_ingest_counters_survive_a_restart(city: LocalCity, tmp_path: Path) -> None:
    # The counters lived in memory and were written only on a clean exit: a crash lost how many reads were
    # duplicates or rejected.
    ingest = _ingest(city, tmp_path)
    cam = Device(city, "cam-1")
    raw = TestClient(city.broker, city.pki, city.pki.device("cam-1"), "cam-1-raw")
    try:
        cam.add(20)
        cam.uplink.start()
        raw.publish_wait("alpr/v1/cam-1/reads", b"not an envelope")
        assert wait_for(lambda: len(cam.spool) == 0 and ingest.counters["rejected_malformed"] == 1, 20)
        cam.add(5)
        assert wait_for(lambda: len(cam.spool) == 0, 20)
        assert wait_for(lambda: ingest.store.counters().get("stored") == 25, 10), ingest.store.counters()
        ingest.stop()  # the totals above were written while it ran (every second), not at this stop
        again = _ingest(city, tmp_path)
        try:
            totals = again.store.counters()
            assert totals["stored"] == 25
            assert totals["received"] == 25
            assert totals["rejected_malformed"] == 1
            assert again.counters["stored"] == 0  # this worker's own, since it started
        finally:
            again.stop()
        config = tmp_path / "ingest-totals.yaml"
        config.write_text(yaml.safe_dump(json.loads(json.dumps(city.ingest_dict(tmp_path / "reads.db"), default=str))))
        done = subprocess.run(
            [sys.executable, "-m", "edge_agent", "ingest", "--config", str(config), "--totals"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["stored"] == 25
    finally:
        raw.close()
        cam.close()


def test_an_unreachable_broker_is_reported_with_what_waits(
    city: LocalCity, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from edge_agent.device import uplink as uplink_module

    monkeypatch.setattr(uplink_module, "OFFLINE_NOTE_INTERVAL", 0.3)
    city.broker.stop()
    device = Device(city, backoff={"initial": 0.05, "max": 0.1})
    try:
        device.add(3)
        with caplog.at_level(logging.WARNING, logger="edge_agent.device.uplink"):
            device.uplink.start()
            assert wait_for(lambda: any("offline for" in r.getMessage() for r in caplog.records), 10)
    finally:
        device.close()
    notes = [r.getMessage() for r in caplog.records if "offline for" in r.getMessage()]
    assert "3 read(s) waiting in the spool" in notes[0]
    assert len(notes) < 10  # now and then, not at every retry


def test_the_status_is_published_once_at_connect(city: LocalCity) -> None:
    assert city.pki.monitor is not None
    watcher = TestClient(city.broker, city.pki, city.pki.monitor, "status-watcher")
    device = Device(city)
    try:
        watcher.subscribe_wait("alpr/v1/cam-1/status")
        device.uplink.start()
        assert wait_for(lambda: device.uplink.state == "online", 10)
        time.sleep(1.5)
        online = [m for m in watcher.messages if json.loads(m.payload).get("state") == "online"]
        assert len(online) == 1
    finally:
        device.close()
        watcher.close()
    final = json.loads(watcher.wait_messages(2)[-1].payload)
    assert final["state"] == "offline"


def test_puback_mode_keeps_what_no_consumer_takes(city: LocalCity, tmp_path: Path) -> None:
    """PUBACK 0x10 (no matching subscribers) is not a delivery: with no ingest subscribed nothing is deleted."""
    device = Device(city, ack="puback", resend_after=1.0)
    try:
        device.add(5)
        device.uplink.start()
        assert wait_for(lambda: device.uplink.counters["puback_failures"] >= 1, 10)
        assert len(device.spool) == 5
        service = _ingest(city, tmp_path)
        try:
            assert wait_for(lambda: len(device.spool) == 0, 30)
            # In puback mode the device deletes on the broker's word; the ingest stores a moment later.
            assert wait_for(lambda: stored_ids(tmp_path / "reads.db")[1] == 5, 10)
        finally:
            service.stop()
    finally:
        device.close()


class _FullDiskSpool(Spool):
    """A spool on a full disk: its bookkeeping writes fail, and so do its first deletes."""

    delete_failures = 3

    def mark_sent(self, read_ids: Sequence[bytes], when: float | None = None) -> None:
        raise SpoolError("spool update failed (database or disk is full)")

    def delete(self, read_ids: Sequence[bytes]) -> int:
        if self.delete_failures:
            self.delete_failures -= 1
            raise SpoolError("spool delete failed (database or disk is full)")
        return super().delete(read_ids)


def test_failed_spool_writes_keep_the_session_and_resend_nothing(city: LocalCity, tmp_path: Path) -> None:
    """A full disk used to end the uplink session at the first failed spool write (traceback, reconnect) and,
    with mark_sent failing, resend the backlog in a loop. Now the session stays up, deletes are tried again at the
    next turn, and every read is stored once."""
    ingest = _ingest(city, tmp_path)
    device = Device(city)
    device.spool.close()
    device.spool = _FullDiskSpool(device.cfg.spool_path, commit_interval=0.002)
    device.uplink = Uplink(device.cfg.uplink, device.id, device.spool, verifier_for(device.cfg))
    try:
        ids = device.add(300)
        device.uplink.start()
        assert wait_for(lambda: len(device.spool) == 0, 60), len(device.spool)
        time.sleep(0.5)
        assert device.uplink.counters["connects"] == 1
        assert device.uplink.counters["session_errors"] == 0
        assert device.uplink.counters["spool_write_failures"] >= 4
        assert ingest.counters["stored"] == 300 and ingest.counters["duplicates"] == 0
        stored, rows = stored_ids(tmp_path / "reads.db")
        assert set(stored) == set(ids) and rows == 300
    finally:
        device.close()
        ingest.stop()
