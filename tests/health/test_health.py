"""Health: sd_notify over a real datagram socket, watchdog pings only while every stage moves, metrics."""

from __future__ import annotations

import socket
import time
import urllib.request
from pathlib import Path

import pytest

from edge_agent.clock import ClockState, kernel_clock_synced
from edge_agent.device.health import MetricsServer, Stage, Watchdog, prometheus_text, sd_notify, watchdog_interval


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


def test_prometheus_text_flattens_numbers() -> None:
    text = prometheus_text(
        {
            "v": 1,
            "state": "online",
            "spool": {"depth": 3, "bytes": 900},
            "clock_synced": False,
            "uplink": {"state": "online"},
        }
    )
    assert "edge_agent_spool_depth 3" in text
    assert "edge_agent_clock_synced 0" in text
    assert 'edge_agent_uplink_online{state="online"} 1' in text
    assert "edge_agent_v " not in text


def test_metrics_endpoint_serves_on_localhost() -> None:
    server = MetricsServer("127.0.0.1", 0, lambda: {"frames": {"in": 42}})
    server.start()
    try:
        body = urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=5).read().decode()
        assert "edge_agent_frames_in 42" in body
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(f"http://127.0.0.1:{server.port}/other", timeout=5)
    finally:
        server.stop()


def test_clock_state() -> None:
    assert kernel_clock_synced() in (True, False, None)
    assert ClockState(override=False).synced is False
