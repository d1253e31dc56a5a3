"""End-to-end fixtures: the committed videos and their ground truth, a local city, and `edge-agent run` itself.

Every test replays a video from tests/fixtures/video/ through the real CLI in its own process (capture, vision
with the shipped models, seal, spool, uplink over mTLS) into a real mosquitto and `edge-agent ingest`, and then
looks at what the city stored. The videos come from scripts/make_fixtures.py.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from edge_agent.local.localcity import IngestProcess, LocalCity

REPO = Path(__file__).resolve().parents[2]
VIDEOS = REPO / "tests" / "fixtures" / "video"
MODELS = ("plate_detector.tflite", "plate_reader.tflite")
# Another folder with the same file names (e.g. freshly trained models, before they are copied to models/).
MODEL_DIR = Path(os.environ.get("EDGE_AGENT_E2E_MODELS", REPO / "models"))
# Replayed in CI, one test each; bench_1080p is only for `edge-agent bench pipeline`.
CI_FIXTURES = (
    "day_single",
    "dusk",
    "night_ir",
    "rain",
    "motion_blur",
    "two_vehicles",
    "stop_and_go",
    "privacy_zone",
    "fps_drop",
    "corrupt_stretch",
)


@dataclass(frozen=True)
class StoredRead:
    """What the city keeps of one read (the ingest has verified and opened the envelope)."""

    plate: str
    direction: str
    first_seen_ms: int
    last_seen_ms: int
    frames: int


def truth(name: str) -> dict[str, Any]:
    """Ground truth of a fixture (see scripts/make_fixtures.py for the fields)."""
    data: dict[str, Any] = json.loads((VIDEOS / f"{name}.json").read_text())
    return data


def device_id_for(name: str) -> str:
    """A device id per fixture, so that tests sharing one city never see each other's reads."""
    return "e2e-" + name.replace("_", "-")


@pytest.fixture(scope="session")
def shipped_models() -> None:
    """Skip (with the reason) until the trained models are in models/."""
    missing = [str(MODEL_DIR / m) for m in MODELS if not (MODEL_DIR / m).is_file()]
    if missing:
        pytest.skip(f"e2e needs the shipped models {', '.join(missing)}: train them first")


@pytest.fixture(scope="module")
def e2e_city(tmp_path_factory: pytest.TempPathFactory, shipped_models: None) -> Iterator[tuple[LocalCity, Path]]:
    """One city for a module: every fixture's device enrolled, a broker, and an ingest worker in its own process."""
    root = tmp_path_factory.mktemp("e2e")
    city = LocalCity(root / "city", [device_id_for(n) for n in CI_FIXTURES])
    city.broker.start()
    ingest = IngestProcess(city, root / "ingest.yaml")
    try:
        yield city, root / "city" / "city" / "reads.db"
    finally:
        ingest.stop()
        city.broker.stop()


def write_device_config(
    city: LocalCity, device_id: str, name: str, path: Path, realtime: bool = False, **sections: Any
) -> Path:
    """A device YAML whose one camera replays fixture `name` with the camera settings of its ground truth."""
    t = truth(name)
    camera = {
        "name": "street",
        "kind": "replay",
        "source": str(VIDEOS / t["video"]),
        "fps": t["camera"]["fps"],
        "replay": {"realtime": realtime, "loop": False},
        "privacy_zones": t["camera"]["privacy_zones"],
    }
    data = city.device_dict(device_id, [camera], **sections)
    if MODEL_DIR != REPO / "models":
        data.setdefault("vision", {}).update(
            detector={"model": str(MODEL_DIR / MODELS[0])}, reader={"model": str(MODEL_DIR / MODELS[1])}
        )
    return city.write_yaml(data, path)


def agent_command(config: Path, fast: bool) -> list[str]:
    """`edge-agent run` for a config, in a fresh interpreter."""
    return [sys.executable, "-m", "edge_agent", "run", "--config", str(config), *(["--fast"] if fast else [])]


def agent_env() -> dict[str, str]:
    """The environment for the agent process: this checkout first on the path."""
    return {**os.environ, "PYTHONPATH": str(REPO)}


def run_fast(config: Path, log: Path, timeout: float = 150.0) -> subprocess.CompletedProcess[bytes]:
    """Replay as fast as possible until the file ends and the spool has drained; stderr goes to `log`."""
    with open(log, "wb") as out:
        return subprocess.run(
            agent_command(config, fast=True),
            cwd=REPO,
            env=agent_env(),
            stdout=out,
            stderr=out,
            timeout=timeout,
            check=False,
        )


def stored_reads(db: Path, device_id: str) -> list[StoredRead]:
    """The reads the ingest stored for one device, oldest first."""
    if not db.exists():
        return []
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5.0)
    try:
        rows = conn.execute(
            "SELECT plate, direction, first_seen_ms, last_seen_ms, frames FROM reads WHERE device_id = ?"
            " ORDER BY first_seen_ms",
            (device_id,),
        ).fetchall()
    finally:
        conn.close()
    return [StoredRead(*row) for row in rows]


def spool_depth(city: LocalCity, device_id: str) -> int:
    """Envelopes still waiting in a device's spool."""
    path = city.device_config(device_id).spool_path
    if not path.exists():
        return 0
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM envelopes").fetchone()[0])
    finally:
        conn.close()


def wait_for(cond: Callable[[], bool], timeout: float, step: float = 0.1) -> bool:
    """Poll `cond` until it holds or the timeout passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(step)
    return cond()


def log_tail(path: Path, lines: int = 15) -> str:
    """The end of a log, for assertion messages."""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
