"""The vision path of one camera: privacy mask -> motion gate -> detector -> box refiner -> reader -> tracker.

No threads here: the agent's vision worker, `edge-agent read VIDEO` and `edge-agent bench pipeline` all call
`process()` once per frame, so all three run exactly the same code. Per-stage times are kept for the benchmark.
"""

from __future__ import annotations

import collections
import time
from dataclasses import dataclass, field, replace
from typing import NamedTuple

import cv2
import numpy as np

from edge_agent.config import Config, MotionConfig, TrackerConfig
from edge_agent.device.capture.base import Frame
from edge_agent.device.vision.detector import Detection, PlateDetector
from edge_agent.device.vision.masks import Masker
from edge_agent.device.vision.motion import MotionGate
from edge_agent.device.vision.reader import PlateReader, TextRead
from edge_agent.device.vision.rectify import level
from edge_agent.device.vision.refine import PlateRefiner
from edge_agent.device.vision.tracker import FinishedTrack, Observation, Tracker

# Detector boxes are widened a little before reading: the reader was trained on crops with a margin of -1% to
# +4% (catalogue) and -3% to +16% (camera) per side. 4% read the most plates exactly of 0-12% on synthetic
# street scenes (scripts/eval_crop_margin.py); wider crops shrink the characters in the reader's input.
CROP_MARGIN = 0.04
# The reader reads each plate on crops cut with these margins and the views vote, each with its confidence.
# Detector boxes are a few pixels off in either direction; one view then reads a bolt, a frame edge or a state
# name as a character, or loses the first one, while the others do not. On real-scenes-validation (1 thread,
# scripts/eval_scenes.py) this took exact plates from 55.5% to 65.4%; 0.15 ms a view.
VIEW_MARGINS = (-0.02, 0.0, 0.04, 0.08, 0.12)
# ... and on three vertical framings of the box: as found, and with (top, bottom) fractions of its height cut off.
# A box's height is its least certain part (the refiner's boxes on real-scenes-validation: top and bottom edges
# scattered by 8% of the plate's height, left and right by 4-5% of its width), and the frame's text above and
# below a US plate is read as characters when a view takes it in. On the reader's held-out street plates
# (scripts/eval_refiner.py: 519 plates x 3 detector-like boxes) the three framings read 75.5% exactly against
# 73.6% for the box alone (refined boxes), 70.3% against 65.6% (detector-like boxes).
VIEW_FRAMINGS = ((0.0, 0.0), (0.02, 0.06), (0.04, 0.12))
# Plates wider than this (pixels) are shrunk to it before their views are cut: twice the reader's input width.
SHRINK_WIDTH = 256
# A reading far below the reader's threshold still continues the track, but casts no vote on its text.
TEXT_FLOOR = 0.5
STAGES = ("mask", "motion", "detect", "refine", "read", "track")


def crop_plate(image: np.ndarray, box: tuple[float, float, float, float], margin: float = CROP_MARGIN) -> np.ndarray:
    """The plate region of a frame, widened by `margin` of its size on each side, clipped to the frame."""
    x, y, w, h = box
    height, width = image.shape[:2]
    x0 = int(max(0, np.floor(x - margin * w)))
    y0 = int(max(0, np.floor(y - margin * h)))
    x1 = int(min(width, np.ceil(x + w + margin * w)))
    y1 = int(min(height, np.ceil(y + h + margin * h)))
    return image[y0:y1, x0:x1]


def _shrunk(
    image: np.ndarray, box: tuple[float, float, float, float], max_width: int
) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """The plate's neighbourhood shrunk once so that the plate is at most `max_width` wide, and its box there.

    Every view is shrunk to the reader's input anyway; shrinking the neighbourhood first spares large resizes and
    the rectification of a 400 px plate from a 1080p frame. Plates no wider than `max_width` are left as they are.
    """
    x, y, w, h = box
    if w <= max_width:
        return image, box
    pad_x, pad_y = 0.25 * w, 0.25 * h + 0.1 * w  # room for the widest view and a turned plate
    height, width = image.shape[:2]
    x0, y0 = int(max(0, x - pad_x)), int(max(0, y - pad_y))
    x1, y1 = int(min(width, x + w + pad_x)), int(min(height, y + h + pad_y))
    scale = max_width / w
    region = cv2.resize(
        image[y0:y1, x0:x1],
        (max(2, round((x1 - x0) * scale)), max(2, round((y1 - y0) * scale))),
        interpolation=cv2.INTER_AREA,
    )
    return region, ((x - x0) * scale, (y - y0) * scale, w * scale, h * scale)


def framed(box: tuple[float, float, float, float], top: float, bottom: float) -> tuple[float, float, float, float]:
    """`box` with `top` and `bottom` fractions of its height cut off."""
    x, y, w, h = box
    return (x, y + top * h, w, h * (1.0 - top - bottom))


def read_views(
    reader: PlateReader,
    image: np.ndarray,
    box: tuple[float, float, float, float],
    margins: tuple[float, ...] = VIEW_MARGINS,
    rectify: bool = True,
    framings: tuple[tuple[float, float], ...] = VIEW_FRAMINGS,
) -> TextRead:
    """Read a plate on one crop per framing and margin; the text with the largest sum of confidences wins.

    With `rectify`, a tilted plate is turned level first (rectify.py) and the views are cut around its own box.
    The views vote on their greedy readings (cheap); the winning text's most confident view is then decoded in
    full (beam search, formats, runner-ups), once per plate rather than once per view.
    """
    image, box = _shrunk(image, box, SHRINK_WIDTH)
    levelled = level(image, box) if rectify else None
    if levelled is not None:
        image, box = levelled
    # The reader reads grey; converting the neighbourhood once instead of each view gives the same pixels.
    if image.ndim == 3 and image.shape[2] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    reads: list[tuple[TextRead, np.ndarray]] = []
    for top, bottom in framings:
        for margin in margins:
            crop = crop_plate(image, framed(box, top, bottom), margin)
            if crop.shape[0] >= 2 and crop.shape[1] >= 2:
                probs = reader.posteriors(crop)
                reads.append((reader.quick(probs), probs))
    if not reads:
        return reader.read(crop_plate(image, box))
    weight: dict[str, float] = collections.defaultdict(float)
    for r, _ in reads:
        weight[r.text] += r.confidence
    # Ties go to the earlier margin's text (dicts keep insertion order), so the result does not depend on hashing.
    text = max(weight, key=lambda t: weight[t])
    _, best = max(((r, p) for r, p in reads if r.text == text), key=lambda rp: rp[0].confidence)
    return reader.decode(best)


@dataclass(frozen=True)
class PlateSighting:
    """One plate on one frame (what `edge-agent read IMAGE` prints)."""

    detection: Detection
    text: str
    confidence: float
    char_confidences: tuple[float, ...] = ()
    posteriors: np.ndarray | None = field(default=None, compare=False, repr=False)
    alternatives: tuple[str, ...] = field(default=(), compare=False, repr=False)


class VisionPipeline:
    """Per-camera state (masks, motion history, tracks) around shared detector and reader instances."""

    def __init__(
        self,
        detector: PlateDetector,
        reader: PlateReader,
        masker: Masker | None = None,
        motion: MotionConfig | None = None,
        tracker: TrackerConfig | None = None,
        keep_crops: bool = False,
        rectify: bool = True,
        refiner: PlateRefiner | None = None,
        framings: tuple[tuple[float, float], ...] = VIEW_FRAMINGS,
    ) -> None:
        self.detector = detector
        self.rectify = rectify
        self.refiner = refiner
        self.framings = framings
        self.reader = reader
        self.masker = masker or Masker([])
        self.motion = MotionGate(motion) if motion is not None and motion.enabled else None
        self.tracker = Tracker(
            tracker or TrackerConfig(), confirm=detector.confirm_confidence or 0.0, align=reader.align
        )
        self.keep_crops = keep_crops
        self.frames = 0
        self.analysed = 0
        self.strided = 0
        self._last_analysed = -1e9
        self.times: dict[str, collections.deque[float]] = {s: collections.deque(maxlen=100_000) for s in STAGES}

    def sightings(self, image: np.ndarray) -> list[PlateSighting]:
        """Detect and read every plate on one image (no tracking): for still images."""
        height, width = image.shape[:2]
        t0 = time.perf_counter()
        detections = self.detector.detect(image, self.masker.roi(width, height))
        t1 = time.perf_counter()
        if self.refiner is not None:
            # The refined box is the plate's box from here on: it is read, tracked and reported, so the zones
            # are checked on it.
            refiner = self.refiner
            detections = [replace(d, box=refiner.refine(image, d.box)) for d in detections]
        detections = [
            d
            for d in detections
            if self.masker.in_detection_zone(d.box, width, height)
            and not self.masker.overlaps_privacy(d.box, width, height)
        ]
        t_refined = time.perf_counter()
        out = []
        for det in detections:
            read = read_views(self.reader, image, det.box, rectify=self.rectify, framings=self.framings)
            out.append(
                PlateSighting(
                    det, read.text, read.confidence, read.char_confidences, read.posteriors, read.alternatives
                )
            )
        t2 = time.perf_counter()
        self.times["detect"].append((t1 - t0) * 1000)
        if self.refiner is not None:
            self.times["refine"].append((t_refined - t1) * 1000)
        if detections:
            self.times["read"].append((t2 - t_refined) * 1000 / len(detections))
        return out

    def process(self, frame: Frame) -> list[FinishedTrack]:
        """Analyse one frame; returns the vehicle passes that ended."""
        self.frames += 1
        settled_for = frame.media_s - self._last_analysed + 1e-3  # 1 ms slack for timestamps like 0.1 * 3
        if self.tracker.settled and settled_for < self.tracker.cfg.settled_interval:
            # Every plate in view is already read with confidence: follow them at a lower rate (nothing of this
            # frame is looked at, so the privacy mask has nothing to protect either).
            self.strided += 1
            return self.tracker.update(frame.media_s, frame.ts, [])
        image = frame.image
        t0 = time.perf_counter()
        self.masker.blank(image)
        t1 = time.perf_counter()
        self.times["mask"].append((t1 - t0) * 1000)
        if self.motion is not None:
            run = self.motion.should_detect(image, frame.media_s, tracking=self.tracker.active)
            self.times["motion"].append((time.perf_counter() - t1) * 1000)
            if not run:
                return self.tracker.update(frame.media_s, frame.ts, [])
        self.analysed += 1
        self._last_analysed = frame.media_s
        observations = []
        floor = self.reader.threshold * TEXT_FLOOR
        for sighting in self.sightings(image):
            crop = crop_plate(image, sighting.detection.box).copy() if self.keep_crops else None
            readable = sighting.confidence >= floor
            observations.append(
                Observation(
                    box=sighting.detection.box,
                    det_conf=sighting.detection.confidence,
                    text=sighting.text if readable else "",
                    text_conf=sighting.confidence,
                    char_confs=sighting.char_confidences if readable else (),
                    crop=crop,
                    posteriors=sighting.posteriors if readable else None,
                    alternatives=sighting.alternatives if readable else (),
                )
            )
        t2 = time.perf_counter()
        finished = self.tracker.update(frame.media_s, frame.ts, observations)
        self.times["track"].append((time.perf_counter() - t2) * 1000)
        return finished

    def flush(self) -> list[FinishedTrack]:
        """End all tracks (end of stream or shutdown)."""
        return self.tracker.flush()


class Models(NamedTuple):
    """One camera's models."""

    detector: PlateDetector
    reader: PlateReader
    refiner: PlateRefiner | None

    def versions(self) -> dict[str, str]:
        """Each model's version, as read records and the status message carry them."""
        out = {"detector": self.detector.contract.version, "reader": self.reader.contract.version}
        if self.refiner is not None:
            out["refiner"] = self.refiner.contract.version
        return out


def models_for(cfg: Config) -> Models:
    """The models the config asks for (one set per camera: an interpreter is not thread-safe)."""
    vision = cfg.vision
    detector = PlateDetector(
        vision.detector.model,
        num_threads=vision.threads,
        backend=vision.runtime,
        input_size=vision.detector.input_size,
        confidence=vision.detector.confidence,
        nms_iou=vision.detector.nms_iou,
        flip=vision.detector.flip,
    )
    reader = PlateReader(
        vision.reader.model, num_threads=vision.threads, backend=vision.runtime, formats=vision.reader.formats
    )
    refiner = (
        PlateRefiner(vision.refiner.model, num_threads=vision.threads, backend=vision.runtime)
        if vision.refiner.enabled
        else None
    )
    return Models(detector, reader, refiner)


def pipeline_for(cfg: Config, camera_index: int, models: Models) -> VisionPipeline:
    """A camera's pipeline from the config."""
    cam = cfg.cameras[camera_index]
    return VisionPipeline(
        models.detector,
        models.reader,
        refiner=models.refiner,
        masker=Masker(cam.privacy_zones, cam.detection_zone),
        motion=cfg.vision.motion,
        tracker=cfg.vision.tracker,
        keep_crops=cfg.privacy.include_crop,
        rectify=cfg.vision.reader.rectify,
    )
