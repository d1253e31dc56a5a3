"""Hotlists: plates another agency asked to be alerted to, matched against every read, verified by a person.

An entry's plate is normalised (A-Z0-9, O written 0 and I written 1, as readings are compared) and matches a read
of the same text; an entry with tolerance 1 also matches a read one edit away (one character substituted, added
or missing), and such an alert is marked fuzzy. A match makes an alert in state ``pending``; nothing is announced
until a person confirms it against the read's crop (service.RecordsService.decide).

``Matcher`` holds the active entries in memory: an exact index, and for tolerant entries every one-deletion
variant (the symmetric-deletion trick), so a read is matched with a handful of dictionary lookups whatever the
list's size. The ingest keeps one per worker, reloaded when the list changes (``HotlistCache``).
"""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from edge_agent.compat import UTC

_FOLD = str.maketrans({"O": "0", "I": "1"})
_NOT_ALNUM = re.compile(r"[^A-Z0-9]")
COLUMNS = ("plate", "reason", "source_agency", "entered_by", "expires")
MAX_ROWS = 200_000


def normalise(plate: str) -> str:
    """A-Z0-9 with O and I folded to 0 and 1: the form entries and readings are compared in."""
    return _NOT_ALNUM.sub("", plate.upper()).translate(_FOLD)


@dataclass(frozen=True)
class Entry:
    """One hotlist entry as imported."""

    plate: str
    shown: str
    reason: str
    source_agency: str
    entered_by: str
    expires_at: datetime
    tolerance: int = 0


class HotlistFileError(ValueError):
    """A hotlist file with bad rows: every problem with its line number; nothing was imported."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(f"{len(problems)} bad row(s), nothing imported: " + "; ".join(problems[:20]))
        self.problems = problems


def parse_csv(text: str, now: datetime) -> list[Entry]:
    """The entries of a hotlist CSV (plate, reason, source_agency, entered_by, expires[, tolerance]).

    Every row is checked before anything is kept: a file with any bad row raises HotlistFileError naming each bad
    row's line, so a list is never half-imported.
    """
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise HotlistFileError([f"line 1: missing column(s) {', '.join(missing)} (need {', '.join(COLUMNS)})"])
    reader.fieldnames = header
    entries: list[Entry] = []
    problems: list[str] = []
    for row in reader:
        line = reader.line_num
        if len(entries) + len(problems) >= MAX_ROWS:
            problems.append(f"line {line}: more than {MAX_ROWS} rows")
            break
        try:
            entries.append(_entry(row, now))
        except ValueError as exc:
            problems.append(f"line {line}: {exc}")
    if problems:
        raise HotlistFileError(problems)
    if not entries:
        raise HotlistFileError(["the file has no rows"])
    return entries


def _entry(row: dict[str, Any], now: datetime) -> Entry:
    shown = (row.get("plate") or "").strip()
    plate = normalise(shown)
    if not 2 <= len(plate) <= 10:
        raise ValueError(f"plate {shown!r} must have 2 to 10 letters or digits")
    fields = {k: (row.get(k) or "").strip() for k in ("reason", "source_agency", "entered_by")}
    for key, value in fields.items():
        if not value:
            raise ValueError(f"{key} is empty")
        if len(value) > 200:
            raise ValueError(f"{key} is longer than 200 characters")
    expires = (row.get("expires") or "").strip()
    try:
        # Python 3.10's fromisoformat does not take a trailing Z (3.11's does).
        at = datetime.fromisoformat(expires[:-1] + "+00:00" if expires.endswith(("Z", "z")) else expires)
    except ValueError:
        raise ValueError(f"expires {expires!r} is not a date (YYYY-MM-DD or an ISO 8601 time)") from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    if at <= now:
        raise ValueError(f"expires {expires} is already past")
    tolerance = (row.get("tolerance") or "0").strip() or "0"
    if tolerance not in ("0", "1"):
        raise ValueError(f"tolerance {tolerance!r} must be 0 or 1")
    return Entry(plate, shown, fields["reason"], fields["source_agency"], fields["entered_by"], at, int(tolerance))


def _deletions(text: str) -> set[str]:
    return {text[:i] + text[i + 1 :] for i in range(len(text))}


def one_edit(a: str, b: str) -> bool:
    """True when a and b differ by at most one substitution, insertion or deletion."""
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    if la == lb:
        return sum(x != y for x, y in zip(a, b, strict=True)) == 1
    short, long_ = (a, b) if la < lb else (b, a)
    return any(long_[:i] + long_[i + 1 :] == short for i in range(len(long_)))


@dataclass(frozen=True)
class Active:
    """An entry as the matcher keeps it."""

    id: int
    plate: str
    tolerance: int
    expires_ms: int


class Matcher:
    """The active entries, indexed for exact and one-edit matches."""

    def __init__(self, entries: Iterable[Active] = ()) -> None:
        self.exact: dict[str, list[Active]] = {}
        self.variants: dict[str, list[Active]] = {}
        self.size = 0
        for e in entries:
            self.exact.setdefault(e.plate, []).append(e)
            if e.tolerance:
                for v in {e.plate} | _deletions(e.plate):
                    self.variants.setdefault(v, []).append(e)
            self.size += 1

    def match(self, text: str, now_ms: int) -> list[tuple[int, bool]]:
        """(entry id, fuzzy) of every unexpired entry matching the reading `text`."""
        plate = normalise(text)
        out: dict[int, bool] = {}
        for e in self.exact.get(plate, ()):
            if e.expires_ms > now_ms:
                out[e.id] = False
        if self.variants:
            for key in {plate} | _deletions(plate):
                for e in self.variants.get(key, ()):
                    if e.id not in out and e.expires_ms > now_ms and one_edit(plate, e.plate):
                        out[e.id] = True
        return sorted(out.items())


def load(cur: Any, now: datetime) -> Matcher:
    """The matcher of the entries active at `now`."""
    cur.execute(
        "SELECT id, plate, tolerance, expires_at FROM hotlist_entries WHERE removed_at IS NULL AND expires_at > %s",
        (now,),
    )
    return Matcher(Active(int(i), str(p), int(t), round(x.timestamp() * 1000)) for i, p, t, x in cur.fetchall())


def version(cur: Any) -> tuple[Any, ...]:
    """Changes whenever an entry is added or removed (a cheap check before reloading)."""
    cur.execute("SELECT coalesce(max(id), 0), count(*), max(removed_at) FROM hotlist_entries")
    row = cur.fetchone()
    return tuple(row) if row else ()


class HotlistCache:
    """A worker's matcher, reloaded when the list changed and at most every `every` seconds checked."""

    def __init__(self, every: float = 1.0) -> None:
        self.every = every
        self.matcher = Matcher()
        self._version: tuple[Any, ...] | None = None
        self._checked = 0.0

    def current(self, cur: Any) -> Matcher:
        """The matcher, fresh as of at most `every` seconds ago."""
        now = time.monotonic()
        if now - self._checked >= self.every:
            self._checked = now
            v = version(cur)
            if v != self._version:
                self.matcher = load(cur, datetime.now(UTC))
                self._version = v
        return self.matcher


def alert_rows(matcher: Matcher, reads: Sequence[tuple[str, bytes, int, str]], now: datetime) -> list[tuple[Any, ...]]:
    """Rows for ``alerts`` of the reads (device, read id, captured ms, text) that match an active entry."""
    now_ms = round(now.timestamp() * 1000)
    rows = []
    for device, read_id, captured, text in reads:
        for entry_id, fuzzy in matcher.match(text, now_ms):
            rows.append((entry_id, device, read_id, captured, text, fuzzy, now))
    return rows


INSERT_ALERTS = (
    "INSERT INTO alerts (entry_id, device_id, read_id, captured_ms, plate, fuzzy, created_at) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING"
)
