"""Poison soak (marker `slow`): ten thousand hostile messages among a thousand good reads from five devices.

Every good read must be stored and receipted (the devices' spools drain), every poison message counted by its
reason, nothing opened in a batch held back by its neighbours, and the ingest's memory bounded.
"""

from __future__ import annotations

import json
import os
import random
import resource
import time
from pathlib import Path

import pytest

from edge_agent.local.localcity import LocalCity
from edge_agent.protocol.crypto import envelope as envelope_module
from edge_agent.protocol.reads import PlateRead, new_read_id

from .conftest import stored_ids, wait_for
from .mqtt_helpers import TestClient
from .test_store_forward import Device, _ingest

POISON = int(os.environ.get("EDGE_AGENT_POISON", "10000"))
GOOD_PER_DEVICE = 200
DEVICES = [f"cam-{i}" for i in range(1, 6)]


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_poison_among_good_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    city = LocalCity(tmp_path / "city", DEVICES)
    city.broker.start()
    ingest = _ingest(city, tmp_path)
    devices = [Device(city, d) for d in DEVICES]
    raws = [TestClient(city.broker, city.pki, city.pki.device(d), f"{d}-raw") for d in DEVICES]
    rng = random.Random(11)
    now = time.time()
    base = PlateRead(new_read_id(), "x", "n", "POISON1", 0.9, now, now).to_dict()

    def sealed_poison(dev: Device, plaintext: bytes) -> bytes:
        read = PlateRead(new_read_id(), dev.id, "n", "POISON1", 0.9, now, now)
        with monkeypatch.context() as m:
            m.setattr(envelope_module, "encode", lambda _read: plaintext)
            return dev.sealer.seal(read, 1)

    kinds = {
        "status_deep": lambda d: ("status", b"[" * 10_000 + b"]" * 10_000),
        "status_huge": lambda d: ("status", b'{"state":"' + b"x" * 200_000 + b'"}'),
        "status_not_object": lambda d: ("status", b"42"),
        "reads_garbage": lambda d: ("reads", rng.randbytes(rng.randint(1, 400))),
        "reads_huge": lambda d: ("reads", rng.randbytes(900_000)),
        "reads_models_list": lambda d: (
            "reads",
            sealed_poison(d, json.dumps({**base, "device_id": d.id, "models": [1]}).encode()),
        ),
        "reads_nan": lambda d: (
            "reads",
            sealed_poison(d, json.dumps({**base, "device_id": d.id, "confidence": float("nan")}).encode()),
        ),
        "reads_deep": lambda d: ("reads", sealed_poison(d, b'{"v":1,"x":' + b"[" * 5000 + b"]" * 5000 + b"}")),
    }
    sent = dict.fromkeys(kinds, 0)
    good: list[bytes] = []
    rss_before = _rss_mib()
    try:
        for dev in devices:
            dev.uplink.start()
        per_round = POISON // 10
        for _round in range(10):
            for dev in devices:  # good reads between the poison, from every device
                good += dev.add(GOOD_PER_DEVICE // 10)
            mids = []
            for _ in range(per_round):
                i = rng.randrange(len(devices))
                kind = rng.choice(list(kinds))
                where, payload = kinds[kind](devices[i])
                mids.append((raws[i], raws[i].client.publish(f"alpr/v1/{DEVICES[i]}/{where}", payload, qos=1).mid))
                sent[kind] += 1
            assert wait_for(lambda mids=mids: all(mid in raw.pubacks for raw, mid in mids), 120)  # type: ignore[misc]
        assert wait_for(lambda: all(len(d.spool) == 0 for d in devices), 180), ingest.counters
        ids, rows = stored_ids(tmp_path / "reads.db")
        assert set(ids) == set(good)
        assert rows == len(good) == GOOD_PER_DEVICE * len(DEVICES)
        status_poison = sent["status_deep"] + sent["status_huge"] + sent["status_not_object"]
        reads_poison = sum(v for k, v in sent.items() if k.startswith("reads"))
        assert wait_for(
            lambda: (
                sum(v for k, v in ingest.counters.items() if k.startswith("rejected_")) == status_poison + reads_poison
            ),
            60,
        ), (sent, dict(ingest.counters))
        assert ingest.counters["rejected_oversize"] == sent["status_huge"] + sent["status_deep"]  # both over 16 KiB
        assert ingest.counters["open_failures"] == 0
        grown = _rss_mib() - rss_before
        print(f"poison sent by kind: {sent}")
        print(f"ingest counters: {dict(sorted(ingest.counters.items()))}")
        print(f"good reads stored and receipted: {rows}; peak RSS growth {grown:.0f} MiB")
        assert grown < 300, f"the test process grew by {grown:.0f} MiB"
    finally:
        for raw in raws:
            raw.close()
        for dev in devices:
            dev.close()
        ingest.stop()
        city.broker.stop()
