"""Retention on an injected clock: a day's reads go whole after 30 days, held ones stay until released, every
purge is audited, and purged plate text is gone from the database's files."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from edge_agent.city.records import schema
from edge_agent.city.records.accounts import Principal
from edge_agent.city.records.service import SearchRequest
from tests.records.conftest import City, audit_actions, ingest, ref, stored_read

SUPERVISOR = Principal(3, "sam", "supervisor", "-")
INVESTIGATOR = Principal(1, "ivy", "investigator", "-")


def _search(city: City, plate: str) -> list[tuple[str, bool]]:
    req = SearchRequest("2026-000123", "stolen vehicle", "retention check", plate,
                        start=city.clock.now - timedelta(days=400))  # fmt: skip
    _, hits = city.service.search(INVESTIGATOR, req)
    return [(h.plate, h.held) for h in hits]


def test_day_31_goes_except_what_a_hold_keeps(city: City) -> None:
    now = city.clock.now
    old_free = stored_read("OLD1111", now - timedelta(days=31))
    old_held = stored_read("OLD2222", now - timedelta(days=31, hours=2))
    recent = stored_read("NEW3333", now - timedelta(days=29, hours=12))
    today = stored_read("NEW4444", now - timedelta(hours=1))
    ingest(city.db, [old_free, old_held, recent, today])
    hold = city.service.hold(SUPERVISOR, "2026-000777", "evidence in case 777", [ref(old_held)])

    report = city.service.purge()
    assert report.reads_dropped == 1 and report.kept_on_hold == 1 and len(report.partitions) == 1
    assert _search(city, "OLD1111") == []
    assert _search(city, "OLD2222") == [("OLD2222", True)]
    assert _search(city, "NEW3333") == [("NEW3333", False)]
    assert _search(city, "NEW4444") == [("NEW4444", False)]
    [purge] = [d for _, action, d in audit_actions(city.db) if action == "purge"]
    assert purge["reads_dropped"] == 1 and purge["kept_on_hold"] == 1

    # A second purge the same day finds nothing more; the held read stays while its hold is active.
    city.clock.advance(hours=1)
    assert city.service.purge().reads_dropped == 0
    assert _search(city, "OLD2222") == [("OLD2222", True)]

    city.service.release(SUPERVISOR, hold, "case closed")
    city.clock.advance(hours=1)
    report = city.service.purge()
    assert report.released_deleted == 1
    assert _search(city, "OLD2222") == []
    # Day 29.5 survives until its own day is wholly past retention.
    city.clock.advance(days=1)
    city.service.purge()
    assert _search(city, "NEW3333") == []
    assert _search(city, "NEW4444") == [("NEW4444", False)]
    assert [a for a, action, _ in audit_actions(city.db) if action == "purge"] == ["system"] * 4


def test_late_reads_of_a_purged_day_are_stored_and_purged_again(city: City) -> None:
    now = city.clock.now
    ingest(city.db, [stored_read("OLD1111", now - timedelta(days=31))])
    city.service.purge()
    # A device that was offline for a month delivers a read of that day: the day is made again, then purged.
    ingest(city.db, [stored_read("LATE555", now - timedelta(days=31))])
    assert city.service.purge().reads_dropped == 1
    assert _search(city, "LATE555") == []


def _files(datadir: Path, db: str) -> list[Path]:
    with psycopg.connect(db) as conn:
        oid = conn.execute("SELECT oid FROM pg_database WHERE datname = current_database()").fetchone()[0]
    return [p for p in (datadir / "base" / str(oid)).iterdir() if p.is_file()]


def test_purged_plate_text_leaves_the_database_files(city: City) -> None:
    with psycopg.connect(city.db.admin_dsn) as conn:
        datadir = Path(conn.execute("SHOW data_directory").fetchone()[0])
    if not os.access(datadir / "base", os.R_OK):
        pytest.skip(f"cannot read PostgreSQL's data directory {datadir} as this user (the check needs root)")
    now = city.clock.now
    gone, held = stored_read("PRG7777", now - timedelta(days=31)), stored_read("HLD8888", now - timedelta(days=31))
    ingest(city.db, [gone, held])
    hold = city.service.hold(SUPERVISOR, "2026-000888", "evidence", [ref(held)])
    with psycopg.connect(city.db.admin_dsn) as conn:
        conn.execute("CHECKPOINT")  # the rows reach the table files
        day = schema.partition_name(schema.day_start(round((now - timedelta(days=31)).timestamp() * 1000)))
        path = datadir / conn.execute(f"SELECT pg_relation_filepath('{schema.PARTITION_SCHEMA}.{day}')").fetchone()[0]
    assert path.is_file() and b"PRG7777" in path.read_bytes()

    city.service.purge()
    with psycopg.connect(city.db.admin_dsn) as conn:
        conn.execute("CHECKPOINT")  # dropped relations' files are unlinked by the checkpoint at the latest
    assert not path.exists()
    assert not [p for p in _files(datadir, city.db.admin_dsn) if b"PRG7777" in p.read_bytes()]
    assert [p for p in _files(datadir, city.db.admin_dsn) if b"HLD8888" in p.read_bytes()]  # kept in held_reads

    city.service.release(SUPERVISOR, hold, "case closed")
    assert city.service.purge().released_deleted == 1  # deletes it from held_reads and rewrites the table
    with psycopg.connect(city.db.admin_dsn) as conn:
        conn.execute("CHECKPOINT")
    assert not [p for p in _files(datadir, city.db.admin_dsn) if b"HLD8888" in p.read_bytes()]
