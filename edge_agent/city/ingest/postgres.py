"""PostgreSQL store for cities that run several ingest workers on a shared subscription: the records service's
database (edge_agent.city.records), whose schema it applies if it is missing.

Idempotence comes from the primary key on (device_id, read_id, captured_ms) and `ON CONFLICT DO NOTHING`, so two
workers that receive the same resent read (at-least-once delivery) store it once between them (store.py says why
the device is part of the key; a resent read carries the same capture time, so it meets its first copy in the same
day partition).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from edge_agent.city.ingest.rows import COLUMNS, StoredRead, counter_rows, require_psycopg
from edge_agent.city.records import hotlist
from edge_agent.city.records.schema import captured_ms, day_start, ensure_partitions, migrate
from edge_agent.compat import UTC
from edge_agent.errors import IngestError

logger = logging.getLogger(__name__)
# Where a stored row (COLUMNS, then captured_ms) holds what the camera table and the hotlist need.
_DEVICE, _CAMERA, _RECEIVED, _PLATE, _READ_ID = (
    COLUMNS.index(c) for c in ("device_id", "camera", "received_at", "plate", "read_id")
)


class PostgresStore:
    """Reads in PostgreSQL; one connection per worker, one transaction per batch."""

    def __init__(self, dsn: str) -> None:
        psycopg = require_psycopg()
        self._errors: type[Exception] = psycopg.Error
        self._no_partition: type[Exception] = psycopg.errors.CheckViolation
        self._conn: Any = None
        try:
            self._conn = psycopg.connect(dsn, autocommit=False)
            migrate(self._conn)
        except psycopg.Error as exc:
            if self._conn is not None:
                self._conn.close()
            raise IngestError(f"cannot use PostgreSQL ({_first_line(exc)}): check ingest.store.dsn") from None
        self._lock = threading.Lock()
        self._days: set[int] = set()
        self._cameras: set[tuple[str, str]] = set()
        self._hotlist = hotlist.HotlistCache()
        columns = (*COLUMNS, "captured_ms")
        placeholders = ", ".join("%s" for _ in columns)
        insert = f"INSERT INTO reads ({', '.join(columns)}) VALUES ({placeholders})"  # noqa: S608 - fixed column names
        self._insert = insert + " ON CONFLICT (device_id, read_id, captured_ms) DO NOTHING"

    @staticmethod
    def _row(item: StoredRead) -> tuple[Any, ...]:
        r = item.read
        at = captured_ms(round(r.first_seen * 1000), round(item.received_at * 1000), r.clock_synced)
        return (*item.row(), at)

    def add(self, items: Sequence[StoredRead]) -> int:
        """Insert new reads in one transaction; a device's known read ids are skipped."""
        if not items:
            return 0
        rows = [self._row(item) for item in items]
        days = {day_start(row[-1]) for row in rows}
        with self._lock:
            try:
                try:
                    return self._add(rows, days)
                except self._no_partition:
                    # The purge dropped a day this worker had made; a late read of that day makes it again.
                    self._days.clear()
                    return self._add(rows, days)
            except self._errors as exc:
                raise IngestError(f"storing reads in PostgreSQL failed ({_first_line(exc)})") from None

    def _add(self, rows: list[tuple[Any, ...]], days: set[int]) -> int:
        ensure_partitions(self._conn, days, self._days)
        new_cameras = {(row[_DEVICE], row[_CAMERA]): row[_RECEIVED] for row in rows}
        for known in self._cameras & new_cameras.keys():
            del new_cameras[known]
        with self._conn.transaction(), self._conn.cursor() as cur:
            inserted = 0
            fresh = []
            for row in rows:
                cur.execute(self._insert, row)
                if cur.rowcount:
                    inserted += 1
                    fresh.append((row[_DEVICE], row[_READ_ID], row[-1], row[_PLATE]))
            # Hotlist hits become pending alerts in the same transaction as their reads: none is lost, none doubled.
            matcher = self._hotlist.current(cur)
            if matcher.size and fresh:
                alerts = hotlist.alert_rows(matcher, fresh, datetime.now(UTC))
                if alerts:
                    cur.executemany(hotlist.INSERT_ALERTS, alerts)
                    logger.info("hotlist: %d pending alert(s) for a person to verify", len(alerts))
            if new_cameras:
                cur.executemany(
                    "INSERT INTO cameras (device_id, camera, first_seen_at) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                    [(d, c, t) for (d, c), t in new_cameras.items()],
                )
        self._cameras.update(new_cameras)
        return inserted

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
