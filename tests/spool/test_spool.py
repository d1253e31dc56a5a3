"""The spool: durable puts, group commit, the uplink cursor, retention, the size bound, bad files."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from edge_agent.device.spool import Spool, first_seq
from edge_agent.errors import SpoolError, SpoolFullError


def _put(spool: Spool, n: int, size: int = 100) -> list[bytes]:
    ids = []
    for _ in range(n):
        rid = os.urandom(16)
        spool.put(rid, os.urandom(size), spool.reserve_seq())
        ids.append(rid)
    return ids


def test_committed_envelopes_survive_reopen_in_order(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db")
    first = spool.reserve_seq()
    ids = _put(spool, 5)
    spool.close()
    again = Spool(tmp_path / "s.db")
    assert [e.read_id for e in again.after(0, 10)] == ids
    # sequence numbers keep increasing across restarts
    assert again.reserve_seq() == first + 6
    assert stat.S_IMODE((tmp_path / "s.db").stat().st_mode) == 0o600


def test_spool_and_its_wal_are_private_whatever_the_umask(tmp_path: Path) -> None:
    # Outside systemd the umask is usually 022: the WAL and shared-memory files came out 0644.
    old = os.umask(0o022)
    try:
        spool = Spool(tmp_path / "s.db")
        _put(spool, 3)
        for name in ("s.db", "s.db-wal", "s.db-shm"):
            path = tmp_path / name
            assert path.exists(), name
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, name
        spool.close()
    finally:
        os.umask(old)


def test_a_new_spool_numbers_past_the_one_before_it(tmp_path: Path) -> None:
    # A spool wiped, reinstalled or moved aside as corrupt started again at 1: the city saw numbers it had.
    spool = Spool(tmp_path / "s.db")
    _put(spool, 50)
    last = spool.reserve_seq()
    spool.close()
    for name in ("s.db", "s.db-wal", "s.db-shm"):
        (tmp_path / name).unlink(missing_ok=True)
    time.sleep(0.002)
    assert Spool(tmp_path / "s.db").reserve_seq() > last
    # Without a plausible clock (a board before NTP) numbering starts at 1, as before.
    assert first_seq(86_400.0) == 1
    assert first_seq(2_000_000_000.0) == 2_000_000_000_000 * 1024 < 2**63


def test_group_commit_shares_one_transaction(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db", commit_interval=0.05)
    commits = []
    original = spool.put_many

    def counting(items: list[tuple[bytes, bytes, int]]) -> None:
        commits.append(len(items))
        original(items)

    spool.put_many = counting  # type: ignore[method-assign]
    threads = [threading.Thread(target=_put, args=(spool, 5)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(commits) == 40 and len(spool) == 40
    assert len(commits) < 40, commits  # several puts per fsync


def test_put_error_reaches_every_caller_of_the_batch(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db", max_bytes=2**20, when_full="reject_new")
    with pytest.raises(SpoolFullError, match="when_full is reject_new"):
        spool.put(os.urandom(16), b"x" * (2**20 + 1), spool.reserve_seq())
    assert spool.stats().counters["rejected_full"] == 1


def test_cursor_delete_and_state(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db")
    ids = _put(spool, 10)
    first = spool.after(0, 4)
    assert [e.read_id for e in first] == ids[:4]
    assert [e.read_id for e in spool.after(first[-1].seq, 100)] == ids[4:]
    spool.mark_sent(ids[:4])
    assert spool.stats().sent == 4
    assert spool.delete([*ids[:2], os.urandom(16)]) == 2
    assert len(spool) == 8
    assert spool.reset_sent() == 2
    assert spool.stats().pending == 8
    assert [e.read_id for e in spool.get([ids[5], ids[0], ids[3]])] == [ids[3], ids[5]]


def test_retention_purge_is_counted(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db")
    _put(spool, 3)
    assert spool.purge(max_age=3600) == 0
    assert spool.purge(max_age=3600, now=time.time() + 7200) == 3
    stats = spool.stats()
    assert stats.depth == 0 and stats.bytes == 0 and stats.counters["purged"] == 3


def test_drop_oldest_when_full_is_counted(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db", max_bytes=2**20, when_full="drop_oldest")
    ids = _put(spool, 10, size=200 * 1024)  # 10 x 200 KiB into 1 MiB
    stats = spool.stats()
    assert stats.bytes <= 2**20
    assert stats.counters["dropped_full"] == 5  # 5 x 200 KiB fit in 1 MiB
    assert [e.read_id for e in spool.after(0, 100)] == ids[5:]


def test_reject_new_when_full_keeps_the_old(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db", max_bytes=2**20, when_full="reject_new")
    ids = _put(spool, 5, size=200 * 1024)
    with pytest.raises(SpoolFullError):
        _put(spool, 1, size=200 * 1024)
    assert [e.read_id for e in spool.after(0, 100)] == ids
    assert spool.stats().counters["rejected_full"] == 1


def test_foreign_database_is_refused_and_untouched(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE photos (id INTEGER)")
    db.commit()
    db.close()
    before = path.read_bytes()
    with pytest.raises(SpoolError, match=r"database of another program.*left untouched"):
        Spool(path)
    assert path.read_bytes() == before


def test_non_database_file_is_refused_and_untouched(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    path.write_text("these are my notes, not a spool\n")
    with pytest.raises(SpoolError, match=r"not a SQLite database.*left untouched"):
        Spool(path)
    assert path.read_text() == "these are my notes, not a spool\n"


def test_corrupt_spool_is_moved_aside_never_deleted(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    spool = Spool(path)
    _put(spool, 200, size=2000)
    spool.close()
    data = bytearray(path.read_bytes())
    data[4096 * 2 : 4096 * 4] = os.urandom(8192)  # wreck pages after the header
    path.write_bytes(bytes(data))
    with pytest.raises(SpoolError, match=r"is corrupt.*moved to s\.db\.corrupt-"):
        Spool(path)
    aside = list(tmp_path.glob("s.db.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == bytes(data)
    assert not path.exists()
    assert len(Spool(path)) == 0  # the next start begins a new spool


def test_impossible_path_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(SpoolError):
        Spool(tmp_path / "file" / "s.db")


def test_a_full_disk_at_start_is_a_spool_error_with_the_fix(tmp_path: Path) -> None:
    # A disk with no room for the spool's first pages gave "internal error: OperationalError".
    script = (
        "import pathlib, resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))  # every write fails as on a full disk\n"
        "from edge_agent.errors import SpoolError\n"
        "from edge_agent.device.spool import Spool\n"
        "try:\n"
        "    Spool(pathlib.Path(sys.argv[1]))\n"
        "except SpoolError as exc:\n"
        "    print(exc)\n"
        "    sys.exit(3)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "s.db")], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 3, done.stderr
    assert "cannot set up spool" in done.stdout
    assert "is the disk full" in done.stdout
