"""Privacy zones and the detection zone, in frame-relative polygons from the config.

Privacy zones are painted black on the frame before anything looks at it (motion, detector, reader, the crop
that may go into an envelope), so a place the city promised not to watch is never analysed. The detection zone
limits the detector to the bounding box of its polygon and drops plates whose centre lies outside it.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

Polygon = Sequence[tuple[float, float]]


def to_pixels(polygon: Polygon, width: int, height: int) -> np.ndarray:
    """Relative (0-1) polygon -> int32 pixel polygon for OpenCV."""
    pts = np.asarray(polygon, dtype=np.float64) * np.array([width, height])
    pixels: np.ndarray = np.round(pts).astype(np.int32)
    return pixels


class Masker:
    """Applies a camera's zones to frames of one size (pixel polygons are cached per frame size)."""

    def __init__(self, privacy_zones: Sequence[Polygon], detection_zone: Polygon | None = None) -> None:
        self.privacy_zones = [list(z) for z in privacy_zones]
        self.detection_zone = list(detection_zone) if detection_zone else None
        self._size: tuple[int, int] | None = None
        self._privacy_px: list[np.ndarray] = []
        self._zone_px: np.ndarray | None = None
        self._roi: tuple[int, int, int, int] | None = None

    def _prepare(self, width: int, height: int) -> None:
        if self._size == (width, height):
            return
        self._size = (width, height)
        self._privacy_px = [to_pixels(z, width, height) for z in self.privacy_zones]
        if self.detection_zone:
            self._zone_px = to_pixels(self.detection_zone, width, height)
            x, y, w, h = cv2.boundingRect(self._zone_px)
            self._roi = (x, y, max(1, w), max(1, h))
        else:
            self._zone_px, self._roi = None, None

    def blank(self, image: np.ndarray) -> np.ndarray:
        """Paint the privacy zones black, in place; returns the same array."""
        height, width = image.shape[:2]
        self._prepare(width, height)
        if self._privacy_px:
            cv2.fillPoly(image, self._privacy_px, (0, 0, 0))
        return image

    def roi(self, width: int, height: int) -> tuple[int, int, int, int] | None:
        """Pixel box (x, y, w, h) the detector should look at, or None for the whole frame."""
        self._prepare(width, height)
        return self._roi

    def in_detection_zone(self, box: tuple[float, float, float, float], width: int, height: int) -> bool:
        """True when the box centre lies inside the detection zone (always true without one)."""
        self._prepare(width, height)
        if self._zone_px is None:
            return True
        cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
        return cv2.pointPolygonTest(self._zone_px, (float(cx), float(cy)), False) >= 0

    def overlaps_privacy(self, box: tuple[float, float, float, float], width: int, height: int) -> bool:
        """True when a box's centre lies in a privacy zone (such a detection is discarded as well)."""
        self._prepare(width, height)
        cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
        return any(cv2.pointPolygonTest(z, (float(cx), float(cy)), False) >= 0 for z in self._privacy_px)
