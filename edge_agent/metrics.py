"""Prometheus metrics for the camera and the ingest, by Prometheus' conventions, from the same counters the status
message and the ingest already keep.

prometheus_client renders the exposition (HELP and TYPE lines, ``_total`` counters, escaping), so the format is
the one Prometheus parses; the metrics are made at scrape time from a snapshot (a custom collector), never kept
twice. Names carry their unit (``_seconds``, ``_bytes``, ``_days``); an ``_info`` metric carries the identity and
versions as labels. A metric never carries plate text: every value is a count, a duration or a state.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# (path in the status message, metric name without prefix, type, help)
DEVICE: tuple[tuple[tuple[str, ...], str, str, str], ...] = (
    (("uptime_s",), "uptime_seconds", "gauge", "Seconds since the agent started."),
    (("clock_synced",), "clock_synced", "gauge", "1 when the system clock is synchronised (NTP), else 0."),
    (("cpu_temp_c",), "cpu_temperature_celsius", "gauge", "CPU temperature."),
    (("frames", "in"), "frames_received", "counter", "Frames captured from every camera."),
    (("frames", "dropped"), "frames_dropped", "counter", "Frames dropped because vision was busy."),
    (("frames", "analysed"), "frames_analysed", "counter", "Frames the vision pipeline analysed."),
    (("frames", "strided"), "frames_strided", "counter", "Frames skipped while a pass was settled."),
    (("reads", "made"), "reads_made", "counter", "Plate reads made (one per vehicle pass)."),
    (("reads", "sealed"), "reads_sealed", "counter", "Reads encrypted and committed to the spool."),
    (("reads", "rejected_full"), "reads_rejected_full", "counter", "Reads refused by a full spool."),
    (("reads", "unspooled"), "reads_unspooled", "counter", "Reads lost at stop because the spool failed."),
    (("spool", "depth"), "spool_depth", "gauge", "Envelopes in the spool (pending and awaiting receipt)."),
    (("spool", "bytes"), "spool_bytes", "gauge", "Bytes of envelopes in the spool."),
    (("spool", "oldest_age_s"), "spool_oldest_age_seconds", "gauge", "Age of the oldest envelope in the spool."),
    (("spool", "purged"), "spool_purged", "counter", "Envelopes purged for age (retention)."),
    (("spool", "dropped_full"), "spool_dropped_full", "counter", "Envelopes dropped to make room."),
    (("spool", "deleted"), "spool_deleted", "counter", "Envelopes deleted after the city's receipt."),
    (("tls", "cert_days_left"), "tls_certificate_days_left", "gauge", "Days until the TLS certificate expires."),
    (("uplink", "in_flight"), "uplink_in_flight", "gauge", "Envelopes published and not yet acknowledged."),
    (("uplink", "receipts_rejected"), "uplink_receipts_rejected", "counter", "Receipts that did not verify."),
    (("uplink", "puback_failures"), "uplink_puback_failures", "counter", "PUBACKs with a failure reason code."),
    (("uplink", "resent"), "uplink_resent", "counter", "Envelopes resent for want of a receipt."),
)
UPLINK_STATES = ("online", "connecting", "offline")

INGEST_HELP = {
    "received": "Envelopes that verified and decrypted.",
    "stored": "Reads newly stored.",
    "duplicates": "Reads received again (resends) and stored once.",
    "receipts": "Signed receipts sent back to devices.",
    "bundles": "Batched messages received.",
    "status": "Device status messages received.",
    "seq_reused": "Reads whose sequence number another read of the device already holds.",
    "open_failures": "Envelopes that could not be opened.",
    "store_failures": "Batches the store refused (retried).",
}


def _get(status: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = status
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def device_metrics(status: Mapping[str, Any], prefix: str = "edge_agent") -> Iterator[Metric]:
    """The camera's metrics from one status snapshot (docs/protocol.md section 6)."""
    info = {"version": str(status.get("version") or "")}
    if status.get("device_id"):
        info["device_id"] = str(status["device_id"])
    models = status.get("models")
    if isinstance(models, Mapping):
        info.update({f"model_{k}": str(v) for k, v in sorted(models.items())})
    yield InfoMetricFamily(f"{prefix}_build", "The agent's version and models.", value=info)
    for path, name, kind, help_ in DEVICE:
        value = _get(status, path)
        if isinstance(value, bool):
            value = int(value)
        if not isinstance(value, int | float):
            continue
        family = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
        yield family(f"{prefix}_{name}", help_, value=value)
    last = _get(status, ("uplink", "last_receipt_ms"))
    if isinstance(last, int | float):
        yield GaugeMetricFamily(
            f"{prefix}_uplink_last_receipt_timestamp_seconds",
            "When the last receipt arrived (Unix time).",
            value=last / 1000,
        )
    state = _get(status, ("uplink", "state"))
    if isinstance(state, str):
        g = GaugeMetricFamily(f"{prefix}_uplink_state", "1 for the uplink's current state.", labels=["state"])
        for s in sorted({*UPLINK_STATES, state}):
            g.add_metric([s], int(s == state))
        yield g


def ingest_metrics(counters: Mapping[str, int], prefix: str = "edge_agent_ingest") -> Iterator[Metric]:
    """The ingest worker's counters; rejections as one counter with a reason label."""
    rejected = CounterMetricFamily(f"{prefix}_rejected", "Envelopes rejected, by reason.", labels=["reason"])
    any_rejected = False
    for key, value in sorted(counters.items()):
        if key.startswith("rejected_"):
            rejected.add_metric([key.removeprefix("rejected_")], value)
            any_rejected = True
        elif key in INGEST_HELP:
            yield CounterMetricFamily(f"{prefix}_{key}", INGEST_HELP[key], value=value)
    if any_rejected:
        yield rejected


class _Snapshot(Collector):
    def __init__(self, make: Callable[[], Iterator[Metric]]) -> None:
        self.make = make

    def collect(self) -> Iterator[Metric]:
        yield from self.make()


def exposition(make: Callable[[], Iterator[Metric]]) -> bytes:
    """The Prometheus text exposition of the metrics `make` yields now."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(make))
    return generate_latest(registry)


class MetricsServer:
    """`GET /metrics` on a local port, serving `exposition(make)`."""

    def __init__(self, host: str, port: int, make: Callable[[], Iterator[Metric]]) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] != "/metrics":
                    self.send_error(404)
                    return
                body = exposition(outer.make)
                self.send_response(200)
                self.send_header("Content-Type", CONTENT_TYPE)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                logger.debug("metrics: %s", format % args)

        self.make = make
        self.server = ThreadingHTTPServer((host, port), Handler)
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(target=self.server.serve_forever, name="metrics", daemon=True)

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread.start()

    def stop(self) -> None:
        """Shut the server down."""
        self.server.shutdown()
        self.server.server_close()
