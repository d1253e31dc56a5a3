"""Multi-view reading: a plate is read on crops cut with several margins and framings, and the views vote."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_agent.device.vision.pipeline import VIEW_FRAMINGS, VIEW_MARGINS, framed, read_views
from edge_agent.device.vision.readcmd import Reader
from edge_agent.device.vision.reader import TextRead
from edge_agent.device.vision.scoring import normalise_plate

from ..conftest import DATASETS


class WidthReader:
    """Reads a text chosen by the crop's width, so each margin gives a known reading.

    Its "posteriors" are the crop's width; `decode` marks the view it was given, to show which one was decoded.
    """

    def __init__(self, by_width: dict[int, TextRead]) -> None:
        self.by_width = by_width
        self.widths: list[int] = []
        self.decoded: list[int] = []

    def posteriors(self, crop: np.ndarray) -> np.ndarray:
        self.widths.append(crop.shape[1])
        return np.array([[crop.shape[1]]])

    def quick(self, probs: np.ndarray) -> TextRead:
        read = self.by_width.get(int(probs[0, 0]), TextRead("", 0.0, ()))
        return TextRead(read.text, read.confidence, read.char_confidences, probs)

    def decode(self, probs: np.ndarray) -> TextRead:
        self.decoded.append(int(probs[0, 0]))
        return self.quick(probs)

    def read(self, crop: np.ndarray) -> TextRead:
        return self.decode(self.posteriors(crop))


def test_views_vote_by_summed_confidence() -> None:
    image = np.zeros((200, 400, 3), np.uint8)
    box = (100.0, 50.0, 100.0, 40.0)
    widths = [100 + 2 * int(np.ceil(m * 100)) if m > 0 else 100 + 2 * int(np.floor(m * 100)) for m in VIEW_MARGINS]
    # One confident view reads a frame edge as a character; three less confident views agree on the plate.
    reads = {
        widths[0]: TextRead("1ABC123", 0.95, (0.95,) * 7),
        widths[1]: TextRead("ABC123", 0.7, (0.7,) * 6),
        widths[2]: TextRead("ABC123", 0.8, (0.8,) * 6),
        widths[3]: TextRead("ABC123", 0.6, (0.6,) * 6),
    }
    reader = WidthReader(reads)
    result = read_views(reader, image, box, framings=((0.0, 0.0),))  # type: ignore[arg-type]
    assert len(reader.widths) == len(VIEW_MARGINS)
    assert result.text == "ABC123"
    assert result.confidence == 0.8  # the winning text's most confident view
    assert reader.decoded == [widths[2]]  # decoded in full once, that view only


def test_views_at_the_frame_edge_are_clipped_not_lost() -> None:
    image = np.zeros((50, 80, 3), np.uint8)
    reader = WidthReader({})
    result = read_views(reader, image, (0.0, 0.0, 80.0, 50.0))  # type: ignore[arg-type]
    # Every view is cut inside the frame: the widening margins all clip to the full width.
    assert len(reader.widths) == len(VIEW_MARGINS) * len(VIEW_FRAMINGS)
    assert max(reader.widths) == 80
    assert reader.widths.count(80) == sum(m >= 0 for m in VIEW_MARGINS) * len(VIEW_FRAMINGS)
    assert result.text == ""


class HeightReader(WidthReader):
    """Records each view's height instead of its width."""

    def posteriors(self, crop: np.ndarray) -> np.ndarray:
        self.widths.append(crop.shape[0])
        return np.array([[crop.shape[0]]])


def test_each_framing_cuts_the_box_top_and_bottom() -> None:
    assert framed((10.0, 20.0, 100.0, 50.0), 0.1, 0.2) == (10.0, 25.0, 100.0, 35.0)
    image = np.zeros((200, 400, 3), np.uint8)
    reader = HeightReader({})
    read_views(reader, image, (100.0, 50.0, 100.0, 40.0), margins=(0.0,), framings=((0.0, 0.0), (0.1, 0.2)))  # type: ignore[arg-type]
    assert reader.widths == [40, 28]
    # A plate read on the same text in every framing wins on their summed confidence.
    votes = HeightReader({40: TextRead("FRAME1AB", 0.9, (0.9,) * 8), 28: TextRead("1AB", 0.5, (0.5,) * 3)})
    framings = ((0.0, 0.0), (0.1, 0.2), (0.1, 0.2))
    assert read_views(votes, image, (100.0, 50.0, 100.0, 40.0), margins=(0.0,), framings=framings).text == "1AB"  # type: ignore[arg-type]


@pytest.mark.needs_data
@pytest.mark.parametrize(("region", "floor"), [("us", 0.7), ("eu", 0.8), ("br", 0.7)])
def test_real_scenes_read_end_to_end(region: str, floor: float) -> None:
    """Every fourth real photo of a region through `edge-agent read`'s own code (validation data, not copied)."""
    folder = DATASETS / "real-scenes-validation" / region
    if not (folder / "labels.csv").is_file():
        pytest.skip(f"dataset not found at {folder}: see ../shared/datasets/README.md")
    with (folder / "labels.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))[::4]
    still = Reader(threads=1)
    right = 0
    for row in rows:
        image = cv2.imread(str(Path(folder / "images" / row["image"].strip())), cv2.IMREAD_COLOR)
        assert image is not None
        texts = {normalise_plate(s.text) for s in still.sightings(image)}
        right += normalise_plate(row["plate_text"]) in texts
    assert right >= floor * len(rows), f"{right} of {len(rows)} {region} photos read exactly"
