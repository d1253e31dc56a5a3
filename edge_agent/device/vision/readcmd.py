"""`edge-agent read`: plates in images, plate crops or videos, one JSON object per input.

Images: every plate on the image, detector + reader. `--crops`: each input is a plate crop, reader only.
Videos: replayed as fast as possible through the same pipeline and tracker as `edge-agent run`, one entry per
vehicle pass. An unreadable input gets a one-line error and the rest go on.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2

from edge_agent.config import VIDEO_SUFFIXES, DetectorConfig, MotionConfig, TrackerConfig
from edge_agent.device.capture.base import EndOfStream
from edge_agent.device.capture.replay import ReplaySource
from edge_agent.device.vision.detector import PlateDetector
from edge_agent.device.vision.pipeline import VIEW_FRAMINGS, PlateSighting, VisionPipeline
from edge_agent.device.vision.reader import PlateReader
from edge_agent.device.vision.refine import PlateRefiner
from edge_agent.errors import CaptureError, EdgeAgentError, InvalidInputError

logger = logging.getLogger(__name__)

# A still image is looked at once, so the detector sees it as large as it usefully can: the largest of these
# inputs (height, width) that shows the photo at no more than STILL_SCALE of its size. The detector was trained
# on plates 20-60 px wide in its input; a 1280x720 photo shrunk to the default 224x384 turns a 60 px plate
# into 18 px, which it misses. A camera keeps its configured input (vision.detector.input_size).
STILL_INPUTS = ((224, 384), (256, 448), (288, 512), (320, 576))
STILL_SCALE = 0.5


def _image(path: Path) -> Any:
    if not path.is_file():
        raise InvalidInputError(f"{path}: no such file")
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise InvalidInputError(f"{path}: not a readable image (corrupt, or not an image format OpenCV knows)")
    return image


class Reader:
    """Holds the models once for all inputs of a `read` invocation."""

    def __init__(
        self,
        threads: int = 1,
        crops_only: bool = False,
        backend: str = "auto",
        reader: PlateReader | None = None,
        detector_model: Path | None = None,
        refiner: PlateRefiner | None = None,
        refine: bool = True,
    ) -> None:
        self.reader = reader or PlateReader(num_threads=threads, backend=backend)
        # The box refiner runs where the daemon's default config runs it: on every detection.
        self.refiner = (
            (refiner or PlateRefiner(num_threads=threads, backend=backend)) if refine and not crops_only else None
        )
        # A still image gets one look, so it runs the way the model recommends (its mirrored pass, if any); a video
        # runs as a camera does, where the tracker sees each plate on many frames.
        self._threads, self._backend, self._model = threads, backend, detector_model
        self.detector = None if crops_only else PlateDetector(detector_model, num_threads=threads, backend=backend)
        self._video_detector: PlateDetector | None = None
        self._still: dict[tuple[int, int], PlateDetector] = {}

    def still_detector(self, height: int, width: int) -> PlateDetector:
        """The detector for a still image of this size (see STILL_INPUTS), made on first use."""
        assert self.detector is not None
        size = STILL_INPUTS[0]
        for h, w in STILL_INPUTS:
            if min(h / height, w / width) <= STILL_SCALE:
                size = (h, w)
        if size == self.detector.input_size:
            return self.detector
        if size not in self._still:
            self._still[size] = PlateDetector(
                self._model, num_threads=self._threads, backend=self._backend, input_size=size
            )
        return self._still[size]

    def sightings(
        self, image: Any, rectify: bool = True, framings: tuple[tuple[float, float], ...] = VIEW_FRAMINGS
    ) -> list[PlateSighting]:
        """Every plate on one still image, detected and read."""
        detector = self.still_detector(*image.shape[:2])
        pipeline = VisionPipeline(detector, self.reader, rectify=rectify, refiner=self.refiner, framings=framings)
        return pipeline.sightings(image)

    def video_detector(self) -> PlateDetector:
        """The detector as `edge-agent run` configures it by default, made on first use."""
        assert self.detector is not None
        flip = DetectorConfig().flip
        if self.detector.flip == flip:
            return self.detector
        if self._video_detector is None:
            self._video_detector = PlateDetector(
                self._model, num_threads=self._threads, backend=self._backend, flip=flip
            )
        return self._video_detector

    def crop(self, path: Path) -> dict[str, Any]:
        """Read one plate crop."""
        image = _image(path)
        result = self.reader.read(image)
        height, width = image.shape[:2]
        plates = []
        if result.text:
            plates.append(
                {"text": result.text, "confidence": round(result.confidence, 4), "box": [0, 0, width, height]}
            )
        return {"path": str(path), "plates": plates}

    def image(self, path: Path) -> dict[str, Any]:
        """Every plate on one image."""
        image = _image(path)
        plates = [
            {
                "text": s.text,
                "confidence": round(s.confidence, 4),
                "box": [round(v) for v in s.detection.box],
                "box_confidence": round(s.detection.confidence, 4),
            }
            for s in self.sightings(image)
            if s.text
        ]
        return {"path": str(path), "plates": plates}

    def video(self, path: Path) -> dict[str, Any]:
        """One entry per vehicle pass in a video."""
        source = ReplaySource(path, name=path.stem, realtime=False, start_ts=0.0)
        source.open()
        pipeline = VisionPipeline(
            self.video_detector(), self.reader, motion=MotionConfig(), tracker=TrackerConfig(), refiner=self.refiner
        )
        tracks = []
        try:
            while True:
                try:
                    frame = source.read()
                except EndOfStream:
                    break
                tracks += pipeline.process(frame)
            tracks += pipeline.flush()
        finally:
            source.close()
        passes = [
            {
                "text": t.text,
                "confidence": round(t.confidence, 4),
                "box": [round(v) for v in t.box],
                "first_seen_s": round(t.first_ts, 3),
                "last_seen_s": round(t.last_ts, 3),
                "frames": t.frames,
                "direction": t.direction,
            }
            for t in sorted(tracks, key=lambda t: t.first_ts)
        ]
        return {"path": str(path), "plates": passes, "frames": pipeline.frames, "skipped_frames": source.skipped}

    def one(self, path: Path, crops: bool) -> dict[str, Any]:
        """Dispatch on the kind of input."""
        if crops:
            return self.crop(path)
        if path.suffix.lower() in VIDEO_SUFFIXES:
            return self.video(path)
        return self.image(path)


IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})


def expand(paths: list[Path]) -> list[Path]:
    """The inputs with each directory replaced by the images and videos in it (sorted; not recursive)."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(
                p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES
            )
            out.extend(found or [path])  # an empty folder is reported, not skipped silently
        else:
            out.append(path)
    return out


def read_paths(
    paths: list[Path], crops: bool = False, threads: int = 1, backend: str = "auto", refine: bool = True
) -> Iterator[dict[str, Any] | EdgeAgentError]:
    """Results per input in order; an input that fails yields its error instead."""
    reader = Reader(threads=threads, crops_only=crops, backend=backend, refine=refine)
    for path in expand(paths):
        try:
            yield reader.one(path, crops)
        except (InvalidInputError, CaptureError) as exc:
            yield exc
