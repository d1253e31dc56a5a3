"""A frozen camera stops the systemd watchdog pings while the other stages stay healthy.

The agent's real stage wiring (`Agent._stages`) watches a real capture thread, vision thread and seal thread;
only the camera is a test double behind the FrameSource interface, and the uplink (which needs a broker, see
tests/integration) is a stand-in that keeps moving. systemd is played by a unix datagram socket in
$NOTIFY_SOCKET with a small $WATCHDOG_USEC, read the way systemd reads it.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from edge_agent.clock import ClockState
from edge_agent.config import CameraConfig, PrivacyConfig
from edge_agent.device.agent import Agent
from edge_agent.device.capture.base import EndOfStream, Frame, FrameQueue
from edge_agent.device.capture.worker import CaptureWorker
from edge_agent.device.health import Watchdog
from edge_agent.device.seal import SealStage
from edge_agent.device.spool import Spool
from edge_agent.device.vision.tracker import FinishedTrack
from edge_agent.device.vision.worker import VisionWorker
from edge_agent.protocol.crypto.envelope import Sealer

WATCHDOG_USEC = 200_000  # systemd's WatchdogSec=0.2s: the agent pings every 0.1 s
STALL_TIMEOUT = 0.05  # the capture stage counts as frozen after stall_timeout * 2 + 10 s without progress
QUIET = 0.7  # pings have stopped once none came for this long (7 intervals)


class FreezableCamera:
    """A live camera (FrameSource) that delivers small frames until frozen, then blocks in read() for good."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.freeze = threading.Event()
        self.release = threading.Event()
        self.frames = 0

    def open(self) -> None:
        """Nothing to open."""

    def read(self) -> Frame:
        """A frame every 20 ms; once frozen, wait (as a wedged driver does) until the test lets go."""
        if self.freeze.is_set():
            self.release.wait()
            raise EndOfStream
        time.sleep(0.02)
        self.frames += 1
        return Frame(np.zeros((8, 8, 3), np.uint8), time.time(), time.monotonic(), self.frames, self.name)

    def close(self) -> None:
        """Nothing to release."""

    @property
    def live(self) -> bool:
        """Frames are dropped, not waited for."""
        return True

    @property
    def reconnectable(self) -> bool:
        """A camera is reopened after a failure."""
        return True


class NoPlates:
    """Vision pipeline that analyses every frame and finds nothing (the stage's thread is what is watched)."""

    analysed = 0

    def process(self, frame: Frame) -> list[FinishedTrack]:
        self.analysed += 1
        return []

    def flush(self) -> list[FinishedTrack]:
        return []


class MovingUplink:
    """Stand-in for the uplink stage: alive and making progress."""

    alive = True

    @property
    def alive_at(self) -> float:
        return time.monotonic()


@pytest.fixture
def notify_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    path = tmp_path / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    monkeypatch.setenv("WATCHDOG_USEC", str(WATCHDOG_USEC))
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    yield sock
    sock.close()


def _pings(sock: socket.socket, seconds: float, quiet: float | None = None) -> list[float]:
    """Monotonic arrival times of WATCHDOG=1 datagrams during `seconds` (or until `quiet` s pass without one)."""
    arrivals: list[float] = []
    start = time.monotonic()
    deadline = start + seconds
    while (left := deadline - time.monotonic()) > 0:
        if quiet is not None:
            left = min(left, (arrivals[-1] if arrivals else start) + quiet - time.monotonic())
            if left <= 0:
                break
        sock.settimeout(left)
        try:
            message = sock.recv(4096)
        except TimeoutError:
            continue
        if message == b"WATCHDOG=1":
            arrivals.append(time.monotonic())
    return arrivals


def test_frozen_capture_stops_watchdog_pings(
    notify_socket: socket.socket, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cam = CameraConfig(name="north", source="/dev/video0", kind="opencv", stall_timeout=STALL_TIMEOUT)
    camera = FreezableCamera("north")
    frames = FrameQueue(4, drop_oldest=True)
    spool = Spool(tmp_path / "spool.db")
    sealer = Sealer("cam-test", Ed25519PrivateKey.generate(), X25519PrivateKey.generate().public_key())
    seal = SealStage("cam-test", sealer, spool, PrivacyConfig(), ClockState(override=True), {})
    capture = CaptureWorker(cam, camera, frames)
    vision = VisionWorker("north", frames, NoPlates(), seal.submit)  # type: ignore[arg-type]
    agent = SimpleNamespace(seal=seal, uplink=MovingUplink(), cameras=[(capture, vision)])
    dog = Watchdog(Agent._stages(agent))  # type: ignore[arg-type]
    assert dog.interval == pytest.approx(0.1)  # half of WATCHDOG_USEC, as systemd expects
    capture_stage = next(s for s in dog.stages if s.name == "capture-north")

    # Agent.run's pacing: one tick per interval, on its own thread here.
    stop = threading.Event()

    def ping_loop() -> None:
        while not stop.is_set():
            dog.tick()
            stop.wait(dog.interval)

    pinger = threading.Thread(target=ping_loop, name="pinger", daemon=True)
    seal.start()
    vision.start()
    capture.start()
    pinger.start()
    try:
        healthy = _pings(notify_socket, 0.6)
        assert len(healthy) >= 3, "no watchdog pings while every stage runs"
        assert camera.frames > 5

        camera.freeze.set()
        frozen_at = time.monotonic()
        with caplog.at_level(logging.ERROR, logger="edge_agent.device.health"):
            arrivals = _pings(notify_socket, capture_stage.max_silence + 1.5, quiet=QUIET)
        stopped_at = arrivals[-1] if arrivals else frozen_at
        print(
            f"{len(healthy)} pings in 0.6 s while healthy; after the freeze {len(arrivals)} more, the last "
            f"{stopped_at - frozen_at:.2f} s after it (capture max_silence {capture_stage.max_silence:.1f} s)"
        )

        # The pings stop within the capture stage's silence bound (plus scheduling slack), and never resume.
        assert stopped_at - frozen_at <= capture_stage.max_silence + 0.5
        # Until then a camera that is merely slow is tolerated: the pings went on, nothing else was blamed.
        assert stopped_at - frozen_at >= capture_stage.max_silence - 1.0
        assert time.monotonic() - stopped_at >= QUIET
        # Only the camera is blamed: its thread is alive but stuck; vision, seal and uplink are fine.
        assert capture.alive and not capture.ended
        assert dog.unhealthy() == ["capture-north"]
        assert "capture-north" in caplog.text
    finally:
        stop.set()
        pinger.join(2.0)
        camera.release.set()
        capture.stop()
        capture.join(2.0)
        vision.join(2.0)
        seal.stop(2.0)
        spool.close()
