"""The audit trail: an append-only, hash-chained log of everything people and schedules do with the records.

Each entry's hash is SHA-256 over the previous entry's hash and the entry's own canonical JSON (id, time to the
microsecond, actor, role, action, detail with sorted keys), so an entry altered, removed or inserted in place
breaks the chain from there on. Three locks keep it honest: the service's database role may only SELECT and
INSERT the table, a trigger refuses UPDATE, DELETE and TRUNCATE to everyone short of disabling it, and
``verify`` recomputes the chain and names the first entry that does not hold.

Entries are appended inside the transaction of the act they record (a search commits with its audit entry or
not at all), one writer at a time (an advisory lock orders the chain).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from edge_agent.compat import UTC

AUDIT_LOCK = 4547
GENESIS = b"\x00" * 32


@dataclass(frozen=True)
class Entry:
    """One audit entry as stored."""

    id: int
    at: datetime
    actor: str
    role: str
    action: str
    detail: dict[str, Any]
    prev_hash: bytes
    hash: bytes

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form, for exports and the API."""
        return {
            "id": self.id,
            "at": self.at.astimezone(UTC).isoformat(),
            "actor": self.actor,
            "role": self.role,
            "action": self.action,
            "detail": self.detail,
            "hash": self.hash.hex(),
        }


def entry_hash(prev: bytes, id_: int, at: datetime, actor: str, role: str, action: str, detail: Any) -> bytes:
    """The chain's hash of one entry."""
    body = json.dumps(
        {
            "id": id_,
            "at_us": _micros(at),
            "actor": actor,
            "role": role,
            "action": action,
            "detail": detail,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()
    return hashlib.sha256(prev + body).digest()


def _micros(at: datetime) -> int:
    delta = at.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def append(cur: Any, at: datetime, actor: str, role: str, action: str, detail: dict[str, Any]) -> int:
    """Append one entry in `cur`'s transaction; return its id."""
    at = at.astimezone(UTC)
    cur.execute("SELECT pg_advisory_xact_lock(%s)", (AUDIT_LOCK,))
    cur.execute("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1")
    last = cur.fetchone()
    id_, prev = (int(last[0]) + 1, bytes(last[1])) if last else (1, GENESIS)
    # Round-trip the detail through JSON so the hash covers exactly what JSONB will hand back.
    detail = json.loads(json.dumps(detail, sort_keys=True))
    digest = entry_hash(prev, id_, at, actor, role, action, detail)
    cur.execute(
        "INSERT INTO audit_log (id, at, actor, role, action, detail, prev_hash, hash) "
        "VALUES (%s, %s, %s, %s, %s, %s::jsonb, %s, %s)",
        (id_, at, actor, role, action, json.dumps(detail, sort_keys=True), prev, digest),
    )
    return id_


_SELECT = "SELECT id, at, actor, role, action, detail, prev_hash, hash FROM audit_log"


def _entry(row: tuple[Any, ...]) -> Entry:
    id_, at, actor, role, action, detail, prev, digest = row
    return Entry(int(id_), at, actor, role, action, detail, bytes(prev), bytes(digest))


@dataclass(frozen=True)
class Verdict:
    """What ``verify`` found: entries checked and the first broken one (None when the chain holds)."""

    checked: int
    broken_id: int | None = None
    why: str = ""

    @property
    def ok(self) -> bool:
        """True when every entry holds."""
        return self.broken_id is None


def verify(conn: Any) -> Verdict:
    """Recompute the whole chain, oldest first."""
    prev, expected_id, checked = GENESIS, 1, 0
    with conn.transaction(), conn.cursor(name="audit_verify") as cur:
        cur.execute(_SELECT + " ORDER BY id")
        for e in map(_entry, cur):
            if e.id != expected_id:
                return Verdict(checked, expected_id, f"entry {expected_id} is missing (next is {e.id})")
            if e.prev_hash != prev:
                return Verdict(checked, e.id, "its link to the entry before does not match")
            if entry_hash(prev, e.id, e.at, e.actor, e.role, e.action, e.detail) != e.hash:
                return Verdict(checked, e.id, "its content does not match its hash")
            prev, expected_id, checked = e.hash, e.id + 1, checked + 1
    return Verdict(checked)


def entries(conn: Any, start: datetime, end: datetime, action: str | None = None, limit: int = 10_000) -> list[Entry]:
    """Entries with start <= at < end (of `action` if given), oldest first, at most `limit`."""
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(
            _SELECT + " WHERE at >= %s AND at < %s AND (%s::text IS NULL OR action = %s) ORDER BY id LIMIT %s",
            (start, end, action, action, limit),
        )
        return [_entry(row) for row in cur.fetchall()]


def export(rows: list[Entry], fmt: str) -> str:
    """The entries as CSV or JSON (one document)."""
    if fmt == "json":
        return json.dumps([e.as_dict() for e in rows], indent=1, ensure_ascii=False) + "\n"
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["id", "at", "actor", "role", "action", "detail", "hash"])
    for e in rows:
        d = e.as_dict()
        w.writerow([d["id"], d["at"], d["actor"], d["role"], d["action"], json.dumps(d["detail"], sort_keys=True),
                    d["hash"]])  # fmt: skip
    return out.getvalue()
