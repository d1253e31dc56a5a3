"""The plate reader: OCR of one plate crop with a convolutional CTC model, decoded outside the model.

The model (``models/plate_reader.tflite``, or its float twin ``plate_reader_float.tflite``) comes with a JSON
sidecar, its contract: input size and colour, normalisation, output layout, alphabet and blank index, length
limits, the confidence threshold and the model version. The reader checks the contract against the model when
it loads, so a mismatched pair fails at start-up with what to do, not with garbage reads later.

Decoding is a CTC beam search (``edge_agent.device.vision.ctc``) restricted to the deployment's plate formats
(``vision.reader.formats``; by default any text of ``MIN_PLATE_LENGTH`` to the contract's maximum length).
Confidence is the minimum of the per-character probabilities (a plate is only as sure as its least sure
character). When no text fits, the greedy reading is returned with its confidence capped low, so two-line plates
(which the model is trained to refuse), fragments and junk never come out as confident text.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge_agent.device.vision import ctc
from edge_agent.device.vision.runtime import TFLiteModel, read_sidecar, sidecar_path, uint8_to_input
from edge_agent.errors import ConfigError, InvalidInputError, ModelError
from edge_agent.paths import default_model
from edge_agent.protocol.formats import canonical, fold, fold_text, parse_formats

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "plate_reader.tflite"
# Confidence given to readings that are no plate (outside the length limits, or fitting none of the deployment's
# formats): below any sensible threshold, so they never come out as a confident plate.
OUT_OF_RANGE_CONFIDENCE = 0.05
# No plate has fewer characters than this, whatever the model's contract allows: one or two characters are a
# badge, a sticker or a fragment of a plate.
MIN_PLATE_LENGTH = 3
# A crop whose every time step gives one class at least this probability is decoded greedily: there the beam
# search returns the greedy text in practice, and skipping it halves the decoding time of a clear plate.
SURE_STEP = 0.9
# Runner-up texts of the beam kept with each reading, for multi-frame fusion.
ALTERNATIVES = 2


@dataclass(frozen=True)
class TextRead:
    """One plate reading: A-Z0-9 text, overall confidence in [0, 1], and one confidence per character."""

    text: str
    confidence: float
    char_confidences: tuple[float, ...]
    # The model's T x C output for this crop, and the beam's runner-up texts: a pass's frames are fused on them.
    posteriors: np.ndarray | None = field(default=None, compare=False, repr=False)
    alternatives: tuple[str, ...] = field(default=(), compare=False, repr=False)


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
        return read_sidecar(path, "train_reader.py", cls._parse)

    @classmethod
    def _parse(cls, data: dict[str, Any]) -> ReaderContract:
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


def preprocess(crop_bgr: np.ndarray, height: int, width: int) -> np.ndarray:
    """Grey, resized to the model input (``height x width`` uint8); the same function feeds training."""
    grey = cv2.cvtColor(crop_bgr, cv2.COLOR_BGR2GRAY) if crop_bgr.ndim == 3 else crop_bgr
    shrink = grey.shape[0] > height or grey.shape[1] > width
    return cv2.resize(grey, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def decode_ctc(probs: np.ndarray, alphabet: str, blank: int) -> tuple[str, tuple[float, ...]]:
    """Greedy CTC decode of ``T x C`` probabilities: best class per step, merge repeats, drop blanks.

    Each character's confidence is the highest probability over the run of steps that produced it.
    """
    return ctc.greedy(probs, alphabet, blank)


class PlateReader:
    """Read the text of a plate crop with the shipped (or a given) TFLite CTC model."""

    def __init__(
        self,
        model_path: Path | None = None,
        num_threads: int = 1,
        backend: str = "auto",
        formats: Sequence[str] = (),
    ) -> None:
        try:
            self.formats = parse_formats(formats)
        except ValueError as exc:
            raise ConfigError(f"vision.reader.formats: {exc}") from exc
        path = Path(model_path) if model_path is not None else default_model(DEFAULT_MODEL)
        if not path.is_file():
            raise ModelError(f"plate reader model {path} not found: reinstall edge-agent or fix the model path")
        self.contract = ReaderContract.load(sidecar_path(path))
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
        self.lengths = (max(c.min_length, MIN_PLATE_LENGTH), c.max_length)
        logger.debug("plate reader %s %s loaded (%dx%d)", path.name, c.version, c.width, c.height)

    @property
    def threshold(self) -> float:
        """The confidence under which the contract advises not to trust a reading."""
        return self.contract.threshold

    def read(self, crop_bgr: np.ndarray) -> TextRead:
        """Read one plate crop (BGR or grey uint8, any size)."""
        return self.decode(self.posteriors(crop_bgr))

    def posteriors(self, crop_bgr: np.ndarray) -> np.ndarray:
        """The model's ``T x C`` output for one plate crop (BGR or grey uint8, any size)."""
        if not isinstance(crop_bgr, np.ndarray) or crop_bgr.dtype != np.uint8 or crop_bgr.ndim not in (2, 3):
            raise InvalidInputError("plate crop must be a uint8 image array (H x W or H x W x 3)")
        if crop_bgr.shape[0] < 2 or crop_bgr.shape[1] < 2:
            raise InvalidInputError(f"plate crop of shape {crop_bgr.shape} is too small to read")
        c = self.contract
        grey = preprocess(crop_bgr, c.height, c.width)
        x = uint8_to_input(grey, self.model.input).reshape(self.model.input.shape)
        return np.asarray(self.model.run(x)[0][0], dtype=np.float32)

    def quick(self, probs: np.ndarray) -> TextRead:
        """The greedy reading of an output, capped like `decode`'s: cheap, for comparing views of one plate."""
        c = self.contract
        text, confs = ctc.greedy(probs, c.alphabet, c.blank)
        confidence = min(confs, default=0.0)
        if not self.lengths[0] <= len(text) <= self.lengths[1]:
            confidence = min(confidence, OUT_OF_RANGE_CONFIDENCE)
        return TextRead(text, confidence, confs, probs)

    def decode(self, probs: np.ndarray) -> TextRead:
        """The best text of the model's ``T x C`` output under the formats and length limits."""
        c = self.contract
        # Under formats, O/0 and I/1 are one class each, written as the position asks (formats.fold).
        seen = fold(probs, c.alphabet) if self.formats else probs
        text, confs = ctc.greedy(seen, c.alphabet, c.blank)
        in_range = self.lengths[0] <= len(text) <= self.lengths[1]
        if not self.formats and in_range and float(probs.max(axis=1).min()) >= SURE_STEP:
            # Every step is sure of one class: the greedy text is the reading, without runner-ups.
            return TextRead(text, min(confs), confs, probs)
        hyps = ctc.beam_search(seen, c.alphabet, c.blank, self.formats, self.lengths)
        for i, hyp in enumerate(hyps):
            # The greedy path is the best alignment of its own text: its peaks are that text's confidences.
            if hyp.text == text:
                hyp_confs: tuple[float, ...] = confs
            else:
                path = ctc.align(seen, hyp.text, c.alphabet, c.blank)
                hyp_confs = path.chars if path is not None else ()
            if hyp_confs:
                others = tuple(self._written(h.text) for h in hyps[i + 1 : i + 1 + ALTERNATIVES])
                return TextRead(self._written(hyp.text), min(hyp_confs), hyp_confs, probs, others)
        return TextRead(text, min(min(confs, default=0.0), OUT_OF_RANGE_CONFIDENCE), confs, probs)

    def _written(self, text: str) -> str:
        return canonical(text, self.formats) if self.formats else text

    def align(self, probs: np.ndarray, text: str) -> ctc.Alignment | None:
        """The best path that spells `text` in a crop's output (see ctc.align); None if it cannot fit."""
        c = self.contract
        if self.formats:
            return ctc.align(fold(probs, c.alphabet), fold_text(text), c.alphabet, c.blank)
        return ctc.align(probs, text, c.alphabet, c.blank)
