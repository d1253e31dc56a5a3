"""The records database's schema: plain versioned SQL files, applied in order, each once, in one transaction.

Why not Alembic: the service speaks SQL through psycopg and has no SQLAlchemy models for Alembic to compare, so
Alembic would add a second database layer to run a list of SQL files. ``schema_migrations`` records what has been
applied; ``migrate`` takes an advisory lock so two ingest workers starting at once apply a file once.

Partitions of ``reads`` are per UTC day of capture (``captured_ms``) and are made on demand
(``ensure_partitions``): by the ingest before it stores a batch, and ahead of time by the purge.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from importlib import resources
from typing import Any

from edge_agent.compat import UTC

logger = logging.getLogger(__name__)

DAY_MS = 86_400_000
# The day partitions live in a schema of their own: the service role may create tables there and nowhere else.
PARTITION_SCHEMA = "reads_days"
MIGRATION_LOCK = 4545  # the advisory lock the ingest's store took for its schema before the records service
PARTITION_LOCK = 4546
_FILE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
_PARTITION = re.compile(r"^reads_(\d{8})$")
_ROLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

# A database made by the ingest before the records service: its plain `reads` table is kept aside, the schema is
# made, and its rows are moved into the day partitions.
_LEGACY_ASIDE = """
ALTER TABLE reads RENAME TO reads_legacy;
ALTER TABLE reads_legacy RENAME CONSTRAINT reads_pkey TO reads_legacy_pkey;
DROP INDEX IF EXISTS reads_plate;
DROP INDEX IF EXISTS reads_device_seq;
"""


def migrations() -> list[tuple[int, str, str]]:
    """(version, file name, SQL) of every shipped migration, in order."""
    out = []
    for entry in resources.files("edge_agent.city.records").joinpath("migrations").iterdir():
        m = _FILE.match(entry.name)
        if m:
            out.append((int(m.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    return sorted(out)


def captured_ms(first_seen_ms: int, received_ms: int, clock_synced: bool) -> int:
    """The time a read is kept by: its first sighting if the device's clock was synchronised (never later than
    the city received it), else its arrival."""
    return min(first_seen_ms, received_ms) if clock_synced else received_ms


def day_start(ms: int) -> int:
    """Start of the UTC day holding `ms`, in ms."""
    return ms - ms % DAY_MS


def partition_name(day_ms: int) -> str:
    """``reads_YYYYMMDD`` for the UTC day starting at `day_ms`."""
    return "reads_" + datetime.fromtimestamp(day_ms / 1000, UTC).strftime("%Y%m%d")


def partition_day(name: str) -> int | None:
    """The day start (ms) of a partition's name, or None for a table that is not a day partition."""
    m = _PARTITION.match(name)
    if not m:
        return None
    return int(datetime.strptime(m.group(1), "%Y%m%d").replace(tzinfo=UTC).timestamp() * 1000)


def migrate(conn: Any, app_role: str | None = None) -> list[str]:
    """Apply the migrations `conn`'s database lacks (one transaction); return the names applied.

    ``app_role`` (a role that must exist) is given what the records service and the ingest need and no more: it
    owns the reads, their partitions and held_reads (it creates, drops and rewrites them), may read and write the
    working tables, and may only SELECT and INSERT the audit log.
    """
    applied: list[str] = []
    if app_role is None and not pending(conn):
        return applied  # the common case, and the only one a role without CREATE rights may run
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        cur.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
            "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        cur.execute("SELECT version FROM schema_migrations")
        done = {int(v) for (v,) in cur.fetchall()}
        legacy = False
        if 1 not in done:
            cur.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass('reads')")
            row = cur.fetchone()
            legacy = row is not None and row[0] == "r"
            if legacy:
                cur.execute(_LEGACY_ASIDE)
        for version, name, sql in migrations():
            if version in done:
                continue
            cur.execute(sql)
            cur.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (version, name))
            applied.append(name)
            logger.info("records schema: applied %s", name)
        if legacy:
            _move_legacy(cur)
        if app_role is not None:
            grant(cur, app_role)
    return applied


def pending(conn: Any) -> list[int]:
    """Versions of the shipped migrations the database has not applied."""
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("SELECT to_regclass('schema_migrations') IS NOT NULL")
        done: set[int] = set()
        if cur.fetchone()[0]:
            cur.execute("SELECT version FROM schema_migrations")
            done = {int(v) for (v,) in cur.fetchall()}
    return [v for v, _, _ in migrations() if v not in done]


def _move_legacy(cur: Any) -> None:
    cur.execute(
        "SELECT DISTINCT (CASE WHEN clock_synced THEN LEAST(first_seen_ms, (received_at * 1000)::bigint) "
        "ELSE (received_at * 1000)::bigint END) / %s * %s FROM reads_legacy",
        (DAY_MS, DAY_MS),
    )
    for (day,) in cur.fetchall():
        _create_partition(cur, int(day))
    cur.execute(
        "INSERT INTO reads SELECT *, CASE WHEN clock_synced THEN LEAST(first_seen_ms, (received_at * 1000)::bigint) "
        "ELSE (received_at * 1000)::bigint END FROM reads_legacy ON CONFLICT DO NOTHING"
    )
    logger.info("records schema: moved %d reads of the ingest's plain table into day partitions", cur.rowcount)
    cur.execute("DROP TABLE reads_legacy")


def grant(cur: Any, role: str) -> None:
    """Give `role` the service's rights (see ``migrate``)."""
    if not _ROLE.match(role):
        raise ValueError(f"not a plain role name: {role!r}")
    cur.execute(f"ALTER TABLE reads OWNER TO {role}")
    # held_reads too: the purge rewrites it (VACUUM FULL) after deleting released reads, which only an owner may.
    cur.execute(f"ALTER TABLE held_reads OWNER TO {role}")
    cur.execute(f"GRANT USAGE, CREATE ON SCHEMA {PARTITION_SCHEMA} TO {role}")
    cur.execute("SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = 'reads'::regclass")
    for (name,) in cur.fetchall():
        cur.execute(f"ALTER TABLE {name} OWNER TO {role}")
    tables = (
        "holds, hold_items, users, sessions, reviews, cameras, device_status, ingest_counters, hotlist_entries, "
        "alerts, agencies"
    )
    cur.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {tables} TO {role}")
    sequences = "holds_id_seq, users_id_seq, hotlist_entries_id_seq, alerts_id_seq, agencies_id_seq"
    cur.execute(f"GRANT USAGE ON SEQUENCE {sequences} TO {role}")
    cur.execute(f"REVOKE ALL ON audit_log FROM {role}")
    cur.execute(f"GRANT SELECT, INSERT ON audit_log TO {role}")
    cur.execute(f"GRANT SELECT ON schema_migrations TO {role}")


def _create_partition(cur: Any, day_ms: int) -> None:
    name = partition_name(day_ms)
    cur.execute(
        f'CREATE TABLE IF NOT EXISTS {PARTITION_SCHEMA}."{name}" PARTITION OF reads '
        f"FOR VALUES FROM ({int(day_ms)}) TO ({int(day_ms) + DAY_MS})"
    )


def ensure_partitions(conn: Any, days: set[int], known: set[int]) -> None:
    """Make the day partitions of `days` (day starts, ms) that `known` does not list yet; add them to `known`.

    Its own short transaction, under a lock, before the batch that needs them: two workers never race to make the
    same partition, and no batch holds its rows while the parent table is locked for a new partition.
    """
    missing = sorted(days - known)
    if not missing:
        return
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (PARTITION_LOCK,))
        for day in missing:
            _create_partition(cur, day)
    known.update(missing)


def partitions(conn: Any) -> list[tuple[str, int]]:
    """(schema-qualified name, day start ms) of every day partition of reads, oldest first."""
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'reads'::regclass AND c.relnamespace = %s::regnamespace",
            (PARTITION_SCHEMA,),
        )
        out = []
        for (name,) in cur.fetchall():
            day = partition_day(name)
            if day is not None:
                out.append((f'{PARTITION_SCHEMA}."{name}"', day))
    return sorted(out, key=lambda t: t[1])
