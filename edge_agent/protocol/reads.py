"""The `PlateRead` record (one vehicle pass) and its canonical plaintext encoding.

A `PlateRead` exists only in RAM on the device. The only form that reaches disk or network is the sealed
envelope (edge_agent.protocol.crypto.envelope), whose plaintext is `encode()`'s canonical JSON: UTF-8, sorted keys, no
whitespace, times as integer milliseconds since the Unix epoch, the optional crop as base64 JPEG.
"""

from __future__ import annotations

import base64
import json
import math
import os
from dataclasses import dataclass, field
from typing import Any

from edge_agent.errors import MalformedError

PLAINTEXT_VERSION = 1
DIRECTIONS = ("approaching", "receding", "left", "right", "unknown")


def new_read_id() -> bytes:
    """16 random bytes: a read's identity from the tracker to the city's database, the same on every resend."""
    return os.urandom(16)


@dataclass(frozen=True)
class PlateRead:
    """One plate read: the result of one vehicle pass in front of one camera."""

    read_id: bytes
    device_id: str
    camera: str
    text: str
    confidence: float
    first_seen: float
    last_seen: float
    frames: int = 1
    direction: str = "unknown"
    clock_synced: bool = True
    box: tuple[int, int, int, int] | None = None
    crop_jpeg: bytes | None = field(default=None, repr=False)
    models: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        # Plate text never appears in a repr, so it cannot leak through a log line or a traceback.
        return (
            f"PlateRead(read_id={self.read_id.hex()}, camera={self.camera!r}, confidence={self.confidence:.2f}, "
            f"frames={self.frames}, direction={self.direction!r})"
        )

    __str__ = __repr__

    def to_dict(self) -> dict[str, Any]:
        """The plaintext fields as JSON-ready values (this is what the city decrypts)."""
        out: dict[str, Any] = {
            "v": PLAINTEXT_VERSION,
            "read_id": self.read_id.hex(),
            "device_id": self.device_id,
            "camera": self.camera,
            "plate": self.text,
            "confidence": round(float(self.confidence), 4),
            "first_seen_ms": round(self.first_seen * 1000),
            "last_seen_ms": round(self.last_seen * 1000),
            "frames": int(self.frames),
            "direction": self.direction,
            "clock_synced": bool(self.clock_synced),
        }
        if self.box is not None:
            out["box"] = [int(v) for v in self.box]
        if self.crop_jpeg is not None:
            out["crop_jpeg_b64"] = base64.b64encode(self.crop_jpeg).decode("ascii")
        if self.models:
            out["models"] = dict(sorted(self.models.items()))
        return out


def encode(read: PlateRead) -> bytes:
    """Canonical plaintext bytes of a read (sealed, never stored as such)."""
    if not math.isfinite(read.confidence):
        raise ValueError("read confidence must be finite")
    return json.dumps(read.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def decode(data: bytes) -> PlateRead:
    """Parse canonical plaintext back into a `PlateRead` (city side)."""
    try:
        obj = json.loads(data)
        if not isinstance(obj, dict) or obj.get("v") != PLAINTEXT_VERSION:
            raise MalformedError(f"unsupported read plaintext version {obj.get('v') if isinstance(obj, dict) else '?'}")
        crop = obj.get("crop_jpeg_b64")
        box = obj.get("box")
        models = obj.get("models", {})
        if not isinstance(models, dict):
            raise MalformedError("read plaintext: models is not a mapping")
        confidence = float(obj["confidence"])
        if not 0.0 <= confidence <= 1.0:  # also false for NaN
            raise MalformedError("read plaintext: confidence is not a number from 0 to 1")
        return PlateRead(
            read_id=bytes.fromhex(obj["read_id"]),
            device_id=str(obj["device_id"]),
            camera=str(obj["camera"]),
            text=str(obj["plate"]),
            confidence=confidence,
            first_seen=int(obj["first_seen_ms"]) / 1000.0,
            last_seen=int(obj["last_seen_ms"]) / 1000.0,
            frames=int(obj["frames"]),
            direction=str(obj["direction"]),
            clock_synced=bool(obj["clock_synced"]),
            box=(int(box[0]), int(box[1]), int(box[2]), int(box[3])) if box is not None else None,
            crop_jpeg=base64.b64decode(crop, validate=True) if crop is not None else None,
            models={str(k): str(v) for k, v in models.items()},
        )
    except MalformedError:
        raise
    except (ValueError, KeyError, TypeError, IndexError, AttributeError, RecursionError) as exc:
        raise MalformedError(f"read plaintext does not parse ({type(exc).__name__})") from None
