"""The scoring convention for plate readings, shared by tests, eval scripts and the model card.

Readings are compared as upper-case A-Z0-9 with separators removed, and with the letters that plates
themselves do not distinguish from digits folded on both sides (O -> 0, I -> 1). Exact-plate accuracy is the
share of plates read exactly; character accuracy is ``1 - sum(edit distance) / sum(truth length)``, each
plate's distance clipped to its truth length.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

_FOLD = str.maketrans({"O": "0", "I": "1"})


def normalise_plate(text: str) -> str:
    """Upper-case A-Z0-9 only, with O folded to 0 and I to 1."""
    return "".join(ch for ch in text.upper() if ch.isascii() and ch.isalnum()).translate(_FOLD)


def _levenshtein(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        cur = [i]
        for j, cb in enumerate(b, start=1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def char_errors(pred: str, truth: str) -> int:
    """Edit distance between the normalised prediction and truth, clipped to the truth's length."""
    p, t = normalise_plate(pred), normalise_plate(truth)
    return min(_levenshtein(p, t), len(t))


@dataclass(frozen=True)
class Score:
    """Aggregate accuracy over a set of plates."""

    plates: int
    exact: int
    chars: int
    char_errors: int

    @property
    def exact_accuracy(self) -> float:
        """Share of plates read exactly (0 when empty)."""
        return self.exact / self.plates if self.plates else 0.0

    @property
    def char_accuracy(self) -> float:
        """1 - character errors / truth characters (0 when empty)."""
        return 1.0 - self.char_errors / self.chars if self.chars else 0.0


def score(pairs: Iterable[tuple[str, str]]) -> Score:
    """Score ``(prediction, truth)`` pairs under the convention above."""
    plates = exact = chars = errors = 0
    for pred, truth in pairs:
        plates += 1
        exact += normalise_plate(pred) == normalise_plate(truth)
        chars += len(normalise_plate(truth))
        errors += char_errors(pred, truth)
    return Score(plates=plates, exact=exact, chars=chars, char_errors=errors)
