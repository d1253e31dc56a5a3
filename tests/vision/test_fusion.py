"""Multi-frame fusion: a pass's text from every frame's support for every candidate, on synthetic tracks."""

from __future__ import annotations

import numpy as np
import pytest

from edge_agent.config import TrackerConfig
from edge_agent.device.vision import ctc
from edge_agent.device.vision.fusion import FrameRead, crop_weight, fuse
from edge_agent.device.vision.tracker import Observation, Tracker

from .test_ctc_decode import ALPHABET, BLANK
from .test_plate_syntax import plate, steps


def align(probs: np.ndarray, text: str) -> ctc.Alignment | None:
    return ctc.align(probs, text, ALPHABET, BLANK)


def fragment_frame(text: str, weak: int, seen: float = 0.3) -> np.ndarray:
    """Steps that spell `text`, with the character at `weak` seen only faintly (the rest of its step is blank)."""
    cols = plate(text)
    cols[1 + 2 * weak] = {text[weak]: seen, "-": 0.95 - seen}
    return steps(*cols)


def reading(probs: np.ndarray) -> tuple[str, float, tuple[float, ...], tuple[str, ...]]:
    """What the reader makes of one frame: the beam's best text, its confidences, and the runner-ups."""
    hyps = ctc.beam_search(probs, ALPHABET, BLANK, lengths=(3, 10))
    path = align(probs, hyps[0].text)
    assert path is not None
    return hyps[0].text, min(path.chars), path.chars, tuple(h.text for h in hyps[1:3])


def frame(probs: np.ndarray, weight: float = 1.0) -> FrameRead:
    text, conf, _, alternatives = reading(probs)
    return FrameRead(text, conf, probs, weight, alternatives)


def test_frames_that_each_drop_a_different_character_fuse_to_the_plate() -> None:
    # Every frame loses one character of 287HDR to a faint step, each a different one: no two readings agree,
    # so a vote has nothing to go on, but the whole plate (a runner-up on every frame) is what they all support.
    frames = [frame(fragment_frame("287HDR", k, seen=0.3)) for k in range(6)]
    assert len({f.text for f in frames}) == 6
    assert "287HDR" not in {f.text for f in frames}
    text, confidence, chars = fuse(frames, align)
    assert text == "287HDR"
    assert len(chars) == 6
    # Each character is seen at 0.95 on five frames and at 0.3 on one: that is how sure the pass is of it.
    assert confidence == pytest.approx((5 * 0.95 + 0.3) / 6, abs=0.01)
    assert min(chars) == confidence


def test_one_clear_frame_outweighs_blurred_ones_that_agree_on_a_fragment() -> None:
    blurred = [frame(fragment_frame("AB1234", 2, seen=0.05), weight=0.2) for _ in range(3)]
    assert blurred[0].text == "AB234"
    clear = frame(steps(*plate("AB1234")), weight=1.0)
    text, confidence, _ = fuse([*blurred, clear], align)
    assert text == "AB1234"
    # The "1" is sure on the clear frame only: its average over the frames, by weight, is the pass's doubt.
    assert confidence == pytest.approx((1.0 * 0.95 + 3 * 0.2 * 0.05) / 1.6, abs=0.02)


def test_a_character_smeared_over_two_steps_is_kept_by_the_beam() -> None:
    # Two steps each a little more blank than "1": the greedy path drops it, the sum over alignments keeps it.
    cols = plate("AB234")
    cols[5:5] = [{"1": 0.45, "-": 0.5}, {"1": 0.45, "-": 0.5}]
    probs = steps(*cols)
    assert ctc.greedy(probs, ALPHABET, BLANK)[0] == "AB234"
    assert reading(probs)[0] == "AB1234"


def test_no_frames_no_text() -> None:
    assert fuse([], align) == ("", 0.0, ())


def test_crop_weight() -> None:
    assert crop_weight(0.9, 200) == pytest.approx(0.9)
    assert crop_weight(0.9, 50) == pytest.approx(0.45)
    assert crop_weight(0.0, 50) > 0


def test_tracker_fuses_when_frames_carry_the_readers_output() -> None:
    cfg = TrackerConfig(min_confidence=0.25)
    fused, voted = Tracker(cfg, align=align), Tracker(cfg, align=align)
    for i in range(6):
        probs = fragment_frame("287HDR", i)
        text, conf, confs, alternatives = reading(probs)
        box = (100.0 + 10 * i, 200.0, 130.0, 30.0)
        fused.update(i / 12, 1000 + i / 12, [Observation(box, 0.9, text, conf, confs, None, probs, alternatives)])
        # Without the reader's output the same pass falls back to voting on strings, which cannot rebuild it.
        voted.update(i / 12, 1000 + i / 12, [Observation(box, 0.9, text, conf, confs)])
    [read] = fused.flush()
    assert read.text == "287HDR"
    assert read.confidence == pytest.approx((5 * 0.95 + 0.3) / 6, abs=0.01)
    assert [r.text for r in voted.flush()] != ["287HDR"]
