"""Render the replay fixtures under tests/fixtures/video/: short street videos with exact ground truth.

Each scenario is a few seconds of a fixed camera looking along a street; drawn vehicles (``synth.scenes``) carry a
US-style plate from the synthetic renderer (``synth.plates``) and drive through on scripted paths. The plates are
meant to be easy for a person: upright clean faces, no pictogram between the groups, dark ink on a light ground,
characters without look-alikes, a roll under 2 degrees, about 95-140 px wide in a 960x540 picture.

Next to every video a JSON file records what a correct device must report and the camera settings to use:

    {"video": "day_single.mp4", "fps": 10, "resolution": [960, 540], "duration_s": 6.0, "frames": 60,
     "camera": {"fps": 10, "resolution": [960, 540], "privacy_zones": [[[x, y], ...], ...]},
     "plates": [{"text": "CFJ3979", "enter_s": 0.2, "exit_s": 4.3, "direction": "approaching",
                 "private": false}, ...],
     "corrupt_frames": [...], "fps_drop": [from_s, to_s, n] or null, "notes": "..."}

``enter_s``/``exit_s`` are the first and last frame times at which the whole plate is inside the picture;
``private`` plates stay inside a privacy zone for their whole pass and must never be read. ``direction`` uses
the tracker's vocabulary (approaching / receding / left / right).

Everything is seeded: the same command writes the same files (byte for byte with the same OpenCV build).
Rendering needs pillow and the plate fonts (``scripts/setup --train``); CI only replays the committed files.

    .venv/bin/python scripts/make_fixtures.py                 # all fixtures
    .venv/bin/python scripts/make_fixtures.py rain fps_drop   # some of them
    .venv/bin/python scripts/make_fixtures.py --list
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from training.synth import fonts, plates
from training.synth.plates import render_plate
from training.synth.scenes import Vehicle, draw_vehicle, place_vehicle

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "video"

# Plate faces a person would call clean: upright, regular-width grotesques (no italics, stencils or display faces).
CLEAN_FONTS = (
    "OSP-DIN.ttf",
    "RobotoCondensed-Bold.ttf",
    "RobotoCondensed-Medium.ttf",
    "LiberationSans-Bold.ttf",
    "DejaVuSansCondensed-Bold.ttf",
    "NimbusSansNarrow-Bold.otf",
    "texgyreheroscn-bold.otf",
    "FreeSansBold.ttf",
)
# Characters without a look-alike in the set: B/8, D/O/0, G/6/C, I/1, Q, S/5, U/V and Z/2 are left out.
LETTERS = "ACEFHJKLMNPRTVWXY"
DIGITS = "234579"

# t seconds, plate centre x and y (frame-relative), plate width in pixels of a 1280-wide picture (scaled to the size)
Keyframe = tuple[float, float, float, float]
REFERENCE_WIDTH = 1280


@dataclass
class Car:
    """One vehicle: its plate, look and path (piecewise-linear between keyframes, absent outside them)."""

    text: str
    seed: int
    path: list[Keyframe]
    direction: str
    view: str = "rear"
    private: bool = False

    def at(self, t: float) -> tuple[float, float, float] | None:
        """Plate centre (relative) and plate width at time t, or None when the vehicle is not in the picture."""
        ts = [k[0] for k in self.path]
        if t < ts[0] or t > ts[-1]:
            return None
        return (
            float(np.interp(t, ts, [k[1] for k in self.path])),
            float(np.interp(t, ts, [k[2] for k in self.path])),
            float(np.interp(t, ts, [k[3] for k in self.path])),
        )


@dataclass
class Scenario:
    """One fixture video."""

    name: str
    cars: list[Car]
    look: str = "day"  # day | dusk | night_ir | rain | motion_blur
    size: tuple[int, int] = (960, 540)
    fps: float = 10.0
    duration: float = 6.0
    seed: int = 1
    privacy_zones: list[list[tuple[float, float]]] = field(default_factory=list)
    fps_drop: tuple[float, float, int] | None = None  # from, to (s), keep one frame in n (the rest repeat it)
    corrupt: Sequence[int] = ()  # frame indices whose bytes are overwritten (MJPG/AVI only)
    codec: str = "mp4v"
    notes: str = ""

    @property
    def video(self) -> str:
        """File name of the video."""
        return f"{self.name}.{'avi' if self.codec == 'MJPG' else 'mp4'}"


def plate_text(rng: np.random.Generator) -> str:
    """A 7-character US-style serial (digit, 3 letters, 3 digits or 3 letters, 4 digits)."""
    if rng.random() < 0.5:
        return (
            str(rng.choice(list(DIGITS))) + "".join(rng.choice(list(LETTERS), 3)) + "".join(rng.choice(list(DIGITS), 3))
        )
    return "".join(rng.choice(list(LETTERS), 3)) + "".join(rng.choice(list(DIGITS), 4))


# --- drawing ------------------------------------------------------------------------------------------------------


def street(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A fixed street: building fronts, pavement, a road in perspective with lane markings."""
    img = np.empty((height, width, 3), np.float32)
    horizon = int(height * 0.3)
    img[:horizon] = (200, 185, 170)
    x = 0
    while x < width:
        bw = int(rng.integers(width // 7, width // 3))
        top = int(rng.integers(0, horizon // 2))
        colour = tuple(int(c) for c in np.clip(np.array((120, 130, 140)) + rng.integers(-50, 50, 3), 0, 255))
        cv2.rectangle(img, (x, top), (x + bw, horizon), colour, -1)
        # Few, large windows: a fine window grid would cost more bytes than everything else in the picture.
        ww, wh = width // 40, height // 30
        for yy in range(top + wh // 2, horizon - wh, wh * 2):
            for xx in range(x + ww // 2, x + bw - ww, ww * 2):
                lit = (70, 60, 50) if rng.random() < 0.8 else (190, 220, 235)
                cv2.rectangle(img, (xx, yy), (xx + ww, yy + wh), lit, -1)
        x += bw
    img[horizon : horizon + int(height * 0.05)] = (150, 155, 160)  # pavement
    road_top = horizon + int(height * 0.05)
    shade = np.linspace(95, 120, height - road_top, dtype=np.float32)
    img[road_top:] = shade[:, None, None]
    vanish = (width * 0.5, road_top - height * 0.25)
    for frac in (0.02, 0.5, 0.98):  # kerb lines and the centre line meet at the vanishing point
        bottom = (width * (frac * 1.6 - 0.3), height)
        top_x = vanish[0] + (bottom[0] - vanish[0]) * (road_top - vanish[1]) / (height - vanish[1])
        colour = (230, 230, 230) if frac != 0.5 else (40, 200, 230)
        cv2.line(img, (int(top_x), road_top), (int(bottom[0]), height), colour, 4 if frac != 0.5 else 6)
    # A smooth, static surface texture: asphalt-like without per-pixel noise, which would bloat the videos.
    texture = cv2.resize(rng.normal(0, 5, (height // 40, width // 40)).astype(np.float32), (width, height))
    img += texture[..., None]
    return cv2.GaussianBlur(np.clip(img, 0, 255).astype(np.uint8), (0, 0), 0.8)


def clean_plate(seed: int, text: str) -> np.ndarray:
    """A US-style plate with `text` in one of the clean faces; plates with low ink contrast are redrawn."""
    faces = tuple(a for a in (fonts.load_atlas(n) for n in CLEAN_FONTS) if a is not None)
    if not faces:
        raise SystemExit("none of the clean plate fonts is installed: run scripts/setup --train")
    original, original_emblem, original_stacked = fonts.available, plates._emblem, plates._stacked
    fonts.available = lambda role: faces if role == "plate" else original(role)  # type: ignore[assignment]
    # A pictogram between the character groups and small stacked characters beside them are real-plate habits,
    # but not clean ones: leave the gap empty and draw no stacked prefix.
    plates._emblem = lambda rng, size: np.zeros((size, size), np.uint8)
    plates._stacked = lambda rng, img, x, y, cap_h, ink: 0
    try:
        for attempt in range(200):
            rng = np.random.default_rng([seed, attempt])
            plate = render_plate(rng, style="us", text=text, two_line=False)
            grey = cv2.cvtColor(plate.image, cv2.COLOR_BGR2GRAY).astype(np.float32)
            h, w = grey.shape
            band = grey[int(h * 0.25) : int(h * 0.85), int(w * 0.1) : int(w * 0.9)]
            dark, light = np.percentile(band, 8), np.percentile(band, 60)
            # Light background, dark characters with a strong step, nothing smeared over the middle.
            if light > 170 and dark < 90 and light - dark > 110 and float(grey.mean()) > 140:
                return plate.image
    finally:
        fonts.available = original
        plates._emblem = original_emblem
        plates._stacked = original_stacked
    raise SystemExit(f"no clean plate found for seed {seed}")


def mild_pose(seed: int) -> list[int]:
    """A seed for `place_vehicle`'s pose whose roll (its first draw, about N(0, 4) degrees) is under 2 degrees."""
    for attempt in range(100):
        if abs(np.random.default_rng([seed, 2, attempt]).normal(0, 4)) < 2.0:
            return [seed, 2, attempt]
    raise SystemExit(f"no mild pose for seed {seed}")


def mount(vehicle: Vehicle, plate: np.ndarray) -> Vehicle:
    """Warp a plate into the vehicle's plate mount, keeping the plate's own aspect ratio."""
    ph, pw = plate.shape[:2]
    quad = vehicle.plate_quad.copy()
    qw = float(quad[1, 0] - quad[0, 0])
    quad[2:, 1] = quad[0, 1] + qw * ph / pw
    h, w = vehicle.image.shape[:2]
    src = np.array([[0, 0], [pw, 0], [pw, ph], [0, ph]], np.float32)
    m = cv2.getPerspectiveTransform(src, quad)
    warped = cv2.warpPerspective(plate, m, (w, h), flags=cv2.INTER_AREA)
    cover = cv2.warpPerspective(np.full((ph, pw), 255, np.uint8), m, (w, h))
    alpha = cover.astype(np.float32)[..., None] / 255.0
    image = (vehicle.image * (1 - alpha) + warped * alpha).astype(np.uint8)
    return Vehicle(image, np.maximum(vehicle.mask, cover), quad)


class Renderer:
    """Draws the frames of one scenario."""

    def __init__(self, sc: Scenario) -> None:
        self.sc = sc
        width, height = sc.size
        self.background = street(np.random.default_rng([sc.seed, 0]), width, height)
        self.vehicles = []
        for car in sc.cars:
            rng = np.random.default_rng([car.seed, 1])
            widest = max(k[3] for k in car.path) * width / REFERENCE_WIDTH
            body = draw_vehicle(rng, int(widest / 0.2), view=car.view)
            self.vehicles.append(mount(body, clean_plate(car.seed, car.text)))
        self.poses = [mild_pose(car.seed) for car in sc.cars]

    def draw(self, t: float) -> tuple[np.ndarray, dict[int, np.ndarray]]:
        """The frame at time t (before the camera look) and the plate corners (TL, TR, BR, BL) of each car in view."""
        width, height = self.sc.size
        frame = self.background.copy()
        corners: dict[int, np.ndarray] = {}
        order = sorted(range(len(self.sc.cars)), key=lambda i: (self.sc.cars[i].at(t) or (0, 0, 0))[2])
        for i in order:  # smaller (farther) plates first, so nearer vehicles are drawn over them
            pos = self.sc.cars[i].at(t)
            if pos is None:
                continue
            cx, cy, pw = pos
            pw *= width / REFERENCE_WIDTH
            pose = np.random.default_rng(self.poses[i])  # the same pose on every frame
            corners[i] = place_vehicle(pose, frame, self.vehicles[i], (cx * width, cy * height), pw)
        return frame, corners

    def frame(self, index: int) -> tuple[np.ndarray, dict[int, np.ndarray]]:
        """Frame `index` as the camera records it, and the plate corners on it."""
        sc = self.sc
        t = index / sc.fps
        if sc.look == "motion_blur":  # integrate over the shutter time: the vehicle smears, the street does not
            shots = [self.draw(t - k * 0.005)[0].astype(np.float32) for k in range(4)]
            image = (np.sum(shots, axis=0) / len(shots)).astype(np.uint8)
            corners = self.draw(t)[1]
        else:
            image, corners = self.draw(t)
        return look(sc.look, image, list(corners.values()), np.random.default_rng([sc.seed, 3, index])), corners


def look(kind: str, image: np.ndarray, corners: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """The light and the weather applied to a drawn frame."""
    out: np.ndarray = image.astype(np.float32)
    if kind == "dusk":
        out = out * 0.5 + np.array([5, 12, 25], np.float32)  # dim and warm
        out = cv2.GaussianBlur(out, (0, 0), 0.7)
    elif kind == "night_ir":
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)
        lit: np.ndarray = np.zeros(grey.shape, np.float32)
        for quad in corners:  # retro-reflective plates stay bright under the infrared lamp
            cv2.fillConvexPoly(lit, np.round(quad).astype(np.int32), 1.0)
        lit = cv2.GaussianBlur(lit, (0, 0), 2.0)
        dark = grey * 0.3 + 8
        grey = dark * (1 - lit) + np.clip(grey * 1.05, 0, 255) * lit
        out = np.repeat(grey[..., None], 3, axis=2)
    elif kind == "rain":
        h, w = image.shape[:2]
        streaks = np.zeros((h, w), np.float32)
        for _ in range(150):
            x, y = int(rng.integers(w)), int(rng.integers(h))
            length = int(rng.integers(10, 30))
            cv2.line(streaks, (x, y), (x + length // 5, y + length), 1.0, 1)
        out = out * 0.8 + 25
        out = out * (1 - 0.5 * streaks[..., None]) + 210 * 0.5 * streaks[..., None]
    elif kind not in ("day", "motion_blur"):
        raise ValueError(f"unknown look {kind!r}")
    recorded: np.ndarray = np.clip(out, 0, 255).astype(np.uint8)
    return recorded


# --- ground truth ---------------------------------------------------------------------------------------------------


def visible_span(sc: Scenario, seen: Sequence[dict[int, np.ndarray]], car_index: int) -> tuple[float, float]:
    """First and last frame time at which the whole plate of one car is inside the picture."""
    width, height = sc.size
    inside = [
        i / sc.fps
        for i, corners in enumerate(seen)
        if car_index in corners
        and bool(np.all((corners[car_index] >= 0) & (corners[car_index] <= [width - 1, height - 1])))
    ]
    if not inside:
        raise SystemExit(f"{sc.name}: plate {sc.cars[car_index].text} is never fully in the picture")
    return round(inside[0], 3), round(inside[-1], 3)


def check_private(sc: Scenario, seen: Sequence[dict[int, np.ndarray]], car_index: int) -> None:
    """A private plate must lie inside a privacy zone on every frame (corners outside the picture aside)."""
    width, height = sc.size
    zones = [(np.asarray(z, np.float32) * [width, height]).astype(np.float32) for z in sc.privacy_zones]
    for i, corners in enumerate(seen):
        for x, y in corners.get(car_index, np.empty((0, 2))):
            if (
                0 <= x < width
                and 0 <= y < height
                and not any(cv2.pointPolygonTest(z, (float(x), float(y)), False) >= 0 for z in zones)
            ):
                raise SystemExit(f"{sc.name}: private plate outside its privacy zone on frame {i}")


def frame_times(sc: Scenario) -> list[float]:
    """The time each recorded frame shows (a frame-rate drop repeats the last picture)."""
    n = round(sc.duration * sc.fps)
    times = []
    for i in range(n):
        t = i / sc.fps
        if sc.fps_drop and sc.fps_drop[0] <= t < sc.fps_drop[1]:
            start = round(sc.fps_drop[0] * sc.fps)
            t = (start + (i - start) // sc.fps_drop[2] * sc.fps_drop[2]) / sc.fps
        times.append(t)
    return times


# --- writing --------------------------------------------------------------------------------------------------------


def corrupt_avi(path: Path, frames: Sequence[int], seed: int) -> int:
    """Overwrite the bytes of the given frames ('00dc' chunks) of an AVI with noise; returns how many were hit."""
    data = bytearray(path.read_bytes())
    rng = np.random.default_rng(seed)
    movi = data.find(b"movi")
    pos, index, hit = movi + 4, 0, 0
    wanted = set(frames)
    while pos + 8 <= len(data):
        tag, size = bytes(data[pos : pos + 4]), struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        if tag == b"idx1" or tag == b"LIST":
            break
        if tag in (b"00dc", b"00db"):
            if index in wanted:
                data[pos + 8 : pos + 8 + size] = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
                hit += 1
            index += 1
        pos += 8 + size + (size & 1)
    path.write_bytes(bytes(data))
    return hit


def write_mjpg_avi(path: Path, jpegs: Sequence[bytes], fps: int, width: int, height: int) -> None:
    """A minimal Motion-JPEG AVI (RIFF: hdrl, movi, idx1), so the JPEG quality and thus the file size are ours.

    OpenCV's own MJPG writers do not honour a quality setting, and at their default a few seconds of 960x540
    would take several megabytes of the fixture budget.
    """

    def chunk(tag: bytes, payload: bytes) -> bytes:
        return tag + struct.pack("<I", len(payload)) + payload + (b"\0" if len(payload) % 2 else b"")

    def riff_list(kind: bytes, payload: bytes) -> bytes:
        return chunk(b"LIST", kind + payload)

    n, biggest = len(jpegs), max(len(j) for j in jpegs)
    avih = struct.pack("<14I", round(1e6 / fps), biggest * fps, 0, 0x10, n, 0, 1, biggest, width, height, 0, 0, 0, 0)
    strh = struct.pack(
        "<4s4sIHHIIIIIIIIhhhh",
        b"vids",
        b"MJPG",
        0,
        0,
        0,
        0,
        1,
        fps,
        0,
        n,
        biggest,
        0xFFFFFFFF,
        0,
        0,
        0,
        width,
        height,
    )
    strf = struct.pack("<IiiHH4sIiiII", 40, width, height, 1, 24, b"MJPG", width * height * 3, 0, 0, 0, 0)
    hdrl = riff_list(b"hdrl", chunk(b"avih", avih) + riff_list(b"strl", chunk(b"strh", strh) + chunk(b"strf", strf)))
    frames, index, offset = [], [], 4  # idx1 offsets count from the 'movi' tag
    for data in jpegs:
        piece = chunk(b"00dc", data)
        index.append(struct.pack("<4sIII", b"00dc", 0x10, offset, len(data)))
        frames.append(piece)
        offset += len(piece)
    body = hdrl + riff_list(b"movi", b"".join(frames)) + chunk(b"idx1", b"".join(index))
    path.write_bytes(b"RIFF" + struct.pack("<I", 4 + len(body)) + b"AVI " + body)


def write(sc: Scenario, out_dir: Path) -> dict[str, object]:
    """Render one scenario to out_dir; returns its ground truth (also written as JSON)."""
    renderer = Renderer(sc)
    times = frame_times(sc)
    path = out_dir / sc.video
    pictures: dict[float, tuple[np.ndarray, dict[int, np.ndarray]]] = {}
    seen: list[dict[int, np.ndarray]] = []  # plate corners per recorded frame

    def picture(t: float) -> np.ndarray:
        if t not in pictures:  # a frame-rate drop repeats the last picture: render it once
            pictures.clear()
            pictures[t] = renderer.frame(round(t * sc.fps))
        seen.append(pictures[t][1])
        return pictures[t][0]

    if sc.codec == "MJPG":
        jpegs = [bytes(cv2.imencode(".jpg", picture(t), [cv2.IMWRITE_JPEG_QUALITY, 55])[1]) for t in times]
        write_mjpg_avi(path, jpegs, int(sc.fps), *sc.size)
    else:
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*sc.codec), sc.fps, sc.size)
        if not writer.isOpened():
            raise SystemExit(f"OpenCV cannot write {sc.codec} to {path}")
        for t in times:
            writer.write(picture(t))
        writer.release()
    if sc.corrupt:
        hit = corrupt_avi(path, sc.corrupt, sc.seed)
        if hit != len(sc.corrupt):
            raise SystemExit(f"{sc.name}: corrupted {hit} of {len(sc.corrupt)} frames")
    plates = []
    for k, car in enumerate(sc.cars):
        enter, leave = visible_span(sc, seen, k)
        if car.private:
            check_private(sc, seen, k)
        plates.append(
            {"text": car.text, "enter_s": enter, "exit_s": leave, "direction": car.direction, "private": car.private}
        )
    truth: dict[str, object] = {
        "video": sc.video,
        "fps": sc.fps,
        "resolution": list(sc.size),
        "duration_s": round(len(times) / sc.fps, 3),
        "frames": len(times),
        "look": sc.look,
        "camera": {
            "fps": sc.fps,
            "resolution": list(sc.size),
            "privacy_zones": [[list(p) for p in zone] for zone in sc.privacy_zones],
        },
        "plates": plates,
        "corrupt_frames": list(sc.corrupt),
        "fps_drop": list(sc.fps_drop) if sc.fps_drop else None,
        "notes": sc.notes,
    }
    (out_dir / f"{sc.name}.json").write_text(json.dumps(truth, indent=2) + "\n")
    return truth


# --- the scenarios --------------------------------------------------------------------------------------------------


def approach(t0: float, t1: float, x: float, w0: float = 130, w1: float = 180) -> list[Keyframe]:
    """A car coming towards the camera in one lane: from the far road to out of the bottom of the picture."""
    return [(t0, x, 0.48, w0), (t0 + (t1 - t0) * 0.8, x + 0.02, 0.82, w1), (t1, x + 0.03, 1.12, w1 + 10)]


def recede(t0: float, t1: float, x: float) -> list[Keyframe]:
    """A car driving away from the camera: in from the bottom, up the road, smaller."""
    return [(t0, x, 1.12, 180), (t0 + (t1 - t0) * 0.2, x, 0.85, 170), (t1, x - 0.02, 0.5, 125)]


def across(t0: float, t1: float, y: float, w: float, rightwards: bool = True) -> list[Keyframe]:
    """A car crossing the picture sideways at a constant distance."""
    a, b = (-0.2, 1.2) if rightwards else (1.2, -0.2)
    return [(t0, a, y, w), (t1, b, y, w)]


def scenarios() -> list[Scenario]:
    """Every fixture, CI ones first; `bench_1080p` is for `edge-agent bench pipeline`."""
    rng = np.random.default_rng(2024)
    t = [plate_text(rng) for _ in range(20)]
    zone = [(0.0, 0.3), (0.3, 0.3), (0.3, 0.75), (0.0, 0.75)]
    return [
        Scenario("day_single", [Car(t[0], 11, approach(0.2, 5.0, 0.42), "approaching")], notes="a clear day"),
        Scenario(
            "dusk",
            [Car(t[1], 12, approach(0.3, 5.0, 0.6), "approaching")],
            look="dusk",
            seed=2,
            notes="dusk: half the light, warm, slightly soft",
        ),
        Scenario(
            "night_ir",
            [Car(t[2], 13, recede(0.2, 4.8, 0.45), "receding")],
            look="night_ir",
            seed=3,
            notes="infrared grey: a dark street, the plate bright under the IR lamp",
        ),
        Scenario(
            "rain",
            [Car(t[3], 14, approach(0.3, 5.0, 0.4), "approaching")],
            look="rain",
            seed=4,
            notes="rain: falling streaks over everything, lower contrast",
        ),
        Scenario(
            "motion_blur",
            [Car(t[4], 15, across(0.2, 4.6, 0.62, 170), "right")],
            look="motion_blur",
            seed=5,
            notes="a car across the picture; each frame integrates 15 ms of motion (a smear of about 5 px)",
        ),
        Scenario(
            "two_vehicles",
            [
                Car(t[5], 16, approach(0.2, 4.0, 0.32), "approaching"),
                Car(t[6], 17, recede(2.4, 6.8, 0.72), "receding"),
            ],
            seed=6,
            duration=7.0,
            notes="two vehicles in view at once (2.4-3.3 s), in opposite lanes; the first has left by 3.3 s",
        ),
        Scenario(
            "stop_and_go",
            [
                Car(
                    t[7],
                    18,
                    [
                        (0.2, 0.5, 0.48, 130),
                        (2.0, 0.52, 0.62, 155),
                        (4.6, 0.52, 0.62, 155),
                        (6.0, 0.54, 0.85, 180),
                        (6.4, 0.55, 1.12, 190),
                    ],
                    "approaching",
                )
            ],
            seed=7,
            duration=7.0,
            notes="the car stops for 2.6 s (a queue, a red light) and goes on: one read",
        ),
        Scenario(
            "privacy_zone",
            [
                Car(t[8], 19, [(0.0, 0.12, 0.5, 110), (6.0, 0.17, 0.55, 118)], "unknown", view="front", private=True),
                Car(t[9], 20, approach(0.5, 5.5, 0.62), "approaching"),
            ],
            seed=8,
            privacy_zones=[zone],
            notes="a car pulling slowly out of a driveway inside a privacy zone (never read) and one on the road",
        ),
        Scenario(
            "fps_drop",
            [Car(t[15], 21, across(0.3, 7.0, 0.6, 165, rightwards=False), "left")],
            seed=9,
            fps=12,
            duration=7.5,
            fps_drop=(1.5, 5.0, 4),
            notes="from 1.5 s to 5 s the camera delivers 3 fps and the recorder repeats each picture 4 times; the"
            " plate moves about half its width between pictures",
        ),
        Scenario(
            "corrupt_stretch",
            [Car(t[11], 22, approach(0.2, 4.6, 0.45), "approaching")],
            seed=10,
            codec="MJPG",
            size=(960, 540),
            corrupt=range(22, 27),
            duration=5.0,
            notes="MJPG in AVI; the bytes of frames 22-26 are overwritten so they cannot be decoded",
        ),
        Scenario(
            "bench_1080p",
            [
                Car(t[12], 23, approach(0.2, 5.0, 0.35, 150, 220), "approaching"),
                Car(t[13], 24, recede(2.0, 7.5, 0.7), "receding"),
                Car(t[14], 25, across(5.0, 9.5, 0.62, 190), "right"),
            ],
            size=(1920, 1080),
            fps=12,
            duration=10.0,
            seed=11,
            notes="benchmark clip for `edge-agent bench pipeline` (not replayed in CI)",
        ),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Render the chosen (default: all) fixtures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="scenarios to render (default: all)")
    parser.add_argument("--out", type=Path, default=OUT, help="output folder")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    args = parser.parse_args(argv)
    chosen = scenarios()
    if args.list:
        for sc in chosen:
            print(f"{sc.name:16s} {sc.size[0]}x{sc.size[1]} {sc.fps:g} fps {sc.duration:g} s  {sc.notes}")
        return 0
    if args.names:
        unknown = set(args.names) - {sc.name for sc in chosen}
        if unknown:
            parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
        chosen = [sc for sc in chosen if sc.name in args.names]
    args.out.mkdir(parents=True, exist_ok=True)
    report: Callable[[str], None] = print
    for sc in chosen:
        truth = write(sc, args.out)
        size = (args.out / sc.video).stat().st_size
        report(f"{sc.video}: {truth['frames']} frames, {size / 1e6:.2f} MB, plates {len(sc.cars)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
