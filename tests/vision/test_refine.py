"""The box refiner: window geometry, cutting at the frame's edge, its contract, and the shipped model tightening
loose boxes on the committed scenes."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_agent.config import Config
from edge_agent.device.vision.refine import PlateRefiner, RefinerContract, cut, to_box, window
from edge_agent.device.vision.tracker import iou as box_iou
from edge_agent.errors import InvalidInputError, ModelError
from edge_agent.paths import default_model

SCENES = Path(__file__).parent / "data" / "detector"


def test_window_is_the_box_scaled_about_its_centre() -> None:
    assert window((100.0, 50.0, 40.0, 20.0), 1.5, 2.0) == (90.0, 40.0, 60.0, 40.0)


def test_fractions_map_back_to_frame_pixels() -> None:
    win = (90.0, 40.0, 60.0, 40.0)
    assert to_box(win, np.array([0.25, 0.25, 0.75, 0.75])) == (105.0, 50.0, 30.0, 20.0)
    assert to_box(win, np.array([0.0, 0.0, 1.0, 1.0])) == win


def test_cut_repeats_the_frame_edge_beyond_the_frame() -> None:
    frame = np.zeros((100, 200, 3), np.uint8)
    frame[:, :10] = 255  # a white left edge
    out = cut(frame, (-50.0, 0.0, 100.0, 100.0), 50, 100)
    assert out.shape == (50, 100, 3)
    # 50 px beyond the frame repeat the white edge, then 10 white and 40 black px of the frame: 60% white.
    assert out[:, :58].min() == 255
    assert out[:, 62:].max() == 0
    grey = cut(frame[:, :, 0], (10.0, 10.0, 50.0, 20.0), 64, 128)
    assert grey.shape == (64, 128, 3)  # an infrared camera's grey frame is read as BGR


def test_cut_of_a_window_wholly_outside_the_frame_is_an_empty_image() -> None:
    out = cut(np.full((10, 10, 3), 9, np.uint8), (50.0, 50.0, 10.0, 10.0), 8, 16)
    assert out.shape == (8, 16, 3) and out.max() == 0


def _contract(**changes: object) -> dict[str, object]:
    data = json.loads(default_model("plate_refiner.json").read_text())
    for key, value in changes.items():
        section, field = key.split("__")
        data[section][field] = value
    return data


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"input__channels": 1}, "3 channels"),
        ({"window__expand_x": 0.5}, "expand factors"),
        ({"postprocess__min_iou": 1.5}, "min_iou"),
        ({"output__layout": ["x", "y", "w", "h"]}, "left, top, right, bottom"),
    ],
)
def test_contract_errors_name_the_problem(tmp_path: Path, change: dict[str, object], message: str) -> None:
    path = tmp_path / "plate_refiner.json"
    path.write_text(json.dumps(_contract(**change)))
    with pytest.raises(ModelError, match=message):
        RefinerContract.load(path)


def test_missing_or_unreadable_contract(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not found"):
        RefinerContract.load(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ModelError, match="malformed"):
        RefinerContract.load(tmp_path / "bad.json")


def test_a_model_that_does_not_match_its_contract_is_refused(tmp_path: Path) -> None:
    model = tmp_path / "plate_refiner.tflite"
    model.write_bytes(default_model("plate_refiner.tflite").read_bytes())
    (tmp_path / "plate_refiner.json").write_text(json.dumps(_contract(input__height=48)))
    with pytest.raises(ModelError, match="does not match its contract"):
        PlateRefiner(model)


def _loosened(box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """A box drawn as the detector draws them on real photos: wider, taller, reaching below the plate."""
    x, y, w, h = box
    return (x - 0.06 * w, y - 0.08 * h, 1.14 * w, 1.3 * h)


def test_the_shipped_refiner_tightens_loose_boxes() -> None:
    refiner = PlateRefiner()
    boxes = json.loads((SCENES / "boxes.json").read_text())["boxes"]
    before, after = [], []
    for name, plates in boxes.items():
        image = cv2.imread(str(SCENES / name))
        for truth in plates:
            loose = _loosened(tuple(truth))
            before.append(box_iou(loose, tuple(truth)))
            after.append(box_iou(refiner.refine(image, loose), tuple(truth)))
    assert np.mean(after) > np.mean(before) + 0.05, (np.mean(before), np.mean(after))


@pytest.mark.parametrize(
    ("edges", "why"),
    [
        ([0.9, 0.9, 1.0, 1.0], "a sliver in the window's corner overlaps the detector's box too little"),
        ([0.8, 0.2, 0.2, 0.8], "left of right edge: no box"),
        ([0.33, 0.25, 0.34, 0.75], "less than 2 px wide"),
    ],
)
def test_an_implausible_refinement_keeps_the_detector_box(
    monkeypatch: pytest.MonkeyPatch, edges: list[float], why: str
) -> None:
    refiner = PlateRefiner()
    monkeypatch.setattr(refiner, "edges", lambda image, win: np.array(edges, np.float32))
    box = (300.0, 150.0, 80.0, 40.0)
    assert refiner.refine(np.zeros((360, 640, 3), np.uint8), box) == box, why


def test_degenerate_boxes_are_returned_as_they_are() -> None:
    refiner = PlateRefiner()
    blank = np.zeros((360, 640, 3), np.uint8)
    for box in [(100.0, 100.0, 1.0, 1.0), (0.0, 0.0, 1.5, 40.0), (float("nan"), 10.0, 50.0, 20.0)]:
        assert refiner.refine(blank, box) is box


def test_a_refined_box_is_clipped_to_the_frame_before_it_is_judged(monkeypatch: pytest.MonkeyPatch) -> None:
    refiner = PlateRefiner()
    frame = np.zeros((360, 640, 3), np.uint8)
    # The model puts the plate's right part beyond the frame: what is left inside is the box...
    monkeypatch.setattr(refiner, "edges", lambda image, win: np.array([1 / 6, 0.25, 1.0, 0.75], np.float32))
    assert refiner.refine(frame, (580.0, 150.0, 80.0, 40.0)) == pytest.approx((580.0, 150.0, 60.0, 40.0))
    # ...unless nothing of it is left inside the frame.
    monkeypatch.setattr(refiner, "edges", lambda image, win: np.array([0.97, 0.25, 1.0, 0.75], np.float32))
    assert refiner.refine(frame, (580.0, 150.0, 80.0, 40.0)) == (580.0, 150.0, 80.0, 40.0)


def test_cut_reads_grey_bgr_and_bgra_frames_and_refuses_others() -> None:
    bgr = np.full((40, 60, 3), 90, np.uint8)
    for frame in (bgr[:, :, :1], bgr[:, :, 0], cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA)):
        out = cut(frame, (-10.0, -10.0, 30.0, 20.0), 8, 16)
        assert out.shape == (8, 16, 3) and out.min() == 90
    for bad in (bgr.astype(np.float32), np.zeros((40, 60, 2), np.uint8)):
        with pytest.raises(InvalidInputError, match="uint8 grey, BGR or BGRA"):
            cut(bad, (0.0, 0.0, 10.0, 10.0), 8, 16)


def test_the_config_turns_the_refiner_off() -> None:
    from edge_agent.device.vision.pipeline import models_for

    base = {"device": {"id": "cam-0001"}, "cameras": [{"name": "c", "kind": "replay", "source": "x.mp4"}]}
    on = models_for(Config.model_validate(base))
    off = models_for(Config.model_validate({**base, "vision": {"refiner": {"enabled": False}}}))
    assert on.refiner is not None and off.refiner is None
    assert on.versions()["refiner"] == on.refiner.contract.version and "refiner" not in off.versions()
