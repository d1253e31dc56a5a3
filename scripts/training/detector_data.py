"""Detector training data: the real photos of ``plates-scenes-boxes`` split by source photo, synthetic scenes,
augmentation onto wide training canvases, and CenterNet targets.

Split rule: the Roboflow export holds several augmented copies of each source photo, named
``<split>__<uuid>_jpg.rf.<hash>.jpg``. The key is ``<uuid>``; a photo is held out when the first 8 hex digits of
``sha1(uuid)`` modulo 100 are below ``HOLDOUT_PERCENT``. Every copy of a held-out photo is held out, whatever its
Roboflow split said (those splits leak into each other).
"""

from __future__ import annotations

import csv
import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from training.synth.jpeg import recompress
from training.synth.scenes import render_scene

HOLDOUT_PERCENT = 20
PAD_VALUE = 114  # letterbox fill, the same grey as the runtime uses
_NAME = re.compile(r"^(?:train|valid|test)__(?P<uuid>.+?)_jpg\.rf\.[0-9a-f]+\.jpg$")
logger = logging.getLogger("detector_data")
GAUSS_ALPHA = 0.54  # TTFNet: Gaussian sigma = alpha * side / 6, elliptical for wide plates


@dataclass
class Photo:
    """One labelled image of the real data set: file, source-photo key, boxes (N x 4, x y w h pixels)."""

    path: Path
    key: str
    boxes: np.ndarray


def source_key(name: str) -> str:
    """The source-photo key of an export file name (the uuid), or the name itself if it does not match."""
    m = _NAME.match(name)
    return m.group("uuid") if m else name


def is_held_out(key: str, percent: int = HOLDOUT_PERCENT) -> bool:
    """Deterministic split by source photo: sha1 of the key, first 8 hex digits, modulo 100."""
    return int(hashlib.sha1(key.encode()).hexdigest()[:8], 16) % 100 < percent


def load_photos(root: Path) -> tuple[list[Photo], list[Photo]]:
    """Read ``plates-scenes-boxes`` under the datasets root; return (train, held_out) photos, sorted by name."""
    base = root / "plates-scenes-boxes"
    labels = base / "labels.csv"
    if not labels.is_file():
        raise FileNotFoundError(f"{labels} not found: pass --data pointing at the datasets folder")
    boxes: dict[str, list[list[float]]] = {}
    with labels.open(newline="") as f:
        for row in csv.DictReader(f):
            boxes.setdefault(row["image"], []).append([float(row[k]) for k in ("x", "y", "w", "h")])
    train, held = [], []
    for name in sorted(boxes):
        photo = Photo(base / "images" / name, source_key(name), np.asarray(boxes[name], np.float32))
        (held if is_held_out(photo.key) else train).append(photo)
    return train, held


def read_bgr(path: Path) -> np.ndarray:
    """Read an image as BGR uint8, raising on unreadable files."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise OSError(f"cannot read image {path}")
    return img


def colour_jitter(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    """Brightness, contrast, per-channel gain, sometimes grey, blur or JPEG: cheap photometric augmentation."""
    out = img.astype(np.float32)
    out = out * rng.uniform(0.65, 1.35) + rng.uniform(-30, 30)
    out *= rng.uniform(0.85, 1.15, 3).astype(np.float32)
    if rng.random() < 0.1:
        out[:] = out.mean(axis=2, keepdims=True)
    if rng.random() < 0.15:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.5, 1.5))
    return recompress(rng, np.clip(out, 0, 255).astype(np.uint8), 0.2, 30)


def place_photo(
    rng: np.random.Generator, img: np.ndarray, boxes: np.ndarray, height: int, width: int, stretch: str = "undo"
) -> tuple[np.ndarray, np.ndarray]:
    """Scale, stretch, crop or letterbox a photo onto a ``height x width`` canvas; boxes follow (x y w h)."""
    ih, iw = img.shape[:2]
    fit = min(height / ih, width / iw)
    scale = fit * float(np.exp(rng.uniform(np.log(0.45), np.log(1.8))))
    if stretch == "undo":  # the export stretched photos to square: undo some of it
        sx = scale * rng.uniform(0.85, 1.6)
    else:  # "both": also keep or exaggerate it, as the held-out photos are (log-uniform, same single draw)
        sx = scale * float(np.exp(rng.uniform(np.log(0.75), np.log(1.6))))
    nw, nh = max(4, round(iw * sx)), max(4, round(ih * scale))
    small = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    # Offset: anywhere from flush-left/top to flush-right/bottom; negative = the photo is cropped.
    ox = int(rng.integers(min(0, width - nw), max(0, width - nw) + 1))
    oy = int(rng.integers(min(0, height - nh), max(0, height - nh) + 1))
    pad = PAD_VALUE if rng.random() < 0.6 else int(rng.integers(0, 256))
    canvas = np.full((height, width, 3), pad, np.uint8)
    x0, y0 = max(0, ox), max(0, oy)
    x1, y1 = min(width, ox + nw), min(height, oy + nh)
    canvas[y0:y1, x0:x1] = small[y0 - oy : y1 - oy, x0 - ox : x1 - ox]
    b = boxes.reshape(-1, 4) * np.float32([sx, scale, sx, scale])
    b[:, 0] += ox
    b[:, 1] += oy
    return canvas, b


def clip_boxes(boxes: np.ndarray, height: int, width: int, keep: float = 0.45) -> np.ndarray:
    """Clip x y w h boxes to the canvas; drop those with less than ``keep`` of their area left inside."""
    if len(boxes) == 0:
        return boxes.reshape(0, 4)
    x0 = np.clip(boxes[:, 0], 0, width)
    y0 = np.clip(boxes[:, 1], 0, height)
    x1 = np.clip(boxes[:, 0] + boxes[:, 2], 0, width)
    y1 = np.clip(boxes[:, 1] + boxes[:, 3], 0, height)
    area = np.maximum(boxes[:, 2] * boxes[:, 3], 1e-6)
    ok = ((x1 - x0) * (y1 - y0) / area >= keep) & (x1 - x0 >= 2) & (y1 - y0 >= 2)
    return np.stack([x0, y0, x1 - x0, y1 - y0], axis=1)[ok].astype(np.float32)


def flip(img: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mirror left-right; plates read backwards are still plates to a detector."""
    b = boxes.copy()
    b[:, 0] = img.shape[1] - boxes[:, 0] - boxes[:, 2]
    return np.ascontiguousarray(img[:, ::-1]), b


def encode_targets(boxes: np.ndarray, height: int, width: int, stride: int) -> np.ndarray:
    """TTFNet targets on the ``height/stride x width/stride`` grid, 7 channels.

    0: heat, an elliptical Gaussian per plate (the maximum where plates overlap), exactly 1 at the centre cell;
    1-4: distances from the cell centre to the box's left, top, right, bottom edges, in pixels;
    5: 1 at centre cells (the focal loss positives);
    6: box-regression weight: the Gaussian over the cells whose centre lies inside the plate, normalised to
       sum to 1 per plate, so that every cell near a centre learns the box (much faster than the centre alone).
    """
    gh, gw = height // stride, width // stride
    t = np.zeros((gh, gw, 7), np.float32)
    ys = (np.arange(gh, dtype=np.float32)[:, None] + 0.5) * stride
    xs = (np.arange(gw, dtype=np.float32)[None, :] + 0.5) * stride
    # Larger plates first: a smaller plate drawn later owns the cells they share.
    for x, y, w, h in sorted(boxes.tolist(), key=lambda b: -b[2] * b[3]):
        cx, cy = x + w / 2, y + h / 2
        ix, iy = min(gw - 1, max(0, int(cx / stride))), min(gh - 1, max(0, int(cy / stride)))
        sx = max(GAUSS_ALPHA * w / 6, 0.35 * stride)
        sy = max(GAUSS_ALPHA * h / 6, 0.35 * stride)
        px, py = (ix + 0.5) * stride, (iy + 0.5) * stride
        g = np.exp(-((xs - px) ** 2) / (2 * sx * sx) - ((ys - py) ** 2) / (2 * sy * sy))
        np.maximum(t[..., 0], g, out=t[..., 0])
        t[iy, ix, 0] = 1.0
        t[iy, ix, 5] = 1.0
        inside = (xs > x) & (xs < x + w) & (ys > y) & (ys < y + h)
        inside[iy, ix] = True  # a plate narrower than a cell still has its centre cell
        region = np.where(inside, g, 0.0)
        region[iy, ix] = max(region[iy, ix], 1.0)
        sel = region > 0.01
        gx, gy = np.broadcast_to(xs, (gh, gw))[sel], np.broadcast_to(ys, (gh, gw))[sel]
        t[sel, 1] = np.maximum(gx - x, 0.5)
        t[sel, 2] = np.maximum(gy - y, 0.5)
        t[sel, 3] = np.maximum(x + w - gx, 0.5)
        t[sel, 4] = np.maximum(y + h - gy, 0.5)
        t[sel, 6] = region[sel] / region[sel].sum()
    return t


class SceneCache:
    """A pool of pre-rendered synthetic scenes (rendering costs ~40 ms each; the pool is reused every epoch).

    Stored as one ``.npz`` under ``.cache/`` keyed by seed, count and size so that a resumed run reuses it.
    """

    def __init__(self, path: Path, count: int, height: int, width: int, seed: int, backdrops: list[Photo]) -> None:
        self.path = path
        if path.is_file():
            data = np.load(path)
            self.images, self.boxes, self.counts = data["images"], data["boxes"], data["counts"]
            self.starts = np.concatenate([[0], np.cumsum(self.counts)])
            return
        rng = np.random.default_rng(seed)
        images = np.empty((count, height, width, 3), np.uint8)
        boxes: list[np.ndarray] = []
        for i in range(count):
            backdrop = None
            if backdrops and rng.random() < 0.2:
                photo = backdrops[int(rng.integers(len(backdrops)))]
                backdrop = (read_bgr(photo.path), photo.boxes)
            scene = render_scene(rng, height, width, backdrop=backdrop)
            images[i] = scene.image
            if (i + 1) % 250 == 0:
                logger.info("rendered %d/%d synthetic scenes", i + 1, count)
            boxes.append(clip_boxes(scene.boxes, height, width))
        self.images = images
        self.counts = np.asarray([len(b) for b in boxes], np.int32)
        self.boxes = np.concatenate(boxes) if boxes else np.zeros((0, 4), np.float32)
        self.starts = np.concatenate([[0], np.cumsum(self.counts)])
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, images=self.images, boxes=self.boxes, counts=self.counts)
        tmp.replace(path)

    def __len__(self) -> int:
        return len(self.images)

    def get(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Scene ``i``: image and its boxes (x y w h)."""
        return self.images[i], self.boxes[int(self.starts[i]) : int(self.starts[i + 1])]
