"""Enrolled devices: one `<device id>.pub` (Ed25519, PEM) per device in `ingest.devices_dir`.

Enrolling or retiring a device is adding or removing a file; the registry notices within seconds (it rescans the
directory when its mtime changes, and at most every `min_rescan` seconds when an unknown device shows up).
A device may have several keys during a key rotation: `<id>.pub` plus `<id>.<anything>.pub`.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from edge_agent.config import DEVICE_ID_RE
from edge_agent.errors import EdgeAgentError
from edge_agent.protocol.crypto.keys import load_verify_key

logger = logging.getLogger(__name__)

_DEVICE_ID = re.compile(DEVICE_ID_RE)


class DeviceRegistry:
    """Maps device id -> its Ed25519 public key(s), reloaded from a directory."""

    def __init__(self, directory: Path, min_rescan: float = 2.0) -> None:
        self.directory = directory
        self.min_rescan = min_rescan
        self._keys: dict[str, list[Ed25519PublicKey]] = {}
        self._lock = threading.Lock()
        self._mtime: float | None = None
        self._scanned_at = 0.0
        self.reload()

    def reload(self) -> None:
        """Read every key file again."""
        keys: dict[str, list[Ed25519PublicKey]] = {}
        if self.directory.is_dir():
            for path in sorted(self.directory.glob("*.pub")):
                device_id = path.name.split(".", 1)[0]
                if not _DEVICE_ID.match(device_id):
                    logger.warning("ignoring %s: %s is not a valid device id", path.name, device_id)
                    continue
                try:
                    keys.setdefault(device_id, []).append(load_verify_key(path))
                except EdgeAgentError as exc:
                    logger.warning("ignoring %s: %s", path.name, exc)
            self._mtime = self.directory.stat().st_mtime
        else:
            logger.warning("devices directory %s does not exist: no device is enrolled", self.directory)
        with self._lock:
            self._keys = keys
            self._scanned_at = time.monotonic()
        logger.info("%d enrolled device(s) in %s", len(keys), self.directory)

    def _maybe_reload(self, force: bool) -> None:
        now = time.monotonic()
        if now - self._scanned_at < self.min_rescan:
            return
        try:
            mtime = self.directory.stat().st_mtime
        except OSError:
            mtime = None
        if force or mtime != self._mtime:
            self.reload()
        else:
            self._scanned_at = now

    def keys_for(self, device_id: str) -> list[Ed25519PublicKey]:
        """Public keys of a device (empty when not enrolled)."""
        self._maybe_reload(force=False)
        found = self._keys.get(device_id)
        if found is None:
            self._maybe_reload(force=True)
            found = self._keys.get(device_id, [])
        return found

    def __len__(self) -> int:
        return len(self._keys)
