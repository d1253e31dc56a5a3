"""`edge-agent demo --records`: a replayed camera's read is found through the records API once it is stored."""

from __future__ import annotations

import io
import re
from pathlib import Path

import psycopg
import pytest

from edge_agent.local.demo import run_demo
from edge_agent.local.records_demo import ADMIN_DSN


def test_demo_reads_are_searchable_in_the_records_service(tmp_path: Path) -> None:
    try:
        psycopg.connect(ADMIN_DSN).close()
    except psycopg.OperationalError as exc:
        pytest.skip(f"no PostgreSQL server at {ADMIN_DSN!r} ({str(exc).strip()}): run scripts/setup")
    out = io.StringIO()
    assert run_demo(workdir=tmp_path / "demo", out=out, records=True) == 0, out.getvalue()
    text = out.getvalue()
    found = re.findall(r"^  (\w+) +searchable (\d+) ms after capture$", text, re.MULTILINE)
    assert found and found[0][0] == "CFJ3979", text
    assert "NOT found" not in text
    database = re.search(r"on PostgreSQL database (\w+);", text)
    assert database is not None
    with psycopg.connect(ADMIN_DSN) as conn:  # the demo's database is dropped afterwards
        left = conn.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (database.group(1),)).fetchone()
    assert left == (0,)
