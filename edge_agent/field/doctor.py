"""`edge-agent doctor`: the technician's self-test, one line per check with a fix for each failure.

Checks run in the order a technician would fix things: the config, the key files, the models, the camera, the
clock, the broker (TCP, then TLS, then MQTT authentication, then permission to publish the status topic), disk
room for the spool and the CPU temperature. A check that cannot run because an earlier one failed is skipped
with the reason. The result is a table (or JSON for fleet tooling); the exit status is 1 when anything failed.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import stat
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edge_agent.compat import StrEnum
from edge_agent.config import Config
from edge_agent.errors import EdgeAgentError


class Status(StrEnum):
    """Outcome of one check."""

    PASS = "pass"  # noqa: S105 - a check outcome, not a password
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"


@dataclass
class Check:
    """One line of the report."""

    name: str
    status: Status
    detail: str
    fix: str = ""


@dataclass
class Options:
    """What to check and for how long."""

    camera_seconds: float = 3.0
    broker_timeout: float = 5.0
    skip: frozenset[str] = frozenset()


_FIXES = {
    "models": "reinstall edge-agent (the models ship in the package) or fix vision.detector/refiner/reader.model",
    "keys": "run `edge-agent provision` again with the city's bundle",
    "camera": "check the camera's cable or URL",
}


CERT_WARN_DAYS = 30
# OpenSSL's X509_V_ERR codes the broker check tells apart.
_NOT_YET_VALID, _EXPIRED, _NO_ISSUER, _NO_ISSUER_LEAF, _SELF_SIGNED_IN_CHAIN = 9, 10, 20, 21, 19


def _verify_failure(exc: ssl.SSLCertVerificationError) -> tuple[str, str]:
    """(detail, fix) for a broker certificate that does not verify, by the reason OpenSSL gives."""
    code = exc.verify_code
    if code == _NOT_YET_VALID:
        return (
            "TLS: the broker's certificate is not valid yet by this clock: the clock is behind",
            "set the time: enable NTP (`timedatectl set-ntp true`, UDP 123 to the city's time server)",
        )
    if code == _EXPIRED:
        return (
            "TLS: the broker's certificate has expired by this clock (or the clock is ahead)",
            "check this clock (`timedatectl`); if it is right, the city must renew its broker certificate",
        )
    if code in (_NO_ISSUER, _NO_ISSUER_LEAF, _SELF_SIGNED_IN_CHAIN):
        return (
            f"TLS: the broker's certificate does not verify against uplink.tls.ca ({exc.verify_message})",
            "uplink.tls.ca must be the CA of the city this device is enrolled with: import its bundle again",
        )
    return (
        f"TLS: the broker's certificate does not verify ({exc.verify_message})",
        "uplink.tls.ca must be the city's CA and uplink.host the name in the broker's certificate",
    )


def _handshake_failure(exc: BaseException, port: int) -> tuple[str, str]:
    """(detail, fix) for a TLS handshake that failed for another reason than the broker's certificate."""
    if isinstance(exc, ConnectionResetError | ssl.SSLEOFError):
        # A TLS server answers a handshake it refuses with an alert; a plaintext listener drops the connection.
        return (
            f"port {port} does not speak TLS (it dropped the connection at the TLS handshake: a plaintext listener?)",
            "uplink.port must be the broker's TLS port (8883 by default), not 1883",
        )
    reason = str(getattr(exc, "reason", "") or exc).upper()
    if any(m in reason for m in ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG",
                                 "HTTP_REQUEST", "UNEXPECTED_EOF")):  # fmt: skip
        return (
            f"port {port} does not speak TLS (a plaintext MQTT listener?)",
            "uplink.port must be the broker's TLS port (8883 by default), not 1883",
        )
    if "CERTIFICATE_EXPIRED" in reason:
        return (
            "the broker refused this device's certificate as expired",
            "ask the city for a new enrolment bundle and run `edge-agent provision --reenrol`",
        )
    if "UNKNOWN_CA" in reason or "BAD_CERTIFICATE" in reason:
        return (
            "the broker does not accept this device's certificate (issued by another CA?)",
            "import this city's enrolment bundle again (`edge-agent provision --reenrol`)",
        )
    return f"TLS handshake failed ({exc})", "check the device certificate and key (`edge-agent doctor` certificates)"


def _unwritable(folder: Path) -> str | None:
    """Why a file cannot be made in `folder` (a read-only card, a file where a folder should be), or None."""
    try:
        fd, name = tempfile.mkstemp(prefix=".doctor-", dir=folder)
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    return None


class Doctor:
    """Runs the checks for one device config."""

    def __init__(self, config_path: Path, options: Options | None = None) -> None:
        self.config_path = config_path
        self.options = options or Options()
        self.cfg: Config | None = None
        self.checks: list[Check] = []

    def add(self, name: str, status: Status, detail: str, fix: str = "") -> Check:
        """Record a result."""
        check = Check(name, status, detail, fix)
        self.checks.append(check)
        return check

    def run(self) -> list[Check]:
        """Every check, in order."""
        steps: list[tuple[str, Callable[[], None]]] = [
            ("config", self.check_config),
            ("keys", self.check_keys),
            ("certificates", self.check_certificates),
            ("models", self.check_models),
            ("camera", self.check_camera),
            ("clock", self.check_clock),
            ("broker", self.check_broker),
            ("disk", self.check_disk),
            ("temperature", self.check_temperature),
        ]
        for name, step in steps:
            if name in self.options.skip:
                self.add(name, Status.SKIP, "skipped (--skip)")
                continue
            if name != "config" and self.cfg is None:
                self.add(name, Status.SKIP, "needs a valid config")
                continue
            try:
                step()
            except EdgeAgentError as exc:
                self.add(name, Status.FAIL, str(exc), _FIXES.get(name, "see the message"))
        return self.checks

    @property
    def failed(self) -> bool:
        """True when any check failed."""
        return any(c.status is Status.FAIL for c in self.checks)

    # --- the checks -------------------------------------------------------------------------------------------

    def check_config(self) -> None:
        """The file parses and describes a device."""
        from edge_agent.configfile import check_config, summary

        cfg, problems = check_config(self.config_path, role="device")
        if cfg is None:
            first = str(problems[0]) if problems else "invalid"
            more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
            self.add(
                "config", Status.FAIL, first + more, f"edge-agent check-config {self.config_path} lists every problem"
            )
            return
        self.cfg = cfg
        self.add("config", Status.PASS, summary(cfg))

    def check_keys(self) -> None:
        """Private keys present and 0600 (or stricter), public material present."""
        assert self.cfg is not None
        crypto, tls = self.cfg.crypto, self.cfg.uplink.tls
        private = {"device signing key": crypto.device_key, "TLS key": tls.key}
        public = {"city key": crypto.city_key, "CA certificate": tls.ca, "device certificate": tls.cert}
        for label, path in private.items():
            if path is None:
                self.add("keys", Status.FAIL, f"{label} not configured", "run edge-agent provision")
                return
            mode = stat.S_IMODE(Path(path).stat().st_mode)
            # Under systemd LoadCredential copies keys into a private directory; the source must still be private.
            if mode & 0o077:
                self.add(
                    "keys",
                    Status.FAIL,
                    f"{label} {path} has mode {mode:04o}: readable by group or others",
                    f"chmod 600 {path}",
                )
                return
        missing = [f"{label} ({p})" for label, p in public.items() if p is None or not Path(p).is_file()]
        if missing:
            self.add("keys", Status.FAIL, "missing: " + ", ".join(missing), "import the enrolment bundle again")
            return
        from edge_agent.protocol.crypto import keys

        city = keys.describe(Path(str(crypto.city_key)))
        self.add("keys", Status.PASS, f"private keys 0600; sealing to city key {city.key_id}")

    def check_certificates(self) -> None:
        """Days to expiry of the device's certificate and its CA, read against this clock; key and certificate
        belong together."""
        assert self.cfg is not None
        from edge_agent.protocol.crypto.pki import cert_facts, key_matches_cert

        tls = self.cfg.uplink.tls
        if tls.cert is None or tls.ca is None or tls.key is None:
            self.add("certificates", Status.FAIL, "uplink.tls.ca, cert and key must be set", _FIXES["keys"])
            return
        if not key_matches_cert(Path(tls.key), Path(tls.cert)):
            self.add(
                "certificates",
                Status.FAIL,
                f"the TLS key {tls.key} does not belong to the certificate {tls.cert}",
                "import the enrolment bundle again: this device's key and certificate must come from one enrolment",
            )
            return
        worst: tuple[Status, str, str] | None = None
        summary = []
        for label, path in (("device certificate", tls.cert), ("CA certificate", tls.ca)):
            facts = cert_facts(Path(path))
            when = facts.now.strftime("%Y-%m-%d %H:%M UTC")
            if facts.not_yet_valid:
                start = facts.not_before.strftime("%Y-%m-%d %H:%M UTC")
                worst = worst or (
                    Status.FAIL,
                    f"{label} is valid from {start} but this clock reads {when}: the clock is behind",
                    "set the time: enable NTP (`timedatectl set-ntp true`, UDP 123 to the city's time server), then "
                    "run the doctor again",
                )
            elif facts.expired:
                end = facts.not_after.strftime("%Y-%m-%d")
                worst = worst or (
                    Status.FAIL,
                    f"{label} expired on {end} (this clock reads {when})",
                    "ask the city for a new enrolment bundle and run `edge-agent provision --reenrol`",
                )
            elif facts.days_left < CERT_WARN_DAYS:
                worst = worst or (
                    Status.WARN,
                    f"{label} expires in {facts.days_left} days",
                    "ask the city for a new enrolment bundle before it expires (`edge-agent provision --reenrol`)",
                )
            summary.append(f"{label} {facts.days_left} days left")
        if worst is not None:
            self.add("certificates", *worst)
        else:
            self.add("certificates", Status.PASS, "; ".join(summary))

    def check_models(self) -> None:
        """The models load and run once."""
        assert self.cfg is not None
        import numpy as np

        from edge_agent.device.vision.pipeline import models_for

        models = models_for(self.cfg)
        frame = np.zeros((720, 1280, 3), np.uint8)
        t0 = time.perf_counter()
        models.detector.detect(frame)
        t1 = time.perf_counter()
        models.reader.read(np.full((48, 160, 3), 200, np.uint8))
        t2 = time.perf_counter()
        refiner = ""
        if models.refiner is not None:
            models.refiner.refine(frame, (600.0, 340.0, 80.0, 40.0))
            refiner = f", refiner {(time.perf_counter() - t2) * 1e3:.0f} ms"
        self.add(
            "models",
            Status.PASS,
            f"detector {(t1 - t0) * 1e3:.0f} ms, reader {(t2 - t1) * 1e3:.0f} ms{refiner} "
            f"(first run, {self.cfg.vision.threads} threads)",
        )

    def check_camera(self) -> None:
        """Each camera opens and delivers frames at close to its configured rate."""
        assert self.cfg is not None
        from edge_agent.device.capture.base import EndOfStream
        from edge_agent.device.capture.worker import make_source

        if not self.cfg.cameras:
            self.add("camera", Status.FAIL, "no camera configured", "add a camera (edge-agent provision --camera)")
            return
        for cam in self.cfg.cameras:
            source = make_source(cam, realtime=True)
            try:
                source.open()
            except EdgeAgentError as exc:
                self.add(f"camera {cam.name}", Status.FAIL, str(exc), "check the cable or URL, then `v4l2-ctl --all`")
                continue
            frames, shape = 0, None
            t0 = time.monotonic()
            try:
                while time.monotonic() - t0 < self.options.camera_seconds:
                    try:
                        frame = source.read()
                    except EndOfStream:
                        break
                    frames += 1
                    shape = frame.image.shape
            except EdgeAgentError as exc:
                self.add(f"camera {cam.name}", Status.FAIL, str(exc), "check the camera; it stopped delivering")
                continue
            finally:
                source.close()
            elapsed = max(time.monotonic() - t0, 1e-6)
            fps = frames / elapsed
            if frames == 0:
                self.add(f"camera {cam.name}", Status.FAIL, "opened but delivered no frame", "check the camera")
            elif cam.fps is not None and fps < 0.8 * cam.fps:
                self.add(
                    f"camera {cam.name}",
                    Status.WARN,
                    f"{fps:.1f} fps, configured {cam.fps:g} ({shape[1]}x{shape[0]})" if shape else f"{fps:.1f} fps",
                    "lower cameras[].fps or the resolution, or check lighting (long exposures cut the rate)",
                )
            else:
                assert shape is not None
                self.add(f"camera {cam.name}", Status.PASS, f"{fps:.1f} fps at {shape[1]}x{shape[0]}")

    def check_clock(self) -> None:
        """NTP synchronisation (a Pi has no battery-backed clock)."""
        from edge_agent.clock import kernel_clock_synced

        synced = kernel_clock_synced()
        if synced is None:
            self.add("clock", Status.WARN, "cannot ask the kernel", "check `timedatectl`")
        elif synced:
            self.add("clock", Status.PASS, "synchronised")
        else:
            self.add(
                "clock",
                Status.WARN,
                "not synchronised: reads are flagged clock_synced=false",
                "enable NTP: `timedatectl set-ntp true` and allow UDP 123 to the city's time server",
            )

    def check_broker(self) -> None:
        """TCP, then TLS with the configured CA and client certificate, then MQTT auth and the status publish."""
        assert self.cfg is not None
        up = self.cfg.uplink
        host, port, timeout = str(up.host), up.port, self.options.broker_timeout
        try:
            with socket.create_connection((host, port), timeout=timeout):
                pass
        except OSError as exc:
            self.add(
                "broker",
                Status.FAIL,
                f"{host}:{port} unreachable ({exc.strerror or exc})",
                "check the network, DNS and the city's firewall for TCP port " + str(port),
            )
            return
        from edge_agent.protocol.mqtt import tls_context

        assert up.tls.ca is not None and up.tls.cert is not None and up.tls.key is not None
        ctx = tls_context(Path(up.tls.ca), Path(up.tls.cert), Path(up.tls.key))
        try:
            with (
                socket.create_connection((host, port), timeout=timeout) as raw,
                ctx.wrap_socket(raw, server_hostname=host) as tls,
            ):
                version = tls.version()
        except ssl.SSLCertVerificationError as exc:
            self.add("broker", Status.FAIL, *_verify_failure(exc))
            return
        except (ssl.SSLError, OSError) as exc:
            self.add("broker", Status.FAIL, *_handshake_failure(exc, port))
            return
        from edge_agent.device.agent import running_instance

        daemon = running_instance(self.cfg.spool_path)
        if daemon is not None:
            # The broker makes the certificate's CN the client id: an MQTT connection with this device's certificate
            # would take over the running daemon's session (and the receipts queued in it).
            self.add(
                "broker",
                Status.PASS,
                f"{host}:{port} TLS {version} handshake done; the MQTT check is the running daemon's "
                f"(pid {daemon}): its status message and metrics show its connection",
            )
            return
        self._mqtt_publish(ctx, host, port, str(version))

    def _mqtt_publish(self, ctx: ssl.SSLContext, host: str, port: int, tls_version: str) -> None:
        assert self.cfg is not None
        from edge_agent.device.uplink import Topics
        from edge_agent.protocol.mqtt import new_client, reason_failed

        device_id = str(self.cfg.device.id)
        client, props = new_client(f"{device_id}-doctor", ctx)
        connected, published = threading.Event(), threading.Event()
        outcome: dict[str, Any] = {}

        def on_connect(_c: Any, _u: Any, _f: Any, rc: Any, _p: Any = None) -> None:
            outcome["connect"] = rc
            connected.set()

        def on_publish(_c: Any, _u: Any, _mid: int, rc: Any, _p: Any = None) -> None:
            outcome["publish"] = rc
            published.set()

        client.on_connect = on_connect
        client.on_publish = on_publish
        topic = Topics.for_device(self.cfg.uplink.topic_prefix, device_id).status
        try:
            client.connect(host, port, keepalive=10, clean_start=True, properties=props)
        except (OSError, ssl.SSLError) as exc:
            self.add("broker", Status.FAIL, f"MQTT connect failed ({exc})", "check the device certificate")
            return
        client.loop_start()
        try:
            if not connected.wait(self.options.broker_timeout) or reason_failed(outcome.get("connect")):
                self.add(
                    "broker",
                    Status.FAIL,
                    f"TLS {tls_version} ok, MQTT connect refused ({outcome.get('connect', 'no answer')})",
                    "the broker must accept this device's certificate (use_identity_as_username) and the CA",
                )
                return
            payload = json.dumps({"device": device_id, "state": "doctor", "ts": round(time.time(), 3)})
            client.publish(topic, payload, qos=1)
            if not published.wait(self.options.broker_timeout) or reason_failed(outcome.get("publish")):
                self.add(
                    "broker",
                    Status.FAIL,
                    f"connected, but publishing to {topic} was refused ({outcome.get('publish', 'no PUBACK')})",
                    "the broker's ACL must let this device write under its own topic (device id = certificate CN)",
                )
                return
            self.add("broker", Status.PASS, f"{host}:{port} TLS {tls_version}, authenticated, may publish {topic}")
        finally:
            client.disconnect()
            client.loop_stop()

    def check_disk(self) -> None:
        """Free space where the spool lives, against spool.max_bytes."""
        assert self.cfg is not None
        state = Path(self.cfg.device.state_dir)
        probe = state
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        free = shutil.disk_usage(probe).free
        want = int(self.cfg.spool.max_bytes)
        detail = f"{free / 2**20:.0f} MiB free at {probe}, spool may use {want / 2**20:.0f} MiB"
        unwritable = _unwritable(self.cfg.spool_path.parent) if probe == state else None
        if unwritable:
            self.add(
                "disk",
                Status.FAIL,
                f"the spool's directory {state} is not writable ({unwritable})",
                "a card remounted read-only after errors needs fsck and a reboot; else fix device.state_dir",
            )
        elif free < 64 * 2**20:
            self.add("disk", Status.FAIL, detail, "free space on the SD card (the spool needs room to keep reads)")
        elif free < want:
            self.add("disk", Status.WARN, detail, "lower spool.max_bytes or use a larger card")
        else:
            self.add("disk", Status.PASS, detail)

    def check_temperature(self) -> None:
        """CPU temperature, where the board reports it."""
        from edge_agent.device.health import cpu_temperature

        temp = cpu_temperature()
        if temp is None:
            self.add("temperature", Status.SKIP, "this board does not report a CPU temperature")
        elif temp >= 85:
            self.add("temperature", Status.FAIL, f"{temp:.0f} °C: throttling", "fit a heatsink or a fan; shade the box")
        elif temp >= 75:
            self.add("temperature", Status.WARN, f"{temp:.0f} °C", "check the enclosure's ventilation")
        else:
            self.add("temperature", Status.PASS, f"{temp:.0f} °C")


def render(checks: list[Check]) -> str:
    """The table a technician reads."""
    width = max(len(c.name) for c in checks)
    lines = []
    for c in checks:
        lines.append(f"{c.name:<{width}}  {c.status.value.upper():<4}  {c.detail}")
        if c.status in (Status.FAIL, Status.WARN) and c.fix:
            lines.append(f"{'':<{width}}        fix: {c.fix}")
    failed = sum(c.status is Status.FAIL for c in checks)
    warned = sum(c.status is Status.WARN for c in checks)
    lines.append(f"{failed} failed, {warned} warning(s), {len(checks) - failed - warned} other")
    return "\n".join(lines)


def as_json(checks: list[Check]) -> str:
    """One JSON object for fleet tooling."""
    return json.dumps(
        {"ok": not any(c.status is Status.FAIL for c in checks), "checks": [asdict(c) for c in checks]},
        default=str,
    )
