"""The scoring convention: A-Z0-9, separators removed, O->0 and I->1 folded on both sides."""

from __future__ import annotations

from edge_agent.device.vision.scoring import char_errors, normalise_plate, score


def test_normalise_removes_separators_and_folds() -> None:
    assert normalise_plate("abc-123") == "ABC123"
    assert normalise_plate("OI 10·x") == "01" + "10X"
    assert normalise_plate(" ") == ""


def test_folded_letters_match_digits() -> None:
    assert char_errors("M00SE", "MOOSE") == 0
    assert char_errors("1T10294", "IT 10294") == 0


def test_char_errors_is_levenshtein_clipped_to_truth() -> None:
    assert char_errors("ABC124", "ABC123") == 1
    assert char_errors("AB123", "ABC123") == 1
    assert char_errors("XXXXXXXXXXXX", "AB") == 2
    assert char_errors("", "ABC") == 3


def test_aggregate() -> None:
    s = score([("ABC123", "ABC-123"), ("ABC12", "ABC123"), ("", "XY")])
    assert s.plates == 3
    assert s.exact == 1
    assert s.chars == 14
    assert s.char_errors == 3
    assert abs(s.exact_accuracy - 1 / 3) < 1e-9
    assert abs(s.char_accuracy - (1 - 3 / 14)) < 1e-9


def test_empty_aggregate_is_zero() -> None:
    s = score([])
    assert s.exact_accuracy == 0.0
    assert s.char_accuracy == 0.0
