"""PlateDetector end to end with the shipped int8 model: loading checks, committed synthetic scenes, held-out photos.

The scenes under ``data/detector`` were drawn by ``scripts/eval_detector.py --write-fixtures`` (no font or
TensorFlow is needed to run these tests); the held-out photo test needs ``../shared/datasets``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from types import ModuleType

import cv2
import numpy as np
import pytest

from edge_agent.device.vision.detector import Detection, PlateDetector, iou
from edge_agent.errors import InvalidInputError, ModelError
from edge_agent.paths import default_model

REPO = Path(__file__).resolve().parents[2]
DATASETS = Path(os.environ.get("EDGE_AGENT_DATASETS", REPO.parent / "shared" / "datasets"))
FIXTURES = Path(__file__).resolve().parent / "data" / "detector"
SHIPPED = default_model("plate_detector.tflite")

pytestmark = pytest.mark.skipif(
    not SHIPPED.is_file() or not SHIPPED.with_suffix(".json").is_file(),
    reason=f"shipped detector {SHIPPED} not built yet: run scripts/train_detector.py --install",
)


@pytest.fixture(scope="module")
def detector() -> PlateDetector:
    return PlateDetector()


def _fixtures() -> list[tuple[str, np.ndarray, np.ndarray]]:
    meta = json.loads((FIXTURES / "boxes.json").read_text())
    out = []
    for name, boxes in sorted(meta["boxes"].items()):
        image = cv2.imread(str(FIXTURES / name), cv2.IMREAD_COLOR)
        assert image is not None, f"fixture {name} unreadable"
        out.append((name, image, np.asarray(boxes, np.float32).reshape(-1, 4)))
    return out


def _best_iou(found: list[Detection], truth: np.ndarray) -> float:
    if not found:
        return 0.0
    boxes = np.asarray([d.box for d in found], np.float32)
    return max(float(iou(t, boxes).max()) for t in truth)


def _scripts_module(name: str) -> ModuleType:
    sys.path.insert(0, str(REPO / "scripts"))
    return __import__(f"training.{name}", fromlist=["_"])


def copy_model(tmp_path: Path) -> Path:
    dst = tmp_path / "plate_detector.tflite"
    shutil.copy(SHIPPED, dst)
    shutil.copy(SHIPPED.with_suffix(".json"), dst.with_suffix(".json"))
    return dst


def test_missing_sidecar_is_a_model_error(tmp_path: Path) -> None:
    path = copy_model(tmp_path)
    path.with_suffix(".json").unlink()
    with pytest.raises(ModelError, match="not found"):
        PlateDetector(path)


def test_corrupt_model_is_a_model_error(tmp_path: Path) -> None:
    path = copy_model(tmp_path)
    path.write_bytes(b"not a flatbuffer" * 64)
    with pytest.raises(ModelError, match="not a usable TFLite model"):
        PlateDetector(path)


def test_stride_mismatch_is_a_model_error(tmp_path: Path) -> None:
    path = copy_model(tmp_path)
    contract = json.loads(path.with_suffix(".json").read_text())
    contract["output"]["stride"] = 16 if contract["output"]["stride"] != 16 else 8
    path.with_suffix(".json").write_text(json.dumps(contract))
    with pytest.raises(ModelError, match="does not match stride"):
        PlateDetector(path)


def test_input_size_must_be_a_multiple_of_32() -> None:
    with pytest.raises(InvalidInputError, match="multiples of 32"):
        PlateDetector(input_size=(200, 384))


def test_bad_frames_and_regions_are_refused(detector: PlateDetector) -> None:
    with pytest.raises(InvalidInputError, match="uint8"):
        detector.detect(np.zeros((100, 100, 3), np.float32))
    with pytest.raises(InvalidInputError, match="outside"):
        detector.detect(np.zeros((100, 100, 3), np.uint8), roi=(200, 200, 50, 50))


def test_blank_frame_has_no_plates(detector: PlateDetector) -> None:
    assert detector.detect(np.full((1080, 1920, 3), 90, np.uint8)) == []
    assert detector.detect(np.zeros((480, 640), np.uint8)) == []  # grey (infrared) frames are accepted


def test_finds_the_plate_in_committed_scenes(detector: PlateDetector) -> None:
    scenes = _fixtures()
    assert len(scenes) >= 6
    scores = {name: _best_iou(detector.detect(image), truth) for name, image, truth in scenes}
    hits = [name for name, best in scores.items() if best >= 0.5]
    assert len(hits) >= len(scenes) - 1, f"IoU per scene: {scores}"


def test_region_of_interest_returns_full_frame_boxes(detector: PlateDetector) -> None:
    name, frame, truth = _fixtures()[5]
    x, y, w, h = (int(v) for v in truth[0])
    roi = (max(0, x - 120), max(0, y - 90), w + 240, h + 180)
    found = detector.detect(frame, roi=roi)
    assert found, f"nothing found in the region around the plate of {name}"
    assert _best_iou(found[:1], truth) >= 0.5
    assert all(roi[0] <= d.box[0] and d.box[0] + d.box[2] <= roi[0] + roi[2] for d in found)


def test_each_way_of_running_takes_its_own_thresholds() -> None:
    c = PlateDetector().contract
    single, mirrored = PlateDetector(flip=False), PlateDetector(flip=True)
    assert mirrored.confidence == c.confidence if c.flip else single.confidence == c.confidence
    if c.flip and c.confidence_without_flip is not None:
        assert single.confidence == c.confidence_without_flip
        assert single.confirm_confidence == c.confirm_confidence_without_flip
    assert PlateDetector(flip=False, confidence=0.5).confidence == 0.5


def test_mirrored_pass_finds_the_mirror_image_of_what_it_finds() -> None:
    # Both views are combined symmetrically, so a mirrored frame gives exactly the mirrored boxes and scores.
    det = PlateDetector(flip=True, confidence=0.1)
    _, frame, truth = _fixtures()[3]
    found = det.detect(frame)
    mirrored = det.detect(np.ascontiguousarray(frame[:, ::-1]))
    assert found and _best_iou(found, truth) >= 0.5
    width = frame.shape[1]
    expect = sorted((width - d.box[0] - d.box[2], d.box[1], d.confidence) for d in found)
    got = sorted((d.box[0], d.box[1], d.confidence) for d in mirrored)
    assert len(got) == len(expect)
    np.testing.assert_allclose(np.asarray(got), np.asarray(expect), atol=0.2)


def test_shipped_model_resizes_to_other_inputs() -> None:
    _, frame, truth = _fixtures()[6]
    for size in ((320, 320), (288, 512)):
        det = PlateDetector(input_size=size)
        assert det.model.outputs[0].shape[1:3] == (size[0] // 8, size[1] // 8)
        assert _best_iou(det.detect(frame), truth) >= 0.5, f"plate lost at input {size}"


def test_upscaled_frame_gives_the_same_boxes_scaled(detector: PlateDetector) -> None:
    _, frame, truth = _fixtures()[6]
    big = cv2.resize(frame, (1280, 720), interpolation=cv2.INTER_LINEAR)
    assert _best_iou(detector.detect(big), truth * 2) >= 0.5


@pytest.mark.needs_data
def test_finds_plates_in_held_out_photos(detector: PlateDetector) -> None:
    if not (DATASETS / "plates-scenes-boxes" / "labels.csv").is_file():
        pytest.skip(f"dataset not found at {DATASETS / 'plates-scenes-boxes'}: see ../shared/datasets/README.md")
    data = _scripts_module("detector_data")
    _, held = data.load_photos(DATASETS)
    sample = held[::25]  # a spread of held-out source photos, about 20 files
    found = total = 0
    for photo in sample:
        dets = detector.detect(data.read_bgr(photo.path))
        boxes = np.asarray([d.box for d in dets], np.float32).reshape(-1, 4)
        for truth in photo.boxes:
            total += 1
            found += bool(len(boxes)) and float(iou(truth, boxes).max()) >= 0.5
    assert found >= 0.75 * total
