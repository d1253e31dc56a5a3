"""Real plates cut for the reader's training as the pipeline cuts them, trimmed framings included."""

from __future__ import annotations

import numpy as np
import pytest
from training import reader_data


def _plate() -> reader_data.RealPlate:
    """A 100 x 40 plate: grey top and bottom quarters (frame text), white characters' band between them."""
    image = np.zeros((200, 300, 3), np.uint8)
    image[80:120, 100:200] = 50
    image[90:110, 100:200] = 255
    return reader_data.RealPlate(image, (100.0, 80.0, 100.0, 40.0), "ABC123")


def test_no_framing_rate_draws_what_the_recipe_always_drew() -> None:
    a = reader_data.cut_like_pipeline(np.random.default_rng(3), _plate(), 40, 128)
    b = reader_data.cut_like_pipeline(np.random.default_rng(3), _plate(), 40, 128, framing_rate=0.0)
    assert np.array_equal(a, b)  # the shipped reader's recipe reproduces bit for bit


def test_a_framed_cut_is_cut_from_a_trimmed_framing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reader_data, "VIEW_FRAMINGS", ((0.0, 0.0), (0.25, 0.25)))
    plain = reader_data.cut_like_pipeline(np.random.default_rng(0), _plate(), 40, 128, jitter=0)
    framed = reader_data.cut_like_pipeline(np.random.default_rng(0), _plate(), 40, 128, jitter=0, framing_rate=1.0)
    assert plain.mean() < 170 < framed.mean()  # the grey quarters are cut off
