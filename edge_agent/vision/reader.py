"""The plate reader: OCR of one plate crop with a convolutional CTC model, decoded outside the model.

The model (``models/plate_reader.tflite``, or its float twin ``plate_reader_float.tflite``) comes with a JSON
sidecar, its contract: input size and colour, normalisation, output layout, alphabet and blank index, length
limits, the confidence threshold and the model version. The reader checks the contract against the model when
it loads, so a mismatched pair fails at start-up with what to do, not with garbage reads later.

Confidence is the minimum of the per-character probabilities (a plate is only as sure as its least sure
character); readings shorter or longer than the contract allows are returned with their confidence capped low,
so two-line plates, which the model is trained to refuse, never come out as confident text.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge_agent.errors import InvalidInputError, ModelError
from edge_agent.paths import default_model
from edge_agent.vision.runtime import TFLiteModel, uint8_to_input

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "plate_reader.tflite"
# Confidence given to readings outside the contract's length limits: below any sensible threshold.
OUT_OF_RANGE_CONFIDENCE = 0.05


@dataclass(frozen=True)
class TextRead:
    """One plate reading: A-Z0-9 text, overall confidence in [0, 1], and one confidence per character."""

    text: str
    confidence: float
    char_confidences: tuple[float, ...]


@dataclass(frozen=True)
class ReaderContract:
    """What the sidecar JSON promises about the model."""

    height: int
    width: int
    channels: int
    alphabet: str
    blank: int
    min_length: int
    max_length: int
    threshold: float
    version: str = "unknown"

    @classmethod
    def load(cls, path: Path) -> ReaderContract:
        """Parse the sidecar; raise ModelError naming the file and the problem."""
        if not path.is_file():
            raise ModelError(f"model contract {path} not found: ship the .json next to the .tflite (train_reader.py)")
        try:
            data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            inp, out = data["input"], data["output"]
            return cls(
                height=int(inp["height"]),
                width=int(inp["width"]),
                channels=int(inp["channels"]),
                alphabet=str(out["alphabet"]),
                blank=int(out["blank_index"]),
                min_length=int(data["decode"]["min_length"]),
                max_length=int(data["decode"]["max_length"]),
                threshold=float(data["decode"]["confidence_threshold"]),
                version=str(data.get("version", "unknown")),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ModelError(
                f"model contract {path} is malformed ({exc!r}): regenerate it with train_reader.py"
            ) from exc


def contract_path(model_path: Path) -> Path:
    """The sidecar of a model: ``<stem>.json``; the float twin ``<name>_float.tflite`` shares ``<name>.json``."""
    own = model_path.with_suffix(".json")
    if own.is_file() or not model_path.stem.endswith("_float"):
        return own
    return model_path.with_name(model_path.stem.removesuffix("_float") + ".json")


def preprocess(crop_bgr: np.ndarray, height: int, width: int) -> np.ndarray:
    """Grey, resized to the model input (``height x width`` uint8); the same function feeds training."""
    grey = cv2.cvtColor(crop_bgr, cv2.COLOR_BGR2GRAY) if crop_bgr.ndim == 3 else crop_bgr
    shrink = grey.shape[0] > height or grey.shape[1] > width
    return cv2.resize(grey, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def decode_ctc(probs: np.ndarray, alphabet: str, blank: int) -> tuple[str, tuple[float, ...]]:
    """Greedy CTC decode of ``T x C`` probabilities: best class per step, merge repeats, drop blanks.

    Each character's confidence is the highest probability over the run of steps that produced it.
    """
    if probs.ndim != 2 or probs.shape[0] == 0:
        return "", ()
    best = probs.argmax(axis=1)
    best_p = probs[np.arange(len(best)), best]
    chars: list[str] = []
    confs: list[float] = []
    prev = -1
    for cls, p in zip(best.tolist(), best_p.tolist(), strict=True):
        if cls not in (prev, blank):
            chars.append(alphabet[cls])
            confs.append(float(p))
        elif cls == prev and cls != blank:
            confs[-1] = max(confs[-1], float(p))
        prev = cls
    return "".join(chars), tuple(confs)


class PlateReader:
    """Read the text of a plate crop with the shipped (or a given) TFLite CTC model."""

    def __init__(self, model_path: Path | None = None, num_threads: int = 1, backend: str = "auto") -> None:
        path = Path(model_path) if model_path is not None else default_model(DEFAULT_MODEL)
        if not path.is_file():
            raise ModelError(f"plate reader model {path} not found: reinstall edge-agent or fix the model path")
        self.contract = ReaderContract.load(contract_path(path))
        self.model = TFLiteModel(path, num_threads=num_threads, backend=backend)
        c = self.contract
        expected = (1, c.height, c.width, c.channels)
        if self.model.input.shape != expected:
            raise ModelError(
                f"{path.name} takes input {self.model.input.shape} but its contract says {expected}: "
                "ship the matching .tflite/.json pair"
            )
        classes = self.model.outputs[0].shape[-1]
        if classes != len(c.alphabet) + 1 or not 0 <= c.blank < classes:
            raise ModelError(
                f"{path.name} outputs {classes} classes but its contract's alphabet has "
                f"{len(c.alphabet)} + blank: ship the matching .tflite/.json pair"
            )
        logger.debug("plate reader %s %s loaded (%dx%d)", path.name, c.version, c.width, c.height)

    @property
    def threshold(self) -> float:
        """The confidence under which the contract advises not to trust a reading."""
        return self.contract.threshold

    def read(self, crop_bgr: np.ndarray) -> TextRead:
        """Read one plate crop (BGR or grey uint8, any size)."""
        if not isinstance(crop_bgr, np.ndarray) or crop_bgr.dtype != np.uint8 or crop_bgr.ndim not in (2, 3):
            raise InvalidInputError("plate crop must be a uint8 image array (H x W or H x W x 3)")
        if crop_bgr.shape[0] < 2 or crop_bgr.shape[1] < 2:
            raise InvalidInputError(f"plate crop of shape {crop_bgr.shape} is too small to read")
        c = self.contract
        grey = preprocess(crop_bgr, c.height, c.width)
        x = uint8_to_input(grey, self.model.input).reshape(self.model.input.shape)
        probs = self.model.run(x)[0][0]
        text, confs = decode_ctc(probs, c.alphabet, c.blank)
        confidence = min(confs) if confs else 0.0
        if not c.min_length <= len(text) <= c.max_length:
            confidence = min(confidence, OUT_OF_RANGE_CONFIDENCE)
        return TextRead(text=text, confidence=float(confidence), char_confidences=confs)
