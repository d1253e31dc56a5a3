"""The plate detector: letterbox a frame (or a region of it) into a small CenterNet, decode plate boxes.

The model (``models/plate_detector.tflite``) is fully convolutional: a heatmap of plate centres and, per cell,
the log distances to the plate's four edges, at a fixed stride. Its sidecar ``plate_detector.json`` is the contract:
input size, colour order, normalisation, stride, output layout, thresholds. Post-processing happens here in
numpy (3x3 peak picking, greedy NMS) so that it is unit-testable and identical for int8 and float models.

With ``flip`` (the contract's ``postprocess.flip``, or the config's), the mirrored canvas is run too and the two
sets of maps are combined before decoding: the heatmaps by their geometric mean (a plate must look like one both
ways round, which removes more false boxes than it loses plates), the box distances by their mean, left and right
swapped. It doubles the model's time per frame; the contract keeps a threshold for each way of running.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge_agent.device.vision.runtime import TFLiteModel, sidecar_path, uint8_to_input
from edge_agent.errors import InvalidInputError, ModelError
from edge_agent.paths import default_model

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "plate_detector.tflite"
SIZE_MULTIPLE = 32
_BOX_LAYOUT = ["log_left", "log_top", "log_right", "log_bottom"]


@dataclass(frozen=True)
class Detection:
    """One plate: ``box`` is x, y, w, h in original frame pixels; ``confidence`` the heatmap peak in [0, 1]."""

    box: tuple[float, float, float, float]
    confidence: float


@dataclass(frozen=True)
class DetectorContract:
    """The parts of ``plate_detector.json`` that inference depends on."""

    height: int
    width: int
    stride: int
    confidence: float
    nms_iou: float
    max_detections: int
    pad_value: int
    version: str
    flip: bool = False
    confidence_without_flip: float | None = None
    confirm_confidence: float | None = None
    confirm_confidence_without_flip: float | None = None

    @classmethod
    def from_dict(cls, data: Any, source: str) -> DetectorContract:
        """Validate a parsed sidecar; raise `ModelError` naming the first problem."""
        try:
            inp, out, post = data["input"], data["output"], data["postprocess"]
            contract = cls(
                height=int(inp["height"]),
                width=int(inp["width"]),
                stride=int(out["stride"]),
                confidence=float(post["confidence"]),
                nms_iou=float(post["nms_iou"]),
                max_detections=int(post.get("max_detections", 32)),
                pad_value=int(inp.get("letterbox_pad", 114)),
                version=str(data.get("version", "unknown")),
                flip=bool(post.get("flip", False)),
                confidence_without_flip=_optional_float(post, "confidence_without_flip"),
                confirm_confidence=_optional_float(post, "confirm_confidence"),
                confirm_confidence_without_flip=_optional_float(post, "confirm_confidence_without_flip"),
            )
            problems = _contract_problems(contract, inp, out)
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"{source} is not a valid detector contract ({exc!r} missing or malformed)") from exc
        if problems:
            raise ModelError(f"{source}: {problems[0]}: regenerate it with scripts/train_detector.py")
        return contract


def thresholds_for(contract: DetectorContract, flip: bool) -> tuple[float, float | None]:
    """The contract's detection and confirmation thresholds for running with or without the mirrored pass.

    A contract chosen for the mirrored pass also records the single pass's thresholds; for the opposite case the
    single pass's are kept (the mirrored pass only removes false boxes at a given threshold).
    """
    if contract.flip and not flip:
        return (
            contract.confidence if contract.confidence_without_flip is None else contract.confidence_without_flip,
            contract.confirm_confidence
            if contract.confirm_confidence_without_flip is None
            else contract.confirm_confidence_without_flip,
        )
    return contract.confidence, contract.confirm_confidence


def _optional_float(section: dict[str, Any], key: str) -> float | None:
    value = section.get(key)
    return None if value is None else float(value)


def _contract_problems(c: DetectorContract, inp: dict[str, Any], out: dict[str, Any]) -> list[str]:
    problems = []
    if inp.get("channels") != 3 or str(inp.get("colour_order", "")).upper() != "BGR":
        problems.append("input must be 3-channel BGR")
    if c.height <= 0 or c.width <= 0 or c.height % SIZE_MULTIPLE or c.width % SIZE_MULTIPLE:
        problems.append(f"input size {c.height}x{c.width} is not a positive multiple of {SIZE_MULTIPLE}")
    if c.stride not in (4, 8, 16):
        problems.append(f"stride {c.stride} is not 4, 8 or 16")
    if not 0.0 < c.confidence < 1.0:
        problems.append(f"confidence {c.confidence} is not in (0, 1)")
    for key in ("confidence_without_flip", "confirm_confidence", "confirm_confidence_without_flip"):
        value = getattr(c, key)
        if value is not None and not 0.0 < value < 1.0:
            problems.append(f"{key} {value} is not in (0, 1)")
    if not 0.0 < c.nms_iou <= 1.0:
        problems.append(f"nms_iou {c.nms_iou} is not in (0, 1]")
    if c.max_detections < 1:
        problems.append("max_detections must be at least 1")
    if list(out.get("box", {}).get("layout", [])) != _BOX_LAYOUT:
        problems.append(f"box layout must be {_BOX_LAYOUT}")
    return problems


def load_contract(path: Path) -> DetectorContract:
    """Read and validate a detector sidecar JSON."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ModelError(f"detector contract {path} not found: it must sit beside the .tflite model") from exc
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"detector contract {path} is unreadable ({exc}): replace it") from exc
    return DetectorContract.from_dict(data, path.name)


def letterbox(
    image: np.ndarray, size: tuple[int, int], pad_value: int = 114
) -> tuple[np.ndarray, float, tuple[int, int]]:
    """Fit ``image`` into ``size`` (h, w) keeping its aspect ratio, centred; return (canvas, scale, (pad_x, pad_y)).

    A point (x, y) of the image lands at (x * scale + pad_x, y * scale + pad_y) on the canvas.
    """
    h, w = size
    ih, iw = image.shape[:2]
    scale = min(h / ih, w / iw)
    nw, nh = max(1, min(w, round(iw * scale))), max(1, min(h, round(ih * scale)))
    pad_x, pad_y = (w - nw) // 2, (h - nh) // 2
    canvas = np.full((h, w, *image.shape[2:]), pad_value, dtype=image.dtype)
    canvas[pad_y : pad_y + nh, pad_x : pad_x + nw] = shrink(image, (nw, nh))
    return canvas, scale, (pad_x, pad_y)


def shrink(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize to ``size`` (w, h) without aliasing, fast: exact halvings by area, then one bilinear step.

    A direct area resize of a 1080p frame costs ~8 ms here; halving takes OpenCV's fast path (~1 ms for the first)
    and leaves a last step of ratio >= 0.5, where bilinear sampling no longer skips pixels.
    """
    w, h = size
    while image.shape[1] >= 2 * w and image.shape[0] >= 2 * h:
        image = cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2), interpolation=cv2.INTER_AREA)
    if image.shape[1] == w and image.shape[0] == h:
        return image
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)


def unletterbox_boxes(boxes: np.ndarray, scale: float, pad: tuple[int, int]) -> np.ndarray:
    """Map N x 4 boxes (x, y, w, h) from canvas pixels back to image pixels: the inverse of `letterbox`."""
    out: np.ndarray = np.asarray(boxes, dtype=np.float32).reshape(-1, 4).copy()
    out[:, 0] -= pad[0]
    out[:, 1] -= pad[1]
    out /= scale
    return out


def decode(
    heat: np.ndarray, box: np.ndarray, stride: int, threshold: float, max_detections: int
) -> tuple[np.ndarray, np.ndarray]:
    """Heatmap peaks above ``threshold`` to boxes (x, y, w, h in input pixels) and scores, best first.

    ``heat`` is H x W (probabilities), ``box`` H x W x 4: log of the distances from the cell centre to the left,
    top, right and bottom edges, in cells. A peak is a cell not smaller than its 8 neighbours.
    """
    heat = np.ascontiguousarray(heat, dtype=np.float32)
    peaks = (heat >= threshold) & (heat >= cv2.dilate(heat, np.ones((3, 3), np.uint8)))
    ys, xs = np.nonzero(peaks)
    scores = heat[ys, xs]
    if len(scores) > max_detections:
        keep = np.argpartition(-scores, max_detections - 1)[:max_detections]
        ys, xs, scores = ys[keep], xs[keep], scores[keep]
    order = np.argsort(-scores, kind="stable")
    ys, xs, scores = ys[order], xs[order], scores[order]
    dist = np.exp(np.clip(box[ys, xs].astype(np.float32), -4.0, 6.0)) * stride
    cx = (xs + 0.5) * stride
    cy = (ys + 0.5) * stride
    boxes = np.stack([cx - dist[:, 0], cy - dist[:, 1], dist[:, 0] + dist[:, 2], dist[:, 1] + dist[:, 3]], axis=1)
    return boxes.astype(np.float32).reshape(-1, 4), scores.astype(np.float32)


def iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one x y w h box with each of N x 4 boxes."""
    x0 = np.maximum(box[0], boxes[:, 0])
    y0 = np.maximum(box[1], boxes[:, 1])
    x1 = np.minimum(box[0] + box[2], boxes[:, 0] + boxes[:, 2])
    y1 = np.minimum(box[1] + box[3], boxes[:, 1] + boxes[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    union = box[2] * box[3] + boxes[:, 2] * boxes[:, 3] - inter
    return np.asarray(inter / np.maximum(union, 1e-9), dtype=np.float32)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression; indices of the kept boxes, best score first."""
    order = np.argsort(-np.asarray(scores), kind="stable")
    keep: list[int] = []
    while order.size:
        best = int(order[0])
        keep.append(best)
        rest = order[1:]
        order = rest[iou(boxes[best], boxes[rest]) <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def combine_flipped(
    heat: np.ndarray, box: np.ndarray, heat_mirrored: np.ndarray, box_mirrored: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Merge the maps of a canvas (H x W, H x W x 4) with those of its mirror image, mapped back to the canvas.

    A mirrored cell's left and right distances swap; the grid maps back exactly because the canvas width is a
    multiple of the stride.
    """
    back_heat = heat_mirrored[:, ::-1]
    back_box = box_mirrored[:, ::-1][..., [2, 1, 0, 3]]
    return np.sqrt(np.maximum(heat * back_heat, 0.0)), (box + back_box) / 2


class PlateDetector:
    """Find licence plates in BGR frames with the int8 (or float) TFLite CenterNet and its contract."""

    def __init__(
        self,
        model_path: Path | None = None,
        num_threads: int = 1,
        backend: str = "auto",
        input_size: tuple[int, int] | None = None,
        confidence: float | None = None,
        nms_iou: float | None = None,
        flip: bool | None = None,
    ) -> None:
        path = Path(model_path) if model_path is not None else default_model(DEFAULT_MODEL)
        self.contract = load_contract(sidecar_path(path))
        self.model = TFLiteModel(path, num_threads=num_threads, backend=backend)
        h, w = input_size or (self.contract.height, self.contract.width)
        if h <= 0 or w <= 0 or h % SIZE_MULTIPLE or w % SIZE_MULTIPLE:
            raise InvalidInputError(f"detector input size {h}x{w} must be positive multiples of {SIZE_MULTIPLE}")
        self.model.resize_input((1, h, w, 3))
        self.input_size = (h, w)
        self.flip = self.contract.flip if flip is None else bool(flip)
        default_confidence, confirm = thresholds_for(self.contract, self.flip)
        self.confidence = default_confidence if confidence is None else float(confidence)
        # The score a plate must reach on one frame of its pass before the pass is reported (see Tracker).
        self.confirm_confidence = confirm
        self.nms_iou = self.contract.nms_iou if nms_iou is None else float(nms_iou)
        if not 0.0 < self.confidence < 1.0 or not 0.0 < self.nms_iou <= 1.0:
            raise InvalidInputError(f"detector confidence {self.confidence} / nms_iou {self.nms_iou} out of (0, 1)")
        self._heat_index, self._box_index = self._check_outputs(path)
        logger.info(
            "plate detector %s v%s, input %dx%d%s",
            path.name, self.contract.version, h, w, ", with its mirror image" if self.flip else "",
        )  # fmt: skip

    def _check_outputs(self, path: Path) -> tuple[int, int]:
        """Find the heat (1 channel) and box (4 channels) outputs and check their grid against the stride."""
        h, w = self.input_size
        grid = (1, h // self.contract.stride, w // self.contract.stride)
        by_channels = {o.shape[-1]: i for i, o in enumerate(self.model.outputs)}
        if self.model.input.shape[-1] != 3 or set(by_channels) != {1, 4} or len(self.model.outputs) != 2:
            raise ModelError(f"{path.name} does not have the detector's input/outputs (3 -> heat 1, box 4)")
        for o in self.model.outputs:
            if o.shape[:3] != grid:
                raise ModelError(f"{path.name} output grid {o.shape[1:3]} does not match stride {self.contract.stride}")
        return by_channels[1], by_channels[4]

    def detect(self, frame_bgr: np.ndarray, roi: tuple[int, int, int, int] | None = None) -> list[Detection]:
        """Plates in ``frame_bgr`` (or in its ``roi`` x, y, w, h), boxes in full-frame pixels, best first."""
        if frame_bgr.dtype != np.uint8 or frame_bgr.ndim not in (2, 3):
            raise InvalidInputError(f"detector needs a uint8 BGR frame, got {frame_bgr.dtype} {frame_bgr.shape}")
        if frame_bgr.ndim == 2:  # an infrared camera delivers grey frames
            frame_bgr = cv2.cvtColor(frame_bgr, cv2.COLOR_GRAY2BGR)
        ox, oy = 0, 0
        image = frame_bgr
        if roi is not None:
            ox, oy, x1, y1 = _clip_roi(roi, frame_bgr.shape[1], frame_bgr.shape[0])
            image = frame_bgr[oy:y1, ox:x1]
        canvas, scale, pad = letterbox(image, self.input_size, self.contract.pad_value)
        x = uint8_to_input(canvas[None], self.model.input)
        outputs = self.model.run(x)
        heat, box = outputs[self._heat_index][0, ..., 0], outputs[self._box_index][0]
        if self.flip:
            mirrored = self.model.run(np.ascontiguousarray(x[:, :, ::-1]))
            heat, box = combine_flipped(heat, box, mirrored[self._heat_index][0, ..., 0], mirrored[self._box_index][0])
        boxes, scores = decode(heat, box, self.contract.stride, self.confidence, self.contract.max_detections)
        if len(scores) == 0:
            return []
        keep = nms(boxes, scores, self.nms_iou)
        boxes = unletterbox_boxes(boxes[keep], scale, pad)
        ih, iw = image.shape[:2]
        x0 = np.clip(boxes[:, 0], 0, iw)
        y0 = np.clip(boxes[:, 1], 0, ih)
        x1 = np.clip(boxes[:, 0] + boxes[:, 2], 0, iw)
        y1 = np.clip(boxes[:, 1] + boxes[:, 3], 0, ih)
        return [
            Detection((float(a + ox), float(b + oy), float(c - a), float(d - b)), float(s))
            for a, b, c, d, s in zip(x0, y0, x1, y1, scores[keep], strict=True)
            if c > a and d > b
        ]


def _clip_roi(roi: tuple[int, int, int, int], width: int, height: int) -> tuple[int, int, int, int]:
    """Clip an x, y, w, h region to the frame; return x0, y0, x1, y1 or raise when nothing is left."""
    x, y, w, h = (int(v) for v in roi)
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(width, x + w), min(height, y + h)
    if x1 - x0 < 2 or y1 - y0 < 2:
        raise InvalidInputError(f"detection region {roi} is outside the {width}x{height} frame: fix the zone")
    return x0, y0, x1, y1
