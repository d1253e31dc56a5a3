"""Plate syntax: the CTC beam search under formats, forced alignment, and the formats' names and patterns."""

from __future__ import annotations

import numpy as np
import pytest

from edge_agent.device.vision import ctc
from edge_agent.device.vision.reader import OUT_OF_RANGE_CONFIDENCE, PlateReader
from edge_agent.errors import ConfigError
from edge_agent.protocol.formats import NAMED_FORMATS, class_masks, parse_formats

from .test_ctc_decode import ALPHABET, BLANK, probs_for


def steps(*columns: dict[str, float]) -> np.ndarray:
    """T x C probabilities from one {class: p} dict per step ('-' is the blank); the rest share what is left."""
    out = np.zeros((len(columns), BLANK + 1), np.float32)
    for t, col in enumerate(columns):
        rest = max(0.0, 1.0 - sum(col.values())) / (BLANK + 1 - len(col))
        out[t, :] = rest
        for ch, p in col.items():
            out[t, BLANK if ch == "-" else ALPHABET.index(ch)] = p
    return out


def plate(text: str, p: float = 0.95) -> list[dict[str, float]]:
    """Steps that spell `text` surely: a blank, then each character followed by a blank."""
    cols: list[dict[str, float]] = [{"-": p}]
    for ch in text:
        cols += [{ch: p}, {"-": p}]
    return cols


def test_beam_search_finds_the_greedy_text_of_a_sure_plate() -> None:
    probs = steps(*plate("ABC1234"))
    hyps = ctc.beam_search(probs, ALPHABET, BLANK)
    assert hyps[0].text == "ABC1234"
    assert hyps[0].probability > 0.5


def test_beam_search_sums_alignments_where_greedy_takes_one_path() -> None:
    # Each step alone prefers the blank, so the greedy path reads nothing; but "A" over both steps is likelier
    # (1 - 0.4 * 0.4 = 0.84 against 0.16 for nothing), and the beam search sums those paths.
    probs = steps({"A": 0.3, "-": 0.4}, {"A": 0.3, "-": 0.4})
    assert ctc.greedy(probs, ALPHABET, BLANK)[0] == ""
    assert ctc.beam_search(probs, ALPHABET, BLANK, lengths=(1, 10))[0].text == "A"


def test_a_format_turns_a_letter_into_the_digit_it_allows() -> None:
    # A Brazilian plate whose fourth character the model reads as Q (0.6) rather than 0 (0.35).
    cols = plate("ABC0123")
    cols[7] = {"Q": 0.6, "0": 0.35}
    probs = steps(*cols)
    assert ctc.greedy(probs, ALPHABET, BLANK)[0] == "ABCQ123"
    assert ctc.beam_search(probs, ALPHABET, BLANK, parse_formats(["br"]))[0].text == "ABC0123"


def test_o_and_zero_are_one_character_written_as_the_position_asks() -> None:
    # Bahia's plates start with O: the model, which cannot tell O from 0 on a plate, says "0" (0.5) over "O" (0.2)
    # and "D" (0.3). Each alone loses to D, but O and 0 are one character, and the position wants a letter.
    cols = plate("OKM0944")
    cols[1] = {"0": 0.5, "D": 0.3, "O": 0.15}
    cols[7] = {"O": 0.6, "0": 0.35}  # and a digit read as the letter
    reader = PlateReader(formats=["br"])
    read = reader.decode(steps(*cols))
    assert read.text == "OKM0944"
    assert read.char_confidences[0] == pytest.approx(0.65, abs=0.01)
    assert read.char_confidences[3] == pytest.approx(0.95, abs=0.01)
    path = reader.align(steps(*cols), "OKM0944")
    assert path is not None and path.confidence == pytest.approx(0.65, abs=0.01)


def test_mercosur_and_old_brazilian_plates_both_fit_br() -> None:
    for text in ("ABC1D23", "ABC1234"):
        probs = steps(*plate(text))
        assert ctc.beam_search(probs, ALPHABET, BLANK, parse_formats(["br"]))[0].text == text


def test_a_reading_that_fits_no_format_gives_no_hypothesis() -> None:
    probs = steps(*plate("AB12"))
    assert ctc.beam_search(probs, ALPHABET, BLANK, parse_formats(["br"])) == []
    assert ctc.beam_search(probs, ALPHABET, BLANK, parse_formats(["LLDD"]))[0].text == "AB12"


def test_a_text_must_fit_the_format_of_its_own_length() -> None:
    # "1234" starts the five-digit format and has the length of LLDD, but is a text of neither.
    probs = steps(*plate("1234"))
    assert ctc.beam_search(probs, ALPHABET, BLANK, ("LLDD", "DDDDD")) == []
    assert ctc.beam_search(probs, ALPHABET, BLANK, ("LLDD", "DDDD"))[0].text == "1234"


def test_lengths_bound_the_unconstrained_search() -> None:
    probs = steps(*plate("AB"))
    assert ctc.beam_search(probs, ALPHABET, BLANK, lengths=(3, 10)) == []
    assert ctc.beam_search(probs, ALPHABET, BLANK, lengths=(2, 10))[0].text == "AB"


def test_alignment_confidences_and_the_step_a_fragment_skips() -> None:
    probs = steps(*plate("AB12"))
    full = ctc.align(probs, "AB12", ALPHABET, BLANK)
    assert full is not None
    assert full.chars == pytest.approx((0.95,) * 4)
    assert full.confidence == pytest.approx(0.95)
    # Dropping the "1" the model saw: every kept character is still sure, but the path crosses the "1" step.
    fragment = ctc.align(probs, "AB2", ALPHABET, BLANK)
    assert fragment is not None
    assert min(fragment.chars) == pytest.approx(0.95)
    assert fragment.confidence < 0.01


def test_alignment_needs_room_and_known_characters() -> None:
    assert ctc.align(probs_for(list("A-A")), "AA", ALPHABET, BLANK) is not None
    assert ctc.align(probs_for(list("AA")), "AA", ALPHABET, BLANK) is None  # equal neighbours need a blank
    assert ctc.align(probs_for(list("AB")), "ABC", ALPHABET, BLANK) is None
    assert ctc.align(probs_for(list("A-")), "Ä", ALPHABET, BLANK) is None
    assert ctc.align(probs_for(list("A-")), "", ALPHABET, BLANK) is None


def test_format_names_and_patterns() -> None:
    assert parse_formats(["br"]) == ("LLLDDDD", "LLLDLDD")
    assert parse_formats(["BR", " br ", "LLLDLDD"]) == ("LLLDDDD", "LLLDLDD")
    assert parse_formats([]) == ()
    assert all(len(f) >= 4 for name in NAMED_FORMATS for f in NAMED_FORMATS[name])
    masks = class_masks("LDA", ALPHABET)
    assert masks.shape == (3, len(ALPHABET))
    # A letter position takes 0 and 1 as O and I (plates print them alike), no other digit.
    assert masks[0, ALPHABET.index("Q")] and masks[0, ALPHABET.index("0")] and not masks[0, ALPHABET.index("5")]
    assert masks[1, ALPHABET.index("0")] and not masks[1, ALPHABET.index("Q")]
    assert masks[2].all()


@pytest.mark.parametrize("bad", ["mercosul", "LLX", "L", "LLLLLLLLLLL", ""])
def test_bad_formats_are_refused_with_the_fix(bad: str) -> None:
    with pytest.raises(ValueError, match=r"unknown plate format .* e\.g\. LLLDLDD"):
        parse_formats([bad])
    with pytest.raises(ConfigError, match=r"^vision\.reader\.formats: unknown plate format"):
        PlateReader(formats=[bad])


def test_reader_caps_readings_that_are_no_plate() -> None:
    reader = PlateReader(formats=["br"])
    # Two characters: junk, whatever the formats. A Brazilian deployment refuses a seven-letter word.
    for probs in (steps(*plate("AB")), steps(*plate("SPORTXX"))):
        read = reader.decode(probs)
        assert read.confidence <= OUT_OF_RANGE_CONFIDENCE
    read = reader.decode(steps(*plate("ABC1D23")))
    assert read.text == "ABC1D23"
    assert read.confidence == pytest.approx(0.95)
    assert read.posteriors is not None
