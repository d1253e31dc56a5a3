"""Health: systemd notification (READY, WATCHDOG, STATUS), stage liveness, device facts, Prometheus text.

The watchdog is pinged only while every stage reports that it is alive (its thread runs and it has made
progress recently); a frozen camera, a wedged detector or a stuck uplink stops the pings, and systemd restarts
the service. The status message itself is published by the uplink (docs/protocol.md section 6).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)


def sd_notify(message: str) -> bool:
    """Send a message to systemd's notification socket; False when not run by systemd (Type=notify)."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(message.encode())
    except OSError as exc:
        logger.debug("sd_notify failed: %s", exc)
        return False
    return True


def watchdog_interval() -> float | None:
    """Seconds between watchdog pings systemd expects (half of WatchdogSec=), or None when not enabled."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return int(usec) / 1e6 / 2
    except ValueError:
        return None


def cpu_temperature() -> float | None:
    """SoC temperature in degrees C where the board reports one (Pi, Jetson), else None."""
    for zone in sorted(Path("/sys/class/thermal").glob("thermal_zone*/temp")):
        try:
            return int(zone.read_text().strip()) / 1000.0
        except (OSError, ValueError):
            continue
    return None


@dataclass
class Stage:
    """A liveness probe: `alive()` True while the stage runs, `progress()` the monotonic time it last moved."""

    name: str
    alive: Callable[[], bool]
    progress: Callable[[], float]
    max_silence: float = 30.0

    def healthy(self, now: float) -> bool:
        """Alive and not frozen."""
        return self.alive() and now - self.progress() <= self.max_silence


class Watchdog:
    """Pings systemd while every stage is healthy; reports the first unhealthy one once."""

    def __init__(self, stages: list[Stage], interval: float | None = None) -> None:
        self.stages = stages
        self.interval = interval if interval is not None else watchdog_interval()
        self.pings = 0
        self.last_unhealthy: str | None = None

    def unhealthy(self) -> list[str]:
        """Names of the stages that are dead or frozen now."""
        now = time.monotonic()
        return [s.name for s in self.stages if not s.healthy(now)]

    def tick(self) -> bool:
        """Ping if everything is healthy; returns whether it pinged."""
        bad = self.unhealthy()
        if bad:
            if bad[0] != self.last_unhealthy:
                logger.error("stage %s is not making progress: withholding the watchdog ping", ", ".join(bad))
                self.last_unhealthy = bad[0]
            return False
        self.last_unhealthy = None
        self.pings += 1
        sd_notify("WATCHDOG=1")
        return True
