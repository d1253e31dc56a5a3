"""Health: systemd notification (READY, WATCHDOG, STATUS), stage liveness, device facts, Prometheus text.

The watchdog is pinged only while every stage reports that it is alive (its thread runs and it has made
progress recently); a frozen camera, a wedged detector or a stuck uplink stops the pings, and systemd restarts
the service. The status message itself is published by the uplink (docs/protocol.md section 6).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

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


def prometheus_text(status: Mapping[str, Any], prefix: str = "edge_agent") -> str:
    """Flatten a status dict into Prometheus text exposition (numbers and booleans only)."""
    lines: list[str] = []

    def walk(node: Mapping[str, Any], path: list[str]) -> None:
        for key, value in node.items():
            if isinstance(value, Mapping):
                walk(value, [*path, key])
            elif isinstance(value, bool):
                lines.append(f"{'_'.join([prefix, *path, key])} {int(value)}")
            elif isinstance(value, int | float) and key not in ("v",):
                lines.append(f"{'_'.join([prefix, *path, key])} {value}")

    walk(status, [])
    state = status.get("uplink", {}).get("state") if isinstance(status.get("uplink"), Mapping) else None
    if state:
        lines.append(f'{prefix}_uplink_online{{state="{state}"}} {int(state == "online")}')
    return "\n".join(sorted(lines)) + "\n"


class MetricsServer:
    """`GET /metrics` on a local port, serving `prometheus_text(snapshot())`."""

    def __init__(self, host: str, port: int, snapshot: Callable[[], Mapping[str, Any]]) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] != "/metrics":
                    self.send_error(404)
                    return
                body = prometheus_text(outer.snapshot()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                logger.debug("metrics: %s", format % args)

        self.snapshot = snapshot
        self.server = ThreadingHTTPServer((host, port), Handler)
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(target=self.server.serve_forever, name="metrics", daemon=True)

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread.start()

    def stop(self) -> None:
        """Shut the server down."""
        self.server.shutdown()
        self.server.server_close()
