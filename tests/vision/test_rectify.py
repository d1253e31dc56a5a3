"""Rectification: a tilted plate's tilt, its own size inside an upright box, and the levelled crop."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge_agent.device.vision.rectify import MIN_HEIGHT_SHARE, level, plate_size, tilt

PLATE = (100, 130, 200, 50)  # x, y, w, h of the flat plate in the scene


def scene(degrees: float) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """A light plate with dark characters on a grey car, turned by `degrees` (positive: right side lower),
    and the upright box around the turned plate (what a detector reports)."""
    img = np.full((300, 400, 3), 90, np.uint8)
    x, y, w, h = PLATE
    cv2.rectangle(img, (x, y), (x + w, y + h), (235, 235, 235), -1)
    cv2.putText(img, "AB 123", (x + 15, y + 42), cv2.FONT_HERSHEY_SIMPLEX, 1.4, (20, 20, 20), 4)
    m = cv2.getRotationMatrix2D((x + w / 2, y + h / 2), -degrees, 1.0)
    out = cv2.warpAffine(img, m, (400, 300), borderValue=(90, 90, 90))
    corners = cv2.transform(np.array([[[x, y], [x + w, y], [x + w, y + h], [x, y + h]]], np.float32), m)[0]
    (x0, y0), (x1, y1) = corners.min(axis=0), corners.max(axis=0)
    return out, (float(x0), float(y0), float(x1 - x0), float(y1 - y0))


def grey_box(img: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    x, y, w, h = (round(v) for v in box)
    return cv2.cvtColor(img[y : y + h, x : x + w], cv2.COLOR_BGR2GRAY)


@pytest.mark.parametrize("degrees", [-14.0, -8.0, -3.0, 4.0, 10.0, 15.0])
def test_tilt_is_measured_within_a_degree(degrees: float) -> None:
    img, box = scene(degrees)
    assert tilt(grey_box(img, box)) == pytest.approx(degrees, abs=1.0)


def test_a_level_or_plain_crop_has_no_tilt() -> None:
    img, box = scene(0.0)
    assert tilt(grey_box(img, box)) == 0.0
    assert tilt(np.full((40, 120), 128, np.uint8)) == 0.0
    assert tilt(np.zeros((4, 4), np.uint8)) == 0.0


def test_plate_size_inverts_the_upright_box() -> None:
    w, h, a = 200.0, 50.0, np.radians(10.0)
    box_w = w * np.cos(a) + h * np.sin(a)
    box_h = w * np.sin(a) + h * np.cos(a)
    assert plate_size(box_w, box_h, 10.0) == pytest.approx((w, h), rel=1e-6)
    assert plate_size(box_w, box_h, -10.0) == pytest.approx((w, h), rel=1e-6)
    # A loose box cannot make the plate thinner than MIN_HEIGHT_SHARE of it.
    assert plate_size(200.0, 40.0, 15.0)[1] == pytest.approx(MIN_HEIGHT_SHARE * 40.0)


def test_level_returns_the_plate_upright_at_its_own_size() -> None:
    img, box = scene(10.0)
    out = level(img, box)
    assert out is not None
    region, (x, y, w, h) = out
    assert (w, h) == pytest.approx((200, 50), abs=3)
    plate = grey_box(region, (x, y, w, h))
    # The levelled plate is the light rectangle: its rows are light from edge to edge, none cut by the car.
    assert plate[3:-3, 3:-3].mean() > 150
    assert abs(tilt(plate)) < 1.0


def test_level_leaves_a_level_plate_alone() -> None:
    img, box = scene(0.0)
    assert level(img, box) is None
    assert level(img, (10.0, 10.0, 4.0, 4.0)) is None
