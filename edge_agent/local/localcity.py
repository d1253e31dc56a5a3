"""A complete city on one machine: PKI, protocol keys, enrolled devices, a mosquitto, configs.

The demo, `edge-agent bench uplink` and the integration tests all stand up the same thing a city runs (mTLS
broker from the shipped template, ingest, enrolled device keys), only on loopback and in a temporary directory.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from edge_agent.config import Config
from edge_agent.errors import IngestError
from edge_agent.local.localbroker import LocalBroker
from edge_agent.protocol.crypto import keys
from edge_agent.protocol.crypto.pki import LocalPKI, mint_local_pki


class LocalCity:
    """Keys, certificates and a broker under `root`; device and ingest configs that point at them."""

    def __init__(self, root: Path, device_ids: list[str] | None = None, prefix: str = "alpr") -> None:
        self.root = root
        self.prefix = prefix
        root.mkdir(parents=True, exist_ok=True)
        self.pki: LocalPKI = mint_local_pki(root / "pki", device_ids=device_ids or [])
        city = root / "city"
        self.city_key, self.city_pub = keys.generate(keys.KeyKind.CITY, city)
        self.receipt_key, self.receipt_pub = keys.generate(keys.KeyKind.RECEIPT, city)
        self.devices_dir = city / "devices"
        self.devices_dir.mkdir(exist_ok=True)
        self.broker = LocalBroker(root / "broker", self.pki, prefix=prefix)
        for device_id in device_ids or []:
            self.enroll(device_id)

    def enroll(self, device_id: str) -> Path:
        """Give a device its keys and certificate, and register its signing key with the ingest."""
        home = self.device_dir(device_id)
        if not (home / "device_ed25519.key").exists():
            keys.generate(keys.KeyKind.DEVICE, home)
        self.pki.device(device_id)
        shutil.copy(home / "device_ed25519.pub", self.devices_dir / f"{device_id}.pub")
        return home

    def device_dir(self, device_id: str) -> Path:
        """Where a device's own key lives."""
        return self.root / "device" / device_id

    def device_config(self, device_id: str, cameras: list[dict[str, Any]] | None = None, **sections: Any) -> Config:
        """A device config for `device_id`; keyword arguments override whole sections (dicts are merged)."""
        return Config.model_validate(self.device_dict(device_id, cameras, **sections))

    def device_dict(
        self, device_id: str, cameras: list[dict[str, Any]] | None = None, **sections: Any
    ) -> dict[str, Any]:
        """The device config as plain data (for writing YAML)."""
        home = self.device_dir(device_id)
        identity = self.pki.device(device_id)
        data: dict[str, Any] = {
            "device": {"id": device_id, "state_dir": str(home / "state")},
            "cameras": cameras or [],
            "crypto": {
                "device_key": str(home / "device_ed25519.key"),
                "city_key": str(self.city_pub),
                "receipt_keys": [str(self.receipt_pub)],
            },
            "uplink": {
                "host": self.broker.host,
                "port": self.broker.port,
                "topic_prefix": self.prefix,
                "tls": {"ca": str(self.pki.ca_cert), "cert": str(identity.cert), "key": str(identity.key)},
                "backoff": {"initial": 0.2, "max": 2.0},
            },
        }
        return _merge(data, sections)

    def ingest_config(self, store_path: Path | None = None, **ingest: Any) -> Config:
        """An ingest config against this city's broker; keyword arguments override ingest keys."""
        return Config.model_validate(self.ingest_dict(store_path, **ingest))

    def ingest_dict(self, store_path: Path | None = None, worker: str = "ingest-1", **ingest: Any) -> dict[str, Any]:
        """The ingest config of one worker as plain data (its own identity: the broker makes the certificate's CN
        the client id)."""
        identity = self.pki.ingest if worker == "ingest-1" else self.pki.service(worker)
        data: dict[str, Any] = {
            "ingest": {
                "broker": {
                    "host": self.broker.host,
                    "port": self.broker.port,
                    "client_id": worker,
                    "tls": {
                        "ca": str(self.pki.ca_cert),
                        "cert": str(identity.cert),
                        "key": str(identity.key),
                    },
                },
                "topic_prefix": self.prefix,
                "recipient_keys": [str(self.city_key)],
                "receipt_key": str(self.receipt_key),
                "devices_dir": str(self.devices_dir),
                "store": {"kind": "sqlite", "path": str(store_path or self.root / "city" / "reads.db")},
            }
        }
        return _merge(data, {"ingest": ingest})

    def write_yaml(self, data: dict[str, Any], path: Path) -> Path:
        """Write a config dict as YAML (for `edge-agent run --config` / `ingest --config`)."""
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


class IngestProcess:
    """`edge-agent ingest` in its own process, as a city runs it (own interpreter, own GIL)."""

    def __init__(self, city: LocalCity, config_path: Path, client_id: str = "ingest-1", **ingest: Any) -> None:
        self.config_path = city.write_yaml(city.ingest_dict(worker=client_id, **ingest), config_path)
        self.stats_path = config_path.with_suffix(".stats.json")
        self.log_path = config_path.with_suffix(".log")
        self.client_id = client_id
        self._proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self, timeout: float = 20.0) -> None:
        """Start the worker and wait until it has subscribed."""
        self.stats_path.unlink(missing_ok=True)
        with open(self.log_path, "wb") as log:
            self._proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "edge_agent",
                    "ingest",
                    "--config",
                    str(self.config_path),
                    "--client-id",
                    self.client_id,
                    "--stats-file",
                    str(self.stats_path),
                ],
                stdout=log,
                stderr=log,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if b"subscribed to" in self.log_path.read_bytes():
                return
            if self._proc.poll() is not None:
                break
            time.sleep(0.05)
        tail = self.log_path.read_text(errors="replace").strip().splitlines()[-3:]
        raise IngestError(f"ingest did not start: {' | '.join(tail)}")

    def stop(self, timeout: float = 20.0) -> dict[str, int]:
        """SIGTERM, wait, and return the worker's final counters."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None
        try:
            data: dict[str, int] = json.loads(self.stats_path.read_text())
        except (OSError, ValueError):
            data = {}
        return data

    @property
    def pid(self) -> int | None:
        """Process id while running."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def kill(self) -> None:
        """SIGKILL the worker (no clean shutdown)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._proc = None
