"""Box refiner training data: real plates with tight labelled boxes in their surroundings, synthetic plates with
exact boxes, and detector-like box errors to undo.

Real plates come from ``plates-open-lpr`` (Apache-2.0) and ``plates-ro-dashcam`` (MIT), whose boxes follow the
plate's outline. ``plates-scenes-boxes`` is left out: its boxes are drawn loosely (often with the frame or bumper),
and a detector trained on them already outlines plates that way. The split by source photo is the reader's
(``reader_data._held_out`` with ``TEACHER_HOLDOUT``), so the refiner's held-out plates are the reader's too.

A sample is the refiner's input window around a *detector-like* box: the labelled box with each edge moved as
the shipped detector's edges move on real photos (measured with ``scripts/eval_scenes.py``: boxes 5-10% wider and
10-15% taller than the plate, 8-10% of its size at random on each edge), sometimes turned a few degrees, then
shrunk, blurred and re-exposed like a far or night plate. The target is the labelled box as fractions of the
window.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from edge_agent.device.vision.refine import cut, window
from edge_agent.device.vision.tracker import Box
from training.reader_data import TEACHER_HOLDOUT, RealPlate, _held_out, plate_rows, with_context
from training.synth.jpeg import recompress
from training.synth.scenes import render_scene

REAL_SETS = ("plates-open-lpr", "plates-ro-dashcam")
# Kept around each plate (share of the larger of its width and twice its height): the window around a loose
# detector box reaches this far.
CONTEXT = 1.0
# The detector's edge errors as fractions of the plate's width (left, right) and height (top, bottom): mean and
# spread, from the shipped detector's boxes on real photos, the spread widened a little.
EDGE_MEAN = np.array([-0.04, 0.05, -0.05, 0.09], np.float32)
EDGE_STD = np.array([0.08, 0.08, 0.11, 0.13], np.float32)


def real_split(root: Path, min_width: float = 16.0) -> tuple[list[RealPlate], list[RealPlate]]:
    """(train, held-out) real plates of REAL_SETS, split by source photo."""
    train: list[RealPlate] = []
    held: list[RealPlate] = []
    for name in REAL_SETS:
        folder = root / name
        for r, _ in plate_rows(folder):
            box = (float(r["x"]), float(r["y"]), float(r["w"]), float(r["h"]))
            if box[2] < min_width or box[3] < 4:
                continue
            img = cv2.imread(str(folder / "images" / r["image"]), cv2.IMREAD_COLOR)
            if img is None:
                raise FileNotFoundError(f"cannot read {folder / 'images' / r['image']}")
            plate = with_context(img, box, context=CONTEXT)
            (held if _held_out(f"{name}/{r['source']}", TEACHER_HOLDOUT) else train).append(plate)
    return train, held


def synthetic(seed: int, count: int, min_width: float = 24.0) -> list[RealPlate]:
    """`count` plates from drawn street scenes (exact boxes: the plate's corners), seeded."""
    rng = np.random.default_rng([seed, 7])
    out: list[RealPlate] = []
    while len(out) < count:
        scene = render_scene(rng, 360, 640, min_plate=min_width, max_plate_frac=0.35)
        for b in scene.boxes:
            box = tuple(float(v) for v in b)
            if box[2] >= min_width and box[3] >= 6:
                out.append(with_context(scene.image, box, context=CONTEXT))  # type: ignore[arg-type]
    return out[:count]


def detector_like(rng: np.random.Generator, box: Box, scale: float = 1.0) -> Box:
    """`box` with its edges moved as the detector's move (EDGE_MEAN, EDGE_STD; `scale` 0 leaves it as is)."""
    x, y, w, h = box
    left, right, top, bottom = (EDGE_MEAN + rng.normal(0, 1, 4).astype(np.float32) * EDGE_STD) * scale
    x0, x1 = x + left * w, x + w + right * w
    y0, y1 = y + top * h, y + h + bottom * h
    # Never a box so small that the plate is mostly outside the refiner's window.
    x1 = max(x1, x0 + 0.5 * w)
    y1 = max(y1, y0 + 0.5 * h)
    return (float(x0), float(y0), float(x1 - x0), float(y1 - y0))


def sample(
    rng: np.random.Generator,
    plate: RealPlate,
    height: int,
    width: int,
    expand: tuple[float, float],
    jitter: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """One (input window H x W x 3 uint8, target left/top/right/bottom fractions of the window) pair."""
    img, (x, y, w, h) = plate.image, plate.box
    if jitter and rng.random() < 0.4:
        # A turned plate: its labelled box becomes the upright box around the turned outline.
        angle = float(rng.normal(0, 4.0))
        m = cv2.getRotationMatrix2D((x + w / 2, y + h / 2), angle, 1.0)
        img = cv2.warpAffine(img, m, (img.shape[1], img.shape[0]), borderMode=cv2.BORDER_REPLICATE)
        corners = cv2.transform(np.array([[[x, y], [x + w, y], [x + w, y + h], [x, y + h]]], np.float32), m)[0]
        (x, y), (x1, y1) = corners.min(axis=0), corners.max(axis=0)
        w, h = float(x1 - x), float(y1 - y)
    truth = (float(x), float(y), float(w), float(h))
    scale = 0.0 if not jitter else (0.3 if rng.random() < 0.15 else float(rng.uniform(0.6, 1.4)))
    win = window(detector_like(rng, truth, scale) if jitter else truth, *expand)
    if jitter and rng.random() < 0.5:
        img = _shrink_around(rng, img, win)
    x_in = cut(img, win, height, width)
    if jitter:
        x_in = _exposure(rng, x_in)
    wx, wy, ww, wh = win
    target = np.array(
        [(truth[0] - wx) / ww, (truth[1] - wy) / wh, (truth[0] + truth[2] - wx) / ww, (truth[1] + truth[3] - wy) / wh],
        np.float32,
    )
    if jitter and rng.random() < 0.5:
        x_in = np.ascontiguousarray(x_in[:, ::-1])
        target = np.array([1 - target[2], target[1], 1 - target[0], target[3]], np.float32)
    return x_in, target


def _shrink_around(rng: np.random.Generator, img: np.ndarray, win: Box) -> np.ndarray:
    """The image shrunk and enlarged back so that the window holds 40-128 px across: a far plate's detail."""
    across = float(rng.uniform(40, 128))
    factor = across / max(win[2], 1.0)
    if factor >= 1.0:
        return img
    h, w = img.shape[:2]
    small = cv2.resize(img, (max(2, round(w * factor)), max(2, round(h * factor))), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def _exposure(rng: np.random.Generator, x: np.ndarray) -> np.ndarray:
    """Contrast, brightness, colour cast, grey (infrared), blur, noise and JPEG, each at random."""
    if rng.random() < 0.15:
        x = cv2.cvtColor(cv2.cvtColor(x, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    f = x.astype(np.float32)
    f = (f - 128) * rng.uniform(0.5, 1.3) + 128 + rng.uniform(-40, 40)
    f *= rng.uniform(0.85, 1.15, 3).astype(np.float32)
    if rng.random() < 0.2:
        f = cv2.GaussianBlur(f, (0, 0), float(rng.uniform(0.4, 1.2)))
    if rng.random() < 0.2:
        f += rng.normal(0, rng.uniform(2, 10), f.shape).astype(np.float32)
    return recompress(rng, np.clip(f, 0, 255).astype(np.uint8), 0.3, 30)


def batch(
    rng: np.random.Generator,
    plates: list[RealPlate],
    n: int,
    height: int,
    width: int,
    expand: tuple[float, float],
    jitter: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """`n` samples drawn from `plates` (with replacement)."""
    xs = np.empty((n, height, width, 3), np.uint8)
    ys = np.empty((n, 4), np.float32)
    for i, k in enumerate(rng.integers(0, len(plates), n)):
        xs[i], ys[i] = sample(rng, plates[int(k)], height, width, expand, jitter)
    return xs, ys
