"""Box refinement: a small regressor that moves a detector's box onto the plate's own edges before reading.

The detector finds plates well but outlines them loosely: on real street photos its boxes are 10-15% larger
than the plate and off by 8-10% of the plate's size on every edge (``scripts/eval_scenes.py``), so the reader's
crops carry frame text, bolts or bumper, or lose a character at the edge. The refiner looks at a window around
the detector's box (the box widened by the contract's ``expand`` factors about its centre, cut with the frame's
edge pixels repeated where the window leaves the frame), and returns the plate's box in that window as four
fractions (left, top, right, bottom). The pipeline reads, tracks and reports the refined box (the reader on
several framings of it, ``pipeline.VIEW_FRAMINGS``); a refinement that moves the box implausibly far (IoU with
the detector's box below ``min_iou``) is ignored.

The model (``models/plate_refiner.tflite``, its float twin ``plate_refiner_float.tflite``) comes with a JSON
sidecar that the refiner checks on load, like the detector's and the reader's. ``scripts/train_refiner.py``
trains it; the same `window` and `cut` functions feed its training.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge_agent.device.vision.runtime import TFLiteModel, read_sidecar, sidecar_path, uint8_to_input
from edge_agent.device.vision.tracker import Box, iou
from edge_agent.errors import InvalidInputError, ModelError
from edge_agent.paths import default_model

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "plate_refiner.tflite"


@dataclass(frozen=True)
class RefinerContract:
    """What the sidecar JSON promises about the model."""

    height: int
    width: int
    expand_x: float
    expand_y: float
    min_iou: float
    version: str = "unknown"

    @classmethod
    def load(cls, path: Path) -> RefinerContract:
        """Parse the sidecar; raise ModelError naming the file and the problem."""
        return read_sidecar(path, "train_refiner.py", cls._parse)

    @classmethod
    def _parse(cls, data: dict[str, Any]) -> RefinerContract:
        inp, win, post = data["input"], data["window"], data["postprocess"]
        contract = cls(
            height=int(inp["height"]),
            width=int(inp["width"]),
            expand_x=float(win["expand_x"]),
            expand_y=float(win["expand_y"]),
            min_iou=float(post["min_iou"]),
            version=str(data.get("version", "unknown")),
        )
        if int(inp["channels"]) != 3 or data["output"]["layout"] != ["left", "top", "right", "bottom"]:
            raise ValueError("input must be 3 channels (BGR) and output left, top, right, bottom")
        if contract.expand_x < 1 or contract.expand_y < 1 or not 0 <= contract.min_iou < 1:
            raise ValueError("expand factors must be >= 1 and min_iou in [0, 1)")
        return contract


def window(box: Box, expand_x: float, expand_y: float) -> Box:
    """The region the refiner looks at: `box` (x, y, w, h) scaled by the expand factors about its centre."""
    x, y, w, h = box
    ww, wh = w * expand_x, h * expand_y
    return (x + w / 2 - ww / 2, y + h / 2 - wh / 2, ww, wh)


def cut(image: np.ndarray, win: Box, height: int, width: int) -> np.ndarray:
    """The window's pixels resized to `height` x `width`; beyond the frame its edge pixels are repeated.

    The window is first rounded outwards to whole pixels of the frame; `win` itself is what the outputs are
    fractions of, so the rounding shifts the result by less than one frame pixel.
    """
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3, 4)):
        raise InvalidInputError(f"the refiner needs a uint8 grey, BGR or BGRA frame, got {image.dtype} {image.shape}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    elif image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    x, y, w, h = win
    x0, y0 = int(np.floor(x)), int(np.floor(y))
    x1, y1 = max(x0 + 2, int(np.ceil(x + w))), max(y0 + 2, int(np.ceil(y + h)))
    ih, iw = image.shape[:2]
    region = image[max(0, y0) : max(0, min(ih, y1)), max(0, x0) : max(0, min(iw, x1))]
    if region.size == 0:
        region = np.zeros((2, 2, 3), np.uint8)
    else:
        region = cv2.copyMakeBorder(
            region,
            max(0, -y0),
            max(0, y1 - ih),
            max(0, -x0),
            max(0, x1 - iw),
            cv2.BORDER_REPLICATE,
        )
    if region.ndim == 2:
        region = cv2.cvtColor(region, cv2.COLOR_GRAY2BGR)
    shrinking = region.shape[1] > width or region.shape[0] > height
    return cv2.resize(region, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def to_box(win: Box, edges: np.ndarray) -> Box:
    """Fractions (left, top, right, bottom) of a window back to an x, y, w, h box in frame pixels."""
    x, y, w, h = win
    left, top, right, bottom = (float(v) for v in edges)
    return (x + left * w, y + top * h, (right - left) * w, (bottom - top) * h)


class PlateRefiner:
    """Tighten detector boxes onto plates with the int8 (or float) TFLite regressor and its contract."""

    def __init__(self, model_path: Path | None = None, num_threads: int = 1, backend: str = "auto") -> None:
        path = Path(model_path) if model_path is not None else default_model(DEFAULT_MODEL)
        self.contract = RefinerContract.load(sidecar_path(path))
        self.model = TFLiteModel(path, num_threads=num_threads, backend=backend)
        c = self.contract
        if self.model.input.shape != (1, c.height, c.width, 3) or self.model.outputs[0].shape[-1] != 4:
            raise ModelError(
                f"{path.name} does not match its contract: input {self.model.input.shape}, expected"
                f" (1, {c.height}, {c.width}, 3) -> 4 edges"
            )
        logger.info("plate refiner %s %s, input %dx%d", path.name, c.version, c.height, c.width)

    def edges(self, image: np.ndarray, win: Box) -> np.ndarray:
        """The model's four fractions of `win` for the plate in it."""
        c = self.contract
        x = uint8_to_input(cut(image, win, c.height, c.width)[None], self.model.input)
        return np.asarray(self.model.run(x)[0][0], dtype=np.float32)

    def refine(self, image: np.ndarray, box: Box) -> Box:
        """The plate's own box near a detector `box` (x, y, w, h, frame pixels); `box` itself when the model's
        answer is implausible (degenerate, or too far from the detector's box)."""
        if not np.all(np.isfinite(box)) or box[2] < 2 or box[3] < 2:
            return box
        c = self.contract
        win = window(box, c.expand_x, c.expand_y)
        x, y, w, h = to_box(win, self.edges(image, win))
        ih, iw = image.shape[:2]
        x0, y0 = max(0.0, x), max(0.0, y)
        x1, y1 = min(float(iw), x + w), min(float(ih), y + h)
        refined = (x0, y0, x1 - x0, y1 - y0)  # clipped to the frame before it is judged
        if refined[2] < 2 or refined[3] < 2 or iou(refined, box) < c.min_iou:
            return box
        return refined
