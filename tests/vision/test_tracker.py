"""The tracker: one read per vehicle pass, two cars are two reads, stop-and-go is one, text voting."""

from __future__ import annotations

import numpy as np
import pytest

from edge_agent.config import MotionConfig, TrackerConfig
from edge_agent.device.capture.base import Frame
from edge_agent.device.vision.detector import Detection
from edge_agent.device.vision.masks import Masker
from edge_agent.device.vision.motion import MotionGate
from edge_agent.device.vision.pipeline import VisionPipeline
from edge_agent.device.vision.reader import TextRead
from edge_agent.device.vision.tracker import Observation, Tracker, direction_of, iou, text_similarity, vote

FPS = 15.0


def obs(
    x: float, y: float, text: str, conf: float = 0.9, w: float = 120, h: float = 40, det: float = 0.9
) -> Observation:
    return Observation(box=(x, y, w, h), det_conf=det, text=text, text_conf=conf, char_confs=(conf,) * len(text))


def run(tracker: Tracker, frames: list[list[Observation]], t0: float = 0.0) -> list[str]:
    texts = []
    for i, observations in enumerate(frames):
        t = t0 + i / FPS
        texts += [f.text for f in tracker.update(t, 1000 + t, observations)]
    return texts + [f.text for f in tracker.flush()]


def test_one_car_crossing_is_one_read() -> None:
    frames = [[obs(100 + 20 * i, 300 + 5 * i, "ABC1234")] for i in range(30)]
    assert run(Tracker(TrackerConfig()), frames) == ["ABC1234"]


def test_two_cars_at_once_are_two_reads() -> None:
    frames = [[obs(100 + 15 * i, 300, "ABC1234"), obs(900 - 15 * i, 320, "XYZ987")] for i in range(25)]
    assert sorted(run(Tracker(TrackerConfig()), frames)) == ["ABC1234", "XYZ987"]


def test_crossing_cars_keep_their_identity() -> None:
    # two plates pass each other; text similarity keeps each read whole
    frames = [[obs(100 + 30 * i, 300, "LEFT111"), obs(1000 - 30 * i, 305, "RIGHT22")] for i in range(32)]
    assert sorted(run(Tracker(TrackerConfig()), frames)) == ["LEFT111", "RIGHT22"]


def test_stop_and_go_is_one_read() -> None:
    moving_in = [[obs(100 + 20 * i, 300, "STOP123")] for i in range(15)]
    stopped = [[obs(400, 300, "STOP123")] for _ in range(60)]  # 4 s standing still
    moving_out = [[obs(400 + 20 * i, 300, "STOP123")] for i in range(15)]
    assert run(Tracker(TrackerConfig()), moving_in + stopped + moving_out) == ["STOP123"]


def test_same_car_again_after_a_long_gap_is_a_new_pass() -> None:
    first = [[obs(100 + 20 * i, 300, "AGAIN12")] for i in range(10)]
    gap: list[list[Observation]] = [[] for _ in range(60)]
    assert run(Tracker(TrackerConfig(max_gap=1.0)), first + gap + first) == ["AGAIN12", "AGAIN12"]


def test_character_votes_repair_single_frame_errors() -> None:
    texts = ["ABC1234", "A8C1234", "ABC1Z34", "ABC1234", "ABCI234", "ABC1234"]
    frames = [[obs(100 + 10 * i, 300, t)] for i, t in enumerate(texts)]
    assert run(Tracker(TrackerConfig()), frames) == ["ABC1234"]


def test_a_single_glimpse_or_low_confidence_is_not_a_read() -> None:
    tracker = Tracker(TrackerConfig(min_frames=2, min_confidence=0.5))
    assert run(tracker, [[obs(100, 300, "ONCE123")]]) == []
    assert run(tracker, [[obs(100 + 10 * i, 300, "WEAK123", conf=0.2)] for i in range(10)]) == []
    assert tracker.suppressed == 2


def test_a_pass_of_weak_detections_only_is_not_reported() -> None:
    # Lettering on a car ("SPORT") scores just above the detector's threshold frame after frame, and reads well.
    badge = [[obs(100 + 10 * i, 300, "SPORT", det=0.35)] for i in range(12)]
    tracker = Tracker(TrackerConfig(), confirm=0.45)
    assert run(tracker, badge) == []
    assert tracker.suppressed == 1
    # A real plate may be weak on most frames: one sure detection confirms the whole pass.
    plate = [[obs(100 + 10 * i, 300, "ABC1234", det=0.6 if i == 7 else 0.35)] for i in range(12)]
    assert run(Tracker(TrackerConfig(), confirm=0.45), plate) == ["ABC1234"]
    # The config overrides the detector's value; 0 turns the check off.
    assert run(Tracker(TrackerConfig(confirm_confidence=0), confirm=0.45), badge) == ["SPORT"]


def test_long_stay_is_emitted_once() -> None:
    cfg = TrackerConfig(max_duration=2.0)
    parked = [[obs(400, 300, "PARKED1")] for _ in range(int(FPS * 10))]
    assert run(Tracker(cfg), parked) == ["PARKED1"]


def test_vote_and_helpers() -> None:
    assert vote([]) == ("", 0.0)
    text, conf = vote([("ABC123", 0.9, ()), ("ABC123", 0.9, ()), ("ABC12", 0.3, ())])
    assert text == "ABC123" and 0.6 < conf < 0.9
    assert iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(1 / 3)
    assert text_similarity("ABC123", "ABC123") == 1.0 and text_similarity("", "A") == 0.0
    assert direction_of((0, 0, 50, 20), (0, 0, 100, 40)) == "approaching"
    assert direction_of((0, 0, 100, 40), (0, 0, 50, 20)) == "receding"
    assert direction_of((0, 0, 100, 40), (500, 0, 100, 40)) == "right"


def test_plate_text_never_in_repr() -> None:
    tracker = Tracker(TrackerConfig())
    (finished,) = run_finished(tracker)
    assert "SECRET9" not in repr(finished)


def run_finished(tracker: Tracker) -> list:  # type: ignore[type-arg]
    for i in range(5):
        tracker.update(i / FPS, i / FPS, [obs(100 + 10 * i, 300, "SECRET9")])
    return tracker.flush()


def test_privacy_zone_blanks_pixels_and_filters_boxes() -> None:
    masker = Masker(
        [[(0.0, 0.0), (0.5, 0.0), (0.5, 0.5), (0.0, 0.5)]], detection_zone=[(0.0, 0.5), (1, 0.5), (1, 1), (0, 1)]
    )
    image = np.full((100, 200, 3), 255, np.uint8)
    masker.blank(image)
    assert image[10, 10].tolist() == [0, 0, 0] and image[90, 190].tolist() == [255, 255, 255]
    assert masker.overlaps_privacy((10, 10, 20, 10), 200, 100)
    assert not masker.in_detection_zone((10, 10, 20, 10), 200, 100)
    assert masker.in_detection_zone((100, 70, 20, 10), 200, 100)
    assert masker.roi(200, 100) == (0, 50, 201, 51)


def test_motion_gate_skips_still_frames_but_forces_checks() -> None:
    gate = MotionGate(MotionConfig(force_every=1.0))
    still = np.full((120, 160, 3), 100, np.uint8)
    decisions = [gate.should_detect(still, i / FPS) for i in range(30)]
    assert decisions[0]  # first frame
    assert sum(decisions) == 2  # the first, and one forced check a second later
    moved = still.copy()
    moved[40:80, 40:120] = 200
    assert gate.should_detect(moved, 2.5)
    assert gate.should_detect(moved, 2.6, tracking=True)  # a tracked plate keeps the detector running


def test_a_track_settles_once_its_last_reads_agree() -> None:
    tracker = Tracker(TrackerConfig(settle_reads=3))
    texts = ["ABC1234", "A8C1234", "ABC1234", "ABC1234", "ABC1234"]
    settled = []
    for i, text in enumerate(texts):
        tracker.update(i / FPS, 1000.0, [obs(100 + 10 * i, 300, text)])
        settled.append(tracker.settled)
    assert settled == [False, False, False, False, True]
    # a second plate that has not been read yet unsettles the camera: every frame is analysed again
    tracker.update(5 / FPS, 1000.0, [obs(150, 300, "ABC1234"), obs(900, 500, "")])
    assert not tracker.settled
    # never settled with the feature off, nor on reads below min_confidence
    off = Tracker(TrackerConfig(settle_reads=0))
    weak = Tracker(TrackerConfig(settle_reads=2, min_confidence=0.8))
    for i in range(5):
        off.update(i / FPS, 1000.0, [obs(100 + 10 * i, 300, "ABC1234")])
        weak.update(i / FPS, 1000.0, [obs(100 + 10 * i, 300, "ABC1234", conf=0.7)])
    assert not off.settled and not weak.settled


def test_settled_interval_must_stay_below_max_gap() -> None:
    with pytest.raises(ValueError, match="settled_interval"):
        TrackerConfig(settled_interval=1.0, max_gap=1.0)


class _OnePlate:
    """Stand-ins for the models: one plate moving right, always read the same."""

    threshold = 0.6
    confirm_confidence = 0.5

    def __init__(self) -> None:
        self.calls = 0

    def detect(self, image: np.ndarray, roi: object = None) -> list[Detection]:
        self.calls += 1
        return [Detection((100.0 + 4 * self.calls, 300.0, 120.0, 40.0), 0.9)]

    def read(self, crop: np.ndarray) -> TextRead:
        return TextRead("ABC1234", 0.95, (0.95,) * 7)

    def posteriors(self, crop: np.ndarray) -> np.ndarray:
        return np.zeros((1, 1))

    def quick(self, probs: np.ndarray) -> TextRead:
        return TextRead("ABC1234", 0.95, (0.95,) * 7, probs)

    def decode(self, probs: np.ndarray) -> TextRead:
        return TextRead("ABC1234", 0.95, (0.95,) * 7)  # no posteriors: the tracker votes on the text

    def align(self, probs: np.ndarray, text: str) -> None:
        return None


@pytest.mark.parametrize(("interval", "analysed"), [(0.0, 60), (0.3, 22)])
def test_pipeline_analyses_settled_plates_at_the_settled_interval(interval: float, analysed: int) -> None:
    models = _OnePlate()
    pipeline = VisionPipeline(
        models,  # type: ignore[arg-type]
        models,  # type: ignore[arg-type]
        motion=MotionConfig(enabled=False),
        tracker=TrackerConfig(settle_reads=3, settled_interval=interval),
    )
    image = np.zeros((540, 960, 3), np.uint8)
    reads = []
    for i in range(60):  # 6 s at 10 fps
        reads += pipeline.process(Frame(image, 1000.0 + i / 10, i / 10, i))
    reads += pipeline.flush()
    assert [r.text for r in reads] == ["ABC1234"]
    # 3 frames to settle, then one frame in every three (0.3 s at 10 fps)
    assert pipeline.analysed == models.calls == pytest.approx(analysed, abs=1)
    assert pipeline.analysed + pipeline.strided == 60


def test_repeated_frames_do_not_stall_the_motion_model() -> None:
    # A camera whose frame rate drops repeats frames: the plate stands still on the copies, then jumps. Copies say
    # nothing about speed, so the prediction keeps up and the pass stays one track, even while it is unread.
    frames = []
    for k in range(40):  # 15 fps, 300 px/s; from frame 10 the picture changes only every 5th frame
        shown = k if k < 10 else 5 * (k // 5)
        frames.append([obs(100 + 20 * shown, 300, "")])
    tracker = Tracker(TrackerConfig())
    seen: set[int] = set()
    for i, observations in enumerate(frames):
        tracker.update(i / FPS, 1000.0, observations)
        seen |= {t.id for t in tracker.tracks}
    assert len(seen) == 1


def test_a_car_braking_hard_to_a_standstill_stays_one_pass() -> None:
    # fast, then standing still on identical boxes for 3 s: the stale speed must not push the prediction away
    moving = [[obs(100 + 60 * i, 300, "")] for i in range(8)]
    stopped = [[obs(100 + 60 * 8, 300, "")] for _ in range(45)]
    tracker = Tracker(TrackerConfig())
    seen: set[int] = set()
    for i, observations in enumerate(moving + stopped):
        tracker.update(i / FPS, 1000.0, observations)
        seen |= {t.id for t in tracker.tracks}
    assert len(seen) == 1


class _MoveTo:
    """A refiner stand-in that puts every box at one place."""

    def __init__(self, box: tuple[float, float, float, float]) -> None:
        self.box = box

    def refine(self, image: np.ndarray, box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        return self.box


def test_the_refined_box_is_reported_and_the_zones_are_checked_on_it() -> None:
    models = _OnePlate()
    image = np.zeros((540, 960, 3), np.uint8)
    inside = (500.0, 300.0, 100.0, 35.0)
    refined = VisionPipeline(models, models, refiner=_MoveTo(inside))  # type: ignore[arg-type]
    (sighting,) = refined.sightings(image)
    assert sighting.detection.box == inside and sighting.text == "ABC1234"
    assert len(refined.times["refine"]) == 1
    # A privacy zone over the right half: the detector's box (x 104-224) is outside it, the refined box is not.
    right_half = Masker([[[0.5, 0.0], [1.0, 0.0], [1.0, 1.0], [0.5, 1.0]]])
    private = VisionPipeline(models, models, masker=right_half, refiner=_MoveTo(inside))  # type: ignore[arg-type]
    assert private.sightings(image) == []
    assert len(VisionPipeline(models, models, masker=right_half).sightings(image)) == 1  # type: ignore[arg-type]
