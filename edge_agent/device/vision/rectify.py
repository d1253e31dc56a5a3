"""Rectification: turn a tilted plate level before it is read.

A plate is rarely square to the camera: a camera beside the road, a car on a slope or a bent plate holder turn
it by a few degrees to more than ten, and the detector's box is then the upright box around a turned plate. The
reader sees characters that climb or fall across the crop, with the frame's edge cutting into the first or last
one. Here the plate's tilt is measured from the crop itself: the long horizontal edges of a plate (its border,
the tops and feet of its characters) line up best along the plate's own tilt, so the tilt is the angle within
+-`MAX_TILT` degrees at which their projection profile is sharpest. The region around the box is rotated by
that angle about the box's centre, and the plate's box in it is the plate's own size: an upright box of W x H
around a plate of w x h turned by a has W = w cos a + h sin a and H = w sin a + h cos a, solved for w and h.

Cost: one Sobel pass, a few dozen profiles of the strongest edge pixels, and one affine warp of a region a
little larger than the box (well under a millisecond for a plate 150 px wide).
"""

from __future__ import annotations

import cv2
import numpy as np

Box = tuple[float, float, float, float]

# Tilts beyond this are not plates seen by a road camera, and measuring them would let a grille or a bumper
# line win.
MAX_TILT = 20.0
# Below this the crop is cut as it is: a rotation would only blur it.
MIN_TILT = 2.0
# The profile at the measured tilt must be this much sharper than the level one, else the plate is taken as level.
MIN_GAIN = 1.15
# A turned plate's height solved from its upright box is never taken below this share of the box height: boxes
# are not drawn tightly around the plate's corners, and cutting too thin loses the characters' feet.
MIN_HEIGHT_SHARE = 0.55
# Plates wider than this are measured on a copy shrunk to this width.
TILT_WIDTH = 128
# Room kept around a levelled plate, as a share of its size per side (the widest view's margin is 12%).
PAD = 0.2


def tilt(grey: np.ndarray) -> float:
    """The plate's tilt in degrees (positive: its right side lower in the image), 0 when it cannot be told.

    Projection profiles: the horizontal edges (vertical gradient) are summed along lines of each candidate tilt;
    at the plate's own tilt its border and the tops and feet of its characters fall into few lines, and the
    profile is at its sharpest (largest sum of squares).
    """
    if grey.ndim != 2 or min(grey.shape) < 8:
        return 0.0
    g = grey.astype(np.float32)
    gy = np.abs(cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3))
    ys, xs = np.nonzero(gy > 0.25 * float(gy.max() or 1.0))
    if len(xs) < 16:
        return 0.0
    weights = gy[ys, xs]
    xs_c = xs - grey.shape[1] / 2.0

    def sharpness(degrees: np.ndarray) -> np.ndarray:
        lines = ys[None, :] - xs_c[None, :] * np.tan(np.radians(degrees))[:, None]
        lines = np.round(lines - lines.min(axis=1, keepdims=True)).astype(np.int64)
        # One histogram per candidate tilt, all in one bincount: row i's lines are offset by i * span.
        span = int(lines.max()) + 1
        offsets = (np.arange(len(degrees)) * span)[:, None]
        hist = np.bincount(
            (lines + offsets).ravel(), weights=np.tile(weights, len(degrees)), minlength=span * len(degrees)
        )
        out: np.ndarray = (hist.reshape(len(degrees), span) ** 2).sum(axis=1)
        return out

    coarse = np.arange(-MAX_TILT, MAX_TILT + 0.5, 1.0)
    score = sharpness(coarse)
    best = float(coarse[int(np.argmax(score))])
    fine = np.arange(best - 0.75, best + 0.8, 0.25)
    fine_score = sharpness(fine)
    best = float(fine[int(np.argmax(fine_score))])
    # A profile no sharper than the level one's is no evidence of a tilt (a plain or blurred crop).
    level_score = float(sharpness(np.array([0.0]))[0])
    return best if float(fine_score.max()) > MIN_GAIN * level_score else 0.0


def plate_size(box_w: float, box_h: float, degrees: float) -> tuple[float, float]:
    """The (w, h) of a plate turned by `degrees` whose upright bounding box is box_w x box_h."""
    a = np.radians(abs(degrees))
    c, s = float(np.cos(a)), float(np.sin(a))
    det = c * c - s * s
    if det <= 1e-6:
        return box_w, box_h
    w = (box_w * c - box_h * s) / det
    h = (box_h * c - box_w * s) / det
    return max(w, 0.5 * box_w), max(h, MIN_HEIGHT_SHARE * box_h)


def level(image: np.ndarray, box: Box) -> tuple[np.ndarray, Box] | None:
    """A region of `image` with the plate in `box` turned level, and the plate's box in it; None if it is level.

    The region keeps `PAD` of the plate's size on every side, so that crops with the pipeline's margins can be
    cut from it as from the frame.
    """
    x, y, w, h = box
    height, width = image.shape[:2]
    x0, y0 = int(max(0, np.floor(x))), int(max(0, np.floor(y)))
    x1, y1 = int(min(width, np.ceil(x + w))), int(min(height, np.ceil(y + h)))
    if x1 - x0 < 8 or y1 - y0 < 8:
        return None
    region = image[y0:y1, x0:x1]
    grey = cv2.cvtColor(region, cv2.COLOR_BGR2GRAY) if region.ndim == 3 else region
    if grey.shape[1] > TILT_WIDTH:  # the tilt does not depend on the scale; the cost does
        grey = cv2.resize(
            grey, (TILT_WIDTH, max(8, round(grey.shape[0] * TILT_WIDTH / grey.shape[1]))), interpolation=cv2.INTER_AREA
        )
    degrees = tilt(grey)
    if abs(degrees) < MIN_TILT:
        return None
    pw, ph = plate_size(w, h, degrees)
    out_w, out_h = max(2, round(pw * (1 + 2 * PAD))), max(2, round(ph * (1 + 2 * PAD)))
    # Rotate about the box's centre and move that centre to the middle of the region, in one warp.
    cx, cy = x + w / 2, y + h / 2
    m = cv2.getRotationMatrix2D((cx, cy), degrees, 1.0)
    m[0, 2] += out_w / 2 - cx
    m[1, 2] += out_h / 2 - cy
    region = cv2.warpAffine(image, m, (out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return region, ((out_w - pw) / 2, (out_h - ph) / 2, pw, ph)
