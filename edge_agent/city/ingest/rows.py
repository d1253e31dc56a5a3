"""What every ingest store shares: the stored row, the columns, the interface, and the psycopg import.

Kept apart from ``store.py``, which chooses the backend, so that a backend (``postgres.py``) imports this and never
its chooser: the chooser imports the backend, not the other way round.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from edge_agent.errors import RuntimeMissingError
from edge_agent.protocol.crypto.envelope import EnvelopeHeader
from edge_agent.protocol.reads import PlateRead

COLUMNS = (
    "read_id",
    "device_id",
    "seq",
    "camera",
    "plate",
    "confidence",
    "first_seen_ms",
    "last_seen_ms",
    "frames",
    "direction",
    "clock_synced",
    "box",
    "crop_jpeg",
    "models",
    "recipient_key_id",
    "signer_key_id",
    "received_at",
)


@dataclass(frozen=True)
class StoredRead:
    """A verified, decrypted read with the envelope facts the city keeps for audit."""

    header: EnvelopeHeader
    read: PlateRead
    received_at: float

    def row(self) -> tuple[Any, ...]:
        """Values in COLUMNS order."""
        r = self.read
        return (
            r.read_id,
            r.device_id,
            self.header.seq,
            r.camera,
            r.text,
            r.confidence,
            round(r.first_seen * 1000),
            round(r.last_seen * 1000),
            r.frames,
            r.direction,
            r.clock_synced,
            json.dumps(list(r.box)) if r.box is not None else None,
            r.crop_jpeg,
            json.dumps(r.models, sort_keys=True) if r.models else None,
            self.header.recipient_key_id,
            self.header.signer_key_id,
            self.received_at,
        )


class Store(Protocol):
    """What the ingest service needs from a database."""

    def add(self, items: Sequence[StoredRead]) -> int:
        """Store reads in one durable transaction; returns how many were new."""

    def record_status(self, device_id: str, state: str, payload: str, at: float) -> None:
        """Keep the latest status message of a device."""

    def reused_seqs(self, items: Sequence[StoredRead]) -> list[tuple[str, int]]:
        """(device, sequence number) of the items whose number is already held by another read of that device."""

    def add_counters(self, deltas: Mapping[str, int]) -> None:
        """Add to the ingest's running totals (received, stored, rejected_..., kept across restarts and workers)."""

    def counters(self) -> dict[str, int]:
        """The running totals."""

    def count(self) -> int:
        """Number of stored reads."""

    def close(self) -> None:
        """Release the connection."""


def counter_rows(deltas: Mapping[str, int]) -> list[tuple[str, int]]:
    """(name, delta) rows worth writing: the counters that changed."""
    return [(str(k), int(v)) for k, v in deltas.items() if v]


def require_psycopg() -> Any:
    """Import psycopg 3 or say how to install it."""
    try:
        import psycopg
    except ImportError:
        raise RuntimeMissingError("PostgreSQL store needs psycopg 3: pip install 'edge-agent[postgres]'") from None
    return psycopg
