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
import re
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


MAX_INT = 2**63 - 1  # what the city's databases store (signed 64-bit): larger would wedge a store
_READ_ID = re.compile(r"^[0-9a-f]{32}$")
_PLATE = re.compile(r"^[A-Z0-9]{1,16}$")
_NAME = re.compile(r"^[^\x00-\x1f\x7f]{1,64}$")  # no control characters (PostgreSQL refuses NUL in text)


def _int(obj: dict[str, Any], key: str) -> int:
    value = obj[key]
    if type(value) is not int or not 0 <= value <= MAX_INT:
        raise MalformedError(f"read plaintext: {key} is not an integer from 0 to 2^63-1")
    return value


def decode(data: bytes) -> PlateRead:
    """Parse plaintext back into a `PlateRead` (city side).

    Canonical form is not required, but types are: a string where a boolean or an integer belongs, an integer
    outside what the city's databases hold, a read id that is not 32 lower-case hex digits, a plate outside
    A-Z0-9 or an unknown direction make the read malformed (one such read must never stop the ingest).
    """
    try:
        obj = json.loads(data)
        if not isinstance(obj, dict) or type(obj.get("v")) is not int or obj.get("v") != PLAINTEXT_VERSION:
            raise MalformedError(f"unsupported read plaintext version {obj.get('v') if isinstance(obj, dict) else '?'}")
        crop = obj.get("crop_jpeg_b64")
        box = obj.get("box")
        models = obj.get("models", {})
        if not isinstance(models, dict):
            raise MalformedError("read plaintext: models is not a mapping")
        confidence = obj["confidence"]
        if type(confidence) not in (int, float) or not 0.0 <= confidence <= 1.0:  # also false for NaN
            raise MalformedError("read plaintext: confidence is not a number from 0 to 1")
        if not isinstance(obj["read_id"], str) or not _READ_ID.match(obj["read_id"]):
            raise MalformedError("read plaintext: read_id is not 32 lower-case hex digits")
        if not isinstance(obj["plate"], str) or not _PLATE.match(obj["plate"]):
            raise MalformedError("read plaintext: plate is not 1-16 of A-Z and 0-9")
        if obj["direction"] not in DIRECTIONS:
            raise MalformedError(f"read plaintext: direction is not one of {', '.join(DIRECTIONS)}")
        if type(obj["clock_synced"]) is not bool:
            raise MalformedError("read plaintext: clock_synced is not true or false")
        if not all(isinstance(obj[k], str) and _NAME.match(obj[k]) for k in ("device_id", "camera")):
            raise MalformedError("read plaintext: device_id and camera are 1-64 printable characters")
        if box is not None and (not isinstance(box, list) or len(box) != 4):
            raise MalformedError("read plaintext: box is four integers")
        box_values = [_int({"box": v}, "box") for v in box] if box is not None else None
        return PlateRead(
            read_id=bytes.fromhex(obj["read_id"]),
            device_id=obj["device_id"],
            camera=obj["camera"],
            text=obj["plate"],
            confidence=float(confidence),
            first_seen=_int(obj, "first_seen_ms") / 1000.0,
            last_seen=_int(obj, "last_seen_ms") / 1000.0,
            frames=_int(obj, "frames"),
            direction=obj["direction"],
            clock_synced=obj["clock_synced"],
            box=(box_values[0], box_values[1], box_values[2], box_values[3]) if box_values is not None else None,
            crop_jpeg=base64.b64decode(crop, validate=True) if crop is not None else None,
            models={str(k): str(v) for k, v in models.items()},
        )
    except MalformedError:
        raise
    except (ValueError, KeyError, TypeError, IndexError, AttributeError, RecursionError) as exc:
        raise MalformedError(f"read plaintext does not parse ({type(exc).__name__})") from None
