"""The durable on-device queue of sealed envelopes (SQLite, WAL).

A read is committed when `put()` returns: its envelope is in the WAL and fsynced (`synchronous=FULL` for puts).
From then on only three things remove it: a verified receipt (or a successful PUBACK in `ack: puback` mode),
the retention purge (`retention.max_age`), and the size bound (`spool.max_bytes` with `when_full: drop_oldest`).
The last two are counted and reported. State changes after the put (sent, deleted) commit with
`synchronous=NORMAL`: losing one in a power cut only means a resend, which the ingest absorbs by read id.

The database holds envelopes only: ciphertext the device cannot open, plus read ids, sequence numbers and times.
`secure_delete` overwrites deleted envelopes so that acknowledged reads do not linger in free pages.

A full disk. In WAL mode even a DELETE needs room (its pages go to the WAL first), so a disk filled by something
else would stop receipts from deleting reads, and the spool could never drain. Beside the spool lies a reserve
file (`RESERVE_BYTES`, allocated at open): when a delete or a bookkeeping write fails for want of room, the
reserve is released and the write tried again, so acknowledged reads still leave. While the reserve is gone the
spool reports `disk_full` (the status message carries it); once writes succeed and the disk has room again, the
WAL is checkpointed and the reserve allocated again.
"""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

from edge_agent.errors import SpoolError, SpoolFullError

logger = logging.getLogger(__name__)
T = TypeVar("T")

APPLICATION_ID = 0x45414731  # "EAG1": marks the file as an edge-agent spool
SCHEMA_VERSION = 1
PENDING, SENT = 0, 1
SQLITE_MAGIC = b"SQLite format 3\x00"
COUNTERS = ("committed", "deleted", "purged", "dropped_full", "rejected_full", "resent")
# Room kept free beside the spool for deletes and a checkpoint when the disk fills up (see the module doc).
RESERVE_BYTES = 4 * 2**20
# The WAL is checkpointed every WAL_PAGES pages and cut back to WAL_LIMIT bytes, so that the reads live in the
# database file and a checkpoint on a full disk needs no room that is not there; on a full disk deletes go in
# chunks of DELETE_CHUNK, each checkpointed, so that one receipt's deletes never outgrow the reserve.
WAL_PAGES = 256
WAL_LIMIT = 2**20
DELETE_CHUNK = 32
SQLITE_FULL = 13  # the result code (sqlite3 names it from Python 3.11 on)


class _CannotOpenError(SpoolError):
    """The spool file is sound but could not be read or set up (permissions, a full disk)."""


def _is_disk_full(exc: BaseException) -> bool:
    """SQLite's SQLITE_FULL ("database or disk is full") or an ENOSPC from the file system."""
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        return code == SQLITE_FULL or "full" in str(exc).lower()
    return isinstance(exc, OSError) and exc.errno == errno.ENOSPC


_SCHEMA = """
CREATE TABLE IF NOT EXISTS envelopes (
    seq INTEGER PRIMARY KEY,
    read_id BLOB NOT NULL UNIQUE,
    created_at REAL NOT NULL,
    state INTEGER NOT NULL DEFAULT 0,
    sent_at REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    size INTEGER NOT NULL,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS envelopes_created ON envelopes (created_at);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True)
class Envelope:
    """One stored envelope as the uplink sees it."""

    seq: int
    read_id: bytes
    body: bytes
    created_at: float
    attempts: int


class _Ticket:
    """A put() waiting for the group commit that includes it."""

    __slots__ = ("done", "error")

    def __init__(self) -> None:
        self.done = False
        self.error: BaseException | None = None


@dataclass(frozen=True)
class SpoolStats:
    """What the status message reports about the spool."""

    depth: int
    pending: int
    sent: int
    bytes: int
    oldest_age_s: float | None
    counters: dict[str, int]


# Unix time (s) before which a clock is not trusted to number a new spool: a board without a real-time clock
# starts in 1970 until NTP answers.
PLAUSIBLE_CLOCK = 1_735_689_600  # 2025-01-01


def first_seq(now: float) -> int:
    """The first sequence number of a new spool: the time in milliseconds x 1024, or 1 without a plausible clock.

    A spool wiped, reinstalled or moved aside as corrupt used to start again at 1, and the city saw numbers it
    already had from this device (protocol section 4). Starting from the clock keeps them increasing across spool
    lives, unless one spool numbered more than 1,024 reads a millisecond of its life.
    """
    return int(now * 1000) * 1024 if now >= PLAUSIBLE_CLOCK else 1


def _move_aside(path: Path, reason: str) -> Path:
    """Rename a bad spool (and its WAL/SHM) out of the way; it is kept for inspection, never deleted."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    target = path.with_name(f"{path.name}.{reason}-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        src = Path(str(path) + suffix)
        if src.exists():
            os.replace(src, Path(str(target) + suffix))
    return target


class Spool:
    """Durable FIFO of sealed envelopes with group commit, retention purge and a size bound."""

    def __init__(
        self,
        path: Path,
        max_bytes: int = 512 * 2**20,
        when_full: Literal["drop_oldest", "reject_new"] = "drop_oldest",
        commit_interval: float = 0.0,
    ) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.when_full = when_full
        self.commit_interval = commit_interval
        self._lock = threading.RLock()
        # Group commit: callers of put() queue here; one of them (the leader) commits the whole batch.
        self._batch_cond = threading.Condition(threading.Lock())
        self._batch: list[tuple[bytes, bytes, int, _Ticket]] = []
        self._committing = False
        self._listeners: list[threading.Event] = []
        self.reserve_path = Path(str(self.path) + ".reserve")
        try:
            self._db = self._open()
        except _CannotOpenError:
            # Opening writes too (WAL recovery, the set-up pragmas): on a full disk the reserve makes the room.
            if not self.reserve_path.exists():
                raise
            self.reserve_path.unlink()
            logger.warning("spool: the disk is full at start: released the spool's reserve to open it")
            self._db = self._open()
        self._bytes, self._count = self._db.execute("SELECT COALESCE(SUM(size), 0), COUNT(*) FROM envelopes").fetchone()
        self._next_seq = self._load_next_seq()
        self.disk_full = not self._allocate_reserve()
        if self.disk_full:
            logger.warning(
                "spool: no room for its %d-byte reserve beside %s: the disk is full", RESERVE_BYTES, self.path
            )

    # --- opening ---------------------------------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SpoolError(f"cannot create the spool directory {self.path.parent}: {exc.strerror}") from None
        fresh = not self.path.exists() or self.path.stat().st_size == 0
        if not fresh:
            with open(self.path, "rb") as fh:
                if fh.read(16) != SQLITE_MAGIC:
                    raise SpoolError(
                        f"{self.path} is not a SQLite database, so not a spool: it was left untouched; "
                        "point spool.path at another file"
                    )
        db = self._connect()
        try:
            app_id = db.execute("PRAGMA application_id").fetchone()[0]
            tables = db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            if app_id not in (0, APPLICATION_ID) or (app_id == 0 and tables > 0):
                db.close()
                raise SpoolError(
                    f"{self.path} is a database of another program (application_id {app_id:#x}), not an "
                    "edge-agent spool: it was left untouched; point spool.path at another file"
                )
            check = db.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                lines = [ln.strip() for ln in str(check).splitlines() if ln.strip() and "***" not in ln]
                raise sqlite3.DatabaseError(lines[0] if lines else "integrity check failed")
        except sqlite3.OperationalError as exc:
            db.close()
            raise _CannotOpenError(
                f"cannot read spool {self.path}: {exc}: check the disk and file permissions"
            ) from None
        except sqlite3.DatabaseError as exc:
            db.close()
            moved = _move_aside(self.path, "corrupt")
            raise SpoolError(
                f"spool {self.path} is corrupt ({exc}): moved to {moved.name} for recovery; "
                "start again to begin a new spool"
            ) from None
        try:
            self._set_up(db)
        except sqlite3.Error as exc:
            db.close()
            raise _CannotOpenError(
                f"cannot set up spool {self.path}: {exc}: is the disk full (df -h {self.path.parent}) or the "
                "file read-only?"
            ) from None
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version != SCHEMA_VERSION:
            db.close()
            raise SpoolError(f"spool {self.path} has schema version {version}; this edge-agent reads {SCHEMA_VERSION}")
        self._restrict_modes()
        return db

    @staticmethod
    def _set_up(db: sqlite3.Connection) -> None:
        """WAL, full sync, secure delete; the schema on a new spool. These are the spool's first writes."""
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA wal_autocheckpoint={WAL_PAGES}")
        db.execute(f"PRAGMA journal_size_limit={WAL_LIMIT}")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA secure_delete=ON")
        if db.execute("PRAGMA user_version").fetchone()[0] == 0:
            db.executescript(_SCHEMA)
            db.execute(f"PRAGMA application_id={APPLICATION_ID}")
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def _connect(self) -> sqlite3.Connection:
        try:
            if not self.path.exists():
                # SQLite gives the -wal and -shm files the database file's mode: create it private first, so that
                # no sidecar is ever world-readable, whatever the process umask.
                os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
            return sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        except OSError as exc:
            raise SpoolError(
                f"cannot create spool {self.path}: {exc.strerror}: check spool.path and its directory"
            ) from None
        except sqlite3.Error as exc:
            raise SpoolError(f"cannot open spool {self.path}: {exc}: check spool.path and its directory") from None

    def _restrict_modes(self) -> None:
        """0600 for the spool and its sidecars (spools made by earlier versions, under another umask)."""
        for suffix in ("", "-wal", "-shm"):
            sidecar = Path(str(self.path) + suffix)
            try:
                if sidecar.exists():
                    os.chmod(sidecar, 0o600)
            except OSError:
                logger.warning("could not restrict the spool file mode of %s", sidecar)

    def _load_next_seq(self) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key='next_seq'").fetchone()
        top = int(self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM envelopes").fetchone()[0])
        if row is None and top == 0:
            first = first_seq(time.time())
            self._db.execute("INSERT INTO meta (key, value) VALUES ('next_seq', ?)", (str(first),))
            return first
        stored = int(row[0]) if row else 1
        return max(stored, top + 1)

    # --- the reserve for a full disk -------------------------------------------------------------------------

    def _allocate_reserve(self) -> bool:
        """Make sure the reserve file exists at full size; False when the disk has no room for it."""
        try:
            if self.reserve_path.is_file() and self.reserve_path.stat().st_size >= RESERVE_BYTES:
                return True
            fd = os.open(self.reserve_path, os.O_CREAT | os.O_WRONLY, 0o600)
            try:
                os.posix_fallocate(fd, 0, RESERVE_BYTES)
                os.fsync(fd)
            finally:
                os.close(fd)
            return True
        except OSError as exc:
            self.reserve_path.unlink(missing_ok=True)
            if exc.errno != errno.ENOSPC:
                logger.warning("spool: cannot allocate its reserve %s: %s", self.reserve_path, exc.strerror)
            return False

    def _release_reserve(self) -> bool:
        """Free the reserve for a write that found the disk full; False when there was none left."""
        if not self.reserve_path.exists():
            return False
        self.reserve_path.unlink(missing_ok=True)
        if not self.disk_full:
            logger.warning("spool: the disk is full: released the spool's reserve so that acknowledged reads leave")
        self.disk_full = True
        return True

    def _checkpoint(self, mode: Literal["PASSIVE", "TRUNCATE"]) -> None:
        """Copy the WAL into the database (its pages are there already: no new room); TRUNCATE also gives the
        WAL's room back to the file system, PASSIVE keeps it for the next writes."""
        try:
            self._db.execute(f"PRAGMA wal_checkpoint({mode})")
        except sqlite3.Error as exc:
            logger.debug("spool checkpoint failed: %s", exc)

    def _recover_reserve(self) -> None:
        """After writes succeed again: shrink the WAL and take the reserve back if the disk has room."""
        if not self.disk_full:
            return
        try:
            stat = os.statvfs(self.reserve_path.parent)
        except OSError:
            return
        if stat.f_bavail * stat.f_frsize < 2 * RESERVE_BYTES:
            return  # still full: taking the reserve back would only take the room the next write needs
        self._checkpoint("TRUNCATE")
        if self._allocate_reserve():
            self.disk_full = False
            logger.info("spool: the disk has room again; reserve restored")

    def _with_room(self, write: str, attempt: Callable[[], T]) -> T:
        """Run a write transaction; when it fails for want of room, release the reserve and try once more."""
        try:
            return attempt()
        except (sqlite3.Error, OSError) as exc:
            self._rollback()
            if not _is_disk_full(exc) or not self._release_reserve():
                if _is_disk_full(exc):
                    self.disk_full = True
                raise SpoolError(f"spool {write} failed ({exc})") from None
        try:
            return attempt()
        except (sqlite3.Error, OSError) as exc:
            self._rollback()
            raise SpoolError(f"spool {write} failed ({exc}), also after releasing its reserve") from None

    def close(self) -> None:
        """Checkpoint the WAL and close."""
        with self._lock:
            try:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error:
                logger.warning("spool checkpoint at close failed", exc_info=True)
            self._db.close()

    # --- sequence numbers ------------------------------------------------------------------------------------

    def reserve_seq(self) -> int:
        """Next sequence number for a new envelope (strictly increasing across restarts; gaps are allowed)."""
        with self._lock:
            seq = self._next_seq
            self._next_seq += 1
            return seq

    # --- put (group commit) ----------------------------------------------------------------------------------

    def add_listener(self, event: threading.Event) -> None:
        """`event` is set whenever new envelopes are committed (the uplink waits on it)."""
        self._listeners.append(event)

    def put(self, read_id: bytes, body: bytes, seq: int) -> None:
        """Store one envelope durably; returns once it is committed (fsync).

        Concurrent callers share commits: the first to arrive becomes the leader, waits `commit_interval` for
        company, and commits everyone's envelopes in one transaction, so N readers cost one fsync, not N.
        """
        ticket = _Ticket()
        with self._batch_cond:
            self._batch.append((read_id, body, seq, ticket))
            while not ticket.done:
                if self._committing:
                    self._batch_cond.wait()
                    continue
                self._committing = True
                self._batch_cond.release()
                batch: list[tuple[bytes, bytes, int, _Ticket]] = []
                error: BaseException | None = None
                try:
                    if self.commit_interval > 0:
                        time.sleep(self.commit_interval)
                    with self._batch_cond:
                        batch, self._batch = self._batch, []
                    self.put_many([(r, b, q) for r, b, q, _ in batch])
                except BaseException as exc:  # handed to every caller of this batch, then re-raised
                    error = exc
                finally:
                    self._batch_cond.acquire()
                for *_, waiting in batch:
                    waiting.done, waiting.error = True, error
                self._committing = False
                self._batch_cond.notify_all()
        if ticket.error is not None:
            raise ticket.error

    def put_many(self, items: Sequence[tuple[bytes, bytes, int]]) -> None:
        """Store envelopes (read id, body, seq) in one durable transaction."""
        if not items:
            return
        now = time.time()
        incoming = sum(len(b) for _, b, _ in items)
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                self._make_room(incoming)
                self._db.executemany(
                    "INSERT OR IGNORE INTO envelopes (seq, read_id, created_at, size, body) VALUES (?, ?, ?, ?, ?)",
                    [(seq, rid, now, len(body), body) for rid, body, seq in items],
                )
                top = max(seq for _, _, seq in items)
                self._db.execute(
                    "INSERT INTO meta (key, value) VALUES ('next_seq', ?) "
                    "ON CONFLICT(key) DO UPDATE SET value = MAX(CAST(value AS INTEGER), excluded.value)",
                    (str(top + 1),),
                )
                self._bump("committed", len(items))
                self._db.execute("COMMIT")
            except SpoolFullError:
                self._db.execute("ROLLBACK")
                self._bump_now("rejected_full", len(items))
                raise
            except sqlite3.Error as exc:
                self._rollback()
                if _is_disk_full(exc):
                    self.disk_full = True
                raise SpoolError(f"spool write failed ({exc}): is the disk full or read-only?") from None
            self._bytes += incoming
            self._count += len(items)
        for event in self._listeners:
            event.set()

    def _make_room(self, incoming: int) -> None:
        """Apply `when_full` inside the current transaction."""
        if self._bytes + incoming <= self.max_bytes:
            return
        if self.when_full == "reject_new" or incoming > self.max_bytes:
            raise SpoolFullError(
                f"spool is full ({self._bytes} of {self.max_bytes} bytes) and when_full is reject_new: "
                "the read was not stored; check the uplink"
            )
        need = self._bytes + incoming - self.max_bytes
        freed = dropped = 0
        for seq, size in self._db.execute("SELECT seq, size FROM envelopes ORDER BY seq"):
            if freed >= need:
                break
            freed += size
            dropped += 1
            self._db.execute("DELETE FROM envelopes WHERE seq = ?", (seq,))
        self._bytes -= freed
        self._count -= dropped
        self._bump("dropped_full", dropped)
        logger.warning("spool full: dropped the %d oldest envelope(s) to make room (when_full=drop_oldest)", dropped)

    # --- uplink side -----------------------------------------------------------------------------------------

    def after(self, seq: int, limit: int) -> list[Envelope]:
        """Up to `limit` envelopes with a sequence number above `seq`, oldest first (the uplink's cursor)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, read_id, body, created_at, attempts FROM envelopes WHERE seq > ? ORDER BY seq LIMIT ?",
                (seq, limit),
            ).fetchall()
        return [Envelope(r[0], bytes(r[1]), bytes(r[2]), r[3], r[4]) for r in rows]

    def ids_through(self, seq: int) -> list[bytes]:
        """Read ids with a sequence number up to `seq`, oldest first (the uplink's reconciliation)."""
        with self._lock:
            rows = self._db.execute("SELECT read_id FROM envelopes WHERE seq <= ? ORDER BY seq", (seq,)).fetchall()
        return [bytes(r[0]) for r in rows]

    def get(self, read_ids: Sequence[bytes]) -> list[Envelope]:
        """The envelopes among `read_ids` that are still stored (for resends), oldest first."""
        out: list[Envelope] = []
        with self._lock:
            for rid in read_ids:
                row = self._db.execute(
                    "SELECT seq, read_id, body, created_at, attempts FROM envelopes WHERE read_id = ?", (rid,)
                ).fetchone()
                if row is not None:
                    out.append(Envelope(row[0], bytes(row[1]), bytes(row[2]), row[3], row[4]))
        out.sort(key=lambda e: e.seq)
        return out

    def mark_sent(self, read_ids: Sequence[bytes], when: float | None = None) -> None:
        """Record that the broker accepted these envelopes (not durable on its own: see module doc)."""
        if not read_ids:
            return
        now = time.time() if when is None else when
        with self._lock:
            self._write_relaxed(
                "UPDATE envelopes SET state = ?, sent_at = ?, attempts = attempts + 1 WHERE read_id = ?",
                [(SENT, now, rid) for rid in read_ids],
            )

    def mark_pending(self, read_ids: Sequence[bytes], resent: bool = True) -> None:
        """Put envelopes back in the queue (a failed PUBACK, an overdue receipt)."""
        if not read_ids:
            return
        with self._lock:
            self._write_relaxed(
                "UPDATE envelopes SET state = ? WHERE read_id = ?", [(PENDING, rid) for rid in read_ids]
            )
            if resent:
                self._bump_now("resent", len(read_ids))

    def reset_sent(self) -> int:
        """At start-up: everything sent but not acknowledged goes back to pending (resent with the same ids)."""

        def attempt() -> int:
            self._db.execute("BEGIN IMMEDIATE")
            count = self._db.execute("UPDATE envelopes SET state = ? WHERE state = ?", (PENDING, SENT)).rowcount
            self._db.execute("COMMIT")
            return int(count)

        with self._lock:
            return self._with_room("update", attempt)

    def delete(self, read_ids: Sequence[bytes]) -> int:
        """Delete acknowledged envelopes; ids not in the spool are ignored. Returns how many were deleted."""
        if not read_ids:
            return 0

        def attempt(chunk: Sequence[bytes]) -> tuple[int, int]:
            deleted = freed = 0
            self._db.execute("BEGIN IMMEDIATE")
            for rid in chunk:
                row = self._db.execute("DELETE FROM envelopes WHERE read_id = ? RETURNING size", (rid,)).fetchone()
                if row is not None:
                    deleted += 1
                    freed += row[0]
            self._bump("deleted", deleted)
            self._db.execute("COMMIT")
            return deleted, freed

        total = 0
        with self._lock:
            self._db.execute("PRAGMA synchronous=NORMAL")
            try:
                start = 0
                while start < len(read_ids):
                    # One transaction while the disk has room; small checkpointed ones once it is full.
                    chunk = read_ids[start : start + (DELETE_CHUNK if self.disk_full else len(read_ids))]
                    try:
                        deleted, freed = attempt(chunk)
                    except (sqlite3.Error, OSError) as exc:
                        self._rollback()
                        if not _is_disk_full(exc):
                            raise SpoolError(f"spool delete failed ({exc})") from None
                        if not self.disk_full:
                            # The disk just filled up: spend the reserve on small deletes from here on.
                            self._release_reserve()
                            self.disk_full = True
                            continue
                        if len(chunk) == DELETE_CHUNK and self._release_reserve():
                            continue
                        raise SpoolError(f"spool delete failed ({exc}), with no room left") from None
                    self._bytes -= freed
                    self._count -= deleted
                    total += deleted
                    start += len(chunk)
                    if self.disk_full:
                        self._checkpoint("PASSIVE")  # the WAL keeps its room for the next chunk
            finally:
                self._db.execute("PRAGMA synchronous=FULL")
            self._recover_reserve()
            return total

    def purge(self, max_age: float, now: float | None = None) -> int:
        """Delete envelopes older than `max_age` seconds, acknowledged or not; counted as `purged`."""
        cutoff = (time.time() if now is None else now) - max_age

        def attempt() -> tuple[int, int]:
            self._db.execute("BEGIN IMMEDIATE")
            row = self._db.execute(
                "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM envelopes WHERE created_at < ?", (cutoff,)
            ).fetchone()
            self._db.execute("DELETE FROM envelopes WHERE created_at < ?", (cutoff,))
            self._bump("purged", row[0])
            self._db.execute("COMMIT")
            return int(row[0]), int(row[1])

        with self._lock:
            row = self._with_room("purge", attempt)  # a purge frees room: on a full disk the reserve pays for it
            self._count -= row[0]
            self._bytes -= row[1]
            self._recover_reserve()
        if row[0]:
            logger.warning("retention: purged %d envelope(s) older than %.0f s", row[0], max_age)
        return int(row[0])

    # --- reporting -------------------------------------------------------------------------------------------

    def stats(self, now: float | None = None) -> SpoolStats:
        """Depth, bytes, oldest age and lifetime counters."""
        with self._lock:
            pending, sent, oldest = self._db.execute(
                "SELECT SUM(state = 0), SUM(state = 1), MIN(created_at) FROM envelopes"
            ).fetchone()
            counters = dict.fromkeys(COUNTERS, 0)
            counters.update(dict(self._db.execute("SELECT name, value FROM counters").fetchall()))
            now = time.time() if now is None else now
            return SpoolStats(
                depth=self._count,
                pending=int(pending or 0),
                sent=int(sent or 0),
                bytes=self._bytes,
                oldest_age_s=(now - oldest) if oldest is not None else None,
                counters=counters,
            )

    def __len__(self) -> int:
        return int(self._count)

    # --- helpers ---------------------------------------------------------------------------------------------

    def _bump(self, name: str, n: int) -> None:
        if n:
            self._db.execute(
                "INSERT INTO counters (name, value) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
                (name, n),
            )

    def _bump_now(self, name: str, n: int) -> None:
        with self._lock:
            self._write_relaxed(
                "INSERT INTO counters (name, value) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
                [(name, n)],
            )

    def _write_relaxed(self, sql: str, rows: list[tuple[object, ...]]) -> None:
        """A bookkeeping write that need not survive a power cut (only causes a resend)."""

        def attempt() -> None:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(sql, rows)
            self._db.execute("COMMIT")

        self._db.execute("PRAGMA synchronous=NORMAL")
        try:
            self._with_room("update", attempt)
        finally:
            self._db.execute("PRAGMA synchronous=FULL")

    def _rollback(self) -> None:
        try:
            self._db.execute("ROLLBACK")
        except sqlite3.Error:
            logger.debug("rollback after a failed spool write also failed", exc_info=True)
