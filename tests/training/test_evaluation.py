"""The evaluations' matcher and counting: what a found plate, a false box and a misreading's anatomy are."""

from __future__ import annotations

import numpy as np
from training.evaluation import THRESHOLDS, Tally, classify, edit_ops, match, score

PLATES = np.array([[10, 10, 40, 12], [100, 50, 40, 12]], np.float32)


def test_each_plate_is_found_once_best_detection_first() -> None:
    dets = [
        (np.array([11, 10, 40, 12], np.float32), 0.9),
        (np.array([10, 11, 40, 12], np.float32), 0.8),  # the same plate again: a false box
        (np.array([300, 300, 40, 12], np.float32), 0.7),  # nothing there
        (np.array([101, 50, 40, 12], np.float32), 0.6),
    ]
    hits, found = match(dets, PLATES)
    assert hits == [True, False, False, True]
    assert found.tolist() == [True, True]


def test_a_box_that_overlaps_too_little_is_not_a_find() -> None:
    hits, found = match([(np.array([30, 10, 40, 12], np.float32), 0.9)], PLATES)  # IoU 1/3
    assert hits == [False] and found.tolist() == [False, False]
    hits, _ = match([(np.array([30, 10, 40, 12], np.float32), 0.9)], PLATES, iou_min=0.3)
    assert hits == [True]


def test_no_labelled_plate_makes_every_detection_false() -> None:
    hits, found = match([(PLATES[0], 0.9)], np.zeros((0, 4), np.float32))
    assert hits == [False] and len(found) == 0


def test_the_curve_loses_recall_as_the_threshold_rises() -> None:
    per_image = [
        ([(PLATES[0], 0.95), (PLATES[1], 0.3), (np.array([300, 300, 40, 12], np.float32), 0.5)], PLATES),
        ([(np.array([5, 5, 20, 8], np.float32), 0.2)], np.zeros((0, 4), np.float32)),
    ]
    result = score(per_image, max_fp=0.5)
    recalls = [r["recall"] for r in result["curve"]]
    assert recalls == sorted(recalls, reverse=True)
    assert result["curve"][0] == {"threshold": THRESHOLDS[0], "recall": 1.0, "fp_per_image": 1.0}
    point = result["operating_point"]
    assert point is not None and point["fp_per_image"] <= 0.5 and point["recall"] == 1.0


def test_edits_name_what_the_reader_did() -> None:
    assert edit_ops("ABC123", "ABC123") == []
    assert edit_ops("ABC1234", "ABC123") == [("ins", 6, "", "4")]
    assert edit_ops("ABQ123", "AB0123") == [("sub", 2, "0", "Q")]
    assert edit_ops("BC123", "ABC123") == [("del", 0, "A", "")]


def test_the_anatomy_sorts_edits_by_where_they_fall() -> None:
    tally = Tally()
    classify("XABC123", "ABC123", tally)  # a character added before the plate (a frame's edge)
    classify("AB0123", "ABQ123", tally)
    classify("ABC12", "ABC123", tally)
    assert tally.misread == 3 and tally.single_error == 3
    assert tally.anatomy == {"inserted at an edge": 1, "substituted": 1, "dropped at an end": 1}
    assert tally.pairs == {"Q->0": 1}
