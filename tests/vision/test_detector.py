"""Detector post-processing and contract: letterbox maths, heatmap decoding, NMS, sidecar validation."""

from __future__ import annotations

import json
from dataclasses import FrozenInstanceError
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_agent.device.vision.detector import (
    Detection,
    DetectorContract,
    PlateDetector,
    combine_flipped,
    decode,
    iou,
    letterbox,
    load_contract,
    nms,
    shrink,
    unletterbox_boxes,
)
from edge_agent.device.vision.runtime import TensorInfo, sidecar_path, uint8_to_input
from edge_agent.errors import ModelError

FIXTURES = Path(__file__).resolve().parent / "data" / "detector"


@settings(max_examples=60, deadline=None)
@given(
    ih=st.integers(8, 1200),
    iw=st.integers(8, 2000),
    size=st.sampled_from([(224, 384), (256, 448), (320, 320), (96, 160)]),
    fx=st.floats(0.0, 1.0),
    fy=st.floats(0.0, 1.0),
)
def test_letterbox_round_trip(ih: int, iw: int, size: tuple[int, int], fx: float, fy: float) -> None:
    image = np.zeros((ih, iw, 3), np.uint8)
    canvas, scale, (pad_x, pad_y) = letterbox(image, size)
    assert canvas.shape == (*size, 3)
    # The image fills one dimension and is centred in the other.
    nw, nh = round(iw * scale), round(ih * scale)
    assert min(size[1] - nw, size[0] - nh) <= 1
    assert abs(pad_x - (size[1] - min(nw, size[1])) // 2) <= 1
    assert abs(pad_y - (size[0] - min(nh, size[0])) // 2) <= 1
    box = np.array([[fx * iw * 0.5, fy * ih * 0.5, iw * 0.25 + 1, ih * 0.25 + 1]], np.float32)
    on_canvas = box * scale
    on_canvas[:, :2] += (pad_x, pad_y)
    back = unletterbox_boxes(on_canvas, scale, (pad_x, pad_y))
    np.testing.assert_allclose(back, box, rtol=1e-4, atol=1e-3)


def test_letterbox_pads_with_the_contract_grey() -> None:
    image = np.full((100, 100, 3), 7, np.uint8)
    canvas, scale, (pad_x, pad_y) = letterbox(image, (224, 384), pad_value=114)
    assert scale == pytest.approx(2.24)
    assert (pad_x, pad_y) == (80, 0)
    assert (canvas[:, :pad_x] == 114).all() and (canvas[:, -pad_x:] == 114).all()
    assert (canvas[:, pad_x : pad_x + 224] == 7).all()


def test_shrink_keeps_the_mean_of_a_large_frame() -> None:
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (1080, 1920, 3), dtype=np.uint8)
    small = shrink(frame, (384, 216))
    assert small.shape == (216, 384, 3)
    # Area averaging: random noise averages to its mean instead of aliasing into extreme values.
    assert abs(float(small.mean()) - float(frame.mean())) < 1.0
    assert small.std() < frame.std() / 3


def _maps(grid: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros(grid, np.float32), np.zeros((*grid, 4), np.float32)


def test_decode_one_peak_to_a_box() -> None:
    heat, box = _maps((28, 48))
    heat[10, 20] = 0.9
    heat[10, 21] = 0.6  # a neighbour of the peak: not a second detection
    box[10, 20] = np.log(np.array([16, 4, 24, 8]) / 8)  # edges 16 px left, 4 up, 24 right, 8 down
    boxes, scores = decode(heat, box, stride=8, threshold=0.3, max_detections=10)
    assert scores.tolist() == pytest.approx([0.9])
    cx, cy = (20 + 0.5) * 8, (10 + 0.5) * 8
    np.testing.assert_allclose(boxes[0], [cx - 16, cy - 4, 40, 12], rtol=1e-5)


def test_decode_threshold_order_and_limit() -> None:
    heat, box = _maps((20, 20))
    for i, (y, x) in enumerate([(2, 2), (10, 10), (15, 4), (5, 15)]):
        heat[y, x] = 0.4 + 0.1 * i
    boxes, scores = decode(heat, box, stride=4, threshold=0.45, max_detections=2)
    assert scores.tolist() == pytest.approx([0.7, 0.6])
    assert boxes.shape == (2, 4)
    empty_boxes, empty_scores = decode(heat, box, stride=4, threshold=0.95, max_detections=5)
    assert empty_boxes.shape == (0, 4) and empty_scores.shape == (0,)


def test_iou_of_known_boxes() -> None:
    a = np.array([0, 0, 10, 10], np.float32)
    others = np.array([[0, 0, 10, 10], [5, 0, 10, 10], [20, 20, 5, 5]], np.float32)
    np.testing.assert_allclose(iou(a, others), [1.0, 50 / 150, 0.0], rtol=1e-6)


def test_nms_keeps_the_best_of_overlapping_boxes() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 0, 10, 10], [50, 50, 10, 10], [51, 51, 10, 10]], np.float32)
    scores = np.array([0.6, 0.9, 0.5, 0.4], np.float32)
    assert nms(boxes, scores, 0.5).tolist() == [1, 2]
    assert nms(boxes, scores, 0.99).tolist() == [1, 0, 2, 3]
    assert nms(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), 0.5).tolist() == []


def _contract() -> dict[str, Any]:
    return {
        "version": "1.0.0",
        "input": {"height": 224, "width": 384, "channels": 3, "colour_order": "BGR", "letterbox_pad": 114},
        "output": {"stride": 8, "box": {"layout": ["log_left", "log_top", "log_right", "log_bottom"]}},
        "postprocess": {"confidence": 0.3, "nms_iou": 0.45, "max_detections": 32},
    }


def test_valid_contract_parses() -> None:
    c = DetectorContract.from_dict(_contract(), "x.json")
    assert (c.height, c.width, c.stride, c.confidence, c.nms_iou) == (224, 384, 8, 0.3, 0.45)


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("input", "height"), 230, "multiple of 32"),
        (("input", "colour_order"), "RGB", "BGR"),
        (("output", "stride"), 5, "stride 5"),
        (("postprocess", "confidence"), 1.5, "confidence"),
        (("postprocess", "nms_iou"), 0.0, "nms_iou"),
        (("output", "box"), {"layout": ["x", "y", "w", "h"]}, "layout"),
        (("postprocess", "confidence"), "high", "malformed"),
        (("postprocess", "confidence_without_flip"), 0.0, "confidence_without_flip"),
        (("postprocess", "confirm_confidence"), 1.0, "confirm_confidence"),
        (("postprocess", "confirm_confidence_without_flip"), "x", "malformed"),
    ],
)
def test_contract_errors_name_the_problem(path: tuple[str, str], value: object, message: str) -> None:
    data = _contract()
    data[path[0]][path[1]] = value
    with pytest.raises(ModelError, match=message):
        DetectorContract.from_dict(data, "x.json")


def test_contract_without_flip_fields_runs_single_pass() -> None:
    c = DetectorContract.from_dict(_contract(), "x.json")
    assert (c.flip, c.confidence_without_flip, c.confirm_confidence) == (False, None, None)


def test_mirrored_maps_combine_back_onto_the_canvas() -> None:
    rng = np.random.default_rng(3)
    heat = rng.uniform(0, 1, (4, 6)).astype(np.float32)
    box = rng.normal(0, 1, (4, 6, 4)).astype(np.float32)
    # A model that sees the mirror image exactly mirrored: same maps flipped, left and right swapped.
    mirrored_heat = heat[:, ::-1]
    mirrored_box = box[:, ::-1][..., [2, 1, 0, 3]]
    h, b = combine_flipped(heat, box, mirrored_heat, mirrored_box)
    np.testing.assert_allclose(h, heat, rtol=1e-6)
    np.testing.assert_allclose(b, box, rtol=1e-6)
    # Where the two views disagree the geometric mean keeps the weaker: a peak seen only one way fades.
    lone = np.zeros((4, 6), np.float32)
    lone[1, 2] = 0.9
    h, _ = combine_flipped(lone, box, np.full((4, 6), 0.1, np.float32), mirrored_box)
    assert h[1, 2] == pytest.approx(0.3, rel=1e-5) and h.max() == h[1, 2]


def test_missing_section_is_malformed() -> None:
    data = _contract()
    del data["postprocess"]
    with pytest.raises(ModelError, match="malformed"):
        DetectorContract.from_dict(data, "x.json")


def test_contract_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not found"):
        load_contract(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ModelError, match="unreadable"):
        load_contract(bad)
    good = tmp_path / "good.json"
    good.write_text(json.dumps(_contract()))
    assert load_contract(good).stride == 8


def test_float_model_shares_the_int8_contract(tmp_path: Path) -> None:
    (tmp_path / "plate_detector.json").write_text("{}")
    assert sidecar_path(tmp_path / "plate_detector_float.tflite") == tmp_path / "plate_detector.json"
    assert sidecar_path(tmp_path / "other.tflite") == tmp_path / "other.json"


def test_missing_model_file_is_a_model_error(tmp_path: Path) -> None:
    (tmp_path / "plate_detector.json").write_text(json.dumps(_contract()))
    with pytest.raises(ModelError, match="not found"):
        PlateDetector(tmp_path / "plate_detector.tflite")


def test_decode_then_unletterbox_gives_frame_pixels() -> None:
    # A 1280x720 frame letterboxed into 224x384: scale 0.3, no horizontal pad, 4 px of grey above and below.
    _, scale, pad = letterbox(np.zeros((720, 1280, 3), np.uint8), (224, 384))
    assert scale == pytest.approx(0.3) and pad == (0, 4)
    heat, box = _maps((28, 48))
    heat[12, 30] = 0.8
    box[12, 30] = np.log(np.array([12, 4, 12, 4]) / 8)
    boxes, _ = decode(heat, box, stride=8, threshold=0.5, max_detections=4)
    frame_box = unletterbox_boxes(boxes, scale, pad)[0]
    cx, cy = (30 + 0.5) * 8, (12 + 0.5) * 8
    np.testing.assert_allclose(frame_box, [(cx - 12) / 0.3, (cy - 4 - 4) / 0.3, 24 / 0.3, 8 / 0.3], rtol=1e-5)


def test_int8_input_is_a_bit_flip_of_pixels() -> None:
    info = TensorInfo(0, "image", (1, 2, 2, 3), np.dtype(np.int8), 1 / 255, -128)
    pixels = np.array([0, 1, 127, 128, 254, 255], np.uint8).reshape(1, 1, 2, 3)
    q = uint8_to_input(pixels, info)
    expected = np.rint(pixels.astype(np.float32) / 255 / info.scale) + info.zero_point
    np.testing.assert_array_equal(q.astype(np.int32), expected.astype(np.int32))


def test_detection_is_frozen() -> None:
    d = Detection((1.0, 2.0, 3.0, 4.0), 0.9)
    with pytest.raises(FrozenInstanceError):
        d.confidence = 0.1  # type: ignore[misc]


def test_committed_fixture_scenes_are_small_and_labelled() -> None:
    meta = json.loads((FIXTURES / "boxes.json").read_text())
    assert len(meta["boxes"]) >= 6
    for name, boxes in meta["boxes"].items():
        path = FIXTURES / name
        assert path.suffix == ".jpg" and path.stat().st_size < 60_000
        for x, y, w, h in boxes:
            assert x >= 0 and y >= 0 and w > 4 and h > 4 and x + w <= 640 and y + h <= 360
