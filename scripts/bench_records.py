"""Benchmark the records database at a city's scale: a 30-day window of reads, searches, ingest, retention.

1. Fill a fresh database with --reads reads (default 10,000,000: about 60 cameras for 30 days) spread evenly over
   30 days, with the schema's indexes in place for the last --ingest-reads, and time it (bulk, server-side).
2. Ingest: --workers processes (default 2) store reads through the ingest's own PostgresStore (batches of 256,
   one transaction each, as the ingest commits before it receipts) into the filled database: reads per second.
   This is the database's share of the ingest; MQTT, verification and decryption are `edge-agent bench uplink`.
3. Searches through RecordsService (the API's code, audit entry included): exact plates and partial patterns
   over the whole window, p50/p95 ms.
4. Retention: the purge of one whole day (its partition dropped), in seconds.

Usage: .venv/bin/python scripts/bench_records.py [--reads N] [--json FILE]
Needs a PostgreSQL server (EDGE_AGENT_TEST_PG, default postgres on 127.0.0.1); the database is dropped afterwards.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import random
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import psycopg  # noqa: E402
from psycopg_pool import ConnectionPool  # noqa: E402

from edge_agent.city.ingest.postgres import PostgresStore  # noqa: E402
from edge_agent.city.ingest.rows import StoredRead  # noqa: E402
from edge_agent.city.records import schema  # noqa: E402
from edge_agent.city.records.accounts import Principal  # noqa: E402
from edge_agent.city.records.service import RecordsService, SearchRequest  # noqa: E402
from edge_agent.compat import UTC  # noqa: E402
from edge_agent.config import RecordsConfig  # noqa: E402
from edge_agent.local.scratchdb import scratch_database  # noqa: E402
from edge_agent.protocol.crypto.envelope import EnvelopeHeader, Suite  # noqa: E402
from edge_agent.protocol.reads import PlateRead, new_read_id  # noqa: E402

DAYS = 30
CAMERAS = 60
PLATES = 2_000_000  # distinct plates in the window: most are seen a handful of times
LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"


def plate_of(n: int) -> str:
    """A deterministic plate for number n: 3 letters and 4 digits."""
    a, b, c = n % 23, (n // 23) % 23, (n // 529) % 23
    return f"{LETTERS[a]}{LETTERS[b]}{LETTERS[c]}{(n // 12167) % 10000:04d}"


FILL = """
INSERT INTO reads (read_id, device_id, seq, camera, plate, confidence, first_seen_ms, last_seen_ms, frames,
                   direction, clock_synced, box, crop_jpeg, models, recipient_key_id, signer_key_id, received_at,
                   captured_ms)
SELECT decode(md5(g::text || %(salt)s), 'hex'),
       'cam-' || lpad(((g * 7919) %% %(cameras)s)::text, 3, '0'),
       g,
       'lane-' || ((g * 7919) %% %(cameras)s)::text,
       substr(%(letters)s, 1 + (p %% 23)::int, 1) || substr(%(letters)s, 1 + ((p / 23) %% 23)::int, 1)
         || substr(%(letters)s, 1 + ((p / 529) %% 23)::int, 1) || lpad(((p / 12167) %% 10000)::text, 4, '0'),
       0.9, t, t + 900, 8, 'approaching', true, '[10,20,120,40]', NULL, NULL, '\\x01'::bytea, '\\x02'::bytea,
       (t + 1500) / 1000.0, t
FROM (SELECT g, (g * 2654435761) %% %(plates)s AS p,
             %(start)s::bigint + (g::bigint * %(span)s::bigint / %(n)s::bigint) AS t
      FROM generate_series(%(first)s::bigint, %(last)s::bigint) g) s
"""


def fill(dsn: str, n: int, start_ms: int) -> float:
    """Bulk-load n reads over DAYS days; return seconds."""
    t0 = time.monotonic()
    span = DAYS * schema.DAY_MS - 1
    with psycopg.connect(dsn, autocommit=True) as conn:
        schema.ensure_partitions(conn, {start_ms + d * schema.DAY_MS for d in range(DAYS + 2)}, set())
        step = 500_000
        for first in range(1, n + 1, step):
            last = min(n, first + step - 1)
            conn.execute(
                FILL,
                {
                    "salt": "bench",
                    "cameras": CAMERAS,
                    "letters": LETTERS,
                    "plates": PLATES,
                    "start": start_ms,
                    "span": span,
                    "n": n,
                    "first": first,
                    "last": last,
                },
            )
            print(f"  filled {last:,} reads ({time.monotonic() - t0:.0f} s)", flush=True)
        conn.execute("VACUUM ANALYZE reads")
        conn.execute(
            "INSERT INTO cameras SELECT DISTINCT device_id, camera, 0 FROM reads WHERE captured_ms < %s",
            (start_ms + schema.DAY_MS,),
        )
    return time.monotonic() - t0


def _ingest_worker(args: tuple[str, int, int, int]) -> float:
    dsn, worker, count, at_ms = args
    store = PostgresStore(dsn)
    batch: list[StoredRead] = []
    t0 = time.monotonic()
    for i in range(count):
        rid = new_read_id()
        at = (at_ms + i) / 1000
        header = EnvelopeHeader(Suite.X25519_SHA256_CHACHA20POLY1305, b"r" * 8, b"s" * 8, rid, i, f"ingest-{worker}")
        read = PlateRead(rid, f"ingest-{worker}", "lane-1", plate_of(i * 31 + worker), 0.9, at, at + 0.9, frames=8)
        batch.append(StoredRead(header, read, at + 1.5))
        if len(batch) == 256:
            store.add(batch)
            batch.clear()
    if batch:
        store.add(batch)
    elapsed = time.monotonic() - t0
    store.close()
    return elapsed


def ingest(dsn: str, workers: int, per_worker: int, at_ms: int) -> dict[str, float]:
    """Reads per second stored by `workers` processes at once."""
    t0 = time.monotonic()
    with mp.get_context("spawn").Pool(workers) as pool:
        times = pool.map(_ingest_worker, [(dsn, w, per_worker, at_ms) for w in range(workers)])
    wall = time.monotonic() - t0
    return {
        "reads": workers * per_worker,
        "seconds": round(wall, 2),
        "reads_per_s": round(workers * per_worker / max(times), 0),
    }


def searches(service: RecordsService, now: datetime, exact: int, partial: int) -> dict[str, dict[str, float]]:
    """p50/p95 ms of exact and partial searches over the whole window."""
    who = Principal(1, "bench", "investigator", "-")
    rng = random.Random(7)
    out = {}
    for kind, count in (("exact", exact), ("partial", partial)):
        ms = []
        results = 0
        for _ in range(count):
            plate = plate_of(rng.randrange(PLATES))
            query = plate if kind == "exact" else plate[:3] + "*" + plate[-2:]
            req = SearchRequest(
                "2026-000123",
                "stolen vehicle",
                "benchmark",
                query,
                start=now - timedelta(days=DAYS),
                end=now,
                limit=100,
            )
            t0 = time.perf_counter()
            _, hits = service.search(who, req)
            ms.append((time.perf_counter() - t0) * 1000)
            results += len(hits)
        ms.sort()
        out[kind] = {
            "searches": count,
            "p50_ms": round(statistics.median(ms), 1),
            "p95_ms": round(ms[int(0.95 * (len(ms) - 1))], 1),
            "mean_results": round(results / count, 1),
        }
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reads", type=int, default=10_000_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--ingest-reads", type=int, default=20_000, help="per worker")
    ap.add_argument("--exact", type=int, default=200)
    ap.add_argument("--partial", type=int, default=100)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--keep", action="store_true", help="keep the database (its name is printed)")
    args = ap.parse_args()

    now = datetime(2026, 12, 1, tzinfo=UTC)
    start_ms = schema.day_start(round((now - timedelta(days=DAYS)).timestamp() * 1000))
    result: dict[str, object] = {"reads": args.reads}
    with scratch_database("edge_agent_bench", keep=args.keep) as (name, dsn):
        result["database"] = name
        with psycopg.connect(dsn) as conn:
            schema.migrate(conn)
        print(f"filling {args.reads:,} reads over {DAYS} days ({CAMERAS} cameras) into {name}", flush=True)
        result["fill_s"] = round(fill(dsn, args.reads, start_ms), 1)
        with psycopg.connect(dsn) as conn:
            size = conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()[0]
        result["database_size"] = size
        print(f"ingest: {args.workers} workers x {args.ingest_reads:,} reads", flush=True)
        result["ingest"] = ingest(dsn, args.workers, args.ingest_reads, round(now.timestamp() * 1000) - 3_600_000)
        cfg = RecordsConfig(dsn=dsn, retention_days=DAYS)
        clock = [now]
        with ConnectionPool(dsn, min_size=1, max_size=2, open=True) as pool:
            service = RecordsService(pool, cfg, clock=lambda: clock[0])
            print("searches", flush=True)
            result["search"] = searches(service, now, args.exact, args.partial)
            clock[0] = now + timedelta(days=1)
            t0 = time.monotonic()
            report = service.purge()
            result["purge_one_day"] = {
                "seconds": round(time.monotonic() - t0, 2),
                "reads_dropped": report.reads_dropped,
                "partitions": report.partitions,
            }
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
