"""`edge-agent read` on still images: the detector's input follows the photo's size."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_agent.device.vision.readcmd import STILL_INPUTS, STILL_SCALE, Reader, expand


@pytest.mark.parametrize(
    ("height", "width", "expected"),
    [
        (480, 640, (224, 384)),  # already at about half size in the default input
        (300, 300, (224, 384)),  # small photos are never enlarged past the default
        (720, 1280, (320, 576)),
        (1632, 918, (320, 576)),
        (600, 800, (288, 512)),
    ],
)
def test_still_input_follows_the_photo(height: int, width: int, expected: tuple[int, int]) -> None:
    reader = Reader(threads=1)
    detector = reader.still_detector(height, width)
    assert detector.input_size == expected
    h, w = expected
    assert expected == STILL_INPUTS[0] or min(h / height, w / width) <= STILL_SCALE
    # One detector per input size, reused.
    assert reader.still_detector(height, width) is detector


def test_a_directory_is_read_as_its_images_and_videos(tmp_path: Path) -> None:
    for name in ("b.jpg", "a.PNG", "notes.txt", "clip.mp4"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "sub").mkdir()
    assert [p.name for p in expand([tmp_path])] == ["a.PNG", "b.jpg", "clip.mp4"]
    empty = tmp_path / "sub"
    assert expand([empty]) == [empty]  # reported as an input of its own, not skipped


def test_the_runtime_is_quiet_unless_asked() -> None:
    import subprocess
    import sys

    image = Path(__file__).parent / "data" / "detector" / "scene_00.jpg"
    plain = subprocess.run([sys.executable, "-m", "edge_agent", "read", str(image)], capture_output=True, text=True,
                           timeout=120, check=False)  # fmt: skip
    assert plain.returncode == 0, plain.stderr
    assert "XNNPACK" not in plain.stderr and "TensorFlow" not in plain.stderr
    verbose = subprocess.run([sys.executable, "-m", "edge_agent", "-v", "read", str(image)], capture_output=True,
                             text=True, timeout=120, check=False)  # fmt: skip
    assert "XNNPACK" in verbose.stderr


def test_read_can_leave_the_detector_boxes_as_they_are() -> None:
    from edge_agent.device.vision.readcmd import read_paths

    image = Path(__file__).parent / "data" / "detector" / "scene_05.jpg"
    (refined,) = read_paths([image])
    (plain,) = read_paths([image], refine=False)
    assert isinstance(refined, dict) and isinstance(plain, dict)
    assert refined["plates"] and plain["plates"]
    # Same plate, another box: the refiner moved it.
    assert refined["plates"][0]["box"] != plain["plates"][0]["box"]
