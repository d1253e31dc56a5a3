"""Fixtures for store-and-forward tests: a whole local city per test (own broker, own ingest)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from edge_agent.local.localcity import LocalCity


@pytest.fixture
def city(tmp_path: Path) -> Iterator[LocalCity]:
    """PKI, keys, enrolled devices cam-1 and cam-2, and a running broker of this test's own."""
    c = LocalCity(tmp_path / "city", ["cam-1", "cam-2"])
    c.broker.start()
    try:
        yield c
    finally:
        c.broker.stop()


def stored_ids(db: Path) -> tuple[list[bytes], int]:
    """All read ids in the ingest's database, and how many rows there are."""
    if not db.exists():
        return [], 0
    conn = sqlite3.connect(db)
    try:
        ids = [bytes(r[0]) for r in conn.execute("SELECT read_id FROM reads")]
    finally:
        conn.close()
    return ids, len(ids)


def wait_for(cond: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
    """Poll `cond` until true or the timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(step)
    return cond()
