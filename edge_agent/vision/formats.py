"""Plate syntax: the formats a deployment's plates follow, and decoding the reader's output under them.

A format is a pattern of per-position character classes: ``L`` a letter, ``D`` a digit, ``A`` either (so
``LLLDLDD`` is a Mercosur plate). ``vision.reader.formats`` names formats (``br``, ``nl``, ...) or gives patterns;
empty (the default) means any plate of the contract's lengths, which works everywhere.

Decoding under formats is the CTC beam search's job (``edge_agent.vision.ctc.beam_search``): it only spells texts
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


def class_masks(fmt: str, alphabet: str) -> np.ndarray:
    """``len(fmt) x len(alphabet)`` booleans: which characters each position of a format allows."""
    letters = np.array([ch.isalpha() for ch in alphabet])
    digits = np.array([ch.isdigit() for ch in alphabet])
    rows = {"L": letters, "D": digits, "A": letters | digits}
    return np.stack([rows[cls] for cls in fmt]) if fmt else np.zeros((0, len(alphabet)), dtype=bool)
