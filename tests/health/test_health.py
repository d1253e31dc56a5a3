"""Health: sd_notify over a real datagram socket, watchdog pings only while every stage moves, metrics."""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from edge_agent.clock import ClockState, kernel_clock_synced
from edge_agent.device.health import Stage, Watchdog, sd_notify, watchdog_interval
from edge_agent.metrics import MetricsServer, device_metrics, exposition, ingest_metrics


@pytest.fixture
def notify_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> socket.socket:
    path = tmp_path / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(1.0)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    yield sock
    sock.close()


def _drain(sock: socket.socket) -> list[str]:
    out = []
    sock.settimeout(0.05)
    try:
        while True:
            out.append(sock.recv(4096).decode())
    except TimeoutError:
        return out


def test_sd_notify_reaches_systemd_socket(notify_socket: socket.socket) -> None:
    assert sd_notify("READY=1")
    assert notify_socket.recv(4096) == b"READY=1"


def test_sd_notify_without_systemd(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert not sd_notify("READY=1")


def test_watchdog_interval_from_systemd(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    assert watchdog_interval() == 15.0
    monkeypatch.setenv("WATCHDOG_PID", "1")
    assert watchdog_interval() is None  # meant for another process


def test_pings_stop_when_a_stage_freezes(notify_socket: socket.socket) -> None:
    progress = {"capture": time.monotonic(), "vision": time.monotonic()}
    stages = [Stage(name, lambda: True, lambda n=name: progress[n], max_silence=0.3) for name in progress]  # type: ignore[misc]
    dog = Watchdog(stages, interval=0.05)
    for _ in range(3):
        progress["capture"] = progress["vision"] = time.monotonic()
        assert dog.tick()
    assert _drain(notify_socket) == ["WATCHDOG=1"] * 3
    time.sleep(0.4)
    progress["vision"] = time.monotonic()  # capture is frozen, vision still moves
    assert not dog.tick()
    assert dog.unhealthy() == ["capture"]
    assert _drain(notify_socket) == []


def test_a_dead_stage_stops_pings(notify_socket: socket.socket) -> None:
    dog = Watchdog([Stage("seal", lambda: False, time.monotonic)], interval=0.05)
    assert not dog.tick() and _drain(notify_socket) == []


STATUS = {
    "v": 1,
    "device_id": "cam-0001",
    "state": "online",
    "version": "0.1.0",
    "models": {"detector": "det-1", "reader": "reader-2"},
    "uptime_s": 3600,
    "clock_synced": False,
    "frames": {"in": 54000, "dropped": 12, "analysed": 9800},
    "reads": {"made": 310, "sealed": 310, "rejected_full": 0, "unspooled": 0},
    "spool": {"depth": 3, "bytes": 900, "oldest_age_s": 0.4, "purged": 0, "dropped_full": 0, "deleted": 308},
    "tls": {"cert_days_left": 412},
    "uplink": {"state": "online", "in_flight": 2, "last_receipt_ms": 1795000000000, "receipts_rejected": 0},
}


def _parse(text: str) -> dict[str, Any]:
    """Families by name, as Prometheus' own parser reads the text (it refuses malformed exposition)."""
    return {f.name: f for f in text_string_to_metric_families(text)}


def test_device_metrics_follow_prometheus_conventions() -> None:
    text = exposition(lambda: device_metrics(STATUS)).decode()
    families = _parse(text)
    assert families["edge_agent_frames_received"].type == "counter"
    assert "# TYPE edge_agent_frames_received_total counter" in text
    assert "edge_agent_frames_received_total 54000.0" in text
    assert "# HELP edge_agent_spool_depth Envelopes in the spool" in text
    assert families["edge_agent_spool_depth"].type == "gauge"
    assert families["edge_agent_tls_certificate_days_left"].samples[0].value == 412
    assert families["edge_agent_clock_synced"].samples[0].value == 0
    [info] = families["edge_agent_build_info"].samples
    assert info.labels == {"version": "0.1.0", "device_id": "cam-0001", "model_detector": "det-1",
                           "model_reader": "reader-2"}  # fmt: skip
    states = {s.labels["state"]: s.value for s in families["edge_agent_uplink_state"].samples}
    assert states == {"online": 1, "connecting": 0, "offline": 0}
    assert all(s.name.startswith("edge_agent_") for f in families.values() for s in f.samples)


def test_ingest_metrics_label_rejections_by_reason() -> None:
    counters = {"received": 10, "stored": 9, "duplicates": 1, "rejected_bad_signature": 2, "rejected_unknown_key": 1}
    families = _parse(exposition(lambda: ingest_metrics(counters)).decode())
    assert families["edge_agent_ingest_stored"].samples[0].value == 9
    rejected = {s.labels["reason"]: s.value for s in families["edge_agent_ingest_rejected"].samples
                if s.name.endswith("_total")}  # fmt: skip
    assert rejected == {"bad_signature": 2, "unknown_key": 1}


def test_metrics_endpoint_serves_on_localhost() -> None:
    server = MetricsServer("127.0.0.1", 0, lambda: device_metrics({"frames": {"in": 42}}))
    server.start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=5) as resp:
            assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            body = resp.read().decode()
        assert _parse(body)["edge_agent_frames_received"].samples[0].value == 42
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(f"http://127.0.0.1:{server.port}/other", timeout=5)
    finally:
        server.stop()


def test_clock_state() -> None:
    assert kernel_clock_synced() in (True, False, None)
    assert ClockState(override=False).synced is False
