"""`edge-agent read` on still images: the detector's input follows the photo's size."""

from __future__ import annotations

import pytest

from edge_agent.device.vision.readcmd import STILL_INPUTS, STILL_SCALE, Reader


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
