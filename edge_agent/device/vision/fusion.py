"""Multi-frame fusion: one text for a vehicle pass from the reader's output on each of its frames.

Voting on each frame's best string fails when no two frames agree: a plate turned a little, 130 px wide, can be
read as a different five-character fragment on every frame (``287HD``, ``28THD``, ``2879D``) although the whole
plate is plainly there. Fusion asks every frame about every candidate instead. The candidates are each frame's
reading and the reader's runner-up texts (its beam). A frame's support for a candidate is the reader's confidence
in exactly that text on that frame: the least sure character or step on the best alignment of the text to the
frame's output (``ctc.align``), so a fragment that skips a character the frame saw scores low. Frames count by
the quality of their crop (detector confidence x plate width, up to `FULL_WIDTH` pixels). The candidate with the
most weighted support wins. Its confidence follows the reader's rule over the pass: each character's probability
averaged over the frames (weighted), and the least of those. A character that most frames see clearly is sure even
if one frame lost it; one that only a few frames see pulls the confidence down.

Cost: at most `MAX_FRAMES` frames x `MAX_CANDIDATES` texts, one alignment each, once per pass (not per frame).
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from edge_agent.device.vision.ctc import Alignment

# Frames used for fusion, the best first; enough to outvote bad frames, few enough to stay cheap.
MAX_FRAMES = 12
MAX_CANDIDATES = 8
# A plate this many pixels wide or wider gives a full-quality crop; narrower ones count for less.
FULL_WIDTH = 100.0

Aligner = Callable[[np.ndarray, str], Alignment | None]


@dataclass(frozen=True)
class FrameRead:
    """What the reader made of one frame of a pass."""

    text: str
    confidence: float
    posteriors: np.ndarray
    weight: float
    alternatives: tuple[str, ...] = ()


def crop_weight(det_conf: float, plate_width: float) -> float:
    """How much a frame counts: the detector's confidence x the plate's width (up to FULL_WIDTH), in (0, 1]."""
    return max(1e-3, det_conf * min(1.0, plate_width / FULL_WIDTH))


def fuse(frames: Sequence[FrameRead], align: Aligner) -> tuple[str, float, tuple[float, ...]]:
    """(text, confidence, per-character confidences) of a pass; ("", 0.0, ()) without frames."""
    if not frames:
        return "", 0.0, ()
    best_frames = sorted(frames, key=lambda f: f.weight * f.confidence, reverse=True)[:MAX_FRAMES]
    support: dict[str, float] = collections.defaultdict(float)
    for f in frames:
        if f.text:
            support[f.text] += f.weight * f.confidence
        for alt in f.alternatives:
            support.setdefault(alt, 0.0)  # a candidate, with no support of its own
    candidates = sorted(support, key=lambda t: support[t], reverse=True)[:MAX_CANDIDATES]
    total = sum(f.weight for f in best_frames)
    best: tuple[float, str, tuple[float, ...]] = (-1.0, "", ())
    for text in candidates:
        score = 0.0
        chars = np.zeros(len(text))
        for f in best_frames:
            path = align(f.posteriors, text)
            if path is not None:
                score += f.weight * path.confidence
                chars += f.weight * np.asarray(path.chars)
        score /= total
        if score > best[0]:
            best = (score, text, tuple(float(c) for c in chars / total))
    # The winner is reported as sure as its least sure character, each averaged over the frames (the reader's
    # rule, over the pass): the steps a fragment would skip rank the candidates, they are not the plate's doubt.
    return best[1], min(best[2], default=0.0), best[2]
