"""Benchmark hotlist matching: what 100,000 active entries add to each stored read.

1. The matcher alone (what the ingest runs per read): --entries entries, a share of them with the one-character
   tolerance, against --reads readings of which a few percent are listed or one edit away: p50/p99 microseconds
   per read.
2. The ingest's PostgreSQL store with the same list in the database against an empty list, in the same run:
   batches of 256 reads at the rate they come, time per read with and without the list (p50/p99 of batches).

Usage: .venv/bin/python scripts/bench_hotlist.py [--entries 100000] [--reads 20000] [--json FILE]
Needs a PostgreSQL server for part 2 (EDGE_AGENT_TEST_PG, default postgres on 127.0.0.1); its database is dropped.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import psycopg  # noqa: E402

from edge_agent.city.ingest.postgres import PostgresStore  # noqa: E402
from edge_agent.city.ingest.rows import StoredRead  # noqa: E402
from edge_agent.city.records.hotlist import Active, Matcher  # noqa: E402
from edge_agent.compat import UTC  # noqa: E402
from edge_agent.local.scratchdb import scratch_database  # noqa: E402
from edge_agent.protocol.crypto.envelope import EnvelopeHeader, Suite  # noqa: E402
from edge_agent.protocol.reads import PlateRead, new_read_id  # noqa: E402

CHARS = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"


def plates(rng: random.Random, n: int) -> list[str]:
    return ["".join(rng.choice(CHARS) for _ in range(7)) for _ in range(n)]


def readings(rng: random.Random, listed: list[str], n: int) -> list[str]:
    """Mostly unlisted plates; 2% listed, 2% one substitution from a listed one."""
    out = []
    for _ in range(n):
        r = rng.random()
        if r < 0.02:
            out.append(rng.choice(listed))
        elif r < 0.04:
            p = rng.choice(listed)
            i = rng.randrange(len(p))
            out.append(p[:i] + rng.choice(CHARS) + p[i + 1 :])
        else:
            out.append("".join(rng.choice(CHARS) for _ in range(7)))
    return out


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def matcher_only(entries: list[str], texts: list[str], tolerant_share: float) -> dict[str, float]:
    far = round((datetime.now(UTC) + timedelta(days=30)).timestamp() * 1000)
    t0 = time.perf_counter()
    m = Matcher(Active(i, p, int(i < tolerant_share * len(entries)), far) for i, p in enumerate(entries))
    build = time.perf_counter() - t0
    now = round(time.time() * 1000)
    us = []
    hits = 0
    for text in texts:
        t = time.perf_counter()
        hits += bool(m.match(text, now))
        us.append((time.perf_counter() - t) * 1e6)
    return {"build_s": round(build, 2), "p50_us": round(statistics.median(us), 1), "p99_us": round(pct(us, 0.99), 1),
            "reads": len(texts), "matched": hits}  # fmt: skip


def batch(texts: list[str], start: int) -> list[StoredRead]:
    out = []
    now = time.time()
    for i, text in enumerate(texts):
        rid = new_read_id()
        header = EnvelopeHeader(Suite.X25519_SHA256_CHACHA20POLY1305, b"r" * 8, b"s" * 8, rid, start + i, "cam-1")
        out.append(StoredRead(header, PlateRead(rid, "cam-1", "lane-1", text, 0.9, now, now + 0.5), now))
    return out


def store_rate(dsn: str, texts: list[str]) -> dict[str, float]:
    store = PostgresStore(dsn)
    per_read = []
    # One batch first, not counted: the worker loads the list once (and again only when it changes).
    store.add(batch(plates(random.Random(13), 256), 10**9))
    try:
        for start in range(0, len(texts), 256):
            chunk = batch(texts[start : start + 256], start)
            t = time.perf_counter()
            store.add(chunk)
            per_read.append((time.perf_counter() - t) * 1000 / len(chunk))
            time.sleep(0.02)  # the ingest's receipt delay between batches
    finally:
        store.close()
    return {"batches": len(per_read), "ms_per_read_p50": round(statistics.median(per_read), 3),
            "ms_per_read_p99": round(pct(per_read, 0.99), 3)}  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--entries", type=int, default=100_000)
    ap.add_argument("--reads", type=int, default=20_000)
    ap.add_argument("--tolerant", type=float, default=0.5, help="share of entries with tolerance 1")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    rng = random.Random(11)
    entries = plates(rng, args.entries)
    texts = readings(rng, entries, args.reads)
    result: dict[str, object] = {"entries": args.entries, "tolerant_share": args.tolerant}
    result["matcher"] = matcher_only(entries, texts, args.tolerant)

    with scratch_database("edge_agent_bench_hotlist") as (_, dsn):
        result["store_without_list"] = store_rate(dsn, texts)
        with psycopg.connect(dsn) as conn, conn.cursor() as cur:
            expires = datetime.now(UTC) + timedelta(days=30)
            now = datetime.now(UTC)
            cur.executemany(
                "INSERT INTO hotlist_entries (plate, shown, reason, source_agency, entered_by, expires_at, tolerance, "
                "imported_by, imported_at) VALUES (%s, %s, 'bench', 'bench', 'bench', %s, %s, 'bench', %s)",
                [(p, p, expires, int(i < args.tolerant * len(entries)), now) for i, p in enumerate(entries)],
            )
        result["store_with_list"] = store_rate(dsn, texts)
        with psycopg.connect(dsn) as conn:
            result["alerts_made"] = conn.execute("SELECT count(*) FROM alerts").fetchone()[0]
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
