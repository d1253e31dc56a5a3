"""`edge-agent run`: wires capture -> vision -> seal -> spool -> uplink as named threads and keeps them honest.

Start order is back to front (spool, uplink, seal, vision, capture) so nothing produces into a stage that is not
there; stop order is front to back: SIGTERM or SIGINT stops capture, the vision workers finish their queued
frames and flush their trackers (plates in view are reads too), the seal stage commits everything handed to it,
the uplink says offline and disconnects. That takes well under 10 s.

A stage that crashes is logged and the process exits 1, so systemd restarts it: there is no half-dead daemon.
When every camera is a replayed file that has ended, the agent waits for the spool to drain (bounded) and exits.
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import threading
import time
from pathlib import Path
from typing import IO, Any

from edge_agent import __version__
from edge_agent.clock import ClockState
from edge_agent.config import Config
from edge_agent.device.capture.base import FrameQueue
from edge_agent.device.capture.worker import CaptureWorker, make_source
from edge_agent.device.health import Stage, Watchdog, cpu_temperature, sd_notify
from edge_agent.device.seal import SealStage
from edge_agent.device.spool import Spool
from edge_agent.device.uplink import Uplink
from edge_agent.device.vision.pipeline import models_for, pipeline_for
from edge_agent.device.vision.worker import VisionWorker
from edge_agent.errors import ConfigError, EdgeAgentError, SpoolError
from edge_agent.metrics import MetricsServer, device_metrics
from edge_agent.protocol.crypto.envelope import sealer_for, verifier_for
from edge_agent.protocol.crypto.pki import cert_facts

logger = logging.getLogger(__name__)


def running_instance(spool_path: Path) -> str | None:
    """The pid of the daemon holding `<spool>.lock`, or None when no daemon runs on this spool."""
    path = spool_path.with_name(spool_path.name + ".lock")
    try:
        fh = path.open("r", encoding="ascii")
    except OSError:
        return None
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return fh.read().strip() or "?"
        fcntl.flock(fh, fcntl.LOCK_UN)
    return None


def hold_instance_lock(spool_path: Path) -> IO[str]:
    """Lock `<spool>.lock` for this process, or say which process holds it.

    Two daemons on one spool would take over each other's MQTT session and delete each other's reads' tracking.
    The lock is an advisory flock: it is released by the kernel when the process ends, however it ends.
    """
    path = spool_path.with_name(spool_path.name + ".lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    fh = path.open("a+", encoding="ascii")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.seek(0)
        holder = fh.read().strip() or "?"
        fh.close()
        raise ConfigError(
            f"another edge-agent (pid {holder}) is running on {spool_path}: stop it first "
            "(systemctl stop edge-agent), or give this one its own device.state_dir"
        ) from None
    fh.seek(0)
    fh.truncate()
    fh.write(f"{os.getpid()}\n")
    fh.flush()
    return fh


class Agent:
    """The whole device pipeline for one config."""

    def __init__(self, cfg: Config, realtime: bool | None = None, drain_timeout: float = 30.0) -> None:
        if cfg.device.id is None or not cfg.cameras:
            raise ConfigError("a device config needs device.id and at least one camera: run edge-agent check-config")
        self.cfg = cfg
        self.device_id = cfg.device.id
        self.drain_timeout = drain_timeout
        self.started = time.monotonic()
        self.clock = ClockState()
        self.stop_requested = threading.Event()
        self._lock = hold_instance_lock(cfg.spool_path)
        self.spool = Spool(cfg.spool_path, cfg.spool.max_bytes, cfg.spool.when_full, cfg.spool.commit_interval)
        self.uplink = Uplink(
            cfg.uplink,
            self.device_id,
            self.spool,
            verifier_for(cfg),
            self.status_payload,
            status_interval=cfg.health.heartbeat,
        )
        # One interpreter pair per camera: a TFLite interpreter must not be shared between threads.
        models = [models_for(cfg) for _ in cfg.cameras]
        versions = models[0].versions()
        self.seal = SealStage(self.device_id, sealer_for(cfg), self.spool, cfg.privacy, self.clock, versions)
        self.cameras: list[tuple[CaptureWorker, VisionWorker]] = []
        for index, (cam, camera_models) in enumerate(zip(cfg.cameras, models, strict=True)):
            source = make_source(cam, realtime)
            queue = FrameQueue(cam.queue_size, drop_oldest=source.live)
            capture = CaptureWorker(cam, source, queue)
            worker = VisionWorker(cam.name, queue, pipeline_for(cfg, index, camera_models), self.seal.submit)
            self.cameras.append((capture, worker))
        self.watchdog = Watchdog(self._stages())
        self.metrics: MetricsServer | None = None

    def _stages(self) -> list[Stage]:
        stages = [
            Stage("seal", lambda: self.seal.alive, lambda: self.seal.alive_at),
            Stage("uplink", lambda: self.uplink.alive, lambda: self.uplink.alive_at, max_silence=60.0),
        ]
        for capture, worker in self.cameras:
            stages.append(
                Stage(
                    f"capture-{capture.cam.name}",
                    lambda c=capture: c.alive,  # type: ignore[misc]
                    lambda c=capture: time.monotonic() if c.ended else c.alive_at,  # type: ignore[misc]
                    max_silence=capture.cam.stall_timeout * 2 + 10,
                )
            )
            stages.append(Stage(f"vision-{worker.camera}", lambda w=worker: w.alive, lambda w=worker: w.alive_at))  # type: ignore[misc]
        return stages

    # --- status ----------------------------------------------------------------------------------------------

    def status_payload(self) -> dict[str, Any]:
        """Counters for the status message (docs/protocol.md section 6); never a plate."""
        stats = self.spool.stats()
        frames_in = sum(c.frames_in for c, _ in self.cameras)
        dropped = sum(c.queue.dropped for c, _ in self.cameras)
        analysed = sum(w.pipeline.analysed for _, w in self.cameras)
        strided = sum(w.pipeline.strided for _, w in self.cameras)
        up = self.uplink.counters
        return {
            "version": __version__,
            "location": self.cfg.device.location,
            "models": dict(self.seal.models),
            "uptime_s": round(time.monotonic() - self.started),
            "clock_synced": self.clock.synced,
            "cpu_temp_c": cpu_temperature(),
            "frames": {"in": frames_in, "dropped": dropped, "analysed": analysed, "strided": strided},
            "reads": {
                "made": self.seal.counters["made"],
                "sealed": self.seal.counters["sealed"],
                "rejected_full": stats.counters["rejected_full"],
                "unspooled": self.seal.counters["unspooled"],
            },
            "spool": {
                "depth": stats.depth,
                "bytes": stats.bytes,
                "oldest_age_s": round(stats.oldest_age_s, 1) if stats.oldest_age_s is not None else None,
                "purged": stats.counters["purged"],
                "dropped_full": stats.counters["dropped_full"],
                "deleted": stats.counters["deleted"],
                "disk_full": self.spool.disk_full,
            },
            "tls": {"cert_days_left": self._cert_days_left()},
            "uplink": {
                "state": self.uplink.state,
                "in_flight": self.uplink.in_flight,
                "last_receipt_ms": round(self.uplink.last_receipt_at * 1000) if self.uplink.last_receipt_at else None,
                "receipts_rejected": up["receipts_rejected"],
                "puback_failures": up["puback_failures"],
                "resent": up["resent"],
            },
        }

    def _cert_days_left(self) -> int | None:
        """Days until the device's TLS certificate expires, by this clock (None when it cannot be read)."""
        cert = self.cfg.uplink.tls.cert
        if cert is None:
            return None
        try:
            return cert_facts(Path(cert)).days_left
        except EdgeAgentError:
            return None

    # --- lifecycle -------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start every stage, back to front."""
        self.uplink.start()
        self.seal.start()
        for capture, worker in self.cameras:
            worker.start()
            capture.start()
        metrics = self.cfg.health.metrics
        if metrics.enabled:
            self.metrics = MetricsServer(
                metrics.host,
                metrics.port,
                lambda: device_metrics({**self.status_payload(), "device_id": self.cfg.device.id}),
            )
            self.metrics.start()
        logger.info("edge-agent %s running as %s with %d camera(s)", __version__, self.device_id, len(self.cameras))

    def _failed_stage(self) -> str | None:
        for capture, worker in self.cameras:
            if capture.error is not None:
                return f"capture of {capture.cam.name}: {capture.error}"
            if worker.error is not None:
                return f"vision of {worker.camera}: {worker.error}"
        if self.seal.error is not None:
            return f"seal stage: {self.seal.error}"
        if not self.uplink.alive and not self.stop_requested.is_set():
            return "uplink thread ended"
        return None

    def _all_ended(self) -> bool:
        return all(c.ended and w.finished.is_set() for c, w in self.cameras)

    def run(self) -> int:
        """Run until a signal, a crashed stage, or the end of every replayed file; returns the exit code."""
        self.start()
        ready = False
        next_heartbeat = time.monotonic() + self.cfg.health.heartbeat
        next_purge = time.monotonic()
        next_ping = 0.0
        code = 0
        while not self.stop_requested.is_set():
            now = time.monotonic()
            failed = self._failed_stage()
            if failed:
                logger.error("stopping: %s", failed)
                code = 1
                break
            if (
                not ready
                and self.uplink.state != "starting"
                and all(c.first_frame.is_set() or c.ended for c, _ in self.cameras)
            ):
                ready = True
                sd_notify("READY=1")
            if self.cfg.health.watchdog and self.watchdog.interval and now >= next_ping:
                self.watchdog.tick()
                next_ping = now + self.watchdog.interval
            if now >= next_heartbeat:
                self.uplink.request_status()
                next_heartbeat = now + self.cfg.health.heartbeat
            if now >= next_purge:
                try:
                    self.spool.purge(self.cfg.retention.max_age)
                except SpoolError as exc:  # a disk with no room at all: tried again at the next interval
                    logger.warning("retention purge failed: %s", exc)
                next_purge = now + self.cfg.retention.purge_interval
            if self._all_ended():
                logger.info("every camera has ended: sealing the last reads and draining the spool")
                self._drain_spool()
                break
            self.stop_requested.wait(0.2)
        self.shutdown()
        return code

    def _drain_spool(self) -> None:
        self.seal.stop()
        deadline = time.monotonic() + self.drain_timeout
        while len(self.spool) and time.monotonic() < deadline and not self.stop_requested.is_set():
            time.sleep(0.1)
        if len(self.spool):
            logger.warning("%d read(s) still spooled at exit; they are sent on the next start", len(self.spool))

    def request_stop(self, *_: object) -> None:
        """Signal handler: stop soon (from any thread)."""
        self.stop_requested.set()

    def shutdown(self) -> None:
        """Stop front to back; every read made so far ends up in the spool."""
        sd_notify("STOPPING=1")
        for capture, _ in self.cameras:
            capture.stop()
        for capture, worker in self.cameras:
            capture.join(3.0)
            worker.join(4.0)
        self.seal.stop(3.0)
        self.uplink.stop(3.0)
        if self.metrics is not None:
            self.metrics.stop()
        final = self.status_payload()
        self.spool.close()
        self._lock.close()
        logger.info("stopped: frames %s, reads %s, spool %s", final["frames"], final["reads"], final["spool"]["depth"])


def run_agent(cfg: Config, realtime: bool | None = None, drain_timeout: float = 30.0) -> int:
    """Build the agent, install SIGTERM/SIGINT handlers, run it."""
    agent = Agent(cfg, realtime=realtime, drain_timeout=drain_timeout)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, agent.request_stop)
    logger.debug("pid %d", os.getpid())
    return agent.run()
