"""The ingest's SQLite store: reads keyed by (device, read id), and databases of the old layout re-keyed once."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from edge_agent.city.ingest.store import COLUMNS, SqliteStore, StoredRead
from edge_agent.protocol.crypto.envelope import EnvelopeHeader, Suite
from edge_agent.protocol.reads import PlateRead, new_read_id

OLD_SCHEMA = """
CREATE TABLE reads (
    read_id BLOB NOT NULL UNIQUE, device_id TEXT NOT NULL, seq INTEGER NOT NULL, camera TEXT NOT NULL,
    plate TEXT NOT NULL, confidence REAL NOT NULL, first_seen_ms INTEGER NOT NULL, last_seen_ms INTEGER NOT NULL,
    frames INTEGER NOT NULL, direction TEXT NOT NULL, clock_synced INTEGER NOT NULL, box TEXT, crop_jpeg BLOB,
    models TEXT, recipient_key_id BLOB NOT NULL, signer_key_id BLOB NOT NULL, received_at REAL NOT NULL
);
CREATE INDEX reads_device_seq ON reads (device_id, seq);
CREATE INDEX reads_plate ON reads (plate);
"""


def stored(device: str, read_id: bytes, plate: str, seq: int = 1) -> StoredRead:
    now = time.time()
    header = EnvelopeHeader(Suite.X25519_SHA256_CHACHA20POLY1305, b"r" * 8, b"s" * 8, read_id, seq, device)
    return StoredRead(header, PlateRead(read_id, device, "north", plate, 0.9, now, now), now)


def test_same_read_id_from_two_devices_is_two_reads(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "reads.db")
    rid = new_read_id()
    assert store.add([stored("cam-1", rid, "AAA111")]) == 1
    assert store.add([stored("cam-2", rid, "BBB222")]) == 1
    assert store.add([stored("cam-2", rid, "BBB222")]) == 0  # a resend of the same device's read
    assert store.count() == 2
    store.close()


def test_an_old_database_is_rekeyed_with_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "reads.db"
    conn = sqlite3.connect(path)
    conn.executescript(OLD_SCHEMA)
    old = [stored("cam-1", new_read_id(), f"OLD{i:03d}", i) for i in range(5)]
    insert = f"INSERT INTO reads ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
    conn.executemany(insert, [r.row() for r in old])
    conn.commit()
    conn.close()
    store = SqliteStore(path)
    assert store.count() == 5
    assert store.add([stored("cam-2", old[0].read.read_id, "NEW000")]) == 1
    store.close()
    conn = sqlite3.connect(path)
    try:
        plates = [r[0] for r in conn.execute("SELECT plate FROM reads ORDER BY rowid")]
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        table_sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'reads'").fetchone()[0]
    finally:
        conn.close()
    assert plates == [f"OLD{i:03d}" for i in range(5)] + ["NEW000"]
    assert {"reads_device_read", "reads_device_seq", "reads_plate"} <= indexes
    assert "UNIQUE" not in table_sql
    # Opening it again changes nothing.
    SqliteStore(path).close()


def test_a_reused_sequence_number_is_reported(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "reads.db")
    first = stored("cam-1", new_read_id(), "AAA111", seq=7)
    store.add([first])
    again = stored("cam-1", new_read_id(), "BBB222", seq=7)
    other_device = stored("cam-2", new_read_id(), "CCC333", seq=7)
    assert store.reused_seqs([first, again, other_device]) == [("cam-1", 7)]
    store.close()
