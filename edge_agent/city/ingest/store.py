"""Where the city keeps decrypted reads: SQLite (embedded default) or PostgreSQL (several ingest workers).

Storing is idempotent by (device id, read id): at-least-once delivery (resends after a lost receipt, a broker
restart, a device restart) never stores a read twice. The device is part of the key because a read id is only the
device's to give: keyed by the read id alone, a device that submitted another device's read id first made that
device's real read a "duplicate", receipted and deleted from its spool without ever being stored. `add()` returns
only after the transaction is durable, because a receipt, which makes the device delete its copy, is sent only after
it.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from edge_agent.city.ingest.rows import COLUMNS, Store, StoredRead, counter_rows, require_psycopg
from edge_agent.config import StoreConfig
from edge_agent.errors import IngestError

logger = logging.getLogger(__name__)

# The shared row types are re-exported: callers choose a store here and never need to know which module holds them.
__all__ = ["COLUMNS", "SqliteStore", "Store", "StoredRead", "counter_rows", "open_store", "require_psycopg"]

# A rowid table: rows are appended in arrival order and only the small read_id index takes random inserts. Keyed
# by the random read id itself (WITHOUT ROWID), every insert rewrote a random page of whole rows: at 100,000 reads a
# commit of 256 took ~1.5x as long, and the ingest waits for each commit before its receipts.
_SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS reads (
    read_id BLOB NOT NULL,
    device_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    camera TEXT NOT NULL,
    plate TEXT NOT NULL,
    confidence REAL NOT NULL,
    first_seen_ms INTEGER NOT NULL,
    last_seen_ms INTEGER NOT NULL,
    frames INTEGER NOT NULL,
    direction TEXT NOT NULL,
    clock_synced INTEGER NOT NULL,
    box TEXT,
    crop_jpeg BLOB,
    models TEXT,
    recipient_key_id BLOB NOT NULL,
    signer_key_id BLOB NOT NULL,
    received_at REAL NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS reads_device_read ON reads (device_id, read_id);
CREATE INDEX IF NOT EXISTS reads_device_seq ON reads (device_id, seq);
CREATE INDEX IF NOT EXISTS reads_plate ON reads (plate);
CREATE TABLE IF NOT EXISTS device_status (
    device_id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    payload TEXT NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS ingest_counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
"""
# Databases made before the key included the device: the table is rebuilt once, rows kept in order.
_SQLITE_REKEY = """
ALTER TABLE reads RENAME TO reads_by_read_id;
{create}
INSERT INTO reads SELECT * FROM reads_by_read_id ORDER BY rowid;
DROP TABLE reads_by_read_id;
"""


class SqliteStore:
    """The embedded store: one SQLite file in WAL mode with synchronous=FULL."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._rekey()
            self._db.executescript(_SQLITE_SCHEMA)
        except sqlite3.Error as exc:
            raise IngestError(f"cannot open the reads database {path}: {exc}") from None
        self._lock = threading.Lock()
        placeholders = ", ".join("?" for _ in COLUMNS)
        self._insert = f"INSERT OR IGNORE INTO reads ({', '.join(COLUMNS)}) VALUES ({placeholders})"  # noqa: S608 - fixed column names

    def _rekey(self) -> None:
        """Rebuild a reads table of the old layout (unique on read_id alone) under the (device, read id) key."""
        row = self._db.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'reads'").fetchone()
        if row is None or "read_id BLOB NOT NULL UNIQUE" not in row[0]:
            return
        create = _SQLITE_SCHEMA.split(";", 1)[0] + ";"
        logger.info("re-keying %s by device and read id (once)", self.path)
        self._db.executescript("BEGIN IMMEDIATE;" + _SQLITE_REKEY.format(create=create) + "COMMIT;")

    def add(self, items: Sequence[StoredRead]) -> int:
        """Insert new reads, ignore a device's known read ids, commit durably."""
        if not items:
            return 0
        with self._lock:
            before = self._db.total_changes
            try:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.executemany(self._insert, [i.row() for i in items])
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._db.in_transaction:  # SQLite may already have rolled back (full disk, I/O error)
                    self._db.execute("ROLLBACK")
                raise IngestError(f"storing reads failed ({exc}): is the disk full?") from None
            return self._db.total_changes - before

    def reused_seqs(self, items: Sequence[StoredRead]) -> list[tuple[str, int]]:
        """See Store.reused_seqs (one indexed lookup per read)."""
        out = []
        with self._lock:
            for item in items:
                r = item.read
                row = self._db.execute(
                    "SELECT 1 FROM reads WHERE device_id = ? AND seq = ? AND read_id != ? LIMIT 1",
                    (r.device_id, item.header.seq, r.read_id),
                ).fetchone()
                if row is not None:
                    out.append((r.device_id, item.header.seq))
        return out

    def record_status(self, device_id: str, state: str, payload: str, at: float) -> None:
        """Upsert the latest status of a device."""
        with self._lock:
            try:
                self._db.execute(
                    "INSERT INTO device_status (device_id, state, payload, updated_at) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT(device_id) DO UPDATE SET state = excluded.state, payload = excluded.payload, "
                    "updated_at = excluded.updated_at",
                    (device_id, state, payload, at),
                )
            except sqlite3.Error as exc:
                raise IngestError(f"storing a device status failed ({exc}): is the disk full?") from None

    def add_counters(self, deltas: Mapping[str, int]) -> None:
        """See Store.add_counters (one transaction)."""
        rows = counter_rows(deltas)
        if not rows:
            return
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.executemany(
                    "INSERT INTO ingest_counters (name, value) VALUES (?, ?) "
                    "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
                    rows,
                )
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise IngestError(f"storing the ingest's counters failed ({exc})") from None

    def counters(self) -> dict[str, int]:
        """See Store.counters."""
        with self._lock:
            return {str(k): int(v) for k, v in self._db.execute("SELECT name, value FROM ingest_counters")}

    def count(self) -> int:
        """Number of stored reads."""
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM reads").fetchone()[0])

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()


def open_store(cfg: StoreConfig) -> Store:
    """The store the config asks for."""
    if cfg.kind == "postgres":
        from edge_agent.city.ingest.postgres import PostgresStore

        dsn = cfg.dsn
        if cfg.dsn_file is not None:
            dsn = cfg.dsn_file.read_text().strip()
        if not dsn:
            raise IngestError("ingest.store.kind is postgres but no DSN is configured")
        return PostgresStore(dsn)
    return SqliteStore(cfg.path)
