"""The records service's API against a real PostgreSQL: MFA for every role, searches only under a case number and
an allowed purpose, roles kept apart, CSRF, the audit chain, and bad input refused with one clear line."""

from __future__ import annotations

import logging
from datetime import timedelta

import psycopg
import pytest

from edge_agent.city.records import audit
from tests.records.conftest import PASSWORD, City, audit_actions, ingest, ref, stored_read

SEARCH = {"case_number": "2026-000123", "purpose": "stolen vehicle", "reason": "reported stolen on 19 Nov"}


def test_every_role_needs_password_and_totp(city: City) -> None:
    client = city.client()
    for username in ("ivy", "sam", "ada", "root"):
        city.clock.advance(seconds=31)
        no_code = client.post("/api/login", json={"username": username, "password": PASSWORD, "code": ""})
        assert no_code.status_code == 401
        wrong = "000000" if city.code(username) != "000000" else "111111"
        bad = client.post("/api/login", json={"username": username, "password": PASSWORD, "code": wrong})
        assert bad.status_code == 401
        assert "records_session" not in bad.cookies
        good = client.post("/api/login", json={"username": username, "password": PASSWORD, "code": city.code(username)})
        assert good.status_code == 200, good.text
        cookie = good.headers["set-cookie"]
        assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=strict" in cookie
        # The same code once more is refused: a code seen over someone's shoulder is spent.
        again = client.post(
            "/api/login", json={"username": username, "password": PASSWORD, "code": city.code(username)}
        )
        assert again.status_code == 401
    actions = [(actor, action) for actor, action, _ in audit_actions(city.db)]
    assert actions.count(("ivy", "login")) == 1 and actions.count(("ivy", "login_failed")) == 3


def test_repeated_failures_lock_the_account_and_are_audited(city: City) -> None:
    client = city.client()
    for _ in range(5):
        r = client.post("/api/login", json={"username": "ivy", "password": "wrong password!", "code": city.code("ivy")})
        assert r.status_code == 401
    city.clock.advance(seconds=31)
    locked = client.post("/api/login", json={"username": "ivy", "password": PASSWORD, "code": city.code("ivy")})
    assert locked.status_code == 401
    reasons = [d["why"] for actor, action, d in audit_actions(city.db) if action == "login_failed"]
    assert reasons[-2:] == ["account locked after repeated failures", "account locked"]
    city.clock.advance(minutes=16)
    assert (
        client.post("/api/login", json={"username": "ivy", "password": PASSWORD, "code": city.code("ivy")}).status_code
        == 200
    )


def test_search_needs_a_case_number_and_an_allowed_purpose(city: City) -> None:
    ingest(city.db, [stored_read("ABC1234", city.clock.now - timedelta(days=2))])
    client = city.client()
    headers = city.login(client, "ivy")

    missing = client.post("/api/search", headers=headers, json={**SEARCH, "case_number": "", "plate": "ABC1234"})
    assert missing.status_code == 400 and "case number is required" in missing.json()["error"]
    malformed = client.post("/api/search", headers=headers, json={**SEARCH, "case_number": "12", "plate": "ABC1234"})
    assert malformed.status_code == 400
    unknown = client.post("/api/search", headers=headers, json={**SEARCH, "purpose": "curiosity", "plate": "ABC1234"})
    assert unknown.status_code == 400
    prohibited = client.post(
        "/api/search", headers=headers, json={**SEARCH, "purpose": "Immigration enforcement", "plate": "ABC1234"}
    )
    assert prohibited.status_code == 403 and "prohibited" in prohibited.json()["error"]
    refused = [(a, d) for a, action, d in audit_actions(city.db) if action == "search_refused"]
    assert refused == [("ivy", {"case": "2026-000123", "purpose": "immigration enforcement", "plate": "ABC1234",
                                "why": "prohibited purpose"})]  # fmt: skip

    ok = client.post("/api/search", headers=headers, json={**SEARCH, "plate": "ABC1234"})
    assert ok.status_code == 200, ok.text
    [hit] = ok.json()["results"]
    assert hit["plate"] == "ABC1234" and hit["camera"] == "elm-north" and hit["direction"] == "approaching"
    search = [d for a, action, d in audit_actions(city.db) if action == "search"]
    assert search[-1]["case"] == "2026-000123" and search[-1]["results"] == 1


def test_partial_searches_and_camera_filters(city: City) -> None:
    now = city.clock.now
    ingest(
        city.db,
        [
            stored_read("ABC1234", now - timedelta(hours=3)),
            stored_read("ABD1234", now - timedelta(hours=2), camera="oak-south"),
            stored_read("XYZ9876", now - timedelta(hours=1)),
        ],
    )
    client = city.client()
    headers = city.login(client, "ivy")

    def plates(body: dict[str, object]) -> list[str]:
        found = client.post("/api/search", headers=headers, json=body).json()["results"]
        return sorted(h["plate"] for h in found)

    assert plates({**SEARCH, "plate": "AB*1234"}) == ["ABC1234", "ABD1234"]
    assert plates({**SEARCH, "plate": "AB?1234"}) == ["ABC1234", "ABD1234"]
    assert plates({**SEARCH, "plate": "AB*4", "cameras": ["oak-south"]}) == ["ABD1234"]
    short = client.post("/api/search", headers=headers, json={**SEARCH, "plate": "A*"})
    assert short.status_code == 400 and "3 known characters" in short.json()["error"]
    unknown = client.post("/api/search", headers=headers, json={**SEARCH, "plate": "ABC1234", "cameras": ["nowhere"]})
    assert unknown.status_code == 400 and "unknown camera" in unknown.json()["error"]


def test_roles_are_kept_apart(city: City) -> None:
    item = stored_read("ABC1234", city.clock.now - timedelta(days=1))
    ingest(city.db, [item])
    auditor, investigator, supervisor, admin = city.client(), city.client(), city.client(), city.client()
    a, i, s, r = (city.login(c, u) for c, u in ((auditor, "ada"), (investigator, "ivy"), (supervisor, "sam"),
                                               (admin, "root")))  # fmt: skip
    assert auditor.post("/api/search", headers=a, json={**SEARCH, "plate": "ABC1234"}).status_code == 403
    assert admin.post("/api/search", headers=r, json={**SEARCH, "plate": "ABC1234"}).status_code == 403
    hold = {"case_number": "2026-000123", "reason": "evidence in a burglary", "reads": [ref(item)]}
    assert investigator.post("/api/holds", headers=i, json=hold).status_code == 403
    made = supervisor.post("/api/holds", headers=s, json=hold)
    assert made.status_code == 200, made.text
    hold_id = made.json()["hold"]
    assert investigator.post(f"/api/holds/{hold_id}/release", headers=i, json={}).status_code == 403
    assert investigator.get("/api/audit").status_code == 403
    assert auditor.get("/api/audit").status_code == 200
    assert investigator.get("/api/devices").status_code == 403
    assert supervisor.post(f"/api/holds/{hold_id}/release", headers=s, json={"note": "case closed"}).status_code == 200
    assert city.client().post("/api/search", json={**SEARCH, "plate": "ABC1234"}).status_code == 401


def test_changes_need_the_sessions_csrf_token(city: City) -> None:
    client = city.client()
    city.login(client, "ivy")
    r = client.post("/api/search", json={**SEARCH, "plate": "ABC1234"})
    assert r.status_code == 403 and "CSRF" in r.json()["error"]
    r = client.post("/api/search", headers={"X-CSRF-Token": "forged"}, json={**SEARCH, "plate": "ABC1234"})
    assert r.status_code == 403


def test_audit_chain_verifies_then_names_the_altered_entry(city: City) -> None:
    client = city.client()
    headers = city.login(client, "ivy")
    for plate in ("AAA111", "BBB222", "CCC333"):
        assert client.post("/api/search", headers=headers, json={**SEARCH, "plate": plate}).status_code == 200
    with psycopg.connect(city.db.admin_dsn) as conn:
        verdict = audit.verify(conn)
        assert verdict.ok and verdict.checked == 4  # a login and three searches
        # The service's own role cannot rewrite history.
    with psycopg.connect(city.db.app_dsn) as app, pytest.raises(psycopg.errors.InsufficientPrivilege):
        app.execute("UPDATE audit_log SET actor = 'nobody' WHERE id = 3")
    with psycopg.connect(city.db.admin_dsn) as conn:
        # The owner is stopped by the trigger; only someone who disables it can alter a row.
        with pytest.raises(psycopg.errors.RaiseException):
            conn.execute("DELETE FROM audit_log WHERE id = 3")
        conn.rollback()
        conn.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update")
        conn.execute("UPDATE audit_log SET detail = jsonb_set(detail, '{plate}', '\"ZZZ999\"') WHERE id = 3")
        conn.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update")
        conn.commit()
        verdict = audit.verify(conn)
    assert not verdict.ok and verdict.broken_id == 3 and verdict.checked == 2
    assert "content does not match" in verdict.why


@pytest.mark.parametrize("field", ["case_number", "purpose", "plate", "cameras"])
def test_injection_strings_are_refused_and_store_nothing(city: City, field: str) -> None:
    client = city.client()
    headers = city.login(client, "ivy")
    before = len(audit_actions(city.db))
    evil = "x'; DROP TABLE reads; --"
    body = {**SEARCH, "plate": "ABC1234", field: [evil] if field == "cameras" else evil}
    r = client.post("/api/search", headers=headers, json=body)
    assert r.status_code == 400, r.text
    assert r.json()["error"] and "Traceback" not in r.text
    with psycopg.connect(city.db.admin_dsn) as conn:
        assert conn.execute("SELECT to_regclass('reads') IS NOT NULL").fetchone()[0]
    assert len(audit_actions(city.db)) == before  # a refused malformed search stores nothing


def test_free_text_is_kept_as_text(city: City) -> None:
    """A reason is free text: an injection string in it is kept verbatim and does nothing."""
    ingest(city.db, [stored_read("ABC1234", city.clock.now - timedelta(hours=1))])
    client = city.client()
    headers = city.login(client, "ivy")
    evil = "x'); DELETE FROM reads; --"
    r = client.post("/api/search", headers=headers, json={**SEARCH, "plate": "ABC1234", "reason": evil})
    assert r.status_code == 200 and len(r.json()["results"]) == 1
    assert [d["reason"] for _, action, d in audit_actions(city.db) if action == "search"] == [evil]
    again = client.post("/api/search", headers=headers, json={**SEARCH, "plate": "ABC1234"})
    assert len(again.json()["results"]) == 1


def test_malformed_requests_get_one_clear_line(city: City) -> None:
    client = city.client()
    headers = city.login(client, "ivy")
    huge = client.post("/api/search", headers=headers, json={**SEARCH, "plate": "ABC1234", "limit": 10**9})
    assert huge.status_code == 400 and "limit" in huge.json()["error"]
    over = client.post("/api/search", headers=headers, json={**SEARCH, "plate": "ABC1234", "limit": 5000})
    assert over.status_code == 400 and "limit must be 1 to 500" in over.json()["error"]
    garbage = client.post("/api/search", headers={**headers, "content-type": "application/json"}, content=b"{nope")
    assert garbage.status_code == 400
    typed = client.post("/api/search", headers=headers, json={**SEARCH, "plate": 12345})
    assert typed.status_code == 400
    empty = client.post(
        "/api/search",
        headers=headers,
        json={**SEARCH, "plate": "ABC1234", "start": "2026-11-20T00:00:00Z", "end": "2026-11-19T00:00:00Z"},
    )
    assert empty.status_code == 400 and "empty" in empty.json()["error"]
    bad_ref = client.get("/api/crop", params={"ref": "../../etc/passwd", "search": 1})
    assert bad_ref.status_code in (400, 403)


def test_plate_text_stays_out_of_logs_above_debug(city: City, caplog: pytest.LogCaptureFixture) -> None:
    ingest(city.db, [stored_read("QWE4567", city.clock.now - timedelta(hours=1))])
    client = city.client()
    headers = city.login(client, "ivy")
    with caplog.at_level(logging.INFO):
        assert client.post("/api/search", headers=headers, json={**SEARCH, "plate": "QWE4567"}).status_code == 200
        client.post(
            "/api/search", headers=headers, json={**SEARCH, "purpose": "parking enforcement", "plate": "QWE4567"}
        )
    assert caplog.records, "the service logged nothing at INFO"
    assert all("QWE4567" not in r.getMessage() for r in caplog.records)


def test_crops_are_shown_only_under_the_viewers_own_search(city: City) -> None:
    item = stored_read("CRP1234", city.clock.now - timedelta(hours=1), crop=b"\xff\xd8fake jpeg\xff\xd9")
    ingest(city.db, [item])
    ivy, ian = city.client(), city.client()
    hi = city.login(ivy, "ivy")
    city.login(ian, "ian")
    found = ivy.post("/api/search", headers=hi, json={**SEARCH, "plate": "CRP1234"}).json()
    [hit] = found["results"]
    assert hit["has_crop"]
    crop = ivy.get("/api/crop", params={"ref": hit["ref"], "search": found["search_id"]})
    assert crop.status_code == 200 and crop.content == b"\xff\xd8fake jpeg\xff\xd9"
    other = ian.get("/api/crop", params={"ref": hit["ref"], "search": found["search_id"]})
    assert other.status_code == 403
    assert ("ivy", "view_crop") in [(a, act) for a, act, _ in audit_actions(city.db)]


def test_supervisors_review_searches_and_the_review_is_audited(city: City) -> None:
    ivy, sam = city.client(), city.client()
    hi, hs = city.login(ivy, "ivy"), city.login(sam, "sam")
    search_id = ivy.post("/api/search", headers=hi, json={**SEARCH, "plate": "ABC1234"}).json()["search_id"]
    queue = sam.get("/api/review").json()
    assert [e["id"] for e in queue] == [search_id]
    r = sam.post(f"/api/review/{search_id}", headers=hs, json={"verdict": "flagged", "note": "reason too vague"})
    assert r.status_code == 200
    assert sam.get("/api/review").json() == []
    again = sam.post(f"/api/review/{search_id}", headers=hs, json={"verdict": "approved", "note": "x"})
    assert again.status_code == 409
    assert ("sam", "review") in [(a, act) for a, act, _ in audit_actions(city.db)]


def test_device_view_shows_the_last_status(city: City) -> None:
    with psycopg.connect(city.db.app_dsn) as conn:
        conn.execute(
            "INSERT INTO device_status VALUES ('cam-a', 'online', %s, %s)",
            (
                '{"version": "0.9.0", "clock_synced": true, "spool": {"depth": 4, "oldest_age_s": 12.5},'
                ' "uplink": {"state": "connected", "receipts_rejected": 0, "last_receipt_ms": 1795000000000},'
                ' "models": {"reader": "reader-1"}}',
                city.clock.now.timestamp(),
            ),
        )
    sam = city.client()
    city.login(sam, "sam")
    [row] = sam.get("/api/devices").json()
    assert row["device_id"] == "cam-a" and row["spool_depth"] == 4 and row["uplink"] == "connected"
    assert row["models"] == {"reader": "reader-1"} and row["clock_synced"] is True


def test_openapi_describes_the_api(city: City) -> None:
    spec = city.client().get("/api/openapi.json").json()
    assert {"/api/login", "/api/search", "/api/holds", "/api/audit", "/api/review", "/api/devices"} <= set(
        spec["paths"]
    )
