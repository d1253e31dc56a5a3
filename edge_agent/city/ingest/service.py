"""The city's reference ingest: receive envelopes, verify, decrypt, store once, then receipt.

Order matters: a receipt makes the device delete its copy, so it is published only after the store transaction
committed, and the broker's copy is acknowledged (MQTT manual ack) only after that too. A crash anywhere before
leaves either the broker or the device holding the read, and the resend is stored once by read id.

Anything that does not verify (unknown device, bad signature, unknown key id, malformed bytes, a device writing
another device's read) is counted, logged without its content, acknowledged to the broker (so it is not
redelivered forever) and never receipted. Failures are handled message by message: whatever one message raises,
even an error nobody foresaw, it is rejected alone, counted by reason, and the rest of its batch goes on. A
message that held its batch would also hold a slot of the ingest's Receive Maximum for good, and enough of them
stop the broker delivering anything, to every device, across restarts. A bundle (several envelopes in one
message) is opened envelope by envelope; the message is acknowledged once its batch is committed, like any other.

Two threads share the work so that the CPU-bound and the I/O-bound halves overlap: the opener verifies and
decrypts a batch while the committer waits for the previous batch's durable commit, then sends its receipts and
acknowledgements. Batches are committed in the order they were opened.
"""

from __future__ import annotations

import collections
import json
import logging
import queue
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt

from edge_agent.city.ingest.registry import DeviceRegistry
from edge_agent.city.ingest.store import Store, StoredRead, open_store
from edge_agent.config import IngestConfig
from edge_agent.errors import (
    CryptoError,
    EdgeAgentError,
    IngestError,
    MalformedError,
    SignatureError,
    UnknownDeviceError,
    UnknownKeyError,
)
from edge_agent.protocol.crypto.envelope import Opener, bundle_size, sign_receipt, split_payload
from edge_agent.protocol.crypto.keys import load_recipient_private, load_signing_key
from edge_agent.protocol.crypto.verify import DEFAULT_BACKEND
from edge_agent.protocol.mqtt import new_client, reason_failed, tls_context

logger = logging.getLogger(__name__)

# A status message is a few hundred bytes of flat JSON; anything far larger is refused before it is parsed.
MAX_STATUS_BYTES = 16 * 1024
# How often the counters are added to the store's totals (seconds): at most this much of them is lost in a crash.
COUNTERS_INTERVAL = 1.0


@dataclass(frozen=True)
class _Incoming:
    topic: str
    payload: bytes
    mid: int
    qos: int


@dataclass
class _Opened:
    """A batch after verification: what to store, the status messages in it, and every message to acknowledge."""

    good: list[StoredRead]
    statuses: list[tuple[str, str, str, float]]  # device id, state, payload, received at
    batch: list[_Incoming]


class IngestService:
    """One ingest worker; several may share a subscription group and a PostgreSQL store."""

    def __init__(self, cfg: IngestConfig, store: Store | None = None, client_id: str | None = None) -> None:
        if cfg.broker.host is None or cfg.broker.tls.ca is None or cfg.broker.tls.cert is None:
            raise IngestError("ingest.broker needs host and tls: run `edge-agent check-config --role ingest`")
        if cfg.broker.tls.key is None or cfg.receipt_key is None or not cfg.recipient_keys:
            raise IngestError("ingest needs tls.key, recipient_keys and receipt_key: run `edge-agent check-config`")
        self.cfg = cfg
        self.registry = DeviceRegistry(cfg.devices_dir)
        self.opener = Opener([load_recipient_private(p) for p in cfg.recipient_keys], self.registry.keys_for)
        self._receipt_key = load_signing_key(cfg.receipt_key)
        self.store = store if store is not None else open_store(cfg.store)
        self._ctx = tls_context(cfg.broker.tls.ca, cfg.broker.tls.cert, cfg.broker.tls.key, cfg.broker.tls.min_version)
        self.client_id = client_id or cfg.broker.client_id or "ingest"
        self._queue: queue.Queue[_Incoming] = queue.Queue(maxsize=20000)
        self._stop = threading.Event()
        self.connected = threading.Event()
        self.counters: collections.Counter[str] = collections.Counter()
        # What of `counters` is already added to the store's running totals (kept across restarts and workers).
        self._persisted: collections.Counter[str] = collections.Counter()
        self._persisted_at = 0.0
        self._client: mqtt.Client | None = None
        self._announced: set[str] = set()
        # At most two opened batches wait for the committer: enough to overlap, little to redo after a crash.
        self._opened: queue.Queue[_Opened | None] = queue.Queue(maxsize=2)
        self._opener = threading.Thread(target=self._open_loop, name="ingest-open", daemon=True)
        self._committer = threading.Thread(target=self._commit_loop, name="ingest-commit", daemon=True)
        self._stopping_since = 0.0
        prefix = cfg.topic_prefix
        reads = f"{prefix}/v1/+/reads"
        self.reads_filter = f"$share/{cfg.shared_group}/{reads}" if cfg.shared_group else reads
        self.status_filter = f"{prefix}/v1/+/status"

    # --- lifecycle -------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Connect (paho reconnects by itself with backoff) and start the store/receipt worker."""
        # A single ingest keeps its session so reads queue at the broker while it restarts. Workers of a shared
        # group do not: the broker keeps routing a group's share to a member's stored session even while that
        # member is down, which would park those reads until it returns. Without a session, reads in flight to a
        # worker that dies are resent by their devices (uplink.resend_after) and reach a live worker.
        client, props = new_client(
            self.client_id,
            self._ctx,
            session_expiry=0 if self.cfg.shared_group else 86400,
            receive_maximum=max(self.cfg.receipt_batch * 4, 256),
            manual_ack=True,
            reconnect=True,
        )
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        self._client = client
        try:
            client.connect(
                self.cfg.broker.host or "",
                self.cfg.broker.port,
                self.cfg.broker.keepalive,
                clean_start=False,
                properties=props,
            )
        except OSError as exc:
            raise IngestError(f"cannot reach broker {self.cfg.broker.host}:{self.cfg.broker.port}: {exc}") from None
        client.loop_start()
        self._opener.start()
        self._committer.start()

    def stop(self) -> None:
        """Finish the batch in hand, disconnect, close the store."""
        self._stopping_since = time.monotonic()
        self._stop.set()
        for thread in (self._opener, self._committer):
            if thread.is_alive():
                thread.join(10)
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
        if self._opener.is_alive() or self._committer.is_alive():
            # The store is hanging (a database that does not answer): leave it to the process exit.
            logger.warning("ingest store did not finish within 10 s of stopping; not closing it")
            return
        self.store.close()

    def wait_connected(self, timeout: float = 10.0) -> bool:
        """Block until subscribed, or the timeout."""
        return self.connected.wait(timeout)

    # --- paho callbacks (network thread) ---------------------------------------------------------------------

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        if reason_failed(rc):
            logger.error("broker refused the ingest connection: %s", rc)
            return
        client.subscribe([(self.reads_filter, 1), (self.status_filter, 1)])
        logger.info(
            "ingest %s connected; subscribed to %s; device signatures checked with %s",
            self.client_id,
            self.reads_filter,
            DEFAULT_BACKEND,
        )
        self.connected.set()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        self.connected.clear()
        if not self._stop.is_set():
            logger.warning("ingest lost the broker (%s); reconnecting", rc)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        # Blocking here when the worker is behind is deliberate: it pushes back on the broker via TCP.
        self._queue.put(_Incoming(msg.topic, bytes(msg.payload), msg.mid, msg.qos))

    # --- worker ----------------------------------------------------------------------------------------------

    def _open_loop(self) -> None:
        while not self._stop.is_set():
            batch = self._collect()
            if not batch:
                continue
            try:
                opened = self._open(batch)
            except Exception as exc:
                # A bug must not stop the service. Nothing of the batch is acknowledged: it is sent again.
                logger.error(
                    "opening a batch failed (%s: %s); not acknowledged, devices resend it", type(exc).__name__, exc
                )
                self.counters["open_failures"] += 1
                continue
            if not self._hand_over(opened):
                break
        # Nothing more comes. On a graceful stop the committer still commits what was opened; anything it cannot
        # is neither receipted nor acknowledged, so the broker or the devices send it again.
        self._hand_over(None)

    def _hand_over(self, opened: _Opened | None) -> bool:
        """Queue for the committer; while it is behind (a slow or failing store) wait, which stops the reading.

        Returns False when the committer is gone, or the service is stopping and the committer did not take the
        batch within a few seconds.
        """
        while True:
            try:
                self._opened.put(opened, timeout=0.2)
                return True
            except queue.Full:
                if not self._committer.is_alive():
                    return False
                if self._stop.is_set() and time.monotonic() > self._stopping_since + 5.0:
                    return False

    def _commit_loop(self) -> None:
        try:
            self._commit_batches()
        finally:
            self._persist_counters(force=True)

    def _commit_batches(self) -> None:
        while True:
            self._persist_counters()
            try:
                opened = self._opened.get(timeout=0.2)
            except queue.Empty:
                if self._stop.is_set() and not self._opener.is_alive() and self._opened.empty():
                    return
                continue
            if opened is None:
                return
            while True:
                try:
                    self._commit(opened)
                    break
                except Exception as exc:
                    # Whatever the store raised, nothing was acknowledged or receipted: the same batch is tried
                    # again while the broker and the devices wait.
                    self.counters["store_failures"] += 1
                    detail = (
                        str(exc)
                        if isinstance(exc, IngestError)
                        else f"storing reads failed ({type(exc).__name__}: {exc})"
                    )
                    logger.error("%s; retrying in 2 s", detail)
                    if self._stop.wait(2.0):
                        return

    def _collect(self) -> list[_Incoming]:
        try:
            first = self._queue.get(timeout=0.2)
        except queue.Empty:
            return []
        batch = [first]
        reads = bundle_size(first.payload)
        deadline = time.monotonic() + self.cfg.receipt_delay
        while reads < self.cfg.receipt_batch:
            left = deadline - time.monotonic()
            try:
                item = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            batch.append(item)
            reads += bundle_size(item.payload)
        return batch

    def _open(self, batch: list[_Incoming]) -> _Opened:
        """Verify and decrypt a batch; rejects are counted here, everything is acknowledged after the commit."""
        now = time.time()
        opened = _Opened([], [], batch)
        for item in batch:
            try:
                self._open_one(item, opened, now)
            except Exception as exc:
                # Never foreseen, so never trusted: this message alone is rejected (and acknowledged with its batch).
                self._reject("unexpected", item.topic, f"{type(exc).__name__} while opening it")
        return opened

    def _open_one(self, item: _Incoming, opened: _Opened, now: float) -> None:
        """Verify and decrypt one message into `opened`; a reject is counted and the message is left out."""
        parts = item.topic.split("/")
        if len(parts) < 4 or parts[-3] != "v1":
            self._reject("malformed", item.topic, "unexpected topic")
            return
        device_id, kind = parts[-2], parts[-1]
        if kind == "status":
            status = self._parse_status(device_id, item.payload, now)
            if status is not None:
                opened.statuses.append(status)
            return
        try:
            envelopes = split_payload(item.payload)
        except MalformedError as exc:
            self._reject("malformed", item.topic, str(exc))
            return
        if len(envelopes) > 1:
            self.counters["bundles"] += 1
        for envelope in envelopes:
            try:
                header, read = self.opener.open(envelope, expected_device=device_id)
            except (MalformedError, SignatureError, UnknownKeyError, CryptoError) as exc:
                self._reject(_reason(exc), item.topic, str(exc))
                continue
            except Exception as exc:
                # One envelope of a bundle fails alone; its neighbours are still stored and receipted.
                self._reject("unexpected", item.topic, f"{type(exc).__name__} while opening an envelope")
                continue
            opened.good.append(StoredRead(header, read, now))

    def _commit(self, opened: _Opened) -> None:
        """Store durably, then receipt, then acknowledge to the broker; a store error raises before any of it."""
        while opened.statuses:  # each one recorded once, even when a later step fails and the batch is retried
            self.store.record_status(*opened.statuses[0])
            self._announce(opened.statuses.pop(0))
            self.counters["status"] += 1
        good = opened.good
        for device_id, seq in self.store.reused_seqs(good):
            # Stored all the same (the read is new); a city auditing gaps needs to know (protocol section 4).
            self.counters["seq_reused"] += 1
            logger.warning("device %s reused sequence number %d for another read", device_id, seq)
        inserted = self.store.add(good)
        self.counters["received"] += len(good)
        self.counters["stored"] += inserted
        self.counters["duplicates"] += len(good) - inserted
        self._send_receipts((s.read.device_id, s.read.read_id) for s in good)
        if self._client is not None:
            for item in opened.batch:
                self._client.ack(item.mid, item.qos)

    def _announce(self, status: tuple[str, str, str, float]) -> None:
        """Home Assistant discovery for a camera, the first time this worker stores one of its statuses (retained
        on the broker, so announcing again after a restart changes nothing). Status topics are the devices' own
        (the broker's ACL), and only a device with a registered signing key is announced; the configs read named
        status fields only."""
        device_id, _, payload, _ = status
        if not self.cfg.homeassistant or device_id in self._announced or self._client is None or not payload:
            return
        # Service identities may write a status topic of their own (the ACL's per-client patterns): only a device
        # whose signing key is registered is a camera.
        if not self.registry.keys_for(device_id):
            return
        from edge_agent.city.homeassistant import discovery

        try:
            location = json.loads(payload).get("location")
        except (ValueError, AttributeError):
            return
        messages = discovery(device_id, self.cfg.topic_prefix, location if isinstance(location, str) else None)
        for topic, message in messages.items():
            self._client.publish(topic, message, qos=1, retain=True)
        self._announced.add(device_id)
        logger.info("announced camera %s to Home Assistant (%d entities)", device_id, len(messages))

    def _persist_counters(self, force: bool = False) -> None:
        """Add what was counted since the last time to the store's totals, at most every COUNTERS_INTERVAL (each
        time is a durable transaction of its own, kept off the per-batch path); a failure only costs the figures."""
        if not force and time.monotonic() - self._persisted_at < COUNTERS_INTERVAL:
            return
        self._persisted_at = time.monotonic()
        snapshot = collections.Counter(self.counters)
        delta = snapshot - self._persisted
        try:
            self.store.add_counters(delta)
        except IngestError as exc:
            logger.warning("%s; the counters are kept in memory and added next time", exc)
            return
        self._persisted = snapshot

    def _send_receipts(self, ids: Iterable[tuple[str, bytes]]) -> None:
        by_device: dict[str, list[bytes]] = collections.defaultdict(list)
        for device_id, read_id in ids:
            by_device[device_id].append(read_id)
        assert self._client is not None
        for device_id, read_ids in by_device.items():
            unique = list(dict.fromkeys(read_ids))
            for start in range(0, len(unique), self.cfg.receipt_batch):
                chunk = unique[start : start + self.cfg.receipt_batch]
                payload = sign_receipt(self._receipt_key, device_id, chunk)
                self._client.publish(f"{self.cfg.topic_prefix}/v1/{device_id}/receipts", payload, qos=1)
                self.counters["receipts"] += 1

    def _parse_status(self, device_id: str, payload: bytes, now: float) -> tuple[str, str, str, float] | None:
        if len(payload) > MAX_STATUS_BYTES:
            self._reject("oversize", device_id, f"status of {len(payload)} bytes (at most {MAX_STATUS_BYTES})")
            return None
        if not payload:
            return (device_id, "cleared", "", now)
        try:
            status = json.loads(payload)
        except (ValueError, RecursionError):
            self._reject("malformed", device_id, "status is not JSON (or nested too deep)")
            return None
        if not isinstance(status, dict):
            self._reject("malformed", device_id, "status is not a JSON object")
            return None
        return (device_id, str(status.get("state", "unknown"))[:64], payload.decode("utf-8", "replace"), now)

    def _reject(self, reason: str, where: str, detail: str) -> None:
        self.counters[f"rejected_{reason}"] += 1
        # The detail names keys and devices, never plate content (nothing was decrypted).
        logger.warning("rejected a message on %s: %s", where, detail)


def _reason(exc: EdgeAgentError) -> str:
    if isinstance(exc, UnknownDeviceError):
        return "unknown_device"
    if isinstance(exc, UnknownKeyError):
        return "unknown_key"
    if isinstance(exc, SignatureError):
        return "signature"
    if isinstance(exc, MalformedError):
        return "malformed"
    return "decrypt"
