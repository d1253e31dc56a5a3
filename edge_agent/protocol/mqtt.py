"""MQTT 5 over mutual TLS with paho-mqtt 2.x: the one place that builds clients and TLS contexts.

The broker certificate is always verified against the CA and the host name; there is no switch to turn that
off. Both the device uplink and the city ingest use this module, as do the tests and `edge-agent doctor`.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge_agent.errors import KeyFileError, UplinkError

_TLS_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


def tls_context(ca: Path, cert: Path, key: Path, min_version: str = "1.2") -> ssl.SSLContext:
    """Client TLS context: verify the broker against `ca` and its host name, present our certificate."""
    try:
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca))
    except (OSError, ssl.SSLError) as exc:
        raise KeyFileError(f"cannot load CA bundle {ca}: {exc}: check the file") from None
    ctx.minimum_version = _TLS_VERSIONS[min_version]
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    try:
        ctx.load_cert_chain(certfile=str(cert), keyfile=str(key))
    except (OSError, ssl.SSLError) as exc:
        raise KeyFileError(f"cannot load client certificate {cert} with key {key}: {exc}: do they match?") from None
    return ctx


def _no_delay(client: mqtt.Client, userdata: Any, sock: Any) -> None:
    """Disable Nagle's algorithm: MQTT packets are small and latency matters more than packet count (a PUBACK or
    receipt held back until the peer's delayed ACK costs tens of milliseconds per exchange)."""
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def new_client(
    client_id: str,
    ctx: ssl.SSLContext,
    *,
    session_expiry: float = 0.0,
    receive_maximum: int = 1024,
    manual_ack: bool = False,
    reconnect: bool = False,
) -> tuple[mqtt.Client, Properties]:
    """A paho MQTT 5 client with TLS, and the CONNECT properties to pass to `connect(..., properties=)`.

    paho's own reconnect loop is off unless `reconnect`: the device uplink reconnects with its own backoff and
    a fresh client (paho replays its queue on reconnect without honouring the in-flight window).
    """
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5,
        reconnect_on_failure=reconnect,
        manual_ack=manual_ack,
    )
    client.tls_set_context(ctx)
    client.on_socket_open = _no_delay
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = int(session_expiry)
    props.ReceiveMaximum = receive_maximum
    return client, props


def reason_failed(reason_code: object) -> bool:
    """True for an MQTT 5 reason code >= 0x80 (failure); paho's `is_published()` does not look at it."""
    value = getattr(reason_code, "value", reason_code)
    return isinstance(value, int) and value >= 0x80


def describe_connect_failure(reason_code: object) -> UplinkError:
    """A one-line error for a refused CONNECT."""
    name = getattr(reason_code, "getName", lambda: str(reason_code))()
    hints = {
        "Not authorized": "the broker refused this certificate's identity: check enrolment and the ACL",
        "Bad user name or password": "the broker did not accept the client certificate identity",
        "Client identifier not valid": "another client id is needed",
    }
    return UplinkError(f"broker refused the connection ({name}): {hints.get(name, 'see the broker log')}")
