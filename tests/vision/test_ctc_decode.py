"""decode_ctc: greedy CTC decoding outside the model."""

from __future__ import annotations

import numpy as np

from edge_agent.device.vision.reader import decode_ctc

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
BLANK = len(ALPHABET)


def probs_for(steps: list[str], p: float = 0.9) -> np.ndarray:
    """One-hot-ish T x C probabilities; '-' is the blank."""
    out = np.full((len(steps), BLANK + 1), (1 - p) / BLANK, np.float32)
    for t, s in enumerate(steps):
        out[t, BLANK if s == "-" else ALPHABET.index(s)] = p
    return out


def test_repeats_merge_and_blanks_drop() -> None:
    text, confs = decode_ctc(probs_for(list("--AAB-B--7")), ALPHABET, BLANK)
    assert text == "ABB7"
    assert len(confs) == 4


def test_blank_separates_a_doubled_character() -> None:
    assert decode_ctc(probs_for(list("1-1")), ALPHABET, BLANK)[0] == "11"
    assert decode_ctc(probs_for(list("11")), ALPHABET, BLANK)[0] == "1"


def test_all_blank_is_empty() -> None:
    assert decode_ctc(probs_for(list("-----")), ALPHABET, BLANK) == ("", ())


def test_no_time_steps_is_empty() -> None:
    assert decode_ctc(np.zeros((0, BLANK + 1), np.float32), ALPHABET, BLANK) == ("", ())


def test_char_confidence_is_best_step_of_its_run() -> None:
    probs = probs_for(list("AA-"))
    probs[0, ALPHABET.index("A")] = 0.6
    text, confs = decode_ctc(probs, ALPHABET, BLANK)
    assert text == "A"
    assert confs == (np.float32(0.9),)
