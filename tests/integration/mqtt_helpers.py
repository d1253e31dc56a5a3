"""Small synchronous MQTT helpers for tests."""

from __future__ import annotations

import threading
import time
from typing import Any

import paho.mqtt.client as mqtt

from edge_agent.local.localbroker import LocalBroker
from edge_agent.protocol.crypto.pki import Identity, LocalPKI
from edge_agent.protocol.mqtt import new_client, tls_context


class TestClient:
    """A connected paho client that records PUBACK reason codes and received messages."""

    __test__ = False

    def __init__(self, broker: LocalBroker, pki: LocalPKI, identity: Identity, client_id: str) -> None:
        ctx = tls_context(pki.ca_cert, identity.cert, identity.key)
        self.client, props = new_client(client_id, ctx)
        self.pubacks: dict[int, int] = {}
        self.messages: list[mqtt.MQTTMessage] = []
        self.connected = threading.Event()
        self.disconnected = threading.Event()
        self.connect_rc: Any = None
        self._cond = threading.Condition()
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port, keepalive=30, clean_start=True, properties=props)
        self.client.loop_start()
        if not self.connected.wait(10):
            raise TimeoutError("no CONNACK within 10 s")

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        self.connect_rc = rc
        self.connected.set()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        self.disconnected.set()
        with self._cond:
            self._cond.notify_all()

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int, rc: Any, props: Any) -> None:
        with self._cond:
            self.pubacks[mid] = rc.value
            self._cond.notify_all()

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self._cond:
            self.messages.append(msg)
            self._cond.notify_all()

    def publish_wait(self, topic: str, payload: bytes, timeout: float = 10.0) -> int | None:
        """Publish at QoS 1 and return the PUBACK reason code, or None if the broker disconnected us."""
        info = self.client.publish(topic, payload, qos=1)
        deadline = time.monotonic() + timeout
        with self._cond:
            while info.mid not in self.pubacks:
                if self.disconnected.is_set():
                    return None
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no PUBACK for {topic}")
                self._cond.wait(left)
            return self.pubacks[info.mid]

    def subscribe_wait(self, topic: str, timeout: float = 10.0) -> list[int]:
        """Subscribe at QoS 1 and return the SUBACK reason codes."""
        done = threading.Event()
        codes: list[int] = []

        def on_subscribe(client: mqtt.Client, userdata: Any, mid: int, rcs: Any, props: Any) -> None:
            codes.extend(rc.value for rc in rcs)
            done.set()

        self.client.on_subscribe = on_subscribe
        self.client.subscribe(topic, qos=1)
        if not done.wait(timeout):
            raise TimeoutError(f"no SUBACK for {topic}")
        return codes

    def wait_messages(self, n: int, timeout: float = 10.0) -> list[mqtt.MQTTMessage]:
        """Wait until at least `n` messages arrived."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.messages) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            return list(self.messages)

    def close(self) -> None:
        """Disconnect and stop the network thread."""
        self.client.disconnect()
        self.client.loop_stop()
