"""Decoding the reader's CTC output: greedy, a prefix beam search under plate formats, and forced alignment.

The reader's model emits, for each of ``T`` time steps left to right, a probability for every character and for
the CTC blank. Three questions are asked of that ``T x C`` matrix:

- *greedy*: the most probable class per step, repeats merged and blanks dropped. Fast, and all the reader needs
  when no format constrains it and the model is sure.
- *beam search*: the most probable texts, summing every alignment of a text (prefix beam search), optionally
  restricted to plate formats (``edge_agent.protocol.formats``): a character is only appended where some format
  still consistent with the prefix allows its class, and a text only counts when its length completes a format.
  This is how a Brazilian camera reads ``ABC0123`` where the greedy path says ``ABCQ123``, and how a reading of
  two characters never becomes a plate.
- *alignment*: the best single path that spells a given text (Viterbi), giving each character's probability at
  its own steps. The tracker uses it to ask how strongly each frame of a pass supports each candidate text.

Confidences follow the reader's rule everywhere: a text is as sure as its least sure character.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edge_agent.protocol.formats import class_masks

# Characters whose probability at a step is below this are not tried there by the beam search (they cannot
# change which texts win, and skipping them keeps the search at a few hundred operations a crop).
PRUNE = 1e-3
BEAM_WIDTH = 8


@dataclass(frozen=True)
class Hypothesis:
    """One candidate text and its share of the beam's probability (all its alignments summed)."""

    text: str
    probability: float


def greedy(probs: np.ndarray, alphabet: str, blank: int) -> tuple[str, tuple[float, ...]]:
    """Best class per time step, repeats merged, blanks dropped; each character's confidence is its peak."""
    if probs.ndim != 2 or probs.shape[0] == 0:
        return "", ()
    best = probs.argmax(axis=1)
    best_p = probs[np.arange(len(best)), best]
    chars: list[str] = []
    confs: list[float] = []
    prev = -1
    for cls, p in zip(best.tolist(), best_p.tolist(), strict=True):
        if cls not in (prev, blank):
            chars.append(alphabet[cls])
            confs.append(float(p))
        elif cls == prev and cls != blank:
            confs[-1] = max(confs[-1], float(p))
        prev = cls
    return "".join(chars), tuple(confs)


@dataclass(frozen=True)
class Alignment:
    """The best path that spells a text: each character's peak probability, and the least sure step of all.

    A text that leaves out a character the model saw is spelt by a path that must cross that character's steps
    as blanks or repeats: its characters may all be sure, but `worst_step` is low, and so is `confidence`.
    """

    chars: tuple[float, ...]
    worst_step: float

    @property
    def confidence(self) -> float:
        """How sure the model is of exactly this text: its least sure character or step."""
        return min(min(self.chars, default=0.0), self.worst_step)


def align(probs: np.ndarray, text: str, alphabet: str, blank: int) -> Alignment | None:
    """The best path (Viterbi) that spells `text` in the ``T x C`` output; None if none fits.

    A text needs at least one step per character, plus one between equal neighbours; a character outside the
    alphabet cannot be spelt.
    """
    if not text or any(ch not in alphabet for ch in text):
        return None
    labels = [alphabet.index(ch) for ch in text]
    steps = probs.shape[0]
    states = [blank]
    for lab in labels:
        states += [lab, blank]
    n = len(states)
    logp = np.log(np.clip(probs[:, states], 1e-30, 1.0))
    # A state may be entered from itself, from the one before, or skip a blank between different characters.
    skip = np.zeros(n, dtype=bool)
    for s in range(2, n):
        skip[s] = states[s] != blank and states[s] != states[s - 2]
    score = np.full(n, -np.inf)
    score[0], score[1] = logp[0, 0], logp[0, 1]
    back = np.zeros((steps, n), dtype=np.int8)  # 0 stay, 1 from s-1, 2 from s-2
    for t in range(1, steps):
        stay = score
        step = np.concatenate(([-np.inf], score[:-1]))
        jump = np.where(skip, np.concatenate(([-np.inf, -np.inf], score[:-2])), -np.inf)
        moves = np.stack([stay, step, jump])
        back[t] = moves.argmax(axis=0)
        score = moves.max(axis=0) + logp[t]
    end = n - 1 if score[n - 1] >= score[n - 2] else n - 2
    if not np.isfinite(score[end]) or score[end] < -1e3:
        return None
    peaks = [0.0] * len(labels)
    worst = 1.0
    s = end
    for t in range(steps - 1, -1, -1):
        p = float(probs[t, states[s]])
        worst = min(worst, p)
        if states[s] != blank:
            k = (s - 1) // 2
            peaks[k] = max(peaks[k], p)
        s -= int(back[t, s])
    return Alignment(tuple(peaks), worst)


def beam_search(
    probs: np.ndarray,
    alphabet: str,
    blank: int,
    formats: Sequence[str] = (),
    lengths: tuple[int, int] = (1, 64),
    width: int = BEAM_WIDTH,
) -> list[Hypothesis]:
    """The most probable texts, best first, under the formats (patterns of L/D/A) or, without any, the lengths.

    Empty when no text fits. Probabilities are summed over alignments (prefix beam search); `align` gives a
    hypothesis' per-character confidences.
    """
    if probs.ndim != 2 or probs.shape[0] == 0:
        return []
    masks = [class_masks(fmt, alphabet) for fmt in formats]
    lo, hi = lengths
    max_len = max((len(f) for f in formats), default=hi)
    # Prefix -> (probability ending in blank, probability ending in its last character).
    beams: dict[tuple[int, ...], tuple[float, float]] = {(): (1.0, 0.0)}
    for t in range(probs.shape[0]):
        row = probs[t]
        candidates = [c for c in np.flatnonzero(row > PRUNE).tolist() if c != blank]
        nxt: dict[tuple[int, ...], list[float]] = {}
        for prefix, (pb, pnb) in beams.items():
            entry = nxt.setdefault(prefix, [0.0, 0.0])
            entry[0] += (pb + pnb) * float(row[blank])
            if prefix:
                entry[1] += pnb * float(row[prefix[-1]])
            if len(prefix) >= max_len:
                continue
            for c in candidates:
                if masks and not any(_fits(m, prefix, c) for m in masks):
                    continue
                ext = nxt.setdefault((*prefix, c), [0.0, 0.0])
                p = float(row[c])
                ext[1] += (pb if prefix and prefix[-1] == c else pb + pnb) * p
        ranked = sorted(nxt.items(), key=lambda kv: kv[1][0] + kv[1][1], reverse=True)[:width]
        total = sum(a + b for _, (a, b) in ranked) or 1.0
        # Renormalised per step so that long outputs never underflow; the ranking is unchanged.
        beams = {k: (a / total, b / total) for k, (a, b) in ranked}
    out = []
    for prefix, (pb, pnb) in beams.items():
        complete = any(_spells(m, prefix) for m in masks) if masks else lo <= len(prefix) <= hi
        if complete:
            out.append(Hypothesis("".join(alphabet[c] for c in prefix), pb + pnb))
    out.sort(key=lambda h: h.probability, reverse=True)
    return out


def _follows(mask: np.ndarray, labels: tuple[int, ...]) -> bool:
    """Whether `labels` start a text of the format (``len(mask) x C`` booleans, one row per position)."""
    return len(labels) <= len(mask) and all(mask[i, p] for i, p in enumerate(labels))


def _spells(mask: np.ndarray, prefix: tuple[int, ...]) -> bool:
    """Whether `prefix` is a whole text of the format (its length, and each position's class)."""
    return len(mask) == len(prefix) and _follows(mask, prefix)


def _fits(mask: np.ndarray, prefix: tuple[int, ...], c: int) -> bool:
    """Whether ``prefix + c`` starts a text of the format."""
    return _follows(mask, (*prefix, c))
