"""Reader training crops: a flat ``Plate`` as the camera and the detector will hand it to the reader.

Two kinds, mixed by ``clean_rate``:
- catalogue crops: the plate alone or with a thin margin, square to the lens, mild blur (the US validation
  set is mostly such shots);
- camera crops: the plate on a background with a margin from tight to about 15% (a detector box expanded a
  little), rotated up to about 10 degrees with some perspective, then degraded: resolution loss, blur, motion
  blur, noise, JPEG, low light, infrared grey, contrast.
"""

from __future__ import annotations

import cv2
import numpy as np

from training.synth.jpeg import recompress
from training.synth.plates import Plate


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Car body, bumper or street: a smooth random colour field with some noise."""
    small = rng.integers(0, 256, (int(rng.integers(2, 5)), int(rng.integers(2, 6)), 3), dtype=np.uint8)
    bg = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.5:
        bg = (bg.astype(np.float32) * rng.uniform(0.2, 0.8)).astype(np.uint8)
    return bg


def _place(rng: np.random.Generator, plate: np.ndarray, clean: bool) -> np.ndarray:
    """Put the plate on a background with a margin and a small rotation / perspective; return the crop."""
    h, w = plate.shape[:2]
    if clean:
        lo, hi, rot, persp = -0.01, 0.04, 1.0, 0.0
    else:
        lo, hi, rot, persp = -0.03, 0.16, 10.0, 0.06
    ml, mr = rng.uniform(lo, hi, 2) * w
    mt, mb = rng.uniform(lo, hi, 2) * h
    out_w, out_h = max(8, int(w + ml + mr)), max(8, int(h + mt + mb))
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    dst = src + np.float32([ml, mt])
    if rot or persp:
        angle = np.deg2rad(rng.normal(0, rot / 2.5))
        angle = float(np.clip(angle, -np.deg2rad(rot), np.deg2rad(rot)))
        c = dst.mean(axis=0)
        r = np.float32([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        dst = (dst - c) @ r.T + c
        dst += rng.uniform(-persp, persp, (4, 2)).astype(np.float32) * np.float32([w, h])
        # A rotated plate still fits its (expanded) detector box: shrink the warp back into the crop.
        lo_xy, hi_xy = dst.min(axis=0), dst.max(axis=0)
        scale = min(out_w / max(1.0, hi_xy[0] - lo_xy[0] + ml + mr), out_h / max(1.0, hi_xy[1] - lo_xy[1] + mt + mb))
        dst = (dst - lo_xy) * min(1.0, scale) + np.float32([max(0.0, ml), max(0.0, mt)]) * min(1.0, scale)
    m = cv2.getPerspectiveTransform(src, dst.astype(np.float32))
    if clean and rng.random() < 0.6:
        canvas = np.full((out_h, out_w, 3), int(rng.integers(200, 256)), np.uint8)
    else:
        canvas = _background(rng, out_h, out_w)
    cv2.warpPerspective(plate, m, (out_w, out_h), dst=canvas, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_TRANSPARENT)
    return canvas


def _degrade(rng: np.random.Generator, img: np.ndarray, clean: bool) -> np.ndarray:
    """Camera effects, milder for catalogue crops."""
    h, w = img.shape[:2]
    # Resolution: the crop as many pixels high as a plate seen at some distance.
    target_h = int(rng.uniform(36, 160) if clean else rng.uniform(22, 110))
    if target_h < h:
        small = cv2.resize(img, (max(8, round(w * target_h / h)), target_h), interpolation=cv2.INTER_AREA)
        img = small
    if rng.random() < (0.3 if clean else 0.4):
        # Blur is relative to the character stroke: keep small crops legible.
        k = float(rng.uniform(0.3, 1.0 if clean else 1.4)) * min(1.0, img.shape[0] / 50)
        img = cv2.GaussianBlur(img, (0, 0), k)
    if not clean and rng.random() < 0.2:
        n = int(rng.integers(3, 8))
        kern = np.zeros((n, n), np.float32)
        kern[n // 2] = 1.0 / n
        rot = cv2.getRotationMatrix2D((n / 2 - 0.5, n / 2 - 0.5), float(rng.uniform(0, 180)), 1.0)
        kern = cv2.warpAffine(kern, rot, (n, n))
        img = cv2.filter2D(img, -1, kern / max(kern.sum(), 1e-6))
    f = img.astype(np.float32)
    if rng.random() < 0.5:
        # Contrast and brightness; low light when the gain is small.
        gain = rng.uniform(0.35, 1.3) if not clean else rng.uniform(0.75, 1.15)
        f = (f - 128) * rng.uniform(0.6, 1.2) + 128 * gain
    if not clean and rng.random() < 0.15:
        # Infrared: a near-monochrome image where the plate's paint reflects brightly.
        g = f @ np.float32([0.2, 0.3, 0.5])
        f = np.repeat(g[..., None], 3, axis=2)
    if rng.random() < (0.2 if clean else 0.5):
        f += rng.normal(0, rng.uniform(2, 12), f.shape).astype(np.float32)
    img = np.clip(f, 0, 255).astype(np.uint8)
    return recompress(rng, img, 0.3 if clean else 0.5, 55 if clean else 25, 96)


def make_crop(rng: np.random.Generator, plate: Plate, clean_rate: float = 0.5) -> np.ndarray:
    """A BGR uint8 crop of `plate` as the reader receives it (catalogue-style at rate `clean_rate`)."""
    clean = bool(rng.random() < clean_rate)
    return _degrade(rng, _place(rng, plate.image, clean), clean)
