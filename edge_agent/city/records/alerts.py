"""Hotlist entries in, verified alerts out.

Importing a list checks every row first (nothing is half-imported), audits the import, and checks the reads the
city still holds (the retention window) for the new entries. A match, at import or when the ingest stores a read,
is a ``pending`` alert. A person with a searcher's role looks at the read's crop beside the entry and marks it
``confirmed`` or ``dismissed`` (with a reason); both are audited. Only confirmed alerts are announced: the
``Announcer`` delivers each one to the configured webhook and MQTT topic and marks it announced once all took it
(an outbox: an alert confirmed while a receiver is down is delivered when it is back, never twice marked).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import urllib.error
import urllib.request
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from edge_agent.city.records import audit, hotlist
from edge_agent.city.records.accounts import Principal
from edge_agent.city.records.roles import HOLDERS, SEARCHERS
from edge_agent.city.records.service import RecordsError, RecordsService

if TYPE_CHECKING:
    from edge_agent.config import BrokerConfig

logger = logging.getLogger(__name__)
DISMISS_REASONS = ("misread", "wrong state", "expired", "not the vehicle", "other")


def import_hotlist(svc: RecordsService, actor: str, role: str, text: str) -> dict[str, int]:
    """Import a hotlist CSV; returns {"entries": n, "alerts": matches among held reads}. Raises RecordsError(400)
    listing every bad row's line when any row is bad."""
    now = svc.clock()
    try:
        entries = hotlist.parse_csv(text, now)
    except hotlist.HotlistFileError as exc:
        raise RecordsError(400, str(exc)) from None
    digest = hashlib.sha256(text.encode()).hexdigest()
    with svc.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
        ids = []
        for e in entries:
            cur.execute(
                "INSERT INTO hotlist_entries (plate, shown, reason, source_agency, entered_by, expires_at, tolerance, "
                "imported_by, imported_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
                (e.plate, e.shown, e.reason, e.source_agency, e.entered_by, e.expires_at, e.tolerance, actor, now),
            )
            ids.append(int(cur.fetchone()[0]))
        found = _check_held_reads(cur, svc, list(zip(ids, entries, strict=True)), now)
        audit.append(cur, now, actor, role, "hotlist_import", {"entries": len(ids), "sha256": digest, "alerts": found})
    logger.info("hotlist: %d entries imported, %d pending alert(s) among the reads held", len(ids), found)
    return {"entries": len(ids), "alerts": found}


def _check_held_reads(cur: Any, svc: RecordsService, new: list[tuple[int, hotlist.Entry]], now: datetime) -> int:
    """Pending alerts for the new entries among the reads of the retention window; returns how many."""
    oldest_ms = round((now - timedelta(days=svc.cfg.retention_days)).timestamp() * 1000)
    exact = [e.plate for _, e in new]
    patterns: list[str] = []
    for _, e in new:
        if e.tolerance:
            p = e.plate
            patterns += [p[:i] + "_" + p[i + 1 :] for i in range(len(p))]  # one substituted
            patterns += [p[:i] + "_" + p[i:] for i in range(len(p) + 1)]  # one added
            exact += [p[:i] + p[i + 1 :] for i in range(len(p))]  # one missing
    folded = "translate(plate, 'OI', '01')"
    cur.execute(
        f"SELECT device_id, read_id, captured_ms, plate FROM reads WHERE captured_ms >= %s AND "  # noqa: S608
        f"({folded} = ANY(%s) OR {folded} LIKE ANY(%s)) "
        f"UNION ALL SELECT device_id, read_id, captured_ms, plate FROM held_reads WHERE "
        f"{folded} = ANY(%s) OR {folded} LIKE ANY(%s)",
        (oldest_ms, exact, patterns or ["-"], exact, patterns or ["-"]),
    )
    reads = [(str(d), bytes(r), int(ms), str(p)) for d, r, ms, p in cur.fetchall()]
    matcher = hotlist.Matcher(
        hotlist.Active(i, e.plate, e.tolerance, round(e.expires_at.timestamp() * 1000)) for i, e in new
    )
    created = 0
    for row in hotlist.alert_rows(matcher, reads, now):
        cur.execute(hotlist.INSERT_ALERTS, row)
        created += cur.rowcount
    return created


def remove_entry(svc: RecordsService, who: Principal, entry_id: int, reason: str) -> None:
    """Take an entry off the list (supervisors); it stops matching at once."""
    svc.require(who, HOLDERS, "change the hotlist")
    now = svc.clock()
    with svc.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
        cur.execute(
            "UPDATE hotlist_entries SET removed_by = %s, removed_at = %s WHERE id = %s AND removed_at IS NULL",
            (who.username, now, entry_id),
        )
        if cur.rowcount == 0:
            raise RecordsError(404, f"no active hotlist entry {entry_id}")
        audit.append(cur, now, who.username, who.role, "hotlist_remove", {"entry": entry_id, "reason": reason[:200]})


def entries(svc: RecordsService, who: Principal) -> list[dict[str, Any]]:
    """Active entries, newest first."""
    svc.require(who, SEARCHERS, "see the hotlist")
    with svc.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
        cur.execute(
            "SELECT id, shown, reason, source_agency, entered_by, expires_at, tolerance FROM hotlist_entries "
            "WHERE removed_at IS NULL AND expires_at > %s ORDER BY id DESC LIMIT 1000",
            (svc.clock(),),
        )
        keys = ("id", "plate", "reason", "source_agency", "entered_by", "expires_at", "tolerance")
        return [dict(zip(keys, row, strict=True)) for row in cur.fetchall()]


def alerts(svc: RecordsService, who: Principal, state: str = "pending", limit: int = 200) -> list[dict[str, Any]]:
    """Alerts in a state, oldest first, each with its entry and whether the read has a crop."""
    svc.require(who, SEARCHERS, "see hotlist alerts")
    if state not in ("pending", "confirmed", "dismissed"):
        raise RecordsError(400, "state is pending, confirmed or dismissed")
    with svc.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
        cur.execute(
            "SELECT a.id, a.plate, a.fuzzy, a.device_id, a.read_id, a.captured_ms, a.created_at, a.decided_by, "
            "a.decided_at, a.dismiss_reason, a.announced_at, e.shown, e.reason, e.source_agency, "
            "EXISTS (SELECT 1 FROM reads r WHERE r.device_id = a.device_id AND r.read_id = a.read_id "
            "AND r.captured_ms = a.captured_ms AND r.crop_jpeg IS NOT NULL) "
            "FROM alerts a JOIN hotlist_entries e ON e.id = a.entry_id WHERE a.state = %s ORDER BY a.id LIMIT %s",
            (state, limit),
        )
        out = []
        for row in cur.fetchall():
            (id_, plate, fuzzy, device, read_id, ms, created, by, at, why, announced, shown, reason, agency, crop) = row
            out.append(
                {
                    "id": int(id_),
                    "read_plate": plate,
                    "fuzzy": bool(fuzzy),
                    "ref": f"{device}:{bytes(read_id).hex()}:{ms}",
                    "camera_device": device,
                    "captured_at": datetime.fromtimestamp(ms / 1000, tz=created.tzinfo).isoformat(),
                    "created_at": created.isoformat(),
                    "decided_by": by,
                    "decided_at": at.isoformat() if at else None,
                    "dismiss_reason": why,
                    "announced": announced is not None,
                    "entry_plate": shown,
                    "entry_reason": reason,
                    "source_agency": agency,
                    "has_crop": bool(crop),
                }
            )
        return out


def alert_crop(svc: RecordsService, who: Principal, alert_id: int) -> bytes:
    """The crop of an alert's read, for the person verifying it (audited as a view)."""
    svc.require(who, SEARCHERS, "verify hotlist alerts")
    with svc.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
        cur.execute(
            "SELECT r.crop_jpeg FROM alerts a JOIN reads r ON r.device_id = a.device_id AND r.read_id = a.read_id "
            "AND r.captured_ms = a.captured_ms WHERE a.id = %s AND r.crop_jpeg IS NOT NULL",
            (alert_id,),
        )
        row = cur.fetchone()
        if row is None:
            raise RecordsError(404, f"no crop for alert {alert_id}")
        audit.append(cur, svc.clock(), who.username, who.role, "view_crop", {"alert": alert_id})
        return bytes(row[0])


def decide(svc: RecordsService, who: Principal, alert_id: int, verdict: str, reason: str = "") -> None:
    """A person's verdict on a pending alert: 'confirm' (the crop shows the entry's plate) or 'dismiss' (why)."""
    svc.require(who, SEARCHERS, "verify hotlist alerts")
    if verdict not in ("confirm", "dismiss"):
        raise RecordsError(400, "verdict is confirm or dismiss")
    reason = reason.strip()
    if verdict == "dismiss" and not reason:
        raise RecordsError(400, f"a dismissal needs a reason, e.g. {', '.join(DISMISS_REASONS)}")
    now = svc.clock()
    state = "confirmed" if verdict == "confirm" else "dismissed"
    with svc.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
        cur.execute(
            "UPDATE alerts SET state = %s, decided_by = %s, decided_at = %s, dismiss_reason = %s "
            "WHERE id = %s AND state = 'pending' RETURNING entry_id",
            (state, who.username, now, reason[:200] or None, alert_id),
        )
        row = cur.fetchone()
        if row is None:
            raise RecordsError(409, f"alert {alert_id} is not pending (decided already, or unknown)")
        detail = {"alert": alert_id, "entry": int(row[0]), "verdict": state, "reason": reason[:200]}
        audit.append(cur, now, who.username, who.role, f"alert_{state}", detail)


class Announcer:
    """Delivers confirmed, unannounced alerts to the webhook and the MQTT topic; marks each once all took it."""

    def __init__(self, svc: RecordsService, every: float = 1.0) -> None:
        self.svc = svc
        self.every = every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._mqtt: Any = None

    def start(self) -> None:
        """Deliver in a thread until stop()."""
        self._thread = threading.Thread(target=self._run, name="alerts-announcer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop delivering (what is not yet delivered waits for the next start)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        if self._mqtt is not None:
            self._mqtt.loop_stop()
            self._mqtt.disconnect()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.deliver()
            except Exception:
                logger.exception("alert delivery failed; retrying")
            self._stop.wait(self.every)

    def deliver(self) -> int:
        """One round: announce every confirmed alert not yet announced; returns how many went out."""
        with self.svc.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            cur.execute(
                "SELECT a.id, a.plate, a.device_id, a.captured_ms, a.decided_by, a.decided_at, a.fuzzy, e.shown, "
                "e.reason, e.source_agency FROM alerts a JOIN hotlist_entries e ON e.id = a.entry_id "
                "WHERE a.state = 'confirmed' AND a.announced_at IS NULL ORDER BY a.id LIMIT 100 FOR UPDATE OF a"
            )
            sent = 0
            for id_, plate, device, ms, by, at, fuzzy, shown, reason, agency in cur.fetchall():
                message = {
                    "v": 1,
                    "alert": int(id_),
                    "plate": plate,
                    "entry_plate": shown,
                    "fuzzy": bool(fuzzy),
                    "reason": reason,
                    "source_agency": agency,
                    "device_id": device,
                    "captured_ms": int(ms),
                    "confirmed_by": by,
                    "confirmed_at": at.isoformat(),
                }
                if not self._send(message):
                    break
                cur.execute("UPDATE alerts SET announced_at = %s WHERE id = %s", (self.svc.clock(), id_))
                sent += 1
        return sent

    def _send(self, message: dict[str, Any]) -> bool:
        body = json.dumps(message, sort_keys=True).encode()
        cfg = self.svc.cfg
        if cfg.alerts_webhook:
            req = urllib.request.Request(  # noqa: S310 - the operator's configured http(s) URL
                cfg.alerts_webhook, data=body, headers={"Content-Type": "application/json"}, method="POST"
            )
            try:
                with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310
                    if resp.status >= 300:
                        return False
            except (urllib.error.URLError, OSError) as exc:
                logger.warning("alert webhook unreachable (%s); will retry", exc)
                return False
        if cfg.alerts_broker is not None:
            client = self._mqtt_client(cfg.alerts_broker)
            if client is None:
                return False
            info = client.publish(cfg.alerts_topic, body, qos=1)
            try:
                info.wait_for_publish(5)
            except (RuntimeError, ValueError):
                return False
            if not info.is_published():
                return False
        return True

    def _mqtt_client(self, broker: BrokerConfig) -> Any:
        if self._mqtt is not None:
            return self._mqtt
        from edge_agent.protocol.mqtt import new_client, tls_context

        tls = broker.tls
        if tls.ca is None or tls.cert is None or tls.key is None or broker.host is None:
            logger.warning("records.alerts_broker needs host and tls.ca, tls.cert, tls.key")
            return None
        client, props = new_client(broker.client_id or "records-alerts", tls_context(tls.ca, tls.cert, tls.key),
                                   reconnect=True)  # fmt: skip
        try:
            client.connect(broker.host, broker.port, keepalive=broker.keepalive, properties=props)
        except OSError as exc:
            logger.warning("alert broker unreachable (%s); will retry", exc)
            return None
        client.loop_start()
        self._mqtt = client
        return client
