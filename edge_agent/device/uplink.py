"""The uplink: drains the spool to the city broker over MQTT 5 + mutual TLS, and deletes on acknowledgement.

The spool and our own send window are the source of truth, never paho's bookkeeping: paho's `is_published()`
ignores PUBACK reason codes, and its in-flight limit is not honoured when it replays its queue on reconnect. So
every connection gets a fresh paho client with an empty queue, we never hand it more than `window` unacknowledged
PUBLISHes, and what was in flight when a connection dropped is resent by us, with the same read id.

While a backlog drains, up to `bundle` envelopes travel in one PUBLISH (protocol section 3.5), which divides the
per-message cost of MQTT, TLS and the broker among them; a PUBLISH and its PUBACK then stand for all of its reads.
A read that is the only one waiting goes alone, so bundling never delays a read.

`ack: receipt` (default): a PUBACK only means the broker has the read; the read is deleted when the ingest's
signed receipt names it. Receipts wait in the broker for us (clean_start=False plus a session expiry).
`ack: puback`: a PUBACK whose reason code is a success (< 0x80, checked here) deletes the read.

Threads: `uplink` (connect, backoff, pump) and paho's network thread. Callbacks only append to a deque and wake
the pump, because paho calls them while holding the lock that `publish()` needs.
"""

from __future__ import annotations

import collections
import json
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

from edge_agent.config import UplinkConfig
from edge_agent.device.spool import Spool
from edge_agent.errors import CryptoError, EdgeAgentError, SpoolError
from edge_agent.protocol.crypto.envelope import (
    BUNDLE_HEADER,
    BUNDLE_MEMBER_PREFIX,
    MAX_BUNDLE_BYTES,
    ReceiptVerifier,
    pack_bundle,
)
from edge_agent.protocol.mqtt import describe_connect_failure, new_client, reason_failed, tls_context

logger = logging.getLogger(__name__)
T = TypeVar("T")
# While the broker cannot be reached, say so (with what is waiting) this often, not at every retry.
OFFLINE_NOTE_INTERVAL = 60.0


@dataclass(frozen=True)
class Topics:
    """The device's topics under `<prefix>/v1/<device id>`."""

    reads: str
    receipts: str
    status: str

    @classmethod
    def for_device(cls, prefix: str, device_id: str) -> Topics:
        """Topic names of one device."""
        root = f"{prefix}/v1/{device_id}"
        return cls(f"{root}/reads", f"{root}/receipts", f"{root}/status")


def backoff_delay(attempt: int, initial: float, maximum: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(max, initial * 2**attempt)]."""
    cap = min(maximum, initial * (2 ** min(attempt, 30)))
    return (rng or random).uniform(initial / 2 if attempt == 0 else 0.0, cap)


class Uplink:
    """Sends spooled envelopes and deletes them on a verified receipt (or a successful PUBACK)."""

    def __init__(
        self,
        cfg: UplinkConfig,
        device_id: str,
        spool: Spool,
        verifier: ReceiptVerifier | None,
        status_payload: Callable[[], dict[str, Any]] | None = None,
        on_deleted: Callable[[list[bytes]], None] | None = None,
        status_interval: float = 60.0,
    ) -> None:
        if cfg.host is None or cfg.tls.ca is None or cfg.tls.cert is None or cfg.tls.key is None:
            raise EdgeAgentError("uplink needs host and tls.ca/cert/key: run `edge-agent check-config`")
        if cfg.ack == "receipt" and verifier is None:
            raise EdgeAgentError("uplink.ack is receipt but no receipt key is configured (crypto.receipt_keys)")
        self.cfg = cfg
        self.device_id = device_id
        self.status_interval = status_interval  # health.heartbeat: the retained status is refreshed this often
        self.spool = spool
        self.verifier = verifier
        self.topics = Topics.for_device(cfg.topic_prefix, device_id)
        self._status_payload = status_payload or (lambda: {})
        self._on_deleted = on_deleted
        self._ctx = tls_context(cfg.tls.ca, cfg.tls.cert, cfg.tls.key, cfg.tls.min_version)
        self._wake = threading.Event()
        spool.add_listener(self._wake)
        self._stop = threading.Event()
        self._events: collections.deque[tuple[str, Any]] = collections.deque()
        self._thread: threading.Thread | None = None
        # pump state: touched by the uplink thread only
        self._cursor = 0
        self._retry: collections.deque[bytes] = collections.deque()
        self._inflight: dict[int, list[bytes]] = {}  # PUBLISH mid -> the read ids it carries
        self._awaiting: dict[bytes, float] = {}
        self._hold_until: dict[bytes, float] = {}
        self._published: set[bytes] = set()  # read ids sent by this process and not yet deleted
        self._delete_later: list[bytes] = []  # receipted, but the spool could not delete them yet
        self._spool_noted = 0.0
        self._next_reconcile = 0.0
        self.counters: collections.Counter[str] = collections.Counter()
        self.state = "starting"
        self.last_receipt_at: float | None = None
        self.connected_since: float | None = None
        self.last_error: str | None = None
        self.heartbeat_due = threading.Event()
        self.alive_at = time.monotonic()

    # --- lifecycle -------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the uplink thread."""
        # Bookkeeping only (the pump resends everything from the first read on, whatever its state): a disk with
        # no room for it must not keep the daemon from starting.
        self._spool_write(self.spool.reset_sent)
        self._thread = threading.Thread(target=self._run, name="uplink", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Publish an explicit offline status, disconnect and join the thread."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        """True while the uplink thread runs."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def in_flight(self) -> int:
        """Reads published and not yet acknowledged (PUBACK or receipt)."""
        return self._inflight_reads() + len(self._awaiting)

    def _inflight_reads(self) -> int:
        return sum(map(len, self._inflight.values()))

    def _take_inflight(self) -> list[bytes]:
        """Forget every PUBLISH in flight (the connection is gone); their reads, in the order they were sent."""
        lost = [rid for rids in self._inflight.values() for rid in rids]
        self._inflight.clear()
        return lost

    def request_status(self) -> None:
        """Ask the uplink thread to publish a status message now."""
        self.heartbeat_due.set()
        self._wake.set()

    # --- connection loop -------------------------------------------------------------------------------------

    def _run(self) -> None:
        attempt = 0
        offline_since: float | None = None
        noted = 0.0
        while not self._stop.is_set():
            self.alive_at = time.monotonic()
            self.state = "connecting"
            client = self._connect()
            if client is None:
                now = time.monotonic()
                offline_since = offline_since or now
                if now - noted >= OFFLINE_NOTE_INTERVAL and now - offline_since >= OFFLINE_NOTE_INTERVAL:
                    noted = now
                    logger.warning(
                        "uplink: offline for %.0f s, %d read(s) waiting in the spool (last error: %s)",
                        now - offline_since,
                        len(self.spool),
                        self.last_error or "none",
                    )
                delay = backoff_delay(attempt, self.cfg.backoff.initial, self.cfg.backoff.max)
                attempt += 1
                self.state = "offline"
                self._stop.wait(delay)
                continue
            offline_since = None
            started = time.monotonic()
            try:
                self._session(client)
            except Exception:  # a bug in the pump must not kill the uplink silently: log and reconnect
                logger.exception("uplink session failed")
                self.counters["session_errors"] += 1
            finally:
                self._close(client)
            if time.monotonic() - started > 10:
                attempt = 0
            if not self._stop.is_set():
                self.state = "offline"
                self._stop.wait(backoff_delay(attempt, self.cfg.backoff.initial, self.cfg.backoff.max))
                attempt += 1
        self.state = "stopped"

    def _connect(self) -> mqtt.Client | None:
        client, props = new_client(
            self.cfg.client_id or self.device_id, self._ctx, session_expiry=self.cfg.session_expiry
        )
        client.max_inflight_messages_set(self.cfg.window + 1)
        client.will_set(self.topics.status, self._status_json("offline"), qos=1, retain=True)
        client.on_connect = lambda c, u, f, rc, p: self._push("connack", rc)
        client.on_disconnect = lambda c, u, f, rc, p: self._push("disconnect", rc)
        client.on_publish = lambda c, u, mid, rc, p: self._push("puback", (mid, rc))
        client.on_message = lambda c, u, msg: self._push("message", msg.payload)
        self._events.clear()
        try:
            client.connect(self.cfg.host or "", self.cfg.port, self.cfg.keepalive, clean_start=False, properties=props)
        except (OSError, ValueError) as exc:
            self._note_error(f"cannot reach broker {self.cfg.host}:{self.cfg.port}: {exc}")
            client.socket() and client.socket().close()  # type: ignore[union-attr]
            return None
        client.loop_start()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not self._stop.is_set():
            self._wake.wait(0.5)
            self._wake.clear()
            while self._events:
                kind, value = self._events.popleft()
                if kind == "connack":
                    if reason_failed(value):
                        self._note_error(str(describe_connect_failure(value)))
                        self._close(client)
                        return None
                    self._on_connected(client)
                    return client
                if kind == "disconnect":
                    self._note_error(f"broker closed the connection during connect ({value})")
                    self._close(client)
                    return None
        self._note_error("no CONNACK from the broker within 15 s")
        self._close(client)
        return None

    def _push(self, kind: str, value: object) -> None:
        """Runs in paho's network thread: record and wake the pump, nothing else (see module doc)."""
        self._events.append((kind, value))
        self._wake.set()

    def _on_connected(self, client: mqtt.Client) -> None:
        self.state = "online"
        self.connected_since = time.time()
        self.last_error = None
        self.counters["connects"] += 1
        logger.info("uplink connected to %s:%d", self.cfg.host, self.cfg.port)
        if self.cfg.ack == "receipt":
            client.subscribe(self.topics.receipts, qos=1)
        # What was published on the last connection but not acknowledged is sent again, same read ids.
        self._retry.extend(self._take_inflight())
        self._publish_status(client, "online")

    def _close(self, client: mqtt.Client) -> None:
        try:
            client.disconnect()
        except Exception:  # the socket may already be gone
            logger.debug("disconnect on a dead connection", exc_info=True)
        client.loop_stop()

    def _note_error(self, message: str) -> None:
        if message != self.last_error:
            logger.warning("uplink: %s", message)
        self.last_error = message
        self.counters["connect_failures"] += 1

    # --- the pump --------------------------------------------------------------------------------------------

    def _session(self, client: mqtt.Client) -> None:
        # The status was published on connect (_on_connected): the next one is an interval away.
        next_status = time.monotonic() + self.status_interval
        while not self._stop.is_set():
            self.alive_at = time.monotonic()
            if not self._drain_events(client):
                return
            self._expire_overdue()
            self._fill_window(client)
            now = time.monotonic()
            if self.heartbeat_due.is_set() or now >= next_status:
                self.heartbeat_due.clear()
                self._publish_status(client, "online")
                next_status = now + self.status_interval
            self._wake.wait(0.5)
            self._wake.clear()
        self.state = "stopped"  # what the last status says of the uplink
        self._publish_status(client, "offline", wait=1.0)

    def _drain_events(self, client: mqtt.Client) -> bool:
        """Apply PUBACKs, receipts and disconnects; returns False when the connection is gone."""
        sent_ok: list[bytes] = []
        to_delete: list[bytes] = []
        while self._events:
            kind, value = self._events.popleft()
            if kind == "puback":
                mid, rc = value
                rids = self._inflight.pop(mid, None)
                if rids is not None:
                    self._apply_puback(rids, rc, sent_ok, to_delete)
            elif kind == "message":
                to_delete += self._apply_receipt(value)
            elif kind == "disconnect":
                logger.warning("uplink: connection lost (%s)", _rc_name(value))
                self._retry.extend(self._take_inflight())
                self._delete_later += to_delete  # receipted before the connection went: deleted at the next turn
                return False
        if sent_ok:
            # Bookkeeping for a restart only (what is in flight is tracked here): a failed write costs a resend
            # after a restart, never the session.
            self._spool_write(lambda: self.spool.mark_sent(sent_ok))
        to_delete = self._delete_later + to_delete
        self._delete_later = []
        if to_delete:
            deleted = self._spool_write(lambda: self.spool.delete(to_delete))
            if deleted is None:
                # Kept in memory and tried again at the next turn: the reads are receipted, so nothing is resent.
                self._delete_later = to_delete
            else:
                self.counters["deleted"] += deleted
                self._published.difference_update(to_delete)
                if self._on_deleted is not None:
                    self._on_deleted(to_delete)
        return client.is_connected()

    def _spool_write(self, write: Callable[[], T]) -> T | None:
        """A spool write from the pump; a failure (a full disk) is counted and logged now and then, and the
        session goes on. Returns the write's result, or None when it failed."""
        try:
            return write()
        except SpoolError as exc:
            self.counters["spool_write_failures"] += 1
            now = time.monotonic()
            if now - self._spool_noted >= OFFLINE_NOTE_INTERVAL:
                self._spool_noted = now
                logger.warning("uplink: %s; the connection stays up and the write is tried again", exc)
            return None

    def _apply_puback(self, rids: list[bytes], rc: object, sent_ok: list[bytes], to_delete: list[bytes]) -> None:
        """One PUBLISH acknowledged: its reads now await a receipt, are deleted (`ack: puback`) or are retried."""
        if reason_failed(rc):
            self.counters["puback_failures"] += 1
            logger.warning("broker refused %d read(s) (PUBACK %s): kept, retried later", len(rids), _rc_name(rc))
            hold = time.monotonic() + self.cfg.resend_after
            for rid in rids:
                self._hold_until[rid] = hold
            self._retry.extend(rids)
        elif self.cfg.ack == "puback":
            if getattr(rc, "value", rc) != 0:
                # 0x10 "no matching subscribers": the broker accepted the read but nobody will consume it (every
                # ingest worker down, or its session expired). In puback mode that would be a silent loss.
                self.counters["puback_failures"] += 1
                logger.warning("broker has no consumer for %d read(s) (PUBACK %s): kept, retried later",
                               len(rids), _rc_name(rc))  # fmt: skip
                hold = time.monotonic() + self.cfg.resend_after
                for rid in rids:
                    self._hold_until[rid] = hold
                self._retry.extend(rids)
                return
            to_delete += rids
        else:
            # A resend whose first copy's receipt already deleted the read is acknowledged for nothing: tracking it
            # again would count it in flight until resend_after and spend the receipt window.
            live = [rid for rid in rids if rid in self._published]
            sent_ok += live
            now = time.monotonic()
            for rid in live:
                # Re-inserted at the end, so `_awaiting` stays in order of time and expiry stops early.
                self._awaiting.pop(rid, None)
                self._awaiting[rid] = now

    def _apply_receipt(self, payload: bytes) -> list[bytes]:
        assert self.verifier is not None
        try:
            receipt = self.verifier.verify(payload)
        except CryptoError as exc:
            self.counters["receipts_rejected"] += 1
            logger.warning("rejected a receipt: %s; nothing deleted", exc)
            return []
        self.counters["receipts"] += 1
        self.last_receipt_at = time.time()
        # Only what this process sent is deleted: a receipt naming a read never sent deletes nothing. Reads
        # sent before a restart are resent at start-up and receipted again (the ingest stores them once).
        ours = [rid for rid in receipt.read_ids if rid in self._published]
        self.counters["receipt_ids_unknown"] += len(receipt.read_ids) - len(ours)
        for rid in ours:
            self._awaiting.pop(rid, None)
        return ours

    def _expire_overdue(self) -> None:
        if self.cfg.ack != "receipt" or not self._awaiting:
            return
        cutoff = time.monotonic() - self.cfg.resend_after
        overdue: list[bytes] = []
        for rid, at in self._awaiting.items():  # oldest first: stop at the first read still within its time
            if at >= cutoff:
                break
            overdue.append(rid)
        for rid in overdue:
            del self._awaiting[rid]
        if overdue:
            logger.info("%d read(s) without a receipt for %.0f s: resending", len(overdue), self.cfg.resend_after)
            self._spool_write(lambda: self.spool.mark_pending(overdue))
            self._retry.extend(overdue)

    def _fill_window(self, client: mqtt.Client) -> None:
        messages = self.cfg.window - len(self._inflight)
        room = min(messages * self.cfg.bundle, self.cfg.receipt_window - self._inflight_reads() - len(self._awaiting))
        if messages <= 0 or room <= 0:
            return
        batch = self._take_retries(room)
        if len(batch) < room:
            fresh = self.spool.after(self._cursor, room - len(batch))
            if fresh:
                self._cursor = fresh[-1].seq
            batch += [(e.read_id, e.body) for e in fresh]
        if not batch:
            self._reconcile()
            return
        groups = _bundles(batch, self.cfg.bundle)
        for i, group in enumerate(groups):
            info = client.publish(self.topics.reads, pack_bundle([body for _, body in group]), qos=1)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                # The connection went away under us: every read of the batch not yet handed to paho goes back to
                # the front of the queue, in order, or it would sit in the spool with nothing tracking it.
                self._retry.extendleft(r for g in reversed(groups[i:]) for r, _ in reversed(g))
                return
            rids = [rid for rid, _ in group]
            self._inflight[info.mid] = rids
            self._published.update(rids)
            self.counters["published"] += len(rids)
            self.counters["publishes"] += 1

    def _reconcile(self) -> None:
        """Nothing to send and nothing outstanding, yet the spool holds reads behind the cursor: requeue them.

        Every read below the cursor should be in flight, awaiting its receipt or queued for a resend. This check
        costs one query only when the uplink is idle, and turns a bookkeeping slip into a resend instead of a
        read stranded on the device until the next restart.
        """
        if self._inflight or self._awaiting or self._retry or self._delete_later or len(self.spool) == 0:
            return
        now = time.monotonic()
        if now < self._next_reconcile:
            return
        self._next_reconcile = now + min(self.cfg.resend_after, 30.0)
        stranded = self.spool.ids_through(self._cursor)
        if stranded:
            logger.warning("uplink: %d read(s) in the spool were not tracked; resending them", len(stranded))
            self.counters["reconciled"] += len(stranded)
            self._retry.extend(stranded)
            self._wake.set()

    def _take_retries(self, room: int) -> list[tuple[bytes, bytes]]:
        if not self._retry:
            return []
        now = time.monotonic()
        ready: list[bytes] = []
        held: list[bytes] = []
        while self._retry and len(ready) < room:
            rid = self._retry.popleft()
            if self._hold_until.get(rid, 0.0) > now:
                held.append(rid)
            else:
                self._hold_until.pop(rid, None)
                ready.append(rid)
        self._retry.extend(held)
        if held and not ready:
            self._wake_later(min(self._hold_until[r] for r in held) - now)
        envelopes = self.spool.get(ready)
        self.counters["resent"] += len(envelopes)
        return [(e.read_id, e.body) for e in envelopes]

    def _wake_later(self, delay: float) -> None:
        timer = threading.Timer(max(0.0, delay), self._wake.set)
        timer.daemon = True
        timer.start()

    # --- status ----------------------------------------------------------------------------------------------

    def _status_json(self, state: str) -> bytes:
        body = {"v": 1, "device_id": self.device_id, "state": state, "ts_ms": round(time.time() * 1000)}
        if state != "offline" or self._stop.is_set():
            body.update(self._status_payload())
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()

    def _publish_status(self, client: mqtt.Client, state: str, wait: float = 0.0) -> None:
        info = client.publish(self.topics.status, self._status_json(state), qos=1, retain=True)
        if wait and info.rc == mqtt.MQTT_ERR_SUCCESS:
            try:
                info.wait_for_publish(wait)
            except (RuntimeError, ValueError):
                logger.debug("final status not confirmed", exc_info=True)


def _bundles(batch: list[tuple[bytes, bytes]], most: int) -> list[list[tuple[bytes, bytes]]]:
    """Split (read id, envelope) pairs, in order, into groups of at most `most` that fit in one bundle each.

    The reads are spread evenly over as few PUBLISHes as the limit allows, so that a backlog of 40 goes as two
    messages of 20, not 32 and 8. A group is closed early when the next envelope would pass the bundle size.
    """
    per = -(-len(batch) // -(-len(batch) // most))
    groups: list[list[tuple[bytes, bytes]]] = []
    group: list[tuple[bytes, bytes]] = []
    size = BUNDLE_HEADER
    for item in batch:
        member = BUNDLE_MEMBER_PREFIX + len(item[1])
        if group and (len(group) >= per or size + member > MAX_BUNDLE_BYTES):
            groups.append(group)
            group, size = [], BUNDLE_HEADER
        group.append(item)
        size += member
    if group:
        groups.append(group)
    return groups


def _rc_name(rc: object) -> str:
    if isinstance(rc, ReasonCode):
        return f"{rc.value:#04x} {rc.getName()}"
    return str(rc)
