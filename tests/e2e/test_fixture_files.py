"""The committed fixture videos agree with their ground truth and stay within the repository's size budget."""

from __future__ import annotations

import cv2
import pytest

from .conftest import CI_FIXTURES, VIDEOS, truth

BUDGET_BYTES = 8 * 1024 * 1024
ALL_FIXTURES = (*CI_FIXTURES, "bench_1080p")


def test_fixtures_fit_the_size_budget() -> None:
    total = sum(p.stat().st_size for p in VIDEOS.iterdir() if p.is_file())
    assert total <= BUDGET_BYTES, f"{total / 2**20:.2f} MiB of fixtures"


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_video_matches_its_ground_truth(name: str) -> None:
    t = truth(name)
    cap = cv2.VideoCapture(str(VIDEOS / t["video"]))
    try:
        assert cap.isOpened()
        assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(t["fps"])
        assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == t["frames"]
        assert [int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))] == t["resolution"]
    finally:
        cap.release()
    assert t["camera"]["resolution"] == t["resolution"]
    texts = [p["text"] for p in t["plates"]]
    assert texts and len(texts) == len(set(texts))
    for plate in t["plates"]:
        assert plate["text"].isalnum() and plate["text"].isupper()
        assert 0 <= plate["enter_s"] < plate["exit_s"] <= t["duration_s"]
        assert plate["direction"] in ("approaching", "receding", "left", "right", "unknown")
    if any(p["private"] for p in t["plates"]):
        assert t["camera"]["privacy_zones"], "a private plate needs a privacy zone"
