"""PlateReader: contract checks when loading, and end-to-end reads of the shipped int8 model."""

from __future__ import annotations

import csv
import json
import shutil
from dataclasses import FrozenInstanceError
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_agent.device.vision.reader import PlateReader, TextRead
from edge_agent.device.vision.scoring import normalise_plate
from edge_agent.errors import InvalidInputError, ModelError
from edge_agent.paths import default_model

REPO = Path(__file__).resolve().parents[2]
DATASETS = REPO.parent / "shared" / "datasets"
SHIPPED = default_model("plate_reader.tflite")
FIXTURES = Path(__file__).resolve().parent / "data" / "reader"

pytestmark = pytest.mark.skipif(
    not SHIPPED.is_file() or not SHIPPED.with_suffix(".json").is_file(),
    reason=f"shipped reader model not found at {SHIPPED}: train it with scripts/train_reader.py",
)


@pytest.fixture(scope="module")
def reader() -> PlateReader:
    return PlateReader()


def fixture_rows() -> list[dict[str, str]]:
    with (FIXTURES / "labels.csv").open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def fixture_image(name: str) -> np.ndarray:
    img = cv2.imread(str(FIXTURES / name), cv2.IMREAD_COLOR)
    assert img is not None, f"fixture {name} unreadable"
    return img


def test_contract_loads(reader: PlateReader) -> None:
    c = reader.contract
    assert c.alphabet == "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    assert c.blank == len(c.alphabet)
    assert (c.min_length, c.max_length) == (2, 10)
    assert 0.0 < reader.threshold < 1.0
    assert c.version.startswith("reader-")
    assert reader.model.input.dtype == np.int8


def test_contract_version_defaults_to_unknown(tmp_path: Path) -> None:
    path = copy_model(tmp_path)
    contract = json.loads(path.with_suffix(".json").read_text())
    del contract["version"]
    path.with_suffix(".json").write_text(json.dumps(contract))
    assert PlateReader(path).contract.version == "unknown"


def test_float_twin_shares_the_contract() -> None:
    float_reader = PlateReader(SHIPPED.with_name("plate_reader_float.tflite"))
    assert float_reader.model.input.dtype == np.float32
    assert float_reader.contract.version.startswith("reader-")


def test_missing_model_is_a_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not found") as info:
        PlateReader(tmp_path / "plate_reader.tflite")
    assert "\n" not in str(info.value)


def copy_model(tmp_path: Path) -> Path:
    dst = tmp_path / "plate_reader.tflite"
    shutil.copy(SHIPPED, dst)
    shutil.copy(SHIPPED.with_suffix(".json"), dst.with_suffix(".json"))
    return dst


def test_missing_sidecar_is_a_model_error(tmp_path: Path) -> None:
    path = copy_model(tmp_path)
    path.with_suffix(".json").unlink()
    with pytest.raises(ModelError, match=r"contract .* not found"):
        PlateReader(path)


def test_corrupt_model_is_a_model_error(tmp_path: Path) -> None:
    path = copy_model(tmp_path)
    path.write_bytes(b"not a flatbuffer" * 64)
    with pytest.raises(ModelError, match="not a usable TFLite model") as info:
        PlateReader(path)
    assert "\n" not in str(info.value)


def test_malformed_sidecar_is_a_model_error(tmp_path: Path) -> None:
    path = copy_model(tmp_path)
    path.with_suffix(".json").write_text("{}")
    with pytest.raises(ModelError, match="malformed"):
        PlateReader(path)


def test_input_shape_mismatch_is_a_model_error(tmp_path: Path) -> None:
    path = copy_model(tmp_path)
    contract = json.loads(path.with_suffix(".json").read_text())
    contract["input"]["width"] += 8
    path.with_suffix(".json").write_text(json.dumps(contract))
    with pytest.raises(ModelError, match="takes input"):
        PlateReader(path)


def test_alphabet_mismatch_is_a_model_error(tmp_path: Path) -> None:
    path = copy_model(tmp_path)
    contract = json.loads(path.with_suffix(".json").read_text())
    contract["output"]["alphabet"] = "0123456789"
    path.with_suffix(".json").write_text(json.dumps(contract))
    with pytest.raises(ModelError, match="alphabet"):
        PlateReader(path)


def test_bad_input_is_rejected(reader: PlateReader) -> None:
    with pytest.raises(InvalidInputError):
        reader.read(np.zeros((1, 1, 3), np.uint8))
    with pytest.raises(InvalidInputError):
        reader.read(np.zeros((40, 80, 3), np.float32))


def test_blank_crop_is_not_confident(reader: PlateReader) -> None:
    result = reader.read(np.full((60, 120, 3), 200, np.uint8))
    assert isinstance(result, TextRead)
    assert result.confidence < reader.threshold
    with pytest.raises(FrozenInstanceError):
        result.text = "X"  # type: ignore[misc]


def test_reads_synthetic_fixture_crops(reader: PlateReader) -> None:
    rows = [r for r in fixture_rows() if r["two_line"] == "0"]
    assert len(rows) >= 6
    right = 0
    for row in rows:
        result = reader.read(fixture_image(row["image"]))
        assert len(result.char_confidences) == len(result.text)
        ok = normalise_plate(result.text) == normalise_plate(row["plate_text"])
        right += ok and result.confidence >= reader.threshold
    assert right >= len(rows) - 2, f"only {right} of {len(rows)} clean synthetic crops read confidently"


def test_grey_input_reads_like_colour(reader: PlateReader) -> None:
    img = fixture_image(fixture_rows()[0]["image"])
    grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    assert reader.read(grey).text == reader.read(img).text


def test_two_line_plates_are_not_confident(reader: PlateReader) -> None:
    rows = [r for r in fixture_rows() if r["two_line"] == "1"]
    assert rows
    for row in rows:
        assert reader.read(fixture_image(row["image"])).confidence < reader.threshold, row["image"]


@pytest.mark.needs_data
def test_reads_validation_crops(reader: PlateReader) -> None:
    folder = DATASETS / "us-crops-validation"
    if not (folder / "labels.csv").is_file():
        pytest.skip(f"dataset not found at {folder}: see ../shared/datasets/README.md")
    with (folder / "labels.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))[::37]  # a spread of states, 20 crops
    right = 0
    for row in rows:
        img = cv2.imread(str(folder / "images" / row["image"]), cv2.IMREAD_COLOR)
        assert img is not None
        right += normalise_plate(reader.read(img).text) == normalise_plate(row["plate_text"])
    assert right >= 0.6 * len(rows)
