"""A cheap motion gate: skip the detector on frames where nothing moved.

The frame is shrunk to a small grey copy (e.g. 160 px wide), blurred, and compared with the previous one; if
less than `min_area` of it changed by more than `threshold` grey levels, the frame is still. The detector still
runs every `force_every` seconds, so a car that creeps in too slowly to register as motion is not missed, and
the caller runs it on every frame while a plate is being tracked, so a car that stops stays one read.
"""

from __future__ import annotations

import cv2
import numpy as np

from edge_agent.config import MotionConfig
from edge_agent.device.vision.detector import shrink


class MotionGate:
    """Decides per frame whether the detector should run."""

    def __init__(self, cfg: MotionConfig) -> None:
        self.cfg = cfg
        self._previous: np.ndarray | None = None
        self._last_forced = -1e9
        self.skipped = 0
        self.passed = 0

    def _small(self, image: np.ndarray) -> np.ndarray:
        height, width = image.shape[:2]
        target_w = min(self.cfg.width, width)
        target_h = max(1, round(height * target_w / width))
        # Shrink first (halvings, then one bilinear step), then convert: converting a 1080p frame costs more
        # than everything else the gate does.
        small = shrink(image, (target_w, target_h))
        grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) if small.ndim == 3 else small
        return cv2.GaussianBlur(grey, (5, 5), 0)

    def changed_fraction(self, image: np.ndarray) -> float:
        """Share of the small copy that changed since the previous frame (1.0 for the first frame)."""
        small = self._small(image)
        previous, self._previous = self._previous, small
        if previous is None or previous.shape != small.shape:
            return 1.0
        diff = cv2.absdiff(small, previous)
        return float(np.count_nonzero(diff > self.cfg.threshold)) / diff.size

    def should_detect(self, image: np.ndarray, media_s: float, tracking: bool = False) -> bool:
        """True when the detector should run on this frame."""
        if not self.cfg.enabled or tracking:
            # While a plate is followed the detector runs regardless, so the difference is not worth computing;
            # the first frame after the track ends is compared with nothing and analysed, which is what we want.
            self._previous = None
            self.passed += 1
            return True
        moving = self.changed_fraction(image) >= self.cfg.min_area
        forced = media_s - self._last_forced >= self.cfg.force_every
        if moving or forced or tracking:
            if forced:
                self._last_forced = media_s
            self.passed += 1
            return True
        self.skipped += 1
        return False
