"""The demo's records side (`edge-agent demo --records`): the city's records service on this machine's PostgreSQL.

A database of the demo's own is made on the server given by ``EDGE_AGENT_DEMO_PG`` (default: postgres on
127.0.0.1, as scripts/setup leaves it) and migrated; the ingest stores into it; the records service runs in this
process on a free loopback port; an investigator account signs in through the web API with password and TOTP.
While the camera replays, every read the ingest stores is searched for through the API under a demo case
number, and the time from its capture (the end of the vehicle pass) to the search that returned it is printed.
The loopback demo sends its session cookie without the Secure flag (no TLS on 127.0.0.1); a city puts TLS in
front of the service and keeps ``records.secure_cookies`` on.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import secrets
import socket
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from edge_agent.compat import UTC
from edge_agent.errors import EdgeAgentError, RuntimeMissingError
from edge_agent.local import scratchdb

ADMIN_DSN = os.environ.get("EDGE_AGENT_DEMO_PG", scratchdb.ADMIN_DSN)
CASE = "2026-000001"
USER = "demo-investigator"


@dataclass
class Found:
    """A read the ingest stored and the demo then found by searching for it."""

    plate: str
    last_seen_ms: int
    searchable_ms: int | None = None


@dataclass
class RecordsDemo:
    """The records database, service and watcher of one demo run."""

    dsn: str
    database: str
    url: str
    password: str
    totp_secret: str
    found: list[Found] = field(default_factory=list)
    case: str = CASE
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _server: Any = None
    _pool: Any = None
    _client: Any = None

    @classmethod
    def start(cls) -> RecordsDemo:
        """Make the database, start the service and sign the investigator in."""
        try:
            import psycopg
            import pyotp
            import uvicorn
            from psycopg_pool import ConnectionPool
        except ImportError:
            raise RuntimeMissingError(
                "demo --records needs the records extra: pip install 'edge-agent[records]'"
            ) from None
        from edge_agent.city.records import accounts, schema
        from edge_agent.city.records.app import create_app
        from edge_agent.city.records.service import RecordsService
        from edge_agent.config import RecordsConfig

        try:
            database = scratchdb.create("edge_agent_demo", ADMIN_DSN)
        except psycopg.Error as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise EdgeAgentError(
                f"demo --records needs a PostgreSQL server ({first}): run scripts/setup or set EDGE_AGENT_DEMO_PG"
            ) from None
        dsn = scratchdb.dsn_for(database, ADMIN_DSN)
        password = secrets.token_urlsafe(12)
        with psycopg.connect(dsn) as conn:
            schema.migrate(conn)
            with conn.cursor() as cur:
                accounts.add_user(cur, USER, "investigator", datetime.now(UTC), password=password)
                secret = accounts.totp_secret(cur, USER)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        pool = ConnectionPool(dsn, min_size=1, max_size=4, open=True)
        cfg = RecordsConfig(dsn=dsn, secure_cookies=False)
        server = uvicorn.Server(
            uvicorn.Config(create_app(RecordsService(pool, cfg)), host="127.0.0.1", port=port, log_level="warning")
        )
        demo = cls(dsn, database, f"http://127.0.0.1:{port}", password, secret, _server=server, _pool=pool)
        demo._client = _Client(demo.url)
        thread = threading.Thread(target=server.run, name="records-web", daemon=True)
        thread.start()
        demo._threads.append(thread)
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        if not server.started:
            demo.stop()
            demo.drop()
            raise EdgeAgentError("the records service did not start")
        demo._client.login(USER, password, pyotp.TOTP(secret).now())
        return demo

    def watch(self) -> None:
        """Search for every read the ingest stores, as soon as it is stored."""
        thread = threading.Thread(target=self._watch, name="records-watch", daemon=True)
        thread.start()
        self._threads.append(thread)

    def _watch(self) -> None:
        import psycopg

        seen: set[bytes] = set()
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            while not self._stop.is_set():
                rows = conn.execute("SELECT read_id, plate, last_seen_ms FROM reads").fetchall()
                for read_id, plate, last_seen in rows:
                    if bytes(read_id) in seen:
                        continue
                    seen.add(bytes(read_id))
                    item = Found(str(plate), int(last_seen))
                    if self._client.search(item.plate):
                        item.searchable_ms = round(time.time() * 1000) - item.last_seen_ms
                    self.found.append(item)
                self._stop.wait(0.05)

    def wait_for(self, count: int, timeout: float) -> None:
        """Until `count` reads were searched for (or `timeout` seconds)."""
        deadline = time.monotonic() + timeout
        while len(self.found) < count and time.monotonic() < deadline:
            time.sleep(0.05)

    def reads(self) -> list[dict[str, Any]]:
        """What the records database holds, as the demo prints it."""
        import psycopg

        keys = ("plate", "confidence", "first_seen_ms", "last_seen_ms", "frames", "direction", "camera", "clock_synced")
        with psycopg.connect(self.dsn) as conn:
            rows = conn.execute(f"SELECT {', '.join(keys)} FROM reads ORDER BY first_seen_ms").fetchall()  # noqa: S608
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def stop(self) -> None:
        """Stop the watcher and the service."""
        self._stop.set()
        if self._server is not None:
            self._server.should_exit = True
        for thread in self._threads:
            thread.join(10)
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def drop(self) -> None:
        """Drop the demo's database."""
        scratchdb.drop(self.database, ADMIN_DSN)


class _Client:
    """The records web API as a browser script would use it: a cookie jar and the CSRF header."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.csrf = ""
        self._opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        req = urllib.request.Request(  # noqa: S310 - a loopback http URL this module made
            self.url + path,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "X-CSRF-Token": self.csrf},
            method="POST",
        )
        try:
            with self._opener.open(req, timeout=10) as resp:
                data: dict[str, Any] = json.loads(resp.read())
                return data
        except urllib.error.HTTPError as exc:
            message = json.loads(exc.read() or b"{}").get("error", exc.reason)
            raise EdgeAgentError(f"records API {path}: {exc.code} {message}") from None

    def login(self, user: str, password: str, code: str) -> None:
        self.csrf = self._post("/api/login", {"username": user, "password": password, "code": code})["csrf_token"]

    def search(self, plate: str) -> bool:
        body = {"case_number": CASE, "purpose": "stolen vehicle", "reason": "edge-agent demo", "plate": plate}
        return bool(self._post("/api/search", body)["results"])
