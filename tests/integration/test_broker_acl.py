"""The broker fixture enforces the project's ACL over mutual TLS."""

from __future__ import annotations

import ssl

import paho.mqtt.client as mqtt
import pytest

from edge_agent.local.localbroker import LocalBroker
from edge_agent.protocol.crypto.pki import LocalPKI, mint_local_pki
from edge_agent.protocol.mqtt import new_client, tls_context

from .mqtt_helpers import TestClient

NOT_AUTHORIZED = 0x87


def test_device_publishes_to_its_own_topic(broker: LocalBroker, pki: LocalPKI) -> None:
    c = TestClient(broker, pki, pki.device("cam-a"), "cam-a")
    try:
        # Success is any reason code below 0x80 (0x10 = accepted, no subscriber yet).
        assert c.publish_wait("alpr/v1/cam-a/reads", b"x") in (0x00, 0x10)
        assert c.publish_wait("alpr/v1/cam-a/status", b"online") in (0x00, 0x10)
    finally:
        c.close()


def test_device_cannot_publish_to_another_devices_topic(broker: LocalBroker, pki: LocalPKI) -> None:
    c = TestClient(broker, pki, pki.device("cam-a"), "cam-a-2")
    try:
        rc = c.publish_wait("alpr/v1/cam-b/reads", b"forged")
        assert rc is None or rc == NOT_AUTHORIZED
    finally:
        c.close()


def test_device_cannot_forge_receipts_for_another_device(broker: LocalBroker, pki: LocalPKI) -> None:
    c = TestClient(broker, pki, pki.device("cam-a"), "cam-a-3")
    try:
        rc = c.publish_wait("alpr/v1/cam-b/receipts", b"forged receipt")
        assert rc is None or rc == NOT_AUTHORIZED
        rc = c.publish_wait("alpr/v1/cam-a/receipts", b"self-made receipt")
        assert rc is None or rc == NOT_AUTHORIZED
    finally:
        c.close()


def test_device_cannot_read_another_devices_receipts(broker: LocalBroker, pki: LocalPKI) -> None:
    spy = TestClient(broker, pki, pki.device("cam-a"), "cam-a-4")
    owner = TestClient(broker, pki, pki.device("cam-b"), "cam-b-4")
    ingest = TestClient(broker, pki, pki.ingest, "ingest-4")
    try:
        # mosquitto grants the subscription but its ACL withholds every message on delivery.
        spy.subscribe_wait("alpr/v1/cam-b/receipts")
        spy.subscribe_wait("alpr/v1/+/receipts")
        owner.subscribe_wait("alpr/v1/cam-b/receipts")
        assert ingest.publish_wait("alpr/v1/cam-b/receipts", b"for cam-b only") == 0
        assert [m.payload for m in owner.wait_messages(1)] == [b"for cam-b only"]
        assert spy.wait_messages(1, timeout=1.0) == []
    finally:
        for c in (spy, owner, ingest):
            c.close()


def test_a_client_id_cannot_take_over_another_devices_session(broker: LocalBroker, pki: LocalPKI) -> None:
    """The broker makes the certificate's CN the client id (use_username_as_clientid): cam-a claiming cam-b's
    client id gets a session of its own, and cam-b stays connected and keeps its receipts."""
    owner = TestClient(broker, pki, pki.device("cam-b"), "cam-b")
    ingest = TestClient(broker, pki, pki.ingest, "ingest-1")
    intruder = None
    try:
        owner.subscribe_wait("alpr/v1/cam-b/receipts")
        intruder = TestClient(broker, pki, pki.device("cam-a"), "cam-b")
        intruder.subscribe_wait("alpr/v1/cam-b/receipts")
        assert ingest.publish_wait("alpr/v1/cam-b/receipts", b"for cam-b") == 0
        assert [m.payload for m in owner.wait_messages(1)] == [b"for cam-b"]
        assert not owner.disconnected.wait(1.0), "cam-b was thrown off by a client claiming its client id"
        assert intruder.messages == []
    finally:
        for c in (owner, ingest, intruder):
            if c is not None:
                c.close()


def test_two_workers_with_one_certificate_cannot_both_stay(broker: LocalBroker, pki: LocalPKI) -> None:
    """Why each ingest worker has an identity of its own: a second connection with the same certificate takes
    the first one's client id, whatever client id it asks for."""
    first = TestClient(broker, pki, pki.ingest, "ingest-a")
    second = other = None
    try:
        second = TestClient(broker, pki, pki.ingest, "ingest-b")
        assert first.disconnected.wait(5.0)
        first.close()  # before paho reconnects it
        other = TestClient(broker, pki, pki.service("ingest-2"), "ingest-c")
        assert not second.disconnected.wait(1.0) and not other.disconnected.is_set()
    finally:
        for c in (first, second, other):
            if c is not None:
                c.close()


def test_ingest_reads_every_device_and_writes_receipts(broker: LocalBroker, pki: LocalPKI) -> None:
    ingest = TestClient(broker, pki, pki.ingest, "ingest-test")
    device = TestClient(broker, pki, pki.device("cam-b"), "cam-b")
    try:
        assert ingest.subscribe_wait("$share/ingest/alpr/v1/+/reads") == [1]
        assert device.subscribe_wait("alpr/v1/cam-b/receipts") == [1]
        assert device.publish_wait("alpr/v1/cam-b/reads", b"envelope") == 0
        msgs = ingest.wait_messages(1)
        assert [m.topic for m in msgs] == ["alpr/v1/cam-b/reads"]
        assert ingest.publish_wait("alpr/v1/cam-b/receipts", b"receipt") == 0
        assert [m.payload for m in device.wait_messages(1)] == [b"receipt"]
    finally:
        ingest.close()
        device.close()


def test_certificate_from_another_ca_is_refused(broker: LocalBroker, tmp_path: object) -> None:
    import pathlib

    rogue = mint_local_pki(pathlib.Path(str(tmp_path)) / "rogue", device_ids=["cam-a"])
    # Trust the real CA (so the broker is verified) but present a certificate the broker's CA never signed.
    ctx = tls_context(broker.pki.ca_cert, rogue.devices["cam-a"].cert, rogue.devices["cam-a"].key)
    client, props = new_client("rogue", ctx)
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        client.connect(broker.host, broker.port, clean_start=True, properties=props)
        # TLS 1.3 reports the client-certificate rejection on the first read, not in the handshake.
        for _ in range(50):
            if client.loop(timeout=0.1) != mqtt.MQTT_ERR_SUCCESS:
                raise ConnectionError("broker closed the connection")
    client.socket() and client.socket().close()  # type: ignore[union-attr]
