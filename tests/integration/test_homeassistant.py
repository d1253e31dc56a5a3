"""Home Assistant on the city's monitoring side: discovery configs for each camera's status, read with the
read-only monitor identity, and never a plate: not in a discovery payload, not in anything the monitor can read."""

from __future__ import annotations

import json
import time
from pathlib import Path

from edge_agent.city.homeassistant import STATUS_FIELDS, discovery
from edge_agent.local.localcity import IngestProcess, LocalCity
from tests.integration.conftest import wait_for
from tests.integration.mqtt_helpers import TestClient
from tests.integration.test_store_forward import Device


def test_discovery_payloads_read_named_status_fields_only() -> None:
    messages = discovery("cam-7", "alpr", location="Elm St")
    assert len(messages) == 9
    for topic, payload in messages.items():
        assert topic.startswith("homeassistant/") and topic.endswith("/config")
        config = json.loads(payload)
        assert config["state_topic"] == "alpr/v1/cam-7/status"
        assert config["device"]["identifiers"] == ["edge_agent_cam-7"]
        fields = {part.split(".")[1] for part in config["value_template"].split() if part.startswith("value_json.")}
        assert fields <= STATUS_FIELDS, fields
        assert not fields & {"plate", "text", "crop_jpeg"}


def test_the_monitor_sees_status_and_discovery_but_no_read(city: LocalCity, tmp_path: Path) -> None:
    ingest = IngestProcess(city, tmp_path / "ingest.yaml")
    assert city.pki.monitor is not None
    monitor = TestClient(city.broker, city.pki, city.pki.monitor, "ha-monitor")
    publisher = TestClient(city.broker, city.pki, city.pki.service("city"), "ha-discovery")
    device = Device(city)
    try:
        for topic in ("homeassistant/#", "alpr/v1/+/status", "alpr/v1/+/reads", "alpr/v1/+/receipts"):
            monitor.subscribe_wait(topic)
        for topic, payload in discovery("cam-1", "alpr").items():
            assert publisher.publish_wait(topic, payload.encode()) == 0
        plates = ["KLM4821", "QWE1234", "ZXC9876"]
        for plate in plates:
            device.add(1, text=plate)
        device.uplink.start()
        assert wait_for(lambda: len(device.spool) == 0, 30)
        assert monitor.publish_wait("alpr/v1/cam-1/receipts", b"{}") == 0x87  # not authorised
        time.sleep(1.0)
        topics = {m.topic.split("/")[0] + "/" + m.topic.split("/")[-1] for m in monitor.messages}
        assert "homeassistant/config" in topics
        assert not [m for m in monitor.messages if m.topic.endswith(("/reads", "/receipts"))]
        everything = b"".join(m.payload for m in monitor.messages)
        assert not any(p.encode() in everything for p in plates)
    finally:
        device.close()
        monitor.close()
        publisher.close()
        ingest.stop()


def test_the_ingest_announces_a_camera_when_its_first_status_arrives(city: LocalCity, tmp_path: Path) -> None:
    """With `ingest.homeassistant`, a newly enrolled camera appears in Home Assistant by itself: no one has to run
    `city ha-discovery` after each enrolment."""
    ingest = IngestProcess(city, tmp_path / "ingest.yaml", homeassistant=True)
    assert city.pki.monitor is not None
    monitor = TestClient(city.broker, city.pki, city.pki.monitor, "ha-monitor")
    device = Device(city)
    try:
        monitor.subscribe_wait("homeassistant/#")
        assert not monitor.messages  # nothing announced before the camera speaks
        device.add(1, text="KLM4821")
        device.uplink.start()
        assert wait_for(lambda: len(device.spool) == 0, 30)
        assert wait_for(lambda: len(monitor.messages) >= 9, 10), [m.topic for m in monitor.messages]
        configs = {m.topic: json.loads(m.payload) for m in monitor.messages}
        assert set(configs) == set(discovery("cam-1", "alpr"))
        assert all(c["state_topic"] == "alpr/v1/cam-1/status" for c in configs.values())
        assert all(m.retain or m.topic in configs for m in monitor.messages)
        assert b"KLM4821" not in b"".join(m.payload for m in monitor.messages)
    finally:
        device.close()
        monitor.close()
        ingest.stop()
