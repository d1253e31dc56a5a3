"""Fault soak with the real daemon: a camera replaying video in a loop, its reads in flight, and faults of every
kind the store-and-forward path must survive, one after another.

The device is `edge-agent run` (its own process, replaying a fixture in a loop as fast as it decodes), the city a
real mosquitto with the project's template and `edge-agent ingest` (its own process). Faults, drawn at random:
SIGKILL, SIGTERM (a clean stop) and SIGSTOP/SIGCONT of the device, the broker and the ingest, and the device's
disk filled to the last byte and freed (its state directory is a tmpfs of its own in a private mount namespace:
the script re-runs itself under `unshare --mount`, which needs root; without it that fault is left out and said
so). Every killed or stopped process is started again.

At the end the looping camera is stopped cleanly, a daemon replaying a plate-free clip drains the spool, and:
- every read the spool committed (its lifetime `committed` counter, which survives kills) is stored at the city,
  and none twice;
- every clean stop accounted for the reads the daemon had made (made == sealed + unspooled, unspooled 0);
- the spool is empty.
A SIGKILLed daemon loses the reads it had made but not yet committed (they live in its memory only); the count
of such kills is printed. Prints the faults by kind, the reads, and the drain time; exits 1 on any loss.

Usage: sudo .venv/bin/python scripts/soak_faults.py [--faults 1000] [--seed 7] [--root DIR]
"""

from __future__ import annotations

import argparse
import ast
import collections
import errno
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from edge_agent.local.localcity import IngestProcess, LocalCity  # noqa: E402

VIDEO = REPO / "tests" / "fixtures" / "video" / "two_vehicles.mp4"
NAMESPACE_FLAG = "EDGE_AGENT_SOAK_NAMESPACE"
STOPPED = re.compile(r"stopped: .* reads (\{[^}]*\})")


def blank_clip(path: Path, frames: int = 8) -> Path:
    """A short clip with nothing on it: a daemon replaying it makes no read and drains the spool."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (320, 240))
    for _ in range(frames):
        writer.write(np.zeros((240, 320, 3), np.uint8))
    writer.release()
    return path


class Daemon:
    """`edge-agent run` in its own process, restarted after each fault."""

    def __init__(self, config: Path, log: Path, fast: bool = True) -> None:
        self.config, self.log, self.fast = config, log, fast
        self.proc: subprocess.Popen[bytes] | None = None
        self.clean_stops: list[dict[str, int]] = []

    def start(self) -> None:
        cmd = [sys.executable, "-m", "edge_agent", "run", "--config", str(self.config)]
        with open(self.log, "ab") as fh:
            self.proc = subprocess.Popen(cmd + (["--fast"] if self.fast else []), stdout=fh, stderr=fh)

    def signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(30)

    def terminate(self, timeout: float = 60.0) -> None:
        """A clean stop; the counters its last line gives are kept."""
        size = self.log.stat().st_size if self.log.exists() else 0
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGTERM)
        if self.proc is not None:
            self.proc.wait(timeout)
        with open(self.log, "rb") as fh:
            fh.seek(size)
            tail = fh.read().decode(errors="replace")
        found = STOPPED.findall(tail)
        if found:
            self.clean_stops.append(ast.literal_eval(found[-1]))


def fill(directory: Path) -> int:
    """Take every free byte of `directory`'s file system, as another program would; returns the bytes taken."""
    taken = 0
    with open(directory / "filler", "ab", buffering=0) as fh:
        try:
            while True:
                taken += fh.write(b"\0" * 65536)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
    return taken


def spool_counters(spool: Path) -> dict[str, int]:
    with sqlite3.connect(f"file:{spool}?mode=ro", uri=True) as db:
        counters = dict(db.execute("SELECT name, value FROM counters").fetchall())
        counters["depth"] = db.execute("SELECT COUNT(*) FROM envelopes").fetchone()[0]
    return counters


def stored(db: Path) -> tuple[int, int]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows, distinct = conn.execute(
            "SELECT COUNT(*), COUNT(DISTINCT device_id || hex(read_id)) FROM reads"
        ).fetchone()
    return int(rows), int(distinct)


def soak(args: argparse.Namespace, root: Path, disk: bool) -> int:
    rng = random.Random(args.seed)
    city = LocalCity(root / "city", device_ids=["cam-1"])
    city.broker.start()
    store = city.root / "city" / "reads.db"  # where LocalCity's ingest config keeps the reads
    ingest = IngestProcess(city, root / "ingest.yaml")
    state = root / "state"
    camera = {"name": "cam0", "kind": "replay", "source": str(VIDEO), "replay": {"loop": True, "realtime": False}}
    device = city.device_dict(
        "cam-1", [camera], device={"id": "cam-1", "state_dir": str(state)}, uplink={"resend_after": "3s"}
    )
    config = city.write_yaml(device, root / "device.yaml")
    daemon = Daemon(config, root / "device.log")
    daemon.start()

    def pause(pid: int | None, sig: int) -> None:
        if pid is not None:
            os.kill(pid, sig)

    # kind -> (cause, mend, longest hold in seconds): each fault is caused, held a random while, then mended.
    faults_by_kind: dict[str, tuple[Callable[[], object], Callable[[], object], float]] = {
        "device_kill": (daemon.kill, daemon.start, 1.0),
        "device_term": (daemon.terminate, daemon.start, 1.0),
        "device_pause": (lambda: daemon.signal(signal.SIGSTOP), lambda: daemon.signal(signal.SIGCONT), 1.0),
        "broker_kill": (city.broker.kill, city.broker.start, 1.0),
        "broker_stop": (city.broker.stop, city.broker.start, 1.0),
        "broker_pause": (
            lambda: pause(city.broker.pid, signal.SIGSTOP),
            lambda: pause(city.broker.pid, signal.SIGCONT),
            1.0,
        ),
        "ingest_kill": (ingest.kill, ingest.start, 1.0),
        "ingest_term": (ingest.stop, ingest.start, 1.0),
        "ingest_pause": (lambda: pause(ingest.pid, signal.SIGSTOP), lambda: pause(ingest.pid, signal.SIGCONT), 1.0),
    }
    if disk:
        faults_by_kind["disk_full"] = (lambda: fill(state), (state / "filler").unlink, 3.0)
    kinds = list(faults_by_kind)
    faults: collections.Counter[str] = collections.Counter()
    restarts = 0
    started = time.monotonic()
    try:
        for n in range(args.faults):
            time.sleep(rng.uniform(0.05, 0.4))
            if daemon.proc is not None and daemon.proc.poll() is not None:
                # The daemon exited by itself (it refuses to start on a disk with no room at all): systemd's
                # Restart=on-failure starts it again, and so does this.
                restarts += 1
                daemon.start()
            kind = rng.choice(kinds)
            cause, mend, hold = faults_by_kind[kind]
            cause()
            time.sleep(hold * rng.uniform(0.0, 1.0))
            mend()
            faults[kind] += 1
            if (n + 1) % 100 == 0:
                print(f"soak: {n + 1} faults in {time.monotonic() - started:.0f} s", flush=True)
        fault_s = time.monotonic() - started
        # The end: stop the looping camera cleanly, then a daemon replaying a plate-free clip drains the spool.
        daemon.terminate()
        device["cameras"] = [{"name": "cam0", "kind": "replay", "source": str(blank_clip(root / "blank.mp4"))}]
        city.write_yaml(device, config)
        drain_started = time.monotonic()
        drainer = Daemon(config, root / "device.log", fast=True)
        drainer.start()
        assert drainer.proc is not None
        drainer.proc.wait(600)
        drain_s = time.monotonic() - drain_started
        time.sleep(2)
        ingest_totals = ingest.stop()
    finally:
        daemon.signal(signal.SIGCONT)
        daemon.signal(signal.SIGKILL)
        if ingest.pid is not None:
            os.kill(ingest.pid, signal.SIGCONT)
            ingest.kill()
        city.broker.stop()
    counters = spool_counters(state / "spool.db")
    rows, distinct = stored(store)
    made = sum(s["made"] for s in daemon.clean_stops)
    accounted = sum(s["sealed"] + s["unspooled"] for s in daemon.clean_stops)
    unspooled = sum(s["unspooled"] for s in daemon.clean_stops)
    report: dict[str, Any] = {
        "faults": dict(sorted(faults.items())),
        "faults_total": sum(faults.values()),
        "fault_phase_s": round(fault_s),
        "drain_s": round(drain_s, 1),
        "committed": counters.get("committed", 0),
        "stored_rows": rows,
        "stored_distinct": distinct,
        "spool_left": counters["depth"],
        "purged": counters.get("purged", 0),
        "dropped_full": counters.get("dropped_full", 0),
        "clean_stops": len(daemon.clean_stops),
        "made_at_clean_stops": made,
        "sealed_or_counted_at_clean_stops": accounted,
        "unspooled": unspooled,
        "device_kills": faults["device_kill"],
        "device_exits_restarted": restarts,
        "ingest": ingest_totals,
        "disk_fault": disk,
    }
    print(json.dumps(report, indent=1))
    lost = report["committed"] - distinct
    ok = lost == 0 and rows == distinct and counters["depth"] == 0 and made == accounted and unspooled == 0
    print(f"soak: {'PASS' if ok else 'FAIL'}: {lost} committed read(s) not stored, {rows - distinct} stored twice, "
          f"{counters['depth']} left in the spool, {made - accounted} made but unaccounted at clean stops")  # fmt: skip
    return 0 if ok else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--faults", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--root", type=Path, help="working directory (default: a new temporary one)")
    ap.add_argument("--disk-mib", type=int, default=48, help="size of the device's tmpfs state directory")
    args = ap.parse_args()
    root = args.root or Path(tempfile.mkdtemp(prefix="edge-agent-soak-"))
    root.mkdir(parents=True, exist_ok=True)
    if os.environ.get(NAMESPACE_FLAG) != "1" and os.geteuid() == 0 and shutil.which("unshare"):
        # Again in a private mount namespace, where the device's state directory can be a small disk of its own.
        env = dict(os.environ, **{NAMESPACE_FLAG: "1"})
        argv = [sys.executable, *sys.argv, "--root", str(root)] if args.root is None else [sys.executable, *sys.argv]
        return subprocess.call(["unshare", "--mount", "--propagation", "private", *argv], env=env)
    disk = False
    if os.environ.get(NAMESPACE_FLAG) == "1":
        (root / "state").mkdir(exist_ok=True)
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={args.disk_mib}m,mode=0700", "tmpfs", str(root / "state")],
            check=False,
        )
        disk = mounted.returncode == 0
    if not disk:
        print("soak: no private tmpfs for the device (needs root and unshare): the disk-full fault is left out")
    print(f"soak: {args.faults} faults, seed {args.seed}, in {root}", flush=True)
    return soak(args, root, disk)


if __name__ == "__main__":
    raise SystemExit(main())
