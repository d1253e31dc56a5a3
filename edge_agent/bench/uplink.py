"""`edge-agent bench uplink`: the full durable, encrypted, receipted path against bare QoS 1, in one run.

1. Seal N synthetic reads and commit them to a spool (`seal_per_s`, `spool_put_per_s`).
2. Drain them through a local mosquitto (mTLS, the shipped template) into the reference ingest (one process, or
   `ingest_workers` processes on a shared subscription and one store), with receipts deleting from the spool
   (`reads_per_s`, commit of the first to the spool being empty).
3. Baseline: publish N payloads of the same size with plain paho QoS 1 to the same broker, no spool, no crypto
   (`baseline_per_s`); `ratio` = reads_per_s / baseline_per_s.
4. Latency at a light load (20 reads/s): from spool commit to receipt-delete, p50 and p99.
Then it checks the city's database: every read stored exactly once.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from edge_agent.device.spool import Spool
from edge_agent.device.uplink import Uplink
from edge_agent.local.localcity import IngestProcess, LocalCity
from edge_agent.protocol.crypto.envelope import Sealer, sealer_for, verifier_for
from edge_agent.protocol.crypto.verify import DEFAULT_BACKEND
from edge_agent.protocol.mqtt import new_client, tls_context
from edge_agent.protocol.reads import PlateRead, new_read_id

logger = logging.getLogger(__name__)

DEVICE = "bench-0001"
BASELINE_DEVICE = "bench-0002"


def _synthetic_read(i: int) -> PlateRead:
    now = time.time()
    text = f"{chr(65 + i % 26)}{chr(65 + (i // 26) % 26)}{chr(65 + (i // 676) % 26)}{i % 10000:04d}"
    return PlateRead(new_read_id(), DEVICE, "bench", text, 0.9, now - 1.2, now, frames=9, direction="approaching")


def _drain(spool: Spool, timeout: float) -> float:
    start = time.perf_counter()
    while len(spool) and time.perf_counter() - start < timeout:
        time.sleep(0.01)
    return time.perf_counter() - start


def _baseline(city: LocalCity, n: int, size: int, window: int, timeout: float) -> float:
    """Bare paho QoS 1 publishing of `n` payloads with at most `window` unacknowledged, as the uplink keeps.

    The publisher keeps its own window instead of handing paho all `n` messages at once: paho looks through its
    whole outgoing queue whenever an in-flight slot frees, which turns a 100k-message baseline quadratic.
    """
    identity = city.pki.device(BASELINE_DEVICE)
    client, props = new_client(BASELINE_DEVICE, tls_context(city.pki.ca_cert, identity.cert, identity.key))
    client.max_inflight_messages_set(window)
    room = threading.Condition()
    acked = [0]

    def on_publish(*_: Any) -> None:
        with room:
            acked[0] += 1
            room.notify()

    client.on_publish = on_publish
    client.connect(city.broker.host, city.broker.port, clean_start=True, properties=props)
    client.loop_start()
    payload = os.urandom(size)
    topic = f"{city.prefix}/v1/{BASELINE_DEVICE}/reads"
    deadline = time.monotonic() + timeout
    start = time.perf_counter()
    for i in range(n):
        with room:
            while i - acked[0] >= window and time.monotonic() < deadline:
                room.wait(0.5)
        client.publish(topic, payload, qos=1)
    with room:
        room.wait_for(lambda: acked[0] >= n, max(0.0, deadline - time.monotonic()))
    elapsed = time.perf_counter() - start
    client.disconnect()
    client.loop_stop()
    return n / elapsed


def _seal_and_spool(sealer: Sealer, spool: Spool, reads: int) -> tuple[set[bytes], float, float, int]:
    """Phase 1: returns the read ids, seal seconds, spool seconds and the envelope size."""
    sealed: list[tuple[bytes, bytes, int]] = []
    start = time.perf_counter()
    for i in range(reads):
        read = _synthetic_read(i)
        seq = spool.reserve_seq()
        sealed.append((read.read_id, sealer.seal(read, seq), seq))
    seal_s = time.perf_counter() - start
    start = time.perf_counter()
    for k in range(0, reads, 512):
        spool.put_many(sealed[k : k + 512])
    put_s = time.perf_counter() - start
    return {rid for rid, _, _ in sealed}, seal_s, put_s, len(sealed[0][1]) if sealed else 0


def _light_load(sealer: Sealer, spool: Spool, n: int, rate: float, offset: int) -> dict[bytes, float]:
    """Phase 4: one read every 1/rate s, committed with put() as the agent does; returns commit times."""
    committed_at: dict[bytes, float] = {}
    for i in range(n):
        read = _synthetic_read(offset + i)
        seq = spool.reserve_seq()
        spool.put(read.read_id, sealer.seal(read, seq), seq)
        committed_at[read.read_id] = time.perf_counter()
        time.sleep(1.0 / rate)
    _drain(spool, 60)
    return committed_at


def _stored(db_path: Path) -> tuple[int, int, set[bytes]]:
    db = sqlite3.connect(db_path)
    try:
        rows, unique = db.execute("SELECT COUNT(*), COUNT(DISTINCT read_id) FROM reads").fetchone()
        ids = {bytes(r[0]) for r in db.execute("SELECT read_id FROM reads")}
    finally:
        db.close()
    return int(rows), int(unique), ids


def _stored_pg(dsn: str) -> tuple[int, int, set[bytes]]:
    import psycopg

    with psycopg.connect(dsn) as db:
        counts = db.execute("SELECT COUNT(*), COUNT(DISTINCT (device_id, read_id)) FROM reads").fetchone()
        ids = {bytes(r[0]) for r in db.execute("SELECT read_id FROM reads WHERE device_id = %s", (DEVICE,))}
    rows, unique = counts if counts is not None else (0, 0)
    return int(rows), int(unique), ids


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU seconds of a process so far (this one by default), from /proc."""
    if pid is None:
        t = os.times()
        return t.user + t.system
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_snapshot(pids: dict[str, int | None]) -> dict[str, float]:
    return {name: cpu_seconds(pid) for name, pid in pids.items()}


def _pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 1) if values else None


def _cpu_per_read(before: dict[str, float], after: dict[str, float], reads: int) -> dict[str, float | None]:
    """CPU ms per read of the device, the broker and the ingest workers together."""
    spent = {k: after[k] - before[k] for k in after}
    out = {k: spent[k] for k in ("device", "broker")}
    out["ingest"] = sum(v for k, v in spent.items() if k.startswith("ingest-"))
    return {k: round(v * 1000 / reads, 3) if reads else None for k, v in out.items()}


def run_uplink_bench(
    reads: int,
    latency_reads: int = 200,
    rate: float = 20.0,
    workdir: Path | None = None,
    timeout: float = 1800,
    ingest_workers: int = 1,
    store_dsn: str | None = None,
) -> dict[str, Any]:
    """Run the benchmark and return its figures (see module doc); `store_dsn` stores into PostgreSQL (the
    records database) instead of the workers' shared SQLite file."""
    with tempfile.TemporaryDirectory(prefix="edge-agent-bench-") as tmp:
        root = workdir or Path(tmp)
        city = LocalCity(root, [DEVICE, BASELINE_DEVICE])
        city.broker.start()
        try:
            device = city.device_config(DEVICE)
            # Several workers share one subscription group and one store, as a city scales its ingest.
            group: dict[str, Any] = {"shared_group": "bench"} if ingest_workers > 1 else {}
            if store_dsn:
                group["store"] = {"kind": "postgres", "dsn": store_dsn}
            workers = [
                IngestProcess(city, root / f"ingest-{i}.yaml", client_id=f"ingest-{i}", **group)
                for i in range(1, ingest_workers + 1)
            ]
            sealer = sealer_for(device)
            spool = Spool(device.spool_path, max_bytes=device.spool.max_bytes, commit_interval=0)
            sealed_ids, seal_s, put_s, envelope_size = _seal_and_spool(sealer, spool, reads)

            deleted_at: dict[bytes, float] = {}

            def on_deleted(ids: list[bytes]) -> None:
                now = time.perf_counter()
                deleted_at.update(dict.fromkeys(ids, now))

            uplink = Uplink(device.uplink, DEVICE, spool, verifier_for(device), on_deleted=on_deleted)
            pids: dict[str, int | None] = {"device": None, "broker": city.broker.pid}
            pids.update({f"ingest-{i}": w.pid for i, w in enumerate(workers, 1)})
            cpu_before = _cpu_snapshot(pids)
            uplink.start()
            drain_s = _drain(spool, timeout)
            cpu_after = _cpu_snapshot(pids)
            drained = len(spool) == 0
            committed_at = _light_load(sealer, spool, latency_reads, rate, reads)
            sealed_ids |= set(committed_at)
            latencies = [(deleted_at[r] - t) * 1000 for r, t in committed_at.items() if r in deleted_at]
            uplink.stop()
            ingest_counters: dict[str, int] = {}
            for worker in workers:
                for key, value in worker.stop().items():
                    ingest_counters[key] = ingest_counters.get(key, 0) + value
            spool_left = len(spool)
            spool.close()
            baseline = _baseline(city, reads, envelope_size, device.uplink.window, timeout)
        finally:
            city.broker.stop()
        rows, unique, stored_ids = _stored_pg(store_dsn) if store_dsn else _stored(root / "city" / "reads.db")
        delivered = len(sealed_ids & stored_ids)
        reads_per_s = reads / drain_s if drained and drain_s > 0 else 0.0
        return {
            "reads": len(sealed_ids),
            "delivered_unique": delivered,
            "lost": len(sealed_ids) - delivered,
            "duplicates_stored": rows - unique,
            "duplicates_received": int(ingest_counters.get("duplicates", 0)),
            "spool_left": spool_left,
            "reads_per_s": round(reads_per_s, 1),
            "baseline_per_s": round(baseline, 1),
            "ratio": round(reads_per_s / baseline, 3) if baseline else None,
            "latency_p50_ms": _pct(latencies, 50),
            "latency_p99_ms": _pct(latencies, 99),
            "latency_reads": len(latencies),
            "latency_rate_per_s": rate,
            "seal_per_s": round(reads / seal_s, 1) if seal_s else None,
            "spool_put_per_s": round(reads / put_s, 1) if put_s else None,
            "cpu_ms_per_read": _cpu_per_read(cpu_before, cpu_after, reads),
            "ingest_workers": ingest_workers,
            "store": "postgres" if store_dsn else "sqlite",
            "verify_backend": DEFAULT_BACKEND,
            "envelope_bytes": envelope_size,
            "window": device.uplink.window,
            "cpus": os.cpu_count(),
        }
