"""The public transparency report: no login, and every figure equal to a count taken straight from the database."""

from __future__ import annotations

from datetime import timedelta

import psycopg

from edge_agent.city.records import accounts, alerts
from edge_agent.city.records.accounts import Principal
from tests.records.conftest import City, ingest, stored_read

SUPERVISOR = Principal(3, "sam", "supervisor", "-")
SEARCH = {"case_number": "2026-000123", "purpose": "stolen vehicle", "reason": "stolen in Seattle", "plate": "ABC1234"}


def populate(city: City) -> None:
    """Reads, a purge, a hold, searches (one refused), alerts in every state, agencies, camera locations."""
    now = city.clock.now
    old = stored_read("OLD1111", now - timedelta(days=31))
    held = stored_read("OLD2222", now - timedelta(days=31))
    ingest(city.db, [old, held, stored_read("ABC1234", now - timedelta(hours=3), camera="elm-north"),
                     stored_read("DEF5678", now - timedelta(hours=2), device="cam-b", camera="oak-south"),
                     stored_read("GHI9012", now - timedelta(hours=1), camera="elm-south")])  # fmt: skip
    from tests.records.conftest import ref

    city.service.hold(SUPERVISOR, "2026-000777", "evidence", [ref(held)])
    city.service.purge()
    with psycopg.connect(city.db.app_dsn) as conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO device_status VALUES ('cam-a', 'online', '{\"location\": \"Elm St at 5th Ave\"}', 0), "
            "('cam-b', 'online', '{\"location\": null}', 0)"
        )
        accounts.add_agency(cur, "Seattle Police Department", "WA", False, now)
        accounts.add_agency(cur, "Portland Police Bureau", "OR", False, now)
    text = "plate,reason,source_agency,entered_by,expires\n" + "".join(
        f"{p},stolen,WSP,Lee,2027-06-30\n" for p in ("ABC1234", "DEF5678", "GHI9012")
    )
    alerts.import_hotlist(city.service, "sam", "supervisor", text)
    ivy = Principal(1, "ivy", "investigator", "-")
    pending = {a["read_plate"]: a["id"] for a in alerts.alerts(city.service, ivy)}
    alerts.decide(city.service, ivy, pending["ABC1234"], "confirm")
    alerts.decide(city.service, ivy, pending["DEF5678"], "dismiss", "misread")
    client = city.client()
    headers = city.login(client, "ivy")
    assert client.post("/api/search", headers=headers, json=SEARCH).status_code == 200
    assert client.post("/api/search", headers=headers, json={**SEARCH, "purpose": "missing or endangered person"})
    assert (
        client.post("/api/search", headers=headers, json={**SEARCH, "purpose": "parking enforcement"}).status_code
        == 403
    )
    city.service.verify_audit()


def test_the_report_is_public_and_counted_from_the_database(city: City) -> None:
    populate(city)
    r = city.client().get("/api/transparency")
    assert r.status_code == 200
    report = r.json()
    with psycopg.connect(city.db.admin_dsn) as conn:
        one = lambda sql: conn.execute(sql).fetchone()[0]  # noqa: E731
        assert report["reads_held_now"] == one(
            "SELECT (SELECT count(*) FROM reads) + (SELECT count(*) FROM held_reads)"
        )
        assert report["reads_kept_past_retention_on_legal_hold"] == one("SELECT count(*) FROM held_reads") == 1
        assert report["reads_purged_last_30_days"] == 1
        purposes = "SELECT detail->>'purpose', count(*) FROM audit_log WHERE action = 'search' GROUP BY 1"
        by_purpose = dict(conn.execute(purposes).fetchall())
        assert report["searches_last_30_days"]["by_purpose"] == by_purpose
        assert by_purpose == {"stolen vehicle": 1, "missing or endangered person": 1}
        assert report["searches_last_30_days"]["refused"] == one(
            "SELECT count(*) FROM audit_log WHERE action = 'search_refused'") == 1  # fmt: skip
        states = dict(conn.execute("SELECT state, count(*) FROM alerts GROUP BY state").fetchall())
        assert report["hotlist_alerts_last_30_days"] == {"pending": states.get("pending", 0),
                                                         "confirmed": states["confirmed"],
                                                         "dismissed": states["dismissed"]}  # fmt: skip
        assert report["cameras"]["cameras"] == one("SELECT count(*) FROM cameras")
    assert {c["device"]: c["location"] for c in report["cameras"]["where"]} == {
        "cam-a": "Elm St at 5th Ave",
        "cam-b": "not given",
    }
    assert report["retention_days"] == 30
    assert report["last_audit_verification"]["result"] == "intact"
    authority = {a["agency"]: a["authority"] for a in report["agencies_with_access"]}
    assert authority["Portland Police Bureau"] == "a warrant or court order for each search"
    assert "OLD1111" not in r.text and "ivy" not in r.text and "2026-000123" not in r.text  # no plate, person, case
