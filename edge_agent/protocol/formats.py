"""Plate syntax: the formats a deployment's plates follow, and decoding the reader's output under them.

A format is a pattern of per-position character classes: ``L`` a letter, ``D`` a digit, ``A`` either (so
``LLLDLDD`` is a Mercosur plate). ``vision.reader.formats`` names formats (``br``, ``nl``, ...) or gives patterns;
empty (the default) means any plate of the contract's lengths, which works everywhere.

Decoding under formats is the CTC beam search's job (``edge_agent.device.vision.ctc.beam_search``): it only spells texts
that some format allows, so a Brazilian reader that sees ``ABCQ123`` where only a digit may stand reads
``ABC0123``, and a crop whose output fits no format gives no reading at all.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

# Named formats (patterns of L letter, D digit, A any), from the countries' published plate layouts.
NAMED_FORMATS: dict[str, tuple[str, ...]] = {
    "br": ("LLLDDDD", "LLLDLDD"),  # old grey plates, Mercosur
    "ar": ("LLLDDD", "LLDDDLL"),  # 1995 series, Mercosur
    "nl": (  # Dutch sidecodes 1-11 (separators dropped)
        "LLDDDD",
        "DDDDLL",
        "DDLLDD",
        "LLDDLL",
        "LLLLDD",
        "DDLLLL",
        "DDLLLD",
        "DLLLDD",
        "LLDDDL",
        "LDDDLL",
        "LLLDDL",
        "DLLDDD",
        "DDDLLD",
    ),
    "uk": ("LLDDLLL",),  # current GB format
    "us": ("AAAA", "AAAAA", "AAAAAA", "AAAAAAA", "AAAAAAAA"),  # states differ too much for more than the length
}
PATTERN = re.compile(r"^[LDA]{2,10}$")
# Letters that plates print like digits.
TWINS = {"O": "0", "I": "1"}
_FOLD = str.maketrans(TWINS)
_UNFOLD = {digit: letter for letter, digit in TWINS.items()}


def parse_formats(values: Sequence[str]) -> tuple[str, ...]:
    """Expand names and check patterns; ValueError says which value is wrong and what is allowed."""
    out: list[str] = []
    for value in values:
        v = value.strip()
        if v.lower() in NAMED_FORMATS:
            out += NAMED_FORMATS[v.lower()]
        elif PATTERN.match(v):
            out.append(v)
        else:
            raise ValueError(
                f"unknown plate format {value!r}: use one of {', '.join(sorted(NAMED_FORMATS))} or a pattern of "
                "2-10 letters L (letter), D (digit), A (either), e.g. LLLDLDD"
            )
    return tuple(dict.fromkeys(out))


def fold(probs: np.ndarray, alphabet: str) -> np.ndarray:
    """The reader's output with each letter's probability added to its digit twin (O to 0, I to 1).

    Plates print O and 0, I and 1 alike, and readings are compared with them folded; a reader that sees "O" where
    a format wants a digit is right, and one that sees "0" where it wants a letter is right too. Decoding under
    formats works on folded output, and `canonical` writes the twin the position calls for.
    """
    out = np.array(probs, dtype=np.float32, copy=True)
    for letter, digit in TWINS.items():
        if letter in alphabet and digit in alphabet:
            li, di = alphabet.index(letter), alphabet.index(digit)
            out[:, di] += out[:, li]
            out[:, li] = 0.0
    return out


def fold_text(text: str) -> str:
    """`text` with O written 0 and I written 1 (the form `fold` decodes to)."""
    return text.translate(_FOLD)


def canonical(text: str, formats: Sequence[str]) -> str:
    """A folded reading written as its format spells it: O and I where the first format it fits wants letters."""
    for fmt in formats:
        if len(fmt) == len(text) and all(_allows(cls, ch) for cls, ch in zip(fmt, text, strict=True)):
            return "".join(_UNFOLD.get(ch, ch) if cls == "L" else ch for cls, ch in zip(fmt, text, strict=True))
    return text


def _allows(cls: str, ch: str) -> bool:
    """Whether a position of class `cls` takes character `ch` of folded output (a letter position takes 0 and 1
    too, as O and I). The one definition of the classes: `canonical` and `class_masks` both ask it."""
    if cls == "L":
        return ch.isalpha() or ch in _UNFOLD
    if cls == "D":
        return ch.isdigit()
    return True


def class_masks(fmt: str, alphabet: str) -> np.ndarray:
    """``len(fmt) x len(alphabet)`` booleans: which characters each position of a format allows (`_allows`)."""
    if not fmt:
        return np.zeros((0, len(alphabet)), dtype=bool)
    return np.array([[_allows(cls, ch) for ch in alphabet] for cls in fmt])
