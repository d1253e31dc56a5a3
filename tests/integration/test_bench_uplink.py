"""`edge-agent bench uplink` on a small scale: its own figures check delivery, with one ingest and with two."""

from __future__ import annotations

import pytest

from edge_agent.bench.uplink import run_uplink_bench


@pytest.mark.parametrize("workers", [1, 2])
def test_bench_uplink_delivers_everything_once(workers: int) -> None:
    result = run_uplink_bench(600, latency_reads=10, rate=50.0, ingest_workers=workers)
    assert result["reads"] == 610
    assert result["lost"] == 0 and result["duplicates_stored"] == 0 and result["spool_left"] == 0
    assert result["reads_per_s"] > 0 and result["baseline_per_s"] > 0 and result["ratio"] > 0
    assert result["latency_reads"] == 10
    assert result["ingest_workers"] == workers and result["cpu_ms_per_read"]["ingest"] > 0
