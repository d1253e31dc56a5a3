"""Throw-away PostgreSQL databases for the demo, the benchmarks and the tests: made on a server reached with an
administrator's DSN, handed over, dropped afterwards (even one still connected to)."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

# The machine's server as scripts/setup leaves it; EDGE_AGENT_TEST_PG names another (a role that may create
# databases and roles).
ADMIN_DSN = os.environ.get("EDGE_AGENT_TEST_PG", "host=127.0.0.1 user=postgres dbname=postgres connect_timeout=3")


def dsn_for(name: str, admin_dsn: str = ADMIN_DSN) -> str:
    """The administrator's DSN pointed at database `name`."""
    return admin_dsn.replace("dbname=postgres", f"dbname={name}")


def create(prefix: str, admin_dsn: str = ADMIN_DSN) -> str:
    """Make a new empty database named `<prefix>_<random>`; returns its name."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return name


def drop(name: str, admin_dsn: str = ADMIN_DSN) -> None:
    """Drop a database, closing whatever is still connected to it."""
    import psycopg

    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def scratch_database(prefix: str, admin_dsn: str = ADMIN_DSN, keep: bool = False) -> Iterator[tuple[str, str]]:
    """(name, DSN) of a new database, dropped on exit unless `keep`."""
    name = create(prefix, admin_dsn)
    try:
        yield name, dsn_for(name, admin_dsn)
    finally:
        if not keep:
            drop(name, admin_dsn)
