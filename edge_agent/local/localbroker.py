"""A real mosquitto on a free loopback port, configured from the project's city-broker template.

Used by the tests, the demo and `edge-agent bench uplink`, so all three exercise the same TLS, client-certificate
and ACL setup a city deploys (docs/mosquitto/). Not used on a device.
"""

from __future__ import annotations

import getpass
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from string import Template

from edge_agent.errors import UplinkError
from edge_agent.paths import package_data_dir
from edge_agent.protocol.crypto.pki import LocalPKI

logger = logging.getLogger(__name__)


def broker_template_dir() -> Path:
    """Directory holding `mosquitto.conf` and `acl` templates."""
    return package_data_dir("_broker", "docs/mosquitto")


def find_mosquitto() -> str:
    """Path of the mosquitto binary, or a one-line error saying how to install it."""
    found = shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if os.access(p, os.X_OK)), None
    )
    if not found:
        raise UplinkError("mosquitto not found: run scripts/setup (or `apt-get install mosquitto`)")
    return found


def free_port() -> int:
    """A TCP port on loopback that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# Ingest worker identities the local broker's ACL admits (tests and benchmarks run up to this many workers).
LOCAL_INGEST_WORKERS = 8


# The template's user block each role's identities share (the role's first identity names it).
ROLE_BLOCKS = {"ingest": "ingest-1", "city": "city", "dispatch": "dispatch", "monitor": "monitor"}


def render_acl(template: str, prefix: str, ingest_workers: int, more: dict[str, str] | None = None) -> str:
    """The ACL template with `$prefix` filled and a user block for every identity: ingest-1 ... ingest-N, and each
    further identity in `more` (name -> role) with its role's rights, placed after its role's block.

    Every connection has a certificate of its own, because the broker makes the CN the client id.
    """
    if ingest_workers < 1:
        raise ValueError("a city needs at least one ingest worker")
    extra: dict[str, list[str]] = {role: [] for role in ROLE_BLOCKS}
    extra["ingest"] = [f"ingest-{n}" for n in range(2, ingest_workers + 1)]
    for name, role in sorted((more or {}).items()):
        extra[role].append(name)
    out = []
    for paragraph in Template(template).substitute(prefix=prefix).rstrip("\n").split("\n\n"):
        out.append(paragraph)
        for role, first in ROLE_BLOCKS.items():
            head = f"user {first}\n"
            if head in paragraph + "\n":
                block = paragraph[paragraph.index(head.rstrip("\n")) :]
                out += [block.replace(f"user {first}", f"user {name}", 1) for name in extra[role]]
    return "\n\n".join(out) + "\n"


def render_config(
    directory: Path,
    pki: LocalPKI,
    port: int,
    prefix: str = "alpr",
    autosave_interval: int = 1,
    crl_file: Path | None = None,
) -> Path:
    """Write mosquitto.conf and acl from the templates into `directory`; returns the config path.

    `crl_file` is the CA's revocation list; without one an empty list is made from the PKI's CA.
    """
    templates = broker_template_dir()
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "data").mkdir(exist_ok=True)
    acl = render_acl((templates / "acl").read_text(), prefix, LOCAL_INGEST_WORKERS)
    (directory / "acl").write_text(acl)
    if crl_file is None:
        from edge_agent.protocol.crypto.pki import load_cert, load_tls_key, make_crl, write_crl

        crl_file = directory / "crl.pem"
        write_crl(crl_file, make_crl(load_tls_key(pki.ca_key), load_cert(pki.ca_cert), []))
    conf = Template((templates / "mosquitto.conf").read_text()).substitute(
        acl_file=directory / "acl",
        persistence_dir=directory / "data",
        autosave_interval=autosave_interval,
        log_dest=f"file {directory / 'mosquitto.log'}",
        port=port,
        bind_address="127.0.0.1",
        ca_file=pki.ca_cert,
        crl_file=crl_file,
        cert_file=pki.broker.cert,
        key_file=pki.broker.key,
        tls_version="tlsv1.2",
        # A throw-away broker runs as whoever started it: its files live in that user's temp directories.
        run_as=getpass.getuser(),
    )
    path = directory / "mosquitto.conf"
    path.write_text(conf)
    return path


class LocalBroker:
    """One mosquitto process; can be killed (SIGKILL) and restarted on the same port and persistence."""

    def __init__(
        self,
        directory: Path,
        pki: LocalPKI,
        port: int | None = None,
        prefix: str = "alpr",
        crl_file: Path | None = None,
    ) -> None:
        self.directory = directory
        self.pki = pki
        self.port = port or free_port()
        self.prefix = prefix
        self.config_path = render_config(directory, pki, self.port, prefix, crl_file=crl_file)
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        """Host name that matches the broker certificate."""
        return "localhost"

    @property
    def running(self) -> bool:
        """True while the mosquitto process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 10.0) -> LocalBroker:
        """Start mosquitto and wait until it accepts connections."""
        if self.running:
            return self
        self._proc = subprocess.Popen(
            [find_mosquitto(), "-c", str(self.config_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode(errors="replace").strip() if self._proc.stderr else ""
                self.stop()
                raise UplinkError(f"mosquitto exited at start ({err or 'see ' + str(self.log_path)})")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise UplinkError(f"mosquitto did not listen on port {self.port} within {timeout:.0f}s")

    @property
    def pid(self) -> int | None:
        """Process id while running."""
        return self._proc.pid if self.running and self._proc is not None else None

    def kill(self) -> None:
        """SIGKILL the broker: no clean shutdown, no final persistence save."""
        if self._proc is not None and self._proc.poll() is None:
            os.kill(self._proc.pid, signal.SIGKILL)
            self._proc.wait()
        if self._proc is not None and self._proc.stderr:
            self._proc.stderr.close()
        self._proc = None

    def stop(self) -> None:
        """Stop the broker cleanly (it saves its persistence file)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        if self._proc is not None and self._proc.stderr:
            self._proc.stderr.close()
        self._proc = None

    def restart(self) -> None:
        """Start again on the same port with the same persistence directory."""
        self.stop()
        self.start()

    @property
    def log_path(self) -> Path:
        """mosquitto's own log file."""
        return self.directory / "mosquitto.log"

    def __enter__(self) -> LocalBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
