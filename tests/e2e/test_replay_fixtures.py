"""Each CI fixture through `edge-agent run --fast` into a local city: exactly the ground-truth plates arrive.

Per fixture: one read per vehicle with the right text, nothing from a privacy zone, nothing left in the device's
spool, no plate text in the device's log; for the corrupt file, one warning about the unreadable stretch.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from pathlib import Path

import pytest

from edge_agent.local.localcity import LocalCity

from .conftest import (
    CI_FIXTURES,
    device_id_for,
    log_tail,
    run_fast,
    spool_depth,
    stored_reads,
    truth,
    wait_for,
    write_device_config,
)


@pytest.mark.parametrize("name", CI_FIXTURES)
def test_fixture_reads_reach_the_city(name: str, e2e_city: tuple[LocalCity, Path], tmp_path: Path) -> None:
    city, db = e2e_city
    t = truth(name)
    device_id = device_id_for(name)
    config = write_device_config(city, device_id, name, tmp_path / "device.yaml")
    log = tmp_path / "agent.log"
    result = run_fast(config, log)
    assert result.returncode == 0, log_tail(log)

    expected = Counter(p["text"] for p in t["plates"] if not p["private"])
    private = {p["text"] for p in t["plates"] if p["private"]}
    # The agent exits only once the spool has drained, i.e. after the ingest stored and receipted every read.
    wait_for(lambda: len(stored_reads(db, device_id)) >= sum(expected.values()), 10)
    stored = Counter(r.plate for r in stored_reads(db, device_id))
    assert stored == expected, f"stored {dict(stored)}, ground truth {dict(expected)}"
    assert not private & set(stored), "a plate inside a privacy zone was read"
    assert spool_depth(city, device_id) == 0, "reads left in the device spool"

    text = log.read_text(errors="replace")
    for plate in (*expected, *private):
        assert plate not in text, "plate text in the device log at INFO"
    # The last status the city kept: the certificate's days left are there for monitoring, a plate never is.
    with sqlite3.connect(db) as conn:
        [(payload,)] = conn.execute("SELECT payload FROM device_status WHERE device_id = ?", (device_id,)).fetchall()
    status = json.loads(payload)
    assert 390 < status["tls"]["cert_days_left"] <= 397  # the 397-day certificate the test city issued
    assert not any(plate in payload for plate in (*expected, *private))
    if t["corrupt_frames"]:
        warnings = [line for line in text.splitlines() if "unreadable frame" in line]
        assert len(warnings) == 1, warnings
        assert f"skipped {len(t['corrupt_frames'])} unreadable frame(s)" in warnings[0]
