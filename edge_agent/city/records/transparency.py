"""The public transparency report: what the system holds and how it is used, computed from the database.

Nothing here is typed by hand: the policy and retention come from the running configuration, every count from a
query at the moment the page is asked for. No plate, no person's name and no case number is in it.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from edge_agent.city.records.service import RecordsService


def report(svc: RecordsService) -> dict[str, Any]:
    """The report as a JSON-able dict."""
    now = svc.clock()
    since = now - timedelta(days=30)
    cfg = svc.cfg
    with svc.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
        cur.execute("SELECT (SELECT count(*) FROM reads), (SELECT count(*) FROM held_reads)")
        live, on_hold_past_retention = (int(n) for n in cur.fetchone())
        held_now = live + on_hold_past_retention
        cur.execute(
            "SELECT coalesce(sum((detail->>'reads_dropped')::bigint + (detail->>'released_deleted')::bigint), 0) "
            "FROM audit_log WHERE action = 'purge' AND at >= %s",
            (since,),
        )
        purged = int(cur.fetchone()[0])
        cur.execute(
            "SELECT detail->>'purpose', count(*) FROM audit_log WHERE action = 'search' AND at >= %s "
            "GROUP BY 1 ORDER BY 1",
            (since,),
        )
        searches = {str(p): int(n) for p, n in cur.fetchall()}
        cur.execute(
            "SELECT count(*) FROM audit_log WHERE action = 'search_refused' AND at >= %s",
            (since,),
        )
        refused = int(cur.fetchone()[0])
        cur.execute("SELECT state, count(*) FROM alerts WHERE created_at >= %s GROUP BY state", (since,))
        alert_counts = {"pending": 0, "confirmed": 0, "dismissed": 0} | {str(s): int(n) for s, n in cur.fetchall()}
        cur.execute(
            "SELECT c.device_id, count(*), s.payload FROM cameras c LEFT JOIN device_status s "
            "ON s.device_id = c.device_id GROUP BY c.device_id, s.payload ORDER BY c.device_id"
        )
        cameras = []
        for device, lanes, payload in cur.fetchall():
            location = None
            try:
                status = json.loads(payload) if payload else {}
                location = status.get("location") if isinstance(status, dict) else None
            except ValueError:
                pass
            cameras.append({"device": device, "cameras": int(lanes), "location": location or "not given"})
        cur.execute("SELECT name, state, federal FROM agencies ORDER BY name")
        agencies = [
            {
                "agency": name,
                "state": state,
                "federal": bool(federal),
                "authority": "state law"
                if not federal and cfg.state is not None and state == cfg.state
                else "a warrant or court order for each search",
            }
            for name, state, federal in cur.fetchall()
        ]
        cur.execute(
            "SELECT at, detail->>'result' FROM audit_log WHERE action = 'audit_verify' ORDER BY id DESC LIMIT 1"
        )
        row = cur.fetchone()
        verified = {"at": row[0].isoformat(), "result": row[1]} if row else None
    return {
        "generated_at": now.isoformat(),
        "policy": cfg.policy,
        "retention_days": cfg.retention_days,
        "prohibited_purposes": list(cfg.prohibited_purposes),
        "cameras": {"devices": len(cameras), "cameras": sum(c["cameras"] for c in cameras), "where": cameras},
        "reads_held_now": held_now,
        "reads_kept_past_retention_on_legal_hold": on_hold_past_retention,
        "reads_purged_last_30_days": purged,
        "searches_last_30_days": {"by_purpose": searches, "total": sum(searches.values()), "refused": refused},
        "hotlist_alerts_last_30_days": alert_counts,
        "agencies_with_access": agencies,
        "last_audit_verification": verified,
    }
