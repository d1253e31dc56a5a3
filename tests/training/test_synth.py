"""The synthetic generator: the same seed draws the same data, and every label belongs to its box."""

from __future__ import annotations

import re

import numpy as np
import pytest
from training import reader_data
from training.synth import plates, scenes
from training.synth.crops import make_crop


def test_a_plate_is_drawn_again_from_its_seed() -> None:
    for seed in range(6):
        a = plates.render_plate(np.random.default_rng(seed))
        b = plates.render_plate(np.random.default_rng(seed))
        assert a.text == b.text and a.style == b.style and a.two_line == b.two_line
        assert np.array_equal(a.image, b.image)
    drawn = {plates.render_plate(np.random.default_rng(seed)).text for seed in range(6)}
    assert len(drawn) == 6


@pytest.mark.parametrize("style", plates.STYLES)
def test_every_style_labels_only_what_the_reader_must_output(style: str) -> None:
    rng = np.random.default_rng(11)
    for _ in range(5):
        plate = plates.render_plate(rng, style)
        assert plate.style == style
        assert re.fullmatch(r"[A-Z0-9]{3,9}", plate.text), plate.text
        assert plate.image.dtype == np.uint8 and plate.image.ndim == 3 and plate.image.shape[2] == 3


def test_a_given_text_is_the_label() -> None:
    plate = plates.render_plate(np.random.default_rng(3), "eu", text="AB 123 CD", two_line=False)
    assert plate.text == "AB123CD"


def test_a_dealer_frame_stops_at_the_characters() -> None:
    # The frame's bands may touch the characters (a sliver over them, as real frames do) but never cover them.
    h, w = 100, 200
    for seed in range(40):
        img = np.full((h, w, 3), 255.0, np.float32)
        plates._dealer_frame(np.random.default_rng(seed), img, (0.25, 0.8))
        inner = img[:, 10:-10].min(axis=(1, 2)) < 255  # rows the frame or its lettering reached
        assert not inner[int(0.25 * h) + 3 : int(0.8 * h) - 3].any(), seed
        assert inner[0] and inner[-1]


def test_a_training_chunk_depends_only_on_seed_epoch_and_chunk() -> None:
    job = (7, 2, 5, 6, 32, 128, 0.5)
    xs, labels = reader_data.synth_chunk(job)
    again, labels_again = reader_data.synth_chunk(job)
    assert xs.shape == (6, 32, 128) and xs.dtype == np.uint8
    assert np.array_equal(xs, again) and labels == labels_again
    other, _ = reader_data.synth_chunk((7, 3, 5, 6, 32, 128, 0.5))
    assert not np.array_equal(xs, other)


def test_a_crop_is_drawn_again_from_its_seed() -> None:
    plate = plates.render_plate(np.random.default_rng(1))
    a = make_crop(np.random.default_rng(9), plate)
    b = make_crop(np.random.default_rng(9), plate)
    assert np.array_equal(a, b)


def test_a_scene_is_drawn_again_from_its_seed() -> None:
    a = scenes.render_scene(np.random.default_rng(4), 180, 320)
    b = scenes.render_scene(np.random.default_rng(4), 180, 320)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.boxes, b.boxes) and a.texts == b.texts


def test_every_scene_text_belongs_to_its_box(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each box is the plate a text was drawn on, also when a nearer vehicle hides an earlier plate."""
    drawn: list[tuple[str, np.ndarray]] = []
    text_of_next_vehicle: list[str] = []
    plate_on_vehicle, place_vehicle = scenes.plate_on_vehicle, scenes.place_vehicle

    def remember_text(*args, **kwargs):  # type: ignore[no-untyped-def]
        vehicle, text = plate_on_vehicle(*args, **kwargs)
        text_of_next_vehicle.append(text)
        return vehicle, text

    def remember_corners(*args, **kwargs):  # type: ignore[no-untyped-def]
        corners = place_vehicle(*args, **kwargs)
        drawn.append((text_of_next_vehicle.pop(), corners))
        return corners

    monkeypatch.setattr(scenes, "plate_on_vehicle", remember_text)
    monkeypatch.setattr(scenes, "place_vehicle", remember_corners)
    hidden = 0
    for seed in range(60):
        drawn.clear()
        scene = scenes.render_scene(np.random.default_rng(seed), 240, 320, min_plate=30.0, max_plate_frac=0.3)
        h, w = scene.image.shape[:2]
        assert len(scene.texts) == len(scene.boxes)
        where = {}
        for text, corners in drawn:
            x0, y0 = np.clip(corners.min(axis=0), 0, [w, h])
            x1, y1 = np.clip(corners.max(axis=0), 0, [w, h])
            where.setdefault(text, []).append(np.array([x0, y0, x1 - x0, y1 - y0], np.float32))
        for box, text in zip(scene.boxes, scene.texts, strict=True):
            assert any(np.allclose(box, b, atol=1e-3) for b in where[text]), (seed, text, box)
            assert box[0] >= 0 and box[1] >= 0 and box[0] + box[2] <= w + 1e-3 and box[1] + box[3] <= h + 1e-3
        hidden += len(drawn) - len(scene.boxes)
    assert hidden > 0, "no seed hid a plate: the test no longer covers a hidden plate"
