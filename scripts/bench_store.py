#!/usr/bin/env python3
"""Commit cost of the ingest's SQLite store as it fills: the shipped table layout against a table keyed by read id.

    .venv/bin/python scripts/bench_store.py [--reads 100000] [--batch 256]

Both layouts get the same rows in commits of `--batch` (WAL, synchronous=FULL, as the ingest runs), one after the
other in the same run. Printed per layout: CPU seconds, wall seconds, and the mean wall time of the last 20
commits, where a table keyed by the random read id (WITHOUT ROWID) rewrites a random page for every row.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import tempfile
import time
from pathlib import Path

from edge_agent.city.ingest.store import _SQLITE_SCHEMA, COLUMNS

KEYED_BY_READ_ID = _SQLITE_SCHEMA.replace("read_id BLOB NOT NULL UNIQUE,", "read_id BLOB PRIMARY KEY,").replace(
    "    received_at REAL NOT NULL\n);", "    received_at REAL NOT NULL\n) WITHOUT ROWID;"
)


def _rows(n: int, offset: int) -> list[tuple[object, ...]]:
    now = time.time()
    rest = (1, 2, 9, "approaching", 1, None, None, None, b"k" * 8, b"s" * 8, now)
    return [
        (os.urandom(16), "bench-0001", offset + i, "bench", f"ABC{(offset + i) % 10000:04d}", 0.9, *rest)
        for i in range(n)
    ]


def run(schema: str, reads: int, batch: int) -> dict[str, float]:
    """Insert `reads` rows in commits of `batch`; returns the timings."""
    with tempfile.TemporaryDirectory(prefix="edge-agent-store-") as tmp:
        db = sqlite3.connect(Path(tmp) / "reads.db", isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.executescript(schema)
        insert = f"INSERT OR IGNORE INTO reads ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
        cpu, wall, last = time.process_time(), time.perf_counter(), []
        for k in range(0, reads, batch):
            rows = _rows(batch, k)
            start = time.perf_counter()
            db.execute("BEGIN IMMEDIATE")
            db.executemany(insert, rows)
            db.execute("COMMIT")
            if k >= reads - 20 * batch:
                last.append(time.perf_counter() - start)
        db.close()
        return {
            "cpu_s": round(time.process_time() - cpu, 2),
            "wall_s": round(time.perf_counter() - wall, 2),
            "last_commits_ms": round(sum(last) / len(last) * 1000, 1),
        }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reads", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=256)
    args = ap.parse_args()
    out = {
        "shipped_rowid": run(_SQLITE_SCHEMA, args.reads, args.batch),
        "keyed_by_read_id": run(KEYED_BY_READ_ID, args.reads, args.batch),
        "reads": args.reads,
        "batch": args.batch,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
