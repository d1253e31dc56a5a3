"""The box refiner's training samples: the target is where the plate is in the window, however it was moved."""

from __future__ import annotations

import numpy as np
import pytest
from training import refiner_data as rd
from training.reader_data import RealPlate

H, W, EXPAND = 64, 128, (1.5, 2.0)


def _white_plate() -> RealPlate:
    """A white 120 x 40 plate on a black surrounding."""
    image = np.zeros((300, 400, 3), np.uint8)
    image[130:170, 140:260] = 255
    return RealPlate(image, (140.0, 130.0, 120.0, 40.0))


def test_without_jitter_the_target_is_the_box_itself_in_its_window() -> None:
    _, target = rd.sample(np.random.default_rng(0), _white_plate(), H, W, EXPAND, jitter=False)
    expected = [(1 - 1 / 1.5) / 2, (1 - 1 / 2.0) / 2, 1 - (1 - 1 / 1.5) / 2, 1 - (1 - 1 / 2.0) / 2]
    assert target == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("seed", range(12))
def test_the_target_outlines_the_plate_after_jitter_turns_and_mirroring(seed: int) -> None:
    x, target = rd.sample(np.random.default_rng(seed), _white_plate(), H, W, EXPAND)
    grey = x.mean(axis=2)
    left, top, right, bottom = target
    c0, c1 = round(left * W), round(right * W)
    r0, r1 = round(top * H), round(bottom * H)
    inside = grey[r0 + 2 : r1 - 2, c0 + 2 : c1 - 2].mean()
    outside = np.concatenate([grey[: max(r0 - 2, 1)].ravel(), grey[r1 + 2 :].ravel()]).mean()
    assert inside > outside + 40, (seed, inside, outside)


def test_detector_like_boxes_are_loose_as_measured() -> None:
    rng = np.random.default_rng(1)
    box = (100.0, 50.0, 100.0, 50.0)
    assert rd.detector_like(rng, box, scale=0.0) == box
    moved = np.array([rd.detector_like(rng, box) for _ in range(4000)])
    left = (moved[:, 0] - 100) / 100
    bottom = (moved[:, 1] + moved[:, 3] - 100) / 50
    assert left.mean() == pytest.approx(rd.EDGE_MEAN[0], abs=0.01)
    assert bottom.mean() == pytest.approx(rd.EDGE_MEAN[3], abs=0.01)
    assert (moved[:, 2] >= 50).all() and (moved[:, 3] >= 25).all()  # never less than half the plate


def test_a_batch_is_drawn_again_from_its_seed() -> None:
    plates = [_white_plate()]
    a = rd.batch(np.random.default_rng(5), plates, 4, H, W, EXPAND)
    b = rd.batch(np.random.default_rng(5), plates, 4, H, W, EXPAND)
    assert a[0].shape == (4, H, W, 3) and a[1].shape == (4, 4)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
