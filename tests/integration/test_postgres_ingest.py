"""The scaled ingest: two workers on a shared subscription into one real PostgreSQL database.

Needs a PostgreSQL server (scripts/setup installs one); the test creates and drops its own database. Set
EDGE_AGENT_TEST_PG to a libpq DSN of a role that may create databases (default: postgres on 127.0.0.1).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_agent.local.localcity import IngestProcess, LocalCity
from tests.integration.conftest import wait_for
from tests.integration.test_store_forward import Device

psycopg = pytest.importorskip("psycopg")
ADMIN_DSN = os.environ.get("EDGE_AGENT_TEST_PG", "host=127.0.0.1 user=postgres dbname=postgres connect_timeout=3")


@pytest.fixture
def pg_dsn() -> Iterator[str]:
    """A fresh database of this test's own, dropped afterwards."""
    try:
        admin = psycopg.connect(ADMIN_DSN, autocommit=True)
    except psycopg.OperationalError as exc:
        pytest.skip(f"no PostgreSQL server at {ADMIN_DSN!r} ({str(exc).strip()}): run scripts/setup")
    name = f"edge_agent_test_{uuid.uuid4().hex[:10]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield ADMIN_DSN.replace("dbname=postgres", f"dbname={name}")
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


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


def test_a_table_keyed_by_read_id_alone_is_rekeyed(pg_dsn: str) -> None:
    from edge_agent.city.ingest.postgres import SCHEMA, PostgresStore
    from tests.integration.test_store_rekey import stored as stored_read

    old = SCHEMA.replace("read_id BYTEA NOT NULL,", "read_id BYTEA PRIMARY KEY,").replace(
        ",\n    PRIMARY KEY (device_id, read_id)", ""
    )
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(old)
        assert pkey_columns(conn) == ["read_id"]
    store = PostgresStore(pg_dsn)
    try:
        first = stored_read("cam-1", b"\x01" * 16, "AAA111")
        assert store.add([first]) == 1
        assert store.add([stored_read("cam-2", b"\x01" * 16, "BBB222")]) == 1
        assert store.add([first]) == 0
        assert store.count() == 2
    finally:
        store.close()
    with psycopg.connect(pg_dsn) as conn:
        assert pkey_columns(conn) == ["device_id", "read_id"]


def pkey_columns(conn: object) -> list[str]:
    rows = conn.execute(  # type: ignore[attr-defined]
        "SELECT column_name FROM information_schema.key_column_usage "
        "WHERE table_name = 'reads' AND constraint_name = 'reads_pkey' ORDER BY ordinal_position"
    ).fetchall()
    return [r[0] for r in rows]
