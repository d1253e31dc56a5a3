"""What the records service does, apart from the web: sign-in, searches, holds, reviews, purges, the device view.

Every act checks the role first, then runs in one transaction with its audit entry, so that nothing happens that
the audit log does not show. The web layer (app.py) and the CLI (records ...) call these and nothing below them.
Plate text never goes to the logs above DEBUG; the audit log, inside the city's database, keeps what was searched.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from edge_agent.city.records import accounts, audit, schema
from edge_agent.city.records.accounts import LoginRefusedError, Principal
from edge_agent.city.records.roles import AUDIT_READERS, DEVICE_VIEWERS, HOLD_READERS, HOLDERS, SEARCHERS
from edge_agent.compat import UTC
from edge_agent.config import RecordsConfig

logger = logging.getLogger(__name__)

PLATE_QUERY = re.compile(r"^[A-Z0-9*?]{1,12}$")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
READ_REF = re.compile(r"^(?P<device>[a-z0-9][a-z0-9_-]{0,31}):(?P<read>[0-9a-f]{32}):(?P<ms>[0-9]{1,15})$")
MAX_REASON = 500
_FOLD = str.maketrans({"O": "0", "I": "1"})


class RecordsError(Exception):
    """A request the service refuses: `status` is the HTTP status the web layer answers with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class SearchRequest:
    """One search as a person asks it (validated by ``search``)."""

    case_number: str
    purpose: str
    reason: str
    plate: str
    start: datetime | None = None
    end: datetime | None = None
    cameras: Sequence[str] = ()
    limit: int = 100
    warrant: Warrant | None = None


@dataclass(frozen=True)
class Warrant:
    """The warrant or court order a search by an out-of-state or federal agency must reference."""

    number: str
    court: str
    date: str
    document_sha256: str

    def problems(self) -> str | None:
        """What is missing or malformed, or None."""
        if not (1 <= len(self.number.strip()) <= 64 and 3 <= len(self.court.strip()) <= 200):
            return "a warrant needs its number and the issuing court"
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", self.date.strip()):
            return "the warrant's date is YYYY-MM-DD"
        if not re.fullmatch(r"[0-9a-f]{64}", self.document_sha256.strip().lower()):
            return "the warrant's document is referenced by its SHA-256 (64 hex digits)"
        return None

    def as_dict(self) -> dict[str, str]:
        """For the audit entry."""
        return {"number": self.number.strip(), "court": self.court.strip(), "date": self.date.strip(),
                "document_sha256": self.document_sha256.strip().lower()}  # fmt: skip


@dataclass(frozen=True)
class Hit:
    """One read found."""

    ref: str
    device_id: str
    camera: str
    plate: str
    confidence: float
    direction: str
    captured_at: datetime
    has_crop: bool
    held: bool

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "ref": self.ref,
            "device_id": self.device_id,
            "camera": self.camera,
            "plate": self.plate,
            "confidence": round(self.confidence, 3),
            "direction": self.direction,
            "captured_at": self.captured_at.isoformat(),
            "has_crop": self.has_crop,
            "held": self.held,
        }


@dataclass
class PurgeReport:
    """What one purge did."""

    cutoff: datetime
    partitions: list[str] = field(default_factory=list)
    reads_dropped: int = 0
    kept_on_hold: int = 0
    released_deleted: int = 0

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form (also the audit entry's detail)."""
        return {
            "cutoff": self.cutoff.isoformat(),
            "partitions": self.partitions,
            "reads_dropped": self.reads_dropped,
            "kept_on_hold": self.kept_on_hold,
            "released_deleted": self.released_deleted,
        }


def _utc_now() -> datetime:
    return datetime.now(UTC)


class RecordsService:
    """The records' operations over a connection pool (psycopg_pool.ConnectionPool or anything with .connection())."""

    def __init__(self, pool: Any, cfg: RecordsConfig, clock: Callable[[], datetime] = _utc_now) -> None:
        self.pool = pool
        self.cfg = cfg
        self.clock = clock
        self._case = re.compile(cfg.case_number_pattern)
        self._purposes = {p.lower(): p for p in cfg.purposes}
        self._prohibited = {p.lower(): p for p in cfg.prohibited_purposes}

    # --- people -------------------------------------------------------------------------------------------------

    def login(self, username: str, password: str, code: str, client: str = "") -> tuple[str, Principal]:
        """(session token, who) for a right password and TOTP code; every attempt is audited."""
        now = self.clock()
        username = username.strip()[:64]
        with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            try:
                user_id, role = accounts.check_login(
                    cur,
                    username,
                    password,
                    code.strip(),
                    now,
                    self.cfg.lockout_after,
                    timedelta(seconds=self.cfg.lockout),
                )
            except LoginRefusedError as refused:
                audit.append(cur, now, username or "-", "-", "login_failed", {"why": refused.reason, "from": client})
                logger.info("login refused for an account (%s)", refused.reason)
                refused_error = RecordsError(401, "wrong user name, password or code, or the account is locked")
            else:
                token, csrf = accounts.open_session(cur, user_id, now, timedelta(seconds=self.cfg.session_lifetime))
                audit.append(cur, now, username, role, "login", {"from": client})
                return token, Principal(user_id, username, role, csrf)
        raise refused_error

    def who(self, token: str) -> Principal | None:
        """The person a session token belongs to, if the session is alive."""
        with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            return accounts.session(cur, token, self.clock())

    def logout(self, token: str, who: Principal) -> None:
        """End a session."""
        with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            accounts.close_session(cur, token)
            audit.append(cur, self.clock(), who.username, who.role, "logout", {})

    # --- searches -----------------------------------------------------------------------------------------------

    def search(self, who: Principal, req: SearchRequest) -> tuple[int, list[Hit]]:
        """(audit entry id, reads) of a search; refused ones raise RecordsError and are audited."""
        now = self.clock()
        self.require(who, SEARCHERS, "search")
        purpose_key = req.purpose.strip().lower()
        if purpose_key in self._prohibited:
            detail = {"case": req.case_number[:64], "purpose": self._prohibited[purpose_key], "plate": req.plate[:12]}
            self._audit(who, "search_refused", {**detail, "why": "prohibited purpose"})
            logger.warning("%s asked for a search with a prohibited purpose; refused and audited", who.username)
            raise RecordsError(403, f"searches for {self._prohibited[purpose_key]} are prohibited by policy")
        case = req.case_number.strip()
        if not case:
            raise RecordsError(400, "a case number is required for every search")
        if not self._case.fullmatch(case):
            raise RecordsError(400, f"case number {case[:64]!r} does not have the form {self.cfg.case_number_pattern}")
        if purpose_key not in self._purposes:
            raise RecordsError(400, f"purpose must be one of: {', '.join(self.cfg.purposes)}")
        reason = req.reason.strip()
        if not 3 <= len(reason) <= MAX_REASON:
            raise RecordsError(400, f"a reason of 3 to {MAX_REASON} characters is required")
        plate = req.plate.strip().upper().replace(" ", "").replace("-", "")
        if not PLATE_QUERY.fullmatch(plate):
            raise RecordsError(400, "plate: 1-12 of A-Z, 0-9, * (any run) and ? (one character)")
        partial = "*" in plate or "?" in plate
        if partial and len(plate.replace("*", "").replace("?", "")) < 3:
            raise RecordsError(400, "a partial plate needs at least 3 known characters")
        if not 1 <= req.limit <= self.cfg.max_results:
            raise RecordsError(400, f"limit must be 1 to {self.cfg.max_results}")
        warrant = self._authority(who, req, case, plate)
        oldest = now - timedelta(days=self.cfg.retention_days)
        start = req.start or oldest  # live reads are never older than `oldest`; held ones may be
        end = req.end or now
        if end <= start:
            raise RecordsError(400, "the time range is empty (end is not after start)")
        cameras = [c.strip() for c in req.cameras if c.strip()]
        if len(cameras) > 100 or any(not NAME.fullmatch(c) for c in cameras):
            raise RecordsError(400, "cameras: at most 100 names of letters, digits, '_', '.', ':' or '-'")
        with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            if cameras:
                cur.execute("SELECT DISTINCT camera FROM cameras WHERE camera = ANY(%s)", (cameras,))
                unknown = sorted(set(cameras) - {str(c) for (c,) in cur.fetchall()})
                if unknown:
                    raise RecordsError(400, f"unknown camera(s): {', '.join(unknown)}")
            hits = self._find(cur, plate, partial, start, end, cameras, req.limit, oldest)
            entry = audit.append(
                cur,
                now,
                who.username,
                who.role,
                "search",
                {
                    "case": case,
                    "purpose": self._purposes[purpose_key],
                    "reason": reason,
                    "plate": plate,
                    "start": start.isoformat(),
                    "end": end.isoformat(),
                    "cameras": cameras,
                    "results": len(hits),
                    **({"agency": who.agency} if who.agency else {}),
                    **({"warrant": warrant.as_dict()} if warrant else {}),
                },
            )
        logger.info("search %d by %s: %d result(s)", entry, who.username, len(hits))
        return entry, hits

    def _authority(self, who: Principal, req: SearchRequest, case: str, plate: str) -> Warrant | None:
        """The warrant a search must carry, checked (None when the searcher's agency needs none).

        The city's own staff (no agency) and agencies of the data owner's state search under state law; an agency
        of another state, or a federal one, only with a warrant or court order; without one the search is refused
        and the attempt audited. Bulk or national sharing does not exist.
        """
        in_state = who.agency is None or (
            not who.federal and self.cfg.state is not None and who.agency_state == self.cfg.state
        )
        if in_state:
            return None
        problem = "an out-of-state or federal agency searches only with a warrant or court order"
        if req.warrant is not None:
            problem = req.warrant.problems() or ""
        if problem:
            detail = {"case": case, "plate": plate, "agency": who.agency, "why": problem}
            self._audit(who, "search_refused", detail)
            raise RecordsError(403, problem)
        return req.warrant

    @staticmethod
    def _find(
        cur: Any,
        plate: str,
        partial: bool,
        start: datetime,
        end: datetime,
        cameras: list[str],
        limit: int,
        oldest: datetime,
    ) -> list[Hit]:
        folded = "translate(plate, 'OI', '01')"
        match = f"{folded} LIKE %(plate)s" if partial else f"{folded} = %(plate)s"
        where = (
            match
            + " AND captured_ms >= %(start)s AND captured_ms < %(end)s"
            + (" AND camera = ANY(%(cameras)s)" if cameras else "")
        )
        cols = "device_id, read_id, captured_ms, camera, plate, confidence, direction, crop_jpeg IS NOT NULL"
        held = (
            "EXISTS (SELECT 1 FROM hold_items hi JOIN holds h ON h.id = hi.hold_id WHERE h.released_at IS NULL "
            "AND hi.device_id = r.device_id AND hi.read_id = r.read_id AND hi.captured_ms = r.captured_ms)"
        )
        # Live reads inside retention, and reads a hold keeps (in held_reads once their day was purged).
        sql = (
            f"SELECT {cols}, {held} FROM reads r WHERE {where} AND captured_ms >= %(oldest)s "  # noqa: S608 - fixed SQL
            f"UNION ALL SELECT {cols}, true FROM held_reads r WHERE {where} "
            "ORDER BY captured_ms DESC LIMIT %(limit)s"
        )
        params = {
            "plate": plate.translate(_FOLD).replace("*", "%").replace("?", "_"),
            "start": _ms(start),
            "end": _ms(end),
            "cameras": cameras,
            "limit": limit,
            "oldest": _ms(oldest),
        }
        cur.execute(sql, params)
        return [
            Hit(
                f"{device}:{bytes(read_id).hex()}:{ms}",
                device,
                camera,
                text,
                float(conf),
                direction,
                datetime.fromtimestamp(ms / 1000, UTC),
                bool(has_crop),
                bool(is_held),
            )
            for device, read_id, ms, camera, text, conf, direction, has_crop, is_held in cur.fetchall()
        ]

    def crop(self, who: Principal, ref: str, search_id: int) -> bytes:
        """The plate crop of a read found by the caller's search `search_id` (audited as a view)."""
        self.require(who, SEARCHERS, "view plate crops")
        device, read_id, ms = _parse_ref(ref)
        with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            cur.execute(
                "SELECT actor FROM audit_log WHERE id = %s AND action = 'search'",
                (search_id,),
            )
            row = cur.fetchone()
            if row is None or row[0] != who.username:
                raise RecordsError(403, "a crop is shown only under a search of your own")
            cur.execute(
                "SELECT crop_jpeg FROM reads WHERE device_id = %s AND read_id = %s AND captured_ms = %s "
                "UNION ALL SELECT crop_jpeg FROM held_reads WHERE device_id = %s AND read_id = %s AND captured_ms = %s",
                (device, read_id, ms, device, read_id, ms),
            )
            found = cur.fetchone()
            if found is None or found[0] is None:
                raise RecordsError(404, "no crop for that read")
            audit.append(cur, self.clock(), who.username, who.role, "view_crop", {"read": ref, "search": search_id})
            return bytes(found[0])

    # --- holds --------------------------------------------------------------------------------------------------

    def hold(self, who: Principal, case_number: str, reason: str, refs: Sequence[str]) -> int:
        """Put reads on a legal hold under a case (supervisors); returns the hold's id."""
        self.require(who, HOLDERS, "place legal holds")
        case = case_number.strip()
        if not self._case.fullmatch(case):
            raise RecordsError(400, f"case number must have the form {self.cfg.case_number_pattern}")
        if not 3 <= len(reason.strip()) <= MAX_REASON:
            raise RecordsError(400, f"a reason of 3 to {MAX_REASON} characters is required")
        if not 1 <= len(refs) <= 1000:
            raise RecordsError(400, "a hold names 1 to 1000 reads")
        keys = [_parse_ref(r) for r in refs]
        now = self.clock()
        with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            for device, read_id, ms in keys:
                cur.execute(
                    "SELECT 1 FROM reads WHERE device_id = %s AND read_id = %s AND captured_ms = %s "
                    "UNION ALL SELECT 1 FROM held_reads WHERE device_id = %s AND read_id = %s AND captured_ms = %s",
                    (device, read_id, ms, device, read_id, ms),
                )
                if cur.fetchone() is None:
                    raise RecordsError(404, f"no read {device}:{read_id.hex()}:{ms} (purged, or never stored)")
            cur.execute(
                "INSERT INTO holds (case_number, reason, created_by, created_at) VALUES (%s, %s, %s, %s) RETURNING id",
                (case, reason.strip(), who.username, now),
            )
            hold_id = int(cur.fetchone()[0])
            cur.executemany(
                "INSERT INTO hold_items (hold_id, device_id, read_id, captured_ms) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT DO NOTHING",
                [(hold_id, d, r, m) for d, r, m in keys],
            )
            audit.append(
                cur,
                now,
                who.username,
                who.role,
                "hold",
                {"hold": hold_id, "case": case, "reason": reason.strip(), "reads": list(refs)},
            )
        return hold_id

    def release(self, who: Principal, hold_id: int, note: str = "") -> None:
        """Release a hold (supervisors): its reads go at the next purge if their time is past."""
        self.require(who, HOLDERS, "release legal holds")
        now = self.clock()
        with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            cur.execute(
                "UPDATE holds SET released_by = %s, released_at = %s WHERE id = %s AND released_at IS NULL "
                "RETURNING case_number",
                (who.username, now, hold_id),
            )
            row = cur.fetchone()
            if row is None:
                raise RecordsError(404, f"no active hold {hold_id}")
            audit.append(
                cur, now, who.username, who.role, "hold_release", {"hold": hold_id, "case": row[0], "note": note[:500]}
            )

    def holds(self, who: Principal) -> list[dict[str, Any]]:
        """Every hold, newest first, with its number of reads."""
        self.require(who, HOLD_READERS, "list legal holds")
        with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            cur.execute(
                "SELECT h.id, h.case_number, h.reason, h.created_by, h.created_at, h.released_by, h.released_at, "
                "(SELECT count(*) FROM hold_items i WHERE i.hold_id = h.id) FROM holds h ORDER BY h.id DESC LIMIT 500"
            )
            keys = ("id", "case", "reason", "created_by", "created_at", "released_by", "released_at", "reads")
            return [dict(zip(keys, row, strict=True)) for row in cur.fetchall()]

    # --- retention ----------------------------------------------------------------------------------------------

    def purge(self, actor: str = "system") -> PurgeReport:
        """Drop every day partition wholly older than the retention, keeping held reads; audited with counts.

        A held read is copied into held_reads before its day goes. Reads in held_reads whose holds are all released
        and whose time is past are deleted, and the table is rewritten (VACUUM FULL) so the deleted rows' text
        leaves its file. Today's and tomorrow's partitions are made ahead of the ingest.
        """
        now = self.clock()
        cutoff = now - timedelta(days=self.cfg.retention_days)
        cutoff_ms = _ms(cutoff)
        report = PurgeReport(cutoff)
        active = (
            "EXISTS (SELECT 1 FROM hold_items hi JOIN holds h ON h.id = hi.hold_id WHERE h.released_at IS NULL "
            "AND hi.device_id = r.device_id AND hi.read_id = r.read_id AND hi.captured_ms = r.captured_ms)"
        )
        with self.pool.connection() as conn:
            for name, day in schema.partitions(conn):
                if day + schema.DAY_MS > cutoff_ms:
                    continue
                with conn.transaction(), conn.cursor() as cur:
                    cur.execute(f"SELECT count(*) FROM {name}")  # noqa: S608 - a partition name from the catalog
                    total = int(cur.fetchone()[0])
                    cur.execute(
                        f"INSERT INTO held_reads SELECT r.* FROM {name} r WHERE {active} "  # noqa: S608
                        "ON CONFLICT DO NOTHING"
                    )
                    kept = cur.rowcount
                    cur.execute(f"DROP TABLE {name}")
                report.partitions.append(name)
                report.reads_dropped += total - kept
                report.kept_on_hold += kept
            with conn.transaction(), conn.cursor() as cur:
                cur.execute(f"DELETE FROM held_reads r WHERE captured_ms < %s AND NOT {active}", (cutoff_ms,))  # noqa: S608
                report.released_deleted = cur.rowcount
            if report.released_deleted:
                conn.autocommit = True
                try:
                    conn.execute("VACUUM FULL held_reads")
                finally:
                    conn.autocommit = False
            today = schema.day_start(_ms(now))
            schema.ensure_partitions(conn, {today, today + schema.DAY_MS}, set())
            with conn.transaction(), conn.cursor() as cur:
                audit.append(cur, now, actor, "system", "purge", report.as_dict())
        logger.info(
            "purge: %d day(s) dropped, %d read(s) deleted, %d kept on hold, %d released and deleted",
            len(report.partitions),
            report.reads_dropped,
            report.kept_on_hold,
            report.released_deleted,
        )
        return report

    # --- oversight ----------------------------------------------------------------------------------------------

    def audit_entries(self, who: Principal, start: datetime, end: datetime, action: str | None = None) -> list[Any]:
        """Audit entries of a time range (auditors, supervisors); the viewing is itself audited."""
        self.require(who, AUDIT_READERS, "read the audit log")
        with self.pool.connection() as conn:
            rows = audit.entries(conn, start, end, action)
            with conn.transaction(), conn.cursor() as cur:
                audit.append(
                    cur,
                    self.clock(),
                    who.username,
                    who.role,
                    "audit_view",
                    {"start": start.isoformat(), "end": end.isoformat(), "action": action, "entries": len(rows)},
                )
        return rows

    def review_queue(self, who: Principal, limit: int = 200) -> list[audit.Entry]:
        """Searches no supervisor has reviewed yet, oldest first."""
        self.require(who, HOLDERS, "review searches")
        with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            cur.execute(
                "SELECT a.id, a.at, a.actor, a.role, a.action, a.detail, a.prev_hash, a.hash FROM audit_log a "
                "WHERE a.action IN ('search', 'search_refused') "
                "AND NOT EXISTS (SELECT 1 FROM reviews v WHERE v.audit_id = a.id) ORDER BY a.id LIMIT %s",
                (limit,),
            )
            return [
                audit.Entry(int(i), at, actor, role, act, detail, bytes(p), bytes(h))
                for i, at, actor, role, act, detail, p, h in cur.fetchall()
            ]

    def review(self, who: Principal, audit_id: int, verdict: str, note: str) -> None:
        """A supervisor's verdict (approved or flagged) on a search, with a note; audited."""
        self.require(who, HOLDERS, "review searches")
        if verdict not in ("approved", "flagged"):
            raise RecordsError(400, "verdict is 'approved' or 'flagged'")
        if not 1 <= len(note.strip()) <= MAX_REASON:
            raise RecordsError(400, f"a note of 1 to {MAX_REASON} characters is required")
        now = self.clock()
        with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            cur.execute(
                "SELECT actor FROM audit_log WHERE id = %s AND action IN ('search', 'search_refused')", (audit_id,)
            )
            row = cur.fetchone()
            if row is None:
                raise RecordsError(404, f"no search {audit_id} in the audit log")
            if row[0] == who.username:
                raise RecordsError(403, "a supervisor does not review their own searches")
            cur.execute(
                "INSERT INTO reviews (audit_id, verdict, note, reviewer, reviewed_at) VALUES (%s, %s, %s, %s, %s) "
                "ON CONFLICT DO NOTHING",
                (audit_id, verdict, note.strip(), who.username, now),
            )
            if cur.rowcount == 0:
                raise RecordsError(409, f"search {audit_id} was reviewed already")
            audit.append(
                cur,
                now,
                who.username,
                who.role,
                "review",
                {"search": audit_id, "verdict": verdict, "note": note.strip()},
            )

    def export_audit(self, who: Principal, start: datetime, end: datetime, fmt: str) -> str:
        """The audit entries of a range as CSV or JSON (auditors, supervisors); the export is audited."""
        self.require(who, AUDIT_READERS, "export the audit log")
        if fmt not in ("csv", "json"):
            raise RecordsError(400, "format is csv or json")
        with self.pool.connection() as conn:
            rows = audit.entries(conn, start, end, limit=1_000_000)
            with conn.transaction(), conn.cursor() as cur:
                audit.append(
                    cur,
                    self.clock(),
                    who.username,
                    who.role,
                    "audit_export",
                    {"start": start.isoformat(), "end": end.isoformat(), "format": fmt, "entries": len(rows)},
                )
        return audit.export(rows, fmt)

    def devices(self, who: Principal) -> list[dict[str, Any]]:
        """Every camera device's last status (the ingest keeps it from the status topic)."""
        self.require(who, DEVICE_VIEWERS, "see the devices")
        with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            cur.execute("SELECT device_id, state, payload, updated_at FROM device_status ORDER BY device_id")
            out = []
            for device_id, state, payload, updated in cur.fetchall():
                try:
                    status = json.loads(payload)
                except ValueError:
                    status = {}
                out.append(_device_row(device_id, state, status if isinstance(status, dict) else {}, updated))
            return out

    def verify_audit(self, actor: str = "system", role: str = "system") -> audit.Verdict:
        """Check the audit chain and record the check (the transparency report shows the last one)."""
        with self.pool.connection() as conn:
            verdict = audit.verify(conn)
            result = "intact" if verdict.ok else f"broken at entry {verdict.broken_id}"
            with conn.transaction(), conn.cursor() as cur:
                audit.append(
                    cur, self.clock(), actor, role, "audit_verify", {"result": result, "checked": verdict.checked}
                )
        if not verdict.ok:
            logger.error("audit log: chain broken at entry %s (%s)", verdict.broken_id, verdict.why)
        return verdict

    def export_results(self, who: Principal, req: SearchRequest) -> str:
        """A search's results as CSV, watermarked with the case number, the person and the time (audited)."""
        entry, hits = self.search(who, req)
        now = self.clock()
        lines = [
            f"# edge-agent records export: case {req.case_number.strip()}, by {who.username} ({who.role}), "
            f"{now.isoformat()}, search {entry}",
            "# For the named case only. Sharing it further is governed by the records policy.",
            "captured_at,device,camera,plate,confidence,direction,held,watermark",
        ]
        mark = f"{req.case_number.strip()}/{who.username}"
        for h in hits:
            lines.append(
                f"{h.captured_at.isoformat()},{h.device_id},{h.camera},{h.plate},{h.confidence:.3f},{h.direction},"
                f"{str(h.held).lower()},{mark}"
            )
        self._audit(who, "export", {"search": entry, "case": req.case_number.strip(), "rows": len(hits)})
        return "\n".join(lines) + "\n"

    def note_config(self) -> bool:
        """Audit the records policy when it differs from the one last audited (at service start); True if so."""
        policy = self.cfg.model_dump(mode="json", exclude={"dsn", "dsn_file"})
        digest = hashlib.sha256(json.dumps(policy, sort_keys=True).encode()).hexdigest()
        with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            cur.execute("SELECT detail->>'digest' FROM audit_log WHERE action = 'config' ORDER BY id DESC LIMIT 1")
            row = cur.fetchone()
            if row is not None and row[0] == digest:
                return False
            audit.append(cur, self.clock(), "system", "system", "config", {"digest": digest, "policy": policy})
            return True

    def require(self, who: Principal, roles: Sequence[str], what: str) -> None:
        """Refuse (403) a person whose role may not do `what`; the attempt is audited."""
        if who.role not in roles:
            self._audit(who, "denied", {"what": what})
            raise RecordsError(403, f"the {who.role} role may not {what}")

    def _audit(self, who: Principal, action: str, detail: dict[str, Any]) -> None:
        with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            audit.append(cur, self.clock(), who.username, who.role, action, detail)


def _device_row(device_id: str, state: str, status: dict[str, Any], updated: float) -> dict[str, Any]:
    """The device view's row from a status message (docs/protocol.md section 6); missing fields stay None."""

    def part(name: str) -> dict[str, Any]:
        value = status.get(name)
        return value if isinstance(value, dict) else {}

    spool, uplink, reads = part("spool"), part("uplink"), part("reads")
    last_receipt = uplink.get("last_receipt_ms")
    return {
        "device_id": device_id,
        "state": state,
        "updated_at": datetime.fromtimestamp(float(updated), UTC).isoformat(),
        "version": status.get("version"),
        "clock_synced": status.get("clock_synced"),
        "uptime_s": status.get("uptime_s"),
        "uplink": uplink.get("state"),
        "spool_depth": spool.get("depth"),
        "spool_oldest_s": spool.get("oldest_age_s"),
        "reads_sealed": reads.get("sealed"),
        "last_receipt": datetime.fromtimestamp(last_receipt / 1000, UTC).isoformat()
        if isinstance(last_receipt, int | float)
        else None,
        "receipts_rejected": uplink.get("receipts_rejected"),
        "models": part("models"),
    }


def _parse_ref(ref: str) -> tuple[str, bytes, int]:
    m = READ_REF.fullmatch(ref.strip())
    if not m:
        raise RecordsError(400, "a read is named device:read-id(32 hex):captured-ms")
    return m.group("device"), bytes.fromhex(m.group("read")), int(m.group("ms"))


def _ms(at: datetime) -> int:
    return round(at.timestamp() * 1000)
