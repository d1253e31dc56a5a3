"""The scaled ingest: two workers on a shared subscription into one real PostgreSQL database.

Needs a PostgreSQL server (scripts/setup installs one); the test creates and drops its own database. Set
EDGE_AGENT_TEST_PG to a libpq DSN of a role that may create databases (default: postgres on 127.0.0.1).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_agent.local import scratchdb
from edge_agent.local.localcity import IngestProcess, LocalCity
from tests.integration.conftest import wait_for
from tests.integration.test_store_forward import Device

psycopg = pytest.importorskip("psycopg")


@pytest.fixture
def pg_dsn() -> Iterator[str]:
    """A fresh database of this test's own, dropped afterwards."""
    try:
        name = scratchdb.create("edge_agent_test")
    except psycopg.OperationalError as exc:
        pytest.skip(f"no PostgreSQL server at {scratchdb.ADMIN_DSN!r} ({str(exc).strip()}): run scripts/setup")
    try:
        yield scratchdb.dsn_for(name)
    finally:
        scratchdb.drop(name)


def stored(dsn: str) -> tuple[int, int]:
    with psycopg.connect(dsn) as conn:
        rows, unique = conn.execute("SELECT count(*), count(DISTINCT read_id) FROM reads").fetchone()
    return int(rows), int(unique)


def test_two_workers_share_the_subscription_and_store_once(city: LocalCity, tmp_path: Path, pg_dsn: str) -> None:
    store = {"kind": "postgres", "dsn": pg_dsn}
    workers = [
        IngestProcess(city, tmp_path / f"ingest-{i}.yaml", client_id=f"ingest-{i}", shared_group="city", store=store)
        for i in (1, 2)
    ]
    device = Device(city, resend_after=3.0)
    try:
        ids = device.add(3000)
        device.uplink.start()
        # Stop one worker mid-drain: the other keeps going, resends are stored once.
        assert wait_for(lambda: stored(pg_dsn)[0] >= 500, 60)
        workers[0].kill()
        assert wait_for(lambda: len(device.spool) == 0, 120), device.spool.stats()
        rows, unique = stored(pg_dsn)
        assert rows == unique == len(ids) == 3000
    finally:
        device.close()
        counters = [w.stop() for w in workers]
    assert counters[1].get("stored", 0) > 0, counters


OLD_LAYOUT = """
CREATE TABLE reads (
    read_id BYTEA PRIMARY KEY, device_id TEXT NOT NULL, seq BIGINT NOT NULL, camera TEXT NOT NULL,
    plate TEXT NOT NULL, confidence REAL NOT NULL, first_seen_ms BIGINT NOT NULL, last_seen_ms BIGINT NOT NULL,
    frames INTEGER NOT NULL, direction TEXT NOT NULL, clock_synced BOOLEAN NOT NULL, box TEXT, crop_jpeg BYTEA,
    models TEXT, recipient_key_id BYTEA NOT NULL, signer_key_id BYTEA NOT NULL,
    received_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX reads_device_seq ON reads (device_id, seq);
CREATE INDEX reads_plate ON reads (plate);
CREATE TABLE device_status (device_id TEXT PRIMARY KEY, state TEXT NOT NULL, payload TEXT NOT NULL,
                            updated_at DOUBLE PRECISION NOT NULL);
"""


def test_a_database_of_the_old_plain_layout_moves_into_day_partitions(pg_dsn: str) -> None:
    """The ingest's table before the records service (keyed by read id alone): its rows move, the key grows."""
    from edge_agent.city.ingest.postgres import PostgresStore
    from tests.integration.test_store_rekey import stored as stored_read

    kept = stored_read("cam-1", b"\x01" * 16, "AAA111")
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(OLD_LAYOUT)
        conn.execute(
            "INSERT INTO reads VALUES (%s, 'cam-1', 1, 'north', 'AAA111', 0.9, %s, %s, 1, 'unknown', true, NULL, "
            "NULL, NULL, '\\x01', '\\x02', %s)",
            (kept.read.read_id, round(kept.read.first_seen * 1000), round(kept.read.last_seen * 1000),
             kept.received_at),
        )  # fmt: skip
        assert pkey_columns(conn) == ["read_id"]
    store = PostgresStore(pg_dsn)
    try:
        assert store.count() == 1  # the old row, moved
        assert store.add([stored_read("cam-2", b"\x01" * 16, "BBB222")]) == 1  # another device, the same read id
        assert store.add([kept]) == 0  # a resend of the old row is still a duplicate
        assert store.count() == 2
    finally:
        store.close()
    with psycopg.connect(pg_dsn) as conn:
        assert pkey_columns(conn) == ["device_id", "read_id", "captured_ms"]
        assert conn.execute("SELECT to_regclass('reads_legacy')").fetchone() == (None,)
        kind = conn.execute("SELECT relkind FROM pg_class WHERE oid = 'reads'::regclass").fetchone()
        assert kind == ("p",)  # partitioned


def pkey_columns(conn: object) -> list[str]:
    rows = conn.execute(  # type: ignore[attr-defined]
        "SELECT column_name FROM information_schema.key_column_usage "
        "WHERE table_name = 'reads' AND constraint_name = 'reads_pkey' ORDER BY ordinal_position"
    ).fetchall()
    return [r[0] for r in rows]
