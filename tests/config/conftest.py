"""A directory with everything a valid device config refers to: keys, certificates, a video file."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_agent.protocol.crypto import keys
from edge_agent.protocol.crypto.pki import mint_local_pki

VALID = """\
version: 1
device:
  id: cam-0001
  state_dir: state
cameras:
  - name: north
    source: video.mp4
    fps: 15
    privacy_zones:
      - [[0.0, 0.0], [0.3, 0.0], [0.3, 0.25]]
vision:
  threads: 2
  detector: {input_size: [224, 384]}
crypto:
  device_key: keys/device_ed25519.key
  city_key: keys/city_x25519.pub
  receipt_keys: [keys/receipt_ed25519.pub]
spool:
  max_bytes: 512MiB
  when_full: drop_oldest
retention:
  max_age: 30d
uplink:
  host: localhost
  port: 8883
  topic_prefix: alpr
  ack: receipt
  tls:
    ca: certs/ca.pem
    cert: certs/devices/cam-0001.pem
    key: certs/devices/cam-0001.key
"""


@pytest.fixture(scope="session")
def config_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Keys, certificates and a stand-in video file, laid out as VALID expects."""
    root = tmp_path_factory.mktemp("device")
    for kind in keys.KeyKind:
        keys.generate(kind, root / "keys")
    mint_local_pki(root / "certs", device_ids=["cam-0001"])
    (root / "video.mp4").write_bytes(b"\x00" * 16)
    return root
