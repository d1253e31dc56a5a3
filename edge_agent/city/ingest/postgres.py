"""PostgreSQL store for cities that run several ingest workers on a shared subscription.

Idempotence comes from the primary key on (device_id, read_id) and `ON CONFLICT DO NOTHING`, so two workers that
receive the same resent read (at-least-once delivery) store it once between them (store.py says why the device is
part of the key).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from edge_agent.city.ingest.rows import COLUMNS, StoredRead, counter_rows, require_psycopg
from edge_agent.errors import IngestError

logger = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS reads (
    read_id BYTEA NOT NULL,
    device_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    camera TEXT NOT NULL,
    plate TEXT NOT NULL,
    confidence REAL NOT NULL,
    first_seen_ms BIGINT NOT NULL,
    last_seen_ms BIGINT NOT NULL,
    frames INTEGER NOT NULL,
    direction TEXT NOT NULL,
    clock_synced BOOLEAN NOT NULL,
    box TEXT,
    crop_jpeg BYTEA,
    models TEXT,
    recipient_key_id BYTEA NOT NULL,
    signer_key_id BYTEA NOT NULL,
    received_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (device_id, read_id)
);
CREATE INDEX IF NOT EXISTS reads_device_seq ON reads (device_id, seq);
CREATE INDEX IF NOT EXISTS reads_plate ON reads (plate);
CREATE TABLE IF NOT EXISTS device_status (
    device_id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    payload TEXT NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS ingest_counters (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
"""


# A table made when the key was the read id alone gets the (device_id, read_id) key, once.
REKEY = """
DO $$
BEGIN
    IF (SELECT count(*) FROM information_schema.key_column_usage
        WHERE table_schema = current_schema() AND table_name = 'reads' AND constraint_name = 'reads_pkey') = 1 THEN
        ALTER TABLE reads DROP CONSTRAINT reads_pkey, ADD PRIMARY KEY (device_id, read_id);
    END IF;
END $$;
"""


class PostgresStore:
    """Reads in PostgreSQL; one connection per worker, one transaction per batch."""

    def __init__(self, dsn: str) -> None:
        psycopg = require_psycopg()
        self._errors: type[Exception] = psycopg.Error
        try:
            self._conn: Any = psycopg.connect(dsn, autocommit=False)
            with self._conn.transaction(), self._conn.cursor() as cur:
                # Serialise schema creation between workers starting at once.
                cur.execute("SELECT pg_advisory_xact_lock(4545)")
                cur.execute(SCHEMA)
                cur.execute(REKEY)
        except psycopg.Error as exc:
            raise IngestError(f"cannot use PostgreSQL ({_first_line(exc)}): check ingest.store.dsn") from None
        self._lock = threading.Lock()
        placeholders = ", ".join("%s" for _ in COLUMNS)
        insert = f"INSERT INTO reads ({', '.join(COLUMNS)}) VALUES ({placeholders})"  # noqa: S608 - fixed column names
        self._insert = insert + " ON CONFLICT (device_id, read_id) DO NOTHING"

    def add(self, items: Sequence[StoredRead]) -> int:
        """Insert new reads in one transaction; a device's known read ids are skipped."""
        if not items:
            return 0
        with self._lock:
            try:
                with self._conn.transaction(), self._conn.cursor() as cur:
                    inserted = 0
                    for item in items:
                        cur.execute(self._insert, item.row())
                        inserted += cur.rowcount
                    return inserted
            except self._errors as exc:
                raise IngestError(f"storing reads in PostgreSQL failed ({_first_line(exc)})") from None

    def reused_seqs(self, items: Sequence[StoredRead]) -> list[tuple[str, int]]:
        """(device, sequence number) of the items whose number another read of that device already holds."""
        out = []
        with self._lock, self._conn.transaction(), self._conn.cursor() as cur:
            for item in items:
                r = item.read
                cur.execute(
                    "SELECT 1 FROM reads WHERE device_id = %s AND seq = %s AND read_id <> %s LIMIT 1",
                    (r.device_id, item.header.seq, r.read_id),
                )
                if cur.fetchone() is not None:
                    out.append((r.device_id, item.header.seq))
        return out

    def record_status(self, device_id: str, state: str, payload: str, at: float) -> None:
        """Upsert the latest status of a device."""
        with self._lock:
            try:
                with self._conn.transaction(), self._conn.cursor() as cur:
                    cur.execute(
                        "INSERT INTO device_status (device_id, state, payload, updated_at) VALUES (%s, %s, %s, %s) "
                        "ON CONFLICT (device_id) DO UPDATE SET state = excluded.state, payload = excluded.payload, "
                        "updated_at = excluded.updated_at",
                        (device_id, state, payload, at),
                    )
            except self._errors as exc:
                logger.warning("could not record the status of %s: %s", device_id, _first_line(exc))

    def add_counters(self, deltas: Mapping[str, int]) -> None:
        """Add to the totals every worker shares (one transaction)."""
        rows = counter_rows(deltas)
        if not rows:
            return
        with self._lock:
            try:
                with self._conn.transaction(), self._conn.cursor() as cur:
                    cur.executemany(
                        "INSERT INTO ingest_counters (name, value) VALUES (%s, %s) "
                        "ON CONFLICT (name) DO UPDATE SET value = ingest_counters.value + excluded.value",
                        rows,
                    )
            except self._errors as exc:
                raise IngestError(f"storing the ingest's counters failed ({_first_line(exc)})") from None

    def counters(self) -> dict[str, int]:
        """The running totals of every worker."""
        with self._lock, self._conn.transaction(), self._conn.cursor() as cur:
            cur.execute("SELECT name, value FROM ingest_counters")
            return {str(k): int(v) for k, v in cur.fetchall()}

    def count(self) -> int:
        """Number of stored reads."""
        with self._lock, self._conn.transaction(), self._conn.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM reads")
            return int(cur.fetchone()[0])

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
