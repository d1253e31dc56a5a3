"""A records database of the test's own on the machine's real PostgreSQL, a service role with the service's
rights only, a records service on a clock the test moves, and people in each role who sign in with TOTP.

Set EDGE_AGENT_TEST_PG to a libpq DSN of a role that may create databases and roles (default: postgres on
127.0.0.1, as scripts/setup leaves it; edge_agent.local.scratchdb).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest

psycopg = pytest.importorskip("psycopg")
pytest.importorskip("fastapi")
pytest.importorskip("pyotp")

import pyotp  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from psycopg_pool import ConnectionPool  # noqa: E402

from edge_agent.city.ingest.postgres import PostgresStore  # noqa: E402
from edge_agent.city.ingest.rows import StoredRead  # noqa: E402
from edge_agent.city.records import accounts, schema  # noqa: E402
from edge_agent.city.records.app import create_app  # noqa: E402
from edge_agent.city.records.service import RecordsService  # noqa: E402
from edge_agent.compat import UTC  # noqa: E402
from edge_agent.config import RecordsConfig  # noqa: E402
from edge_agent.local import scratchdb  # noqa: E402
from edge_agent.protocol.crypto.envelope import EnvelopeHeader, Suite  # noqa: E402
from edge_agent.protocol.reads import PlateRead, new_read_id  # noqa: E402

PASSWORD = "correct horse battery"
START = datetime(2026, 11, 20, 12, 0, 0, tzinfo=UTC)


@dataclass
class Clock:
    """The service's clock, moved by the test."""

    now: datetime = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@dataclass
class RecordsDB:
    """The test's database: the owner's DSN (the test's superuser) and the service role's."""

    admin_dsn: str
    app_dsn: str
    app_role: str
    name: str


@dataclass
class City:
    """A records service with its clock and the people who use it."""

    db: RecordsDB
    service: RecordsService
    clock: Clock
    secrets: dict[str, str] = field(default_factory=dict)

    def code(self, username: str) -> str:
        """The user's authenticator code now (each step can be used once: move the clock between logins)."""
        return str(pyotp.TOTP(self.secrets[username]).at(self.clock.now))

    def client(self) -> TestClient:
        """A browser-like client over HTTPS (the session cookie is Secure)."""
        return TestClient(create_app(self.service), base_url="https://testserver")

    def login(self, client: TestClient, username: str) -> dict[str, str]:
        """Sign in; return the headers an API call needs (the CSRF token)."""
        self.clock.advance(seconds=31)
        r = client.post("/api/login", json={"username": username, "password": PASSWORD, "code": self.code(username)})
        assert r.status_code == 200, r.text
        return {"X-CSRF-Token": r.json()["csrf_token"]}


@pytest.fixture
def records_db() -> Iterator[RecordsDB]:
    """A fresh database and a service role of this test's own, dropped afterwards."""
    try:
        name = scratchdb.create("edge_records_test")
    except psycopg.OperationalError as exc:
        pytest.skip(f"no PostgreSQL server at {scratchdb.ADMIN_DSN!r} ({str(exc).strip()}): run scripts/setup")
    role = f"edge_records_app_{name.rsplit('_', 1)[1]}"
    db_dsn = scratchdb.dsn_for(name)
    try:
        with psycopg.connect(scratchdb.ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f"CREATE ROLE {role} LOGIN")
        with psycopg.connect(db_dsn) as conn:
            schema.migrate(conn, app_role=role)
        yield RecordsDB(db_dsn, db_dsn.replace("user=postgres", f"user={role}"), role, name)
    finally:
        scratchdb.drop(name)  # before the role: the role owns the day partitions
        with psycopg.connect(scratchdb.ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f"DROP ROLE IF EXISTS {role}")


@pytest.fixture
def city(records_db: RecordsDB) -> Iterator[City]:
    """The service (as its own role), a clock at START, and one person per role plus a second investigator."""
    clock = Clock()
    cfg = RecordsConfig(dsn=records_db.app_dsn, case_number_pattern=r"^[0-9]{4}-[0-9]{6}$")
    with ConnectionPool(records_db.app_dsn, min_size=1, max_size=4, open=True) as pool:
        c = City(records_db, RecordsService(pool, cfg, clock=clock), clock)
        with psycopg.connect(records_db.app_dsn) as conn, conn.cursor() as cur:
            for username, role in (
                ("ivy", "investigator"),
                ("ian", "investigator"),
                ("sam", "supervisor"),
                ("ada", "auditor"),
                ("root", "administrator"),
            ):
                accounts.add_user(cur, username, role, clock.now, password=PASSWORD)
                c.secrets[username] = accounts.totp_secret(cur, username)
        yield c


def stored_read(
    plate: str,
    captured: datetime,
    device: str = "cam-a",
    camera: str = "elm-north",
    crop: bytes | None = None,
) -> StoredRead:
    """A verified read as the ingest stores it, seen at `captured` (received then too)."""
    rid = new_read_id()
    at = captured.timestamp()
    header = EnvelopeHeader(Suite.X25519_SHA256_CHACHA20POLY1305, b"r" * 8, b"s" * 8, rid, int(at * 1000), device)
    read = PlateRead(rid, device, camera, plate, 0.93, at, at + 0.8, frames=6, direction="approaching", crop_jpeg=crop)
    return StoredRead(header, read, at)


def ingest(db: RecordsDB, reads: list[StoredRead]) -> None:
    """Store reads through the ingest's own PostgreSQL store, connected as the service role."""
    store = PostgresStore(db.app_dsn)
    try:
        assert store.add(reads) == len(reads)
    finally:
        store.close()


def ref(item: StoredRead) -> str:
    """A read's name as searches give it."""
    ms = schema.captured_ms(round(item.read.first_seen * 1000), round(item.received_at * 1000), True)
    return f"{item.read.device_id}:{item.read.read_id.hex()}:{ms}"


def audit_actions(db: RecordsDB) -> list[tuple[str, str, Any]]:
    """(actor, action, detail) of every audit entry, oldest first."""
    with psycopg.connect(db.admin_dsn) as conn:
        rows = conn.execute("SELECT actor, action, detail FROM audit_log ORDER BY id").fetchall()
    return [(str(a), str(b), c) for a, b, c in rows]


def wait_until(predicate: Any, timeout: float) -> bool:
    """Poll until `predicate()` is true."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())
