"""Hotlists: all-or-nothing imports, alerts made as reads are stored, verified by a person before anything is
announced, expired entries silent, one-character tolerance marked; sharing by jurisdiction; exports watermarked."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import psycopg
import pytest

from edge_agent.city.records import accounts, alerts
from edge_agent.city.records.accounts import Principal
from edge_agent.city.records.service import RecordsError, RecordsService
from edge_agent.compat import UTC
from edge_agent.config import BrokerConfig, TLSConfig
from edge_agent.local.localbroker import LocalBroker
from edge_agent.protocol.crypto.pki import LocalPKI
from tests.integration.mqtt_helpers import TestClient as MqttClient
from tests.records.conftest import PASSWORD, City, audit_actions, ingest, stored_read

SUPERVISOR = Principal(3, "sam", "supervisor", "-")
INVESTIGATOR = Principal(1, "ivy", "investigator", "-")
LATER = "2027-06-30"
HEADER = "plate,reason,source_agency,entered_by,expires,tolerance\n"


def _alerts(city: City) -> list[tuple[str, str, bool]]:
    with psycopg.connect(city.db.admin_dsn) as conn:
        rows = conn.execute("SELECT a.plate, a.state, a.fuzzy FROM alerts a ORDER BY a.id").fetchall()
    return [(str(p), str(s), bool(f)) for p, s, f in rows]


def test_a_file_with_bad_rows_imports_nothing(city: City) -> None:
    text = (
        HEADER
        + f"ABC1234,stolen vehicle,WSP,Officer Lee,{LATER},0\n"
        + f"A,stolen vehicle,WSP,Officer Lee,{LATER},0\n"  # line 3: plate too short
        + "XYZ9876,stolen vehicle,WSP,Officer Lee,2020-01-01,0\n"  # line 4: expired
        + f"KLM4821,,WSP,Officer Lee,{LATER},0\n"  # line 5: no reason
        + f"QRS5555,amber alert,WSP,Officer Lee,{LATER},1\n"
    )
    with pytest.raises(RecordsError) as err:
        alerts.import_hotlist(city.service, "sam", "supervisor", text)
    assert err.value.status == 400
    message = err.value.message
    assert "3 bad row(s), nothing imported" in message
    assert "line 3:" in message and "line 4:" in message and "line 5:" in message and "line 2" not in message
    with psycopg.connect(city.db.admin_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM hotlist_entries").fetchone() == (0,)


def test_a_listed_plate_makes_one_pending_alert_as_its_read_is_stored(city: City) -> None:
    alerts.import_hotlist(city.service, "sam", "supervisor", HEADER + f"ABC1234,stolen vehicle,WSP,Lee,{LATER},0\n")
    read = stored_read("ABC1234", datetime.now(UTC) - timedelta(seconds=2))
    t0 = time.monotonic()
    ingest(city.db, [read, stored_read("ZZZ0000", datetime.now(UTC))])
    assert _alerts(city) == [("ABC1234", "pending", False)]
    assert time.monotonic() - t0 < 2.0
    # The same read resent (a lost receipt) is stored once and alerts once.
    from edge_agent.city.ingest.postgres import PostgresStore

    store = PostgresStore(city.db.app_dsn)
    try:
        assert store.add([read]) == 0
    finally:
        store.close()
    assert _alerts(city) == [("ABC1234", "pending", False)]


def test_import_checks_the_reads_already_held(city: City) -> None:
    ingest(city.db, [stored_read("ABC1234", city.clock.now - timedelta(days=3))])
    result = alerts.import_hotlist(city.service, "sam", "supervisor", HEADER + f"ABC1234,stolen,WSP,Lee,{LATER},0\n")
    assert result == {"entries": 1, "alerts": 1}
    assert _alerts(city) == [("ABC1234", "pending", False)]


def test_one_character_tolerance_is_marked_and_only_where_asked(city: City) -> None:
    text = HEADER + f"ABC1234,stolen,WSP,Lee,{LATER},1\n" + f"XYZ9876,stolen,WSP,Lee,{LATER},0\n"
    alerts.import_hotlist(city.service, "sam", "supervisor", text)
    now = datetime.now(UTC)
    ingest(city.db, [stored_read("ABC1284", now), stored_read("XYZ9866", now), stored_read("ABC12345", now)])
    assert sorted(_alerts(city)) == [("ABC12345", "pending", True), ("ABC1284", "pending", True)]


def test_an_expired_entry_stops_matching(city: City) -> None:
    soon = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    alerts.import_hotlist(city.service, "sam", "supervisor", HEADER + f"EXP1234,stolen,WSP,Lee,{soon},0\n")
    time.sleep(2.2)
    ingest(city.db, [stored_read("EXP1234", datetime.now(UTC))])
    assert _alerts(city) == []


class _Webhook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, object]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Webhook.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[str]:
    _Webhook.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Webhook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/alerts"
    server.shutdown()
    server.server_close()


def test_only_confirmed_alerts_are_announced(city: City, webhook: str) -> None:
    svc = RecordsService(city.service.pool, city.service.cfg.model_copy(update={"alerts_webhook": webhook}), city.clock)
    text = HEADER + f"ABC1234,stolen vehicle,WSP,Lee,{LATER},0\n" + f"DEF5678,stolen vehicle,WSP,Lee,{LATER},0\n"
    alerts.import_hotlist(svc, "sam", "supervisor", text)
    now = datetime.now(UTC)
    ingest(city.db, [stored_read("ABC1234", now, crop=b"\xff\xd8crop\xff\xd9"), stored_read("DEF5678", now)])
    announcer = alerts.Announcer(svc)
    assert announcer.deliver() == 0 and _Webhook.received == []  # pending: nothing goes out

    pending = {a["read_plate"]: a["id"] for a in alerts.alerts(svc, INVESTIGATOR)}
    assert alerts.alert_crop(svc, INVESTIGATOR, pending["ABC1234"]) == b"\xff\xd8crop\xff\xd9"
    with pytest.raises(RecordsError):
        alerts.decide(svc, INVESTIGATOR, pending["DEF5678"], "dismiss", "")  # a dismissal needs a reason
    alerts.decide(svc, INVESTIGATOR, pending["DEF5678"], "dismiss", "misread")
    alerts.decide(svc, INVESTIGATOR, pending["ABC1234"], "confirm")
    with pytest.raises(RecordsError) as again:
        alerts.decide(svc, INVESTIGATOR, pending["ABC1234"], "dismiss", "misread")
    assert again.value.status == 409
    with pytest.raises(RecordsError) as auditor:
        alerts.decide(svc, Principal(4, "ada", "auditor", "-"), pending["ABC1234"], "confirm")
    assert auditor.value.status == 403

    assert announcer.deliver() == 1
    assert announcer.deliver() == 0  # announced once
    [message] = _Webhook.received
    assert message["plate"] == "ABC1234" and message["confirmed_by"] == "ivy" and message["source_agency"] == "WSP"
    actions = [a for _, a, _ in audit_actions(city.db)]
    assert actions.count("alert_confirmed") == 1 and actions.count("alert_dismissed") == 1


def _agency_user(city: City, username: str, agency: str, state: str, federal: bool = False) -> None:
    with psycopg.connect(city.db.app_dsn) as conn, conn.cursor() as cur:
        accounts.add_agency(cur, agency, state, federal, city.clock.now)
        accounts.add_user(cur, username, "investigator", city.clock.now, password=PASSWORD, agency=agency)
        city.secrets[username] = accounts.totp_secret(cur, username)


SEARCH = {"case_number": "2026-000123", "purpose": "stolen vehicle", "reason": "stolen in Seattle", "plate": "ABC1234"}
WARRANT = {"number": "SW-2026-0042", "court": "King County Superior Court", "date": "2026-11-18",
           "document_sha256": "9f" * 32}  # fmt: skip


def test_sharing_follows_jurisdiction(city: City) -> None:
    svc = RecordsService(city.service.pool, city.service.cfg.model_copy(update={"state": "WA"}), city.clock)
    city.service = svc
    ingest(city.db, [stored_read("ABC1234", city.clock.now - timedelta(hours=2))])
    _agency_user(city, "wa-det", "Seattle Police Department", "WA")
    _agency_user(city, "or-det", "Portland Police Bureau", "OR")
    _agency_user(city, "fed-agent", "Federal Agency", "WA", federal=True)

    wa, out_of_state, federal = city.client(), city.client(), city.client()
    h_wa, h_or, h_fed = city.login(wa, "wa-det"), city.login(out_of_state, "or-det"), city.login(federal, "fed-agent")
    assert len(wa.post("/api/search", headers=h_wa, json=SEARCH).json()["results"]) == 1
    refused = out_of_state.post("/api/search", headers=h_or, json=SEARCH)
    assert refused.status_code == 403 and "warrant" in refused.json()["error"]
    assert federal.post("/api/search", headers=h_fed, json=SEARCH).status_code == 403
    bad = out_of_state.post("/api/search", headers=h_or, json={**SEARCH, "warrant": {**WARRANT, "date": "soon"}})
    assert bad.status_code == 403
    ok = out_of_state.post("/api/search", headers=h_or, json={**SEARCH, "warrant": WARRANT})
    assert ok.status_code == 200 and len(ok.json()["results"]) == 1

    entries = audit_actions(city.db)
    refusals = [d for a, act, d in entries if act == "search_refused" and a == "or-det"]
    assert len(refusals) == 2 and refusals[0]["agency"] == "Portland Police Bureau"
    [granted] = [d for a, act, d in entries if act == "search" and a == "or-det"]
    assert granted["warrant"] == WARRANT and granted["agency"] == "Portland Police Bureau"


def test_exports_carry_the_case_and_the_person(city: City) -> None:
    ingest(city.db, [stored_read("ABC1234", city.clock.now - timedelta(hours=2))])
    client = city.client()
    headers = city.login(client, "ivy")
    r = client.post("/api/search/export", headers=headers, json=SEARCH)
    assert r.status_code == 200
    lines = r.text.splitlines()
    assert lines[0].startswith("# edge-agent records export: case 2026-000123, by ivy (investigator)")
    assert lines[3].endswith(",2026-000123/ivy") and ",ABC1234," in lines[3]
    assert "export" in [act for _, act, _ in audit_actions(city.db)]


def test_confirmed_alerts_go_out_over_mqtt(city: City, broker: LocalBroker, pki: LocalPKI) -> None:
    """The city's broker, with the project's ACL: the records service publishes with the city's identity."""
    identity = pki.service("city")
    tls = TLSConfig(ca=pki.ca_cert, cert=identity.cert, key=identity.key)
    cfg = city.service.cfg.model_copy(
        update={"alerts_broker": BrokerConfig(host=broker.host, port=broker.port, tls=tls, client_id="records-1")}
    )
    svc = RecordsService(city.service.pool, cfg, city.clock)
    listener = MqttClient(broker, pki, pki.service("dispatch"), "dispatch-console")
    announcer = alerts.Announcer(svc)
    try:
        assert listener.subscribe_wait(cfg.alerts_topic) == [1]
        alerts.import_hotlist(svc, "sam", "supervisor", HEADER + f"ABC1234,stolen vehicle,WSP,Lee,{LATER},0\n")
        ingest(city.db, [stored_read("ABC1234", datetime.now(UTC))])
        assert announcer.deliver() == 0
        [pending] = alerts.alerts(svc, INVESTIGATOR)
        alerts.decide(svc, INVESTIGATOR, pending["id"], "confirm")
        assert announcer.deliver() == 1
        [message] = listener.wait_messages(1)
        body = json.loads(message.payload)
        assert body["plate"] == "ABC1234" and body["confirmed_by"] == "ivy" and body["v"] == 1
        assert not message.retain
    finally:
        announcer.stop()
        listener.close()


def test_supervisors_import_through_the_page(city: City) -> None:
    client = city.client()
    city.login(client, "sam")
    page = client.get("/hotlist")
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    bad = HEADER + f"ABC1234,stolen,WSP,Lee,{LATER},0\n" + f"B,stolen,WSP,Lee,{LATER},0\n"
    r = client.post("/hotlist", data={"csrf_token": token}, files={"file": ("list.csv", bad.encode(), "text/csv")})
    assert r.status_code == 400 and "line 3:" in r.text and "nothing imported" in r.text
    good = HEADER + f"ABC1234,stolen,WSP,Lee,{LATER},0\n"
    r = client.post("/hotlist", data={"csrf_token": token}, files={"file": ("list.csv", good.encode(), "text/csv")})
    assert r.status_code == 200 and "1 entries imported" in r.text and "ABC1234" in r.text
    forged = client.post("/hotlist", data={"csrf_token": "x"}, files={"file": ("l.csv", good.encode(), "text/csv")})
    assert forged.status_code == 403
    ivy = city.client()
    city.login(ivy, "ivy")
    token = ivy.get("/hotlist").text
    assert 'id="import"' not in token  # investigators see the list, not the import
