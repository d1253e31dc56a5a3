"""Both metrics endpoints as Prometheus scrapes them: the ingest worker's and the camera's, parsed by
prometheus_client's own text-format parser."""

from __future__ import annotations

import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from edge_agent.local.localbroker import free_port
from edge_agent.local.localcity import IngestProcess, LocalCity
from tests.integration.conftest import wait_for
from tests.integration.test_store_forward import Device


def scrape(port: int) -> dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = resp.read().decode()
    out: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(family.name, {})[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_the_ingest_serves_its_counters(city: LocalCity, tmp_path: Path) -> None:
    port = free_port()
    worker = IngestProcess(city, tmp_path / "ingest.yaml", metrics={"enabled": True, "port": port})
    device = Device(city)
    try:
        device.add(20)
        device.uplink.start()
        assert wait_for(lambda: len(device.spool) == 0, 30)
        metrics = scrape(port)
        assert metrics["edge_agent_ingest_stored"][("edge_agent_ingest_stored_total", ())] == 20
        assert metrics["edge_agent_ingest_receipts"][("edge_agent_ingest_receipts_total", ())] >= 1
    finally:
        device.close()
        worker.stop()
