"""`edge-agent demo`: a whole city on this machine, and a camera replaying a bundled video into it.

It mints a throw-away PKI and keys, starts a real mosquitto (mutual TLS, the project's ACL template) and the
reference ingest as its own process, runs `edge-agent run` on the video as a separate process exactly as a device
would, then prints what the city decrypted and what is left in the device's spool (nothing, once receipts came).
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from edge_agent.device.spool import Spool
from edge_agent.errors import EdgeAgentError, InvalidInputError
from edge_agent.local.localcity import IngestProcess, LocalCity

USER_NOTE = "investigator signed in with password and TOTP"

DEVICE_ID = "demo-cam"
REPO = Path(__file__).resolve().parents[2]
DEFAULT_VIDEO = REPO / "tests" / "fixtures" / "video" / "day_single.mp4"


def _camera(video: Path, realtime: bool = False) -> dict[str, Any]:
    """The camera section for `video`, with the privacy zones its ground truth declares (if any)."""
    camera: dict[str, Any] = {"name": "north", "kind": "replay", "source": str(video), "replay": {"realtime": realtime}}
    truth = video.with_suffix(".json")
    if truth.is_file():
        meta = json.loads(truth.read_text())
        cam = meta.get("camera", {})
        for key in ("privacy_zones", "fps", "detection_zone"):
            if cam.get(key):
                camera[key] = cam[key]
    return camera


def _reads(db: Path) -> list[dict[str, Any]]:
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute(
            "SELECT plate, confidence, first_seen_ms, last_seen_ms, frames, direction, camera, clock_synced "
            "FROM reads ORDER BY first_seen_ms"
        ).fetchall()
    finally:
        conn.close()
    keys = ("plate", "confidence", "first_seen_ms", "last_seen_ms", "frames", "direction", "camera", "clock_synced")
    return [dict(zip(keys, row, strict=True)) for row in rows]


def _when(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).strftime("%H:%M:%S.%f")[:-3]


def _run_device(device_yaml: Path, log: Path, fast: bool) -> float:
    """`edge-agent run` on the replay config, as its own process; the seconds it took."""
    t0 = time.monotonic()
    with open(log, "wb") as fh:
        done = subprocess.run(
            [sys.executable, "-m", "edge_agent", "run", *(["--fast"] if fast else []), "--config", str(device_yaml)],
            stdout=fh,
            stderr=subprocess.STDOUT,
            check=False,
            timeout=600,
        )
    if done.returncode != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-5:]
        raise EdgeAgentError(f"edge-agent run exited {done.returncode}: " + " | ".join(tail))
    return time.monotonic() - t0


def _start_ingest(city: LocalCity, path: Path, rec: Any) -> IngestProcess:
    try:
        if rec is None:
            return IngestProcess(city, path)
        return IngestProcess(city, path, store={"kind": "postgres", "dsn": rec.dsn})
    except EdgeAgentError:
        city.broker.stop()
        if rec is not None:
            rec.stop()
            rec.drop()
        raise


def _city_reads(rec: Any, sqlite_db: Path) -> list[dict[str, Any]]:
    """What the city stored: the records database (dropped once read) or the ingest's SQLite file."""
    if rec is None:
        return _reads(sqlite_db)
    try:
        return list(rec.reads())
    finally:
        rec.drop()


def _report(say: Any, reads: list[dict[str, Any]], counters: dict[str, int], rec: Any, elapsed: float) -> None:
    say(f"\nThe city decrypted {len(reads)} read(s) in {elapsed:.1f} s:")
    say(f"  {'plate':<10} {'conf':>5}  {'first seen':>12}  {'last seen':>12}  {'frames':>6}  direction")
    for r in reads:
        say(
            f"  {r['plate']:<10} {r['confidence']:>5.2f}  {_when(r['first_seen_ms']):>12}  "
            f"{_when(r['last_seen_ms']):>12}  {r['frames']:>6}  {r['direction']}"
        )
    say(f"  ingest counters: {json.dumps(counters, sort_keys=True)}")
    if rec is not None:
        say(f"\nSearched through the records API under case {rec.case} as soon as the ingest stored each read:")
        for f in rec.found:
            after = f"{f.searchable_ms} ms after capture" if f.searchable_ms is not None else "NOT found"
            say(f"  {f.plate:<10} searchable {after}")


def run_demo(
    video: Path = DEFAULT_VIDEO, workdir: Path | None = None, out: Any = sys.stdout, records: bool = False
) -> int:
    """Run the demo; return 0 when every read reached the city and the spool is empty.

    With `records`, the city also runs its records service on PostgreSQL; the video is replayed in real time, each
    read is searched for through the records API as soon as it is stored, and the time from capture to search is
    printed (records_demo.py).
    """
    if not video.is_file():
        raise InvalidInputError(f"video {video} not found (the demo replays a bundled fixture; pass --video FILE)")
    root = workdir or Path(tempfile.mkdtemp(prefix="edge-agent-demo-"))

    def say(text: str) -> None:
        print(text, file=out, flush=True)

    say(f"edge-agent demo in {root}")
    city = LocalCity(root / "city", [DEVICE_ID])
    rec = None
    if records:
        from edge_agent.local.records_demo import RecordsDemo

        rec = RecordsDemo.start()
        say(f"  records service: {rec.url} on PostgreSQL database {rec.database}; {USER_NOTE}")
    city.broker.start()
    say(f"  city broker: mosquitto with mutual TLS on {city.broker.host}:{city.broker.port}")
    ingest = _start_ingest(city, root / "ingest.yaml", rec)
    say("  reference ingest: subscribed, verifying, decrypting" + (", storing in PostgreSQL" if rec else ""))
    camera = _camera(video, realtime=rec is not None)
    device_yaml = city.write_yaml(city.device_dict(DEVICE_ID, [camera]), root / "device.yaml")
    log = root / "device.log"
    if rec is not None:
        rec.watch()
    try:
        pace = "in real time" if rec is not None else "as fast as it decodes"
        say(f"  device {DEVICE_ID}: edge-agent run on {video.name} ({pace})")
        elapsed = _run_device(device_yaml, log, fast=rec is None)
        # The ingest commits before it sends the receipt, so by the time the spool is empty every read is stored.
        time.sleep(0.5)
    finally:
        counters = ingest.stop()
        city.broker.stop()
        if rec is not None:
            rec.wait_for(int(counters.get("stored", 0)), 5.0)
            rec.stop()
    reads = _city_reads(rec, root / "city" / "city" / "reads.db")
    spool = Spool(city.device_config(DEVICE_ID).spool_path)
    try:
        stats = spool.stats()
    finally:
        spool.close()
    _report(say, reads, counters, rec, elapsed)
    say(
        f"\nDevice spool after upload: {stats.depth} envelope(s) ({stats.pending} pending, {stats.sent} sent), "
        f"{stats.bytes} bytes; deleted on receipt: {stats.counters.get('deleted', 0)}"
    )
    say(f"Logs: {log}, {root / 'ingest.log'}")
    return 0 if stats.depth == 0 and reads else 1
