"""The evaluations' matching and counting, kept apart from the models so that they can be tested on their own.

Detector: a detection is a true positive when it matches a not-yet-matched labelled plate with IoU >= 0.5 (greedy,
best score first); recall and false boxes per image are counted at each threshold (``eval_detector.py``).
Reader: a misreading is aligned to the truth (Levenshtein) and its edits are sorted into an anatomy: inserted at an
edge, dropped at an end, substituted (with the pair) (``eval_scenes.py``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edge_agent.device.vision.detector import iou

THRESHOLDS = [round(t, 2) for t in np.arange(0.04, 0.97, 0.02)]
FLOOR = 0.04  # detections are collected once at this threshold, then filtered per threshold
# A vehicle pass is reported only if one of its detections scores where the held-out photos give a tenth of the
# operating point's false boxes (postprocess.confirm_confidence, used by the tracker).
CONFIRM_FP_SHARE = 0.1


def match(
    dets: list[tuple[np.ndarray, float]], truth: np.ndarray, iou_min: float = 0.5
) -> tuple[list[bool], np.ndarray]:
    """Greedy one-to-one matching of detections sorted best first: whether each detection is a true positive, and
    whether each labelled plate was found."""
    used = np.zeros(len(truth), bool)
    out = []
    for box, _ in dets:
        if len(truth) == 0:
            out.append(False)
            continue
        ious = np.where(used, -1.0, iou(box, truth))
        best = int(np.argmax(ious))
        hit = bool(ious[best] >= iou_min)
        if hit:
            used[best] = True
        out.append(hit)
    return out, used


def score(per_image: list[tuple[list[tuple[np.ndarray, float]], np.ndarray]], max_fp: float) -> dict:
    """Recall and false boxes per image at each threshold, and the operating point."""
    n_truth = sum(len(t) for _, t in per_image)
    rows = []
    for thr in THRESHOLDS:
        tp = fp = 0
        for dets, truth in per_image:
            kept = [d for d in dets if d[1] >= thr]
            hits, _ = match(kept, truth)
            tp += sum(hits)
            fp += len(hits) - sum(hits)
        rows.append({"threshold": thr, "recall": tp / max(n_truth, 1), "fp_per_image": fp / len(per_image)})

    def point(bound: float) -> dict | None:
        ok = [r for r in rows if r["fp_per_image"] <= bound]
        return max(ok, key=lambda r: (r["recall"], -r["threshold"])) if ok else None

    return {
        "images": len(per_image),
        "plates": n_truth,
        "curve": rows,
        "operating_point": point(max_fp),
        "confirm_point": point(max_fp * CONFIRM_FP_SHARE),
    }


WIDTH_BUCKETS = ((0, 20), (20, 35), (35, 60), (60, 10_000))


def breakdown(per_image: list, threshold: float, scale: list[float]) -> dict[str, dict[str, int]]:  # type: ignore[type-arg]
    """Found / total plates at ``threshold``: by width inside the model input, in crowded images, for tall boxes.

    ``scale`` is each image's letterbox factor (input pixels per photo pixel). Crowded: 3 or more plates in the
    image. Tall: box height over 0.8 of its width (the data set's square stretch).
    """
    rows: dict[str, list[int]] = {}

    def add(key: str, hit: bool) -> None:
        row = rows.setdefault(key, [0, 0])
        row[0] += int(hit)
        row[1] += 1

    for (dets, truth), k in zip(per_image, scale, strict=True):
        _, hits = match([d for d in dets if d[1] >= threshold], truth)
        for (_, _, w, h), hit in zip(truth, hits, strict=True):
            lo, hi = next(b for b in WIDTH_BUCKETS if b[0] <= w * k < b[1])
            add(f"width {lo}-{hi} px" if hi < 10_000 else f"width >= {lo} px", bool(hit))
            if len(truth) >= 3:
                add("crowded (>= 3 plates)", bool(hit))
            if h > 0.8 * w:
                add("tall (h > 0.8 w)", bool(hit))
    return {key: {"found": f, "plates": n} for key, (f, n) in sorted(rows.items())}


def edge_offsets(
    box: tuple[float, float, float, float], truth: tuple[float, float, float, float]
) -> tuple[float, float, float, float]:
    """How far each edge of `box` lies from `truth`'s (x, y, w, h): left and right as shares of the true width,
    top and bottom of its height; negative is left of or above the true edge."""
    x, y, w, h = truth
    bx, by, bw, bh = box
    return ((bx - x) / w, (bx + bw - x - w) / w, (by - y) / h, (by + bh - y - h) / h)


@dataclass
class Tally:
    """Counts for one region (or all)."""

    plates: int = 0
    found: int = 0
    exact: int = 0
    exact_found: int = 0
    chars: int = 0
    char_errors: int = 0
    ms: list[float] = field(default_factory=list)
    anatomy: Counter[str] = field(default_factory=Counter)
    pairs: Counter[str] = field(default_factory=Counter)
    single_error: int = 0
    misread: int = 0

    def add(self, other: Tally) -> None:
        """Fold another region's counts into this one."""
        for name in ("plates", "found", "exact", "exact_found", "chars", "char_errors", "single_error", "misread"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.ms += other.ms
        self.anatomy.update(other.anatomy)
        self.pairs.update(other.pairs)

    def summary(self) -> dict[str, Any]:
        """The figures as a JSON-able dict."""
        pct = lambda a, b: round(100.0 * a / b, 1) if b else 0.0  # noqa: E731
        return {
            "plates": self.plates,
            "exact": pct(self.exact, self.plates),
            "char": round(100.0 * (1 - self.char_errors / self.chars), 1) if self.chars else 0.0,
            "found": pct(self.found, self.plates),
            "read_given_found": pct(self.exact_found, self.found),
            "ms_p50": round(float(np.percentile(self.ms, 50)), 1) if self.ms else None,
            "misread": self.misread,
            "single_error": self.single_error,
            "anatomy": dict(self.anatomy.most_common()),
            "pairs": dict(self.pairs.most_common(12)),
        }


def edit_ops(pred: str, truth: str) -> list[tuple[str, int, str, str]]:
    """Levenshtein alignment of two normalised strings: (op, truth position, truth char, read char) per edit."""
    n, m = len(truth), len(pred)
    d = np.zeros((n + 1, m + 1), dtype=np.int32)
    d[:, 0] = np.arange(n + 1)
    d[0, :] = np.arange(m + 1)
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            d[i, j] = min(d[i - 1, j] + 1, d[i, j - 1] + 1, d[i - 1, j - 1] + (truth[i - 1] != pred[j - 1]))
    ops: list[tuple[str, int, str, str]] = []
    i, j = n, m
    while i > 0 or j > 0:
        if i > 0 and j > 0 and d[i, j] == d[i - 1, j - 1] + (truth[i - 1] != pred[j - 1]):
            if truth[i - 1] != pred[j - 1]:
                ops.append(("sub", i - 1, truth[i - 1], pred[j - 1]))
            i, j = i - 1, j - 1
        elif j > 0 and d[i, j] == d[i, j - 1] + 1:
            ops.append(("ins", i, "", pred[j - 1]))
            j -= 1
        else:
            ops.append(("del", i - 1, truth[i - 1], ""))
            i -= 1
    return ops[::-1]


def classify(pred: str, truth: str, tally: Tally) -> None:
    """Add the anatomy of one misreading (normalised strings) to the tally."""
    ops = edit_ops(pred, truth)
    tally.misread += 1
    tally.single_error += len(ops) == 1
    for op, pos, t, p in ops:
        if op == "ins":
            tally.anatomy["inserted at an edge" if pos in (0, len(truth)) else "inserted inside"] += 1
        elif op == "del":
            tally.anatomy["dropped at an end" if pos in (0, len(truth) - 1) else "dropped inside"] += 1
        else:
            tally.anatomy["substituted"] += 1
            tally.pairs[f"{t}->{p}"] += 1
