"""Chaos soak (marker `slow`, `scripts/test --slow`): minutes of faults while reads keep arriving.

The CI tests inject each fault a few times; this one keeps a device producing reads while, at random moments, the
broker is SIGKILLed or stopped cleanly and the ingest is restarted, for `EDGE_AGENT_SOAK_S` seconds (default 180).
Afterwards every read must be stored exactly once and the spool must be empty: a bookkeeping slip that strands a
read shows up here as a spool that never drains.
"""

from __future__ import annotations

import os
import random
import threading
import time
from pathlib import Path

import pytest

from edge_agent.local.localcity import LocalCity

from .conftest import stored_ids, wait_for
from .test_store_forward import Device, _ingest

SOAK_S = float(os.environ.get("EDGE_AGENT_SOAK_S", "180"))


@pytest.mark.slow
@pytest.mark.timeout(SOAK_S + 600)
def test_chaos_soak_loses_and_duplicates_nothing(city: LocalCity, tmp_path: Path) -> None:
    ingest = _ingest(city, tmp_path)
    device = Device(city, resend_after=3.0)
    rng = random.Random(int(os.environ.get("EDGE_AGENT_SOAK_SEED", "7")))
    produced: list[bytes] = []
    stop = threading.Event()

    def produce() -> None:  # a busy street: bursts of reads at random intervals
        while not stop.is_set():
            produced.extend(device.add(rng.randint(1, 60)))
            stop.wait(rng.uniform(0.01, 0.3))

    producer = threading.Thread(target=produce, name="producer", daemon=True)
    faults = {"broker_killed": 0, "broker_stopped": 0, "ingest_restarted": 0}
    try:
        device.uplink.start()
        producer.start()
        deadline = time.monotonic() + SOAK_S
        while time.monotonic() < deadline:
            time.sleep(rng.uniform(0.2, 3.0))
            fault = rng.choice(["broker_killed", "broker_killed", "broker_stopped", "ingest_restarted"])
            if fault == "ingest_restarted":
                ingest.stop()
                time.sleep(rng.uniform(0.0, 2.0))
                ingest = _ingest(city, tmp_path)
            else:
                city.broker.kill() if fault == "broker_killed" else city.broker.stop()
                time.sleep(rng.uniform(0.0, 1.5))
                city.broker.start()
            faults[fault] += 1
        stop.set()
        producer.join(5)
        assert wait_for(lambda: len(device.spool) == 0, 300), (faults, device.spool.stats(), device.uplink.counters)
        stored, rows = stored_ids(tmp_path / "reads.db")
        assert rows == len(set(stored)), "a read was stored twice"
        missing = set(produced) - set(stored)
        assert not missing, f"{len(missing)} of {len(produced)} reads lost after {faults}"
        assert device.uplink.counters["reconciled"] == 0, "the safety net had to requeue stranded reads"
    finally:
        stop.set()
        device.close()
        ingest.stop()
