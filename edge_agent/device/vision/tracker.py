"""One read per vehicle pass: associate plate detections across frames and vote their text.

Association is by box overlap with each track's constant-velocity prediction (or with its last box, for a car
that has just stopped); a frame that repeats the last box exactly (a camera dropping its frame rate repeats
frames) counts as a sighting but not as a speed measurement. When overlap alone is ambiguous
(two plates close together) or absent (a fast car at a low frame rate), text similarity decides. A track ends
when its plate has not been seen for `max_gap` seconds of stream time; it is then emitted once, with the text
fused over its frames (``fusion.fuse``: every frame is asked how strongly it supports every candidate text, so a
pass whose frames each read a different fragment still yields its plate), provided the
detector was sure of the plate (`confirm` or more) on at least one frame: detections down to the detector's own
threshold extend a pass, but a pass made only of weak ones (a badge, lettering on a van) is not reported. A car that
stops keeps its track (the caller keeps running the detector while tracks are active), so stopping and going on
is one read. A track longer than `max_duration` is emitted once and then followed silently to its end.

A track whose last `settle_reads` reads agree is settled: more frames would only confirm what is known. While
every track is settled, the caller analyses a frame only every `settled_interval` seconds (enough to follow the
plates and to notice a new one), which is where most of a busy street's compute goes otherwise.
"""

from __future__ import annotations

import collections
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from edge_agent.config import TrackerConfig
from edge_agent.device.vision.fusion import Aligner, FrameRead, crop_weight, fuse

Box = tuple[float, float, float, float]
MAX_OBSERVATIONS = 600


@dataclass(frozen=True)
class Observation:
    """A plate seen on one frame: where, how sure the detector was, what the reader read."""

    box: Box
    det_conf: float
    text: str
    text_conf: float
    char_confs: tuple[float, ...] = ()
    crop: np.ndarray | None = field(default=None, compare=False, repr=False)
    # The reader's output for this frame and its runner-up texts (see fusion.py); absent, the track votes.
    posteriors: np.ndarray | None = field(default=None, compare=False, repr=False)
    alternatives: tuple[str, ...] = field(default=(), compare=False, repr=False)


@dataclass(frozen=True)
class FinishedTrack:
    """The result of one vehicle pass, ready to become a PlateRead."""

    track_id: int
    text: str
    confidence: float
    first_ts: float
    last_ts: float
    frames: int
    direction: str
    box: Box
    crop: np.ndarray | None = field(default=None, compare=False, repr=False)

    def __repr__(self) -> str:  # never show plate text in logs
        return f"FinishedTrack(id={self.track_id}, frames={self.frames}, confidence={self.confidence:.2f})"


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ax2, ay2, bx2, by2 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0.0, min(ax2, bx2) - max(a[0], b[0]))
    ih = max(0.0, min(ay2, by2) - max(a[1], b[1]))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def text_similarity(a: str, b: str) -> float:
    """1 - normalised Levenshtein distance; 0 when either text is empty."""
    if not a or not b:
        return 0.0
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return 1.0 - previous[-1] / max(len(a), len(b))


class Track:
    """Everything known about one plate while it is in view."""

    _ids = itertools.count(1)

    def __init__(self, media_s: float, ts: float, obs: Observation) -> None:
        self.id = next(Track._ids)
        self.first_media = self.last_media = media_s
        self.moved_media = media_s  # when the box last changed: a repeated frame is a sighting, not a measurement
        self.first_ts = self.last_ts = ts
        self.first_box = self.box = obs.box
        self.velocity = (0.0, 0.0)
        self.hits = 0
        self.emitted = False
        self.reads: collections.deque[tuple[str, float, tuple[float, ...]]] = collections.deque(maxlen=MAX_OBSERVATIONS)
        self.frames: collections.deque[FrameRead] = collections.deque(maxlen=MAX_OBSERVATIONS)
        self.best_score = -1.0
        self.best_det = 0.0
        self.best_box: Box = obs.box
        self.best_crop: np.ndarray | None = None
        self.settled = False
        self.add(media_s, ts, obs)

    def predict(self, media_s: float) -> Box:
        """Where the plate should be now, if it kept its speed."""
        dt = min(media_s - self.moved_media, 1.0)
        x, y, w, h = self.box
        return (x + self.velocity[0] * dt, y + self.velocity[1] * dt, w, h)

    def add(self, media_s: float, ts: float, obs: Observation) -> None:
        """Extend the track with an observation."""
        dt = media_s - self.moved_media
        if dt > 0 and obs.box != self.box:
            vx = ((obs.box[0] + obs.box[2] / 2) - (self.box[0] + self.box[2] / 2)) / dt
            vy = ((obs.box[1] + obs.box[3] / 2) - (self.box[1] + self.box[3] / 2)) / dt
            self.velocity = (0.5 * self.velocity[0] + 0.5 * vx, 0.5 * self.velocity[1] + 0.5 * vy)
            self.moved_media = media_s
        self.box = obs.box
        self.last_media, self.last_ts = media_s, ts
        self.hits += 1
        self.best_det = max(self.best_det, obs.det_conf)
        if obs.text:
            self.reads.append((obs.text, obs.text_conf, obs.char_confs))
            if obs.posteriors is not None:
                weight = crop_weight(obs.det_conf, obs.box[2])
                self.frames.append(FrameRead(obs.text, obs.text_conf, obs.posteriors, weight, obs.alternatives))
            score = obs.text_conf * obs.det_conf
            if score > self.best_score:
                self.best_score, self.best_box, self.best_crop = score, obs.box, obs.crop

    def update_settled(self, reads_needed: int, min_confidence: float) -> None:
        """Settled: the last `reads_needed` reads agree on the text, each at least `min_confidence`."""
        if reads_needed <= 0 or len(self.reads) < reads_needed:
            self.settled = False
            return
        last = list(itertools.islice(reversed(self.reads), reads_needed))
        self.settled = all(t == last[0][0] and c >= min_confidence for t, c, _ in last)

    @property
    def text_hint(self) -> str:
        """The most recent text read, for association."""
        return self.reads[-1][0] if self.reads else ""


def vote(reads: Sequence[tuple[str, float, tuple[float, ...]]]) -> tuple[str, float]:
    """Consensus text and confidence over a track's reads.

    The length with the most confidence-weighted support wins; within it each position is voted by per-character
    confidence. Confidence = agreement of the winning length x mean agreement per position x mean read confidence.
    """
    if not reads:
        return "", 0.0
    by_length: dict[int, list[tuple[str, float, tuple[float, ...]]]] = collections.defaultdict(list)
    for read in reads:
        by_length[len(read[0])].append(read)
    total = sum(conf for _, conf, _ in reads) or 1e-9
    length, group = max(by_length.items(), key=lambda kv: sum(conf for _, conf, _ in kv[1]))
    length_agreement = sum(conf for _, conf, _ in group) / total
    chars = []
    agreements = []
    for pos in range(length):
        weights: dict[str, float] = collections.defaultdict(float)
        for text, conf, char_confs in group:
            weights[text[pos]] += char_confs[pos] if len(char_confs) == len(text) else conf
        winner, weight = max(weights.items(), key=lambda kv: kv[1])
        chars.append(winner)
        agreements.append(weight / (sum(weights.values()) or 1e-9))
    text = "".join(chars)
    matching = [conf for t, conf, _ in group if t == text] or [conf for _, conf, _ in group]
    confidence = length_agreement * float(np.mean(agreements)) * float(np.mean(matching))
    return text, confidence


def direction_of(first: Box, last: Box) -> str:
    """approaching / receding from the change in plate size or vertical travel, else left / right, else unknown."""
    growth = (last[2] * last[3]) / max(first[2] * first[3], 1e-6)
    if growth > 1.25:
        return "approaching"
    if growth < 0.8:
        return "receding"
    dx = (last[0] + last[2] / 2) - (first[0] + first[2] / 2)
    dy = (last[1] + last[3] / 2) - (first[1] + first[3] / 2)
    # A plate clipped by the frame edge as it leaves hides its growth; a camera mounted above the road still sees
    # an approaching car move down the picture and a receding one move up.
    if abs(dy) > abs(dx) and abs(dy) > 2 * max(first[3], last[3]):
        return "approaching" if dy > 0 else "receding"
    if abs(dx) > max(first[2], last[2]):
        return "right" if dx > 0 else "left"
    return "unknown"


class Tracker:
    """Per-camera tracker; `update()` once per analysed frame (with or without observations)."""

    def __init__(self, cfg: TrackerConfig, confirm: float = 0.0, align: Aligner | None = None) -> None:
        self.cfg = cfg
        self.align = align
        self.confirm = confirm if cfg.confirm_confidence is None else cfg.confirm_confidence
        self.tracks: list[Track] = []
        self.suppressed = 0

    @property
    def active(self) -> bool:
        """True while any plate is being followed."""
        return bool(self.tracks)

    @property
    def settled(self) -> bool:
        """True while plates are followed and every one of them has a settled text (see `settled_interval`)."""
        return bool(self.tracks) and all(t.settled or t.emitted for t in self.tracks)

    def update(self, media_s: float, ts: float, observations: Sequence[Observation]) -> list[FinishedTrack]:
        """Associate this frame's observations; returns the tracks that finished."""
        self._associate(media_s, ts, observations)
        finished: list[FinishedTrack] = []
        keep: list[Track] = []
        for track in self.tracks:
            if media_s - track.last_media > self.cfg.max_gap:
                result = self._finish(track)
                if result is not None:
                    finished.append(result)
                continue
            if not track.emitted and track.last_media - track.first_media > self.cfg.max_duration:
                result = self._finish(track)
                track.emitted = True
                if result is not None:
                    finished.append(result)
            keep.append(track)
        self.tracks = keep
        return finished

    def flush(self) -> list[FinishedTrack]:
        """End every track (end of stream, shutdown)."""
        finished = [r for r in (self._finish(t) for t in self.tracks) if r is not None]
        self.tracks = []
        return finished

    def _associate(self, media_s: float, ts: float, observations: Sequence[Observation]) -> None:
        pairs: list[tuple[float, int, int]] = []
        for ti, track in enumerate(self.tracks):
            predicted = track.predict(media_s)
            for oi, obs in enumerate(observations):
                # Where the plate should be if it kept its speed, or where it was if it has just stopped.
                overlap = max(iou(predicted, obs.box), iou(track.box, obs.box))
                similar = text_similarity(track.text_hint, obs.text)
                if overlap >= self.cfg.iou_match:
                    pairs.append((overlap + 0.2 * similar, ti, oi))
                elif similar >= 0.8 and self._near(predicted, obs.box):
                    pairs.append((0.5 * similar, ti, oi))
        used_t: set[int] = set()
        used_o: set[int] = set()
        for _, ti, oi in sorted(pairs, reverse=True):
            if ti in used_t or oi in used_o:
                continue
            used_t.add(ti)
            used_o.add(oi)
            self.tracks[ti].add(media_s, ts, observations[oi])
        for oi, obs in enumerate(observations):
            if oi not in used_o:
                self.tracks.append(Track(media_s, ts, obs))
        for track in self.tracks:
            track.update_settled(self.cfg.settle_reads, self.cfg.min_confidence)

    @staticmethod
    def _near(a: Box, b: Box) -> bool:
        """Centres within three plate widths: a fast plate seen at a low frame rate."""
        dx = (a[0] + a[2] / 2) - (b[0] + b[2] / 2)
        dy = (a[1] + a[3] / 2) - (b[1] + b[3] / 2)
        return bool((dx * dx + dy * dy) ** 0.5 <= 3 * max(a[2], b[2]))

    def _finish(self, track: Track) -> FinishedTrack | None:
        if track.emitted:
            return None
        if self.align is not None and track.frames and len(track.frames) == len(track.reads):
            text, confidence, _ = fuse(track.frames, self.align)
        else:
            text, confidence = vote(track.reads)
        weak = track.best_det < self.confirm
        if len(track.reads) < self.cfg.min_frames or not text or confidence < self.cfg.min_confidence or weak:
            self.suppressed += 1
            return None
        return FinishedTrack(
            track_id=track.id,
            text=text,
            confidence=confidence,
            first_ts=track.first_ts,
            last_ts=track.last_ts,
            frames=len(track.reads),
            direction=direction_of(track.first_box, track.box),
            box=track.best_box,
            crop=track.best_crop,
        )
