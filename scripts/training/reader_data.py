"""Training data for the plate reader: seeded chunks of synthetic crops, the Argentine real crops, and real
plates from street photos labelled by a teacher (``scripts/label_teacher.py``), cut the way the pipeline cuts them.

Kept free of TensorFlow so that generator worker processes start fast. Every chunk is drawn from
``np.random.default_rng([seed, epoch, chunk])``, so the data does not depend on how many workers made it and a
resumed run sees exactly the data a straight run would.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge_agent.device.vision.pipeline import VIEW_FRAMINGS, framed
from edge_agent.device.vision.reader import preprocess
from training.detector_data import is_held_out, source_key
from training.synth.crops import make_crop
from training.synth.jpeg import recompress
from training.synth.plates import render_plate

AR_DIR = "plates-ar-crops"
AR_HOLDOUT = 0.2
# Real photos with boxes but no text: their plates are read by a teacher (label_teacher.py) and cut here.
TEACHER_SETS = ("plates-open-lpr", "plates-ro-dashcam", "plates-scenes-boxes")
TEACHER_HOLDOUT = 0.1
# Around each labelled plate, this share of its size is kept on every side, so that box jitter, rotation and
# the pipeline's widest view (12%) still cut from real pixels: frame, bolts, state name, bumper.
CONTEXT = 0.35


@dataclass(frozen=True)
class RealPlate:
    """A real plate in its surroundings: the region, the plate's box inside it (x, y, w, h) and its text (empty
    where only the box is used: the box refiner's training)."""

    image: np.ndarray
    box: tuple[float, float, float, float]
    text: str = ""


def synth_chunk(job: tuple[int, int, int, int, int, int, float]) -> tuple[np.ndarray, list[str]]:
    """``(seed, epoch, chunk, n, height, width, clean_rate)`` -> (n x H x W uint8 inputs, labels).

    Two-line plates get the empty label: the reader is taught to refuse them (see reader.py).
    """
    seed, epoch, chunk, n, height, width, clean_rate = job
    rng = np.random.default_rng([seed, epoch, chunk])
    xs = np.empty((n, height, width), np.uint8)
    labels = []
    for i in range(n):
        plate = render_plate(rng)
        xs[i] = preprocess(make_crop(rng, plate, clean_rate), height, width)
        labels.append("" if plate.two_line else plate.text)
    return xs, labels


def ar_split(root: Path) -> tuple[list[tuple[Path, str]], list[tuple[Path, str]]]:
    """(train, held-out) AR crops: a fixed ~20% chosen by a hash of the file name, independent of any seed."""
    folder = root / AR_DIR
    with (folder / "labels.csv").open(newline="", encoding="utf-8") as fh:
        rows = [(folder / "images" / r["image"], r["plate_text"].strip().upper()) for r in csv.DictReader(fh)]
    train, held = [], []
    for path, text in rows:
        bucket = int(hashlib.sha256(path.name.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        (held if bucket < AR_HOLDOUT else train).append((path, text))
    return train, held


def _held_out(key: str, share: float) -> bool:
    """A fixed, seed-independent choice of about `share` of the keys (by a hash of the key)."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF < share


def plate_rows(folder: Path) -> list[tuple[dict[str, str], int]]:
    """A dataset's labels.csv rows, each with its plate's place among its photo's rows (a photo may hold several
    plates; label_teacher.py names them the same way)."""
    with (folder / "labels.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    seen: dict[str, int] = {}
    out = []
    for r in rows:
        seen[r["image"]] = seen.get(r["image"], -1) + 1
        out.append((r, seen[r["image"]]))
    return out


def _label_texts(labels: Path) -> dict[str, dict[tuple[str, int], str]]:
    """set -> {(image, plate index): text}, from a folder of per-set CSVs or one checked-labels CSV with a `set`
    column (label_review.py's ``checked.csv``)."""
    out: dict[str, dict[tuple[str, int], str]] = {}
    if labels.is_file():
        with labels.open(newline="", encoding="utf-8") as fh:
            for r in csv.DictReader(fh):
                out.setdefault(r["set"], {})[(r["image"], int(r.get("plate") or 0))] = r["plate_text"].strip().upper()
        return out
    for name in TEACHER_SETS:
        csv_path = labels / f"{name.removeprefix('plates-')}.csv"
        if csv_path.is_file():
            with csv_path.open(newline="", encoding="utf-8") as fh:
                out[name] = {
                    (r["image"], int(r.get("plate") or 0)): r["plate_text"].strip().upper() for r in csv.DictReader(fh)
                }
    return out


def teacher_split(root: Path, labels: Path, context: float = CONTEXT) -> tuple[list[RealPlate], list[RealPlate]]:
    """(train, held-out) real plates of the teacher-labelled sets; split by source photo, never by file.

    `labels` holds one ``<set>.csv`` (image, plate, plate_text) per set in ``TEACHER_SETS`` minus its ``plates-``
    prefix, as ``label_teacher.py --out`` writes it (a set without its file is skipped), or is one CSV with a
    ``set`` column (``label_review.py apply``: text checked by a person). ``plate`` is the plate's
    place among its photo's rows (0 when the column is absent). ``plates-scenes-boxes`` has no ``source`` column:
    its photos are grouped and held out as the detector's training holds them out, so that no reader ever trains
    on a photo the detector is validated on.
    """
    train: list[RealPlate] = []
    held: list[RealPlate] = []
    by_set = _label_texts(labels)
    for name in TEACHER_SETS:
        texts = by_set.get(name)
        if texts is None:
            continue
        folder = root / name
        for r, index in plate_rows(folder):
            text = texts.get((r["image"], index))
            if text is None:
                continue
            img = cv2.imread(str(folder / "images" / r["image"]), cv2.IMREAD_COLOR)
            if img is None:
                raise FileNotFoundError(f"cannot read {folder / 'images' / r['image']}")
            plate = with_context(img, (float(r["x"]), float(r["y"]), float(r["w"]), float(r["h"])), text, context)
            if "source" in r:
                out = _held_out(f"{name}/{r['source']}", TEACHER_HOLDOUT)
            else:
                out = is_held_out(source_key(r["image"]))
            (held if out else train).append(plate)
    return train, held


def with_context(
    img: np.ndarray, box: tuple[float, float, float, float], text: str = "", context: float = CONTEXT
) -> RealPlate:
    """Keep only the plate and `context` of its size around it (memory: the photos are 10x the plate)."""
    x, y, w, h = box
    pad = max(w, h * 2.0) * context
    x0, y0 = int(max(0, x - pad)), int(max(0, y - pad))
    x1, y1 = int(min(img.shape[1], x + w + pad)), int(min(img.shape[0], y + h + pad))
    return RealPlate(img[y0:y1, x0:x1].copy(), (x - x0, y - y0, w, h), text)


def cut_like_pipeline(
    rng: np.random.Generator,
    plate: RealPlate,
    height: int,
    width: int,
    jitter: float = 1.0,
    framing_rate: float = 0.0,
) -> np.ndarray:
    """A real plate cut as a camera and detector would hand it to the reader, then preprocessed.

    The box's edges move as a detector's do (a few percent of the width, more of the height), the margin is one
    of the pipeline's views (-2% to 12%), the plate turns a little, and the crop is shrunk, blurred, re-exposed
    and re-compressed like a far, moving or night plate. ``jitter`` 0 gives the pipeline's own 4% crop. With
    ``framing_rate``, that share of the crops is cut from one of the pipeline's trimmed framings of the box
    (``VIEW_FRAMINGS``: top and bottom cut), as the reader reads them.
    """
    x, y, w, h = plate.box
    if framing_rate > 0 and rng.random() < framing_rate:
        top, bottom = VIEW_FRAMINGS[1 + int(rng.integers(len(VIEW_FRAMINGS) - 1))]
        x, y, w, h = framed(plate.box, top, bottom)
    img = plate.image
    if jitter > 0:
        angle = float(rng.normal(0, 3.0))
        if abs(angle) > 0.2:
            m = cv2.getRotationMatrix2D((x + w / 2, y + h / 2), angle, 1.0)
            img = cv2.warpAffine(img, m, (img.shape[1], img.shape[0]), borderMode=cv2.BORDER_REPLICATE)
        ex = rng.normal(0, 0.035 * jitter, 2) * w
        ey = rng.normal(0, 0.08 * jitter, 2) * h
        margin = float(rng.uniform(-0.02, 0.12))
    else:
        ex, ey, margin = np.zeros(2), np.zeros(2), 0.04
    x0 = max(0, int(np.floor(x - margin * w + ex[0])))
    x1 = min(img.shape[1], int(np.ceil(x + w + margin * w + ex[1])))
    y0 = max(0, int(np.floor(y - margin * h + ey[0])))
    y1 = min(img.shape[0], int(np.ceil(y + h + margin * h + ey[1])))
    crop = img[y0 : max(y1, y0 + 4), x0 : max(x1, x0 + 8)]
    if jitter > 0:
        crop = _camera_effects(rng, crop)
    return preprocess(crop, height, width)


def _camera_effects(rng: np.random.Generator, crop: np.ndarray) -> np.ndarray:
    """Distance, focus, motion, exposure and compression, each at random and mild enough to stay legible."""
    h, w = crop.shape[:2]
    if rng.random() < 0.4:
        target_h = float(rng.uniform(20, 44))
        if target_h < h:
            crop = cv2.resize(crop, (max(8, round(w * target_h / h)), round(target_h)), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.25:
        crop = cv2.GaussianBlur(crop, (0, 0), float(rng.uniform(0.3, 0.9)) * min(1.0, crop.shape[0] / 40))
    if rng.random() < 0.1:
        n = int(rng.integers(3, 6))
        kern = np.zeros((n, n), np.float32)
        kern[n // 2] = 1.0 / n
        crop = cv2.filter2D(crop, -1, kern)
    f = crop.astype(np.float32)
    if rng.random() < 0.5:
        f = (f - 128) * rng.uniform(0.6, 1.3) + 128 + rng.uniform(-35, 35)
    if rng.random() < 0.2:
        f += rng.normal(0, rng.uniform(2, 10), f.shape).astype(np.float32)
    return recompress(rng, np.clip(f, 0, 255).astype(np.uint8), 0.3, 30)


def load_images(items: list[tuple[Path, str]]) -> list[tuple[np.ndarray, str]]:
    """Read the crops as BGR arrays; missing or unreadable files are an error (the dataset is incomplete)."""
    out = []
    for path, text in items:
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:
            raise FileNotFoundError(f"cannot read {path}")
        out.append((img, text))
    return out


def augment_real(rng: np.random.Generator, img: np.ndarray, height: int, width: int) -> np.ndarray:
    """A real crop re-framed and re-exposed a little, so that oversampling does not memorise pixels."""
    h, w = img.shape[:2]
    dx0, dx1 = (rng.uniform(-0.06, 0.06, 2) * w).astype(int)
    dy0, dy1 = (rng.uniform(-0.08, 0.08, 2) * h).astype(int)
    pad = max(abs(int(v)) for v in (dx0, dx1, dy0, dy1)) + 1
    padded = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    crop = padded[pad + dy0 : pad + h + dy1, pad + dx0 : pad + w + dx1]
    angle = float(rng.uniform(-4, 4))
    m = cv2.getRotationMatrix2D((crop.shape[1] / 2, crop.shape[0] / 2), angle, 1.0)
    crop = cv2.warpAffine(crop, m, (crop.shape[1], crop.shape[0]), borderMode=cv2.BORDER_REPLICATE)
    x = preprocess(crop, height, width).astype(np.float32)
    x = (x - 128) * rng.uniform(0.7, 1.3) + 128 + rng.uniform(-30, 30)
    if rng.random() < 0.3:
        x = cv2.GaussianBlur(x, (0, 0), float(rng.uniform(0.3, 1.0)))
    return np.clip(x, 0, 255).astype(np.uint8)


# Fixed single-line plates for the committed test fixture: (seed, style, text). Two two-line plates follow.
FIXTURE_PLATES = (
    (1, "us", "ABC1234"),
    (2, "us", "7XKD215"),
    (3, "us", "482TRV"),
    (4, "eu", "AB123CD"),
    (5, "mercosur", "BRA2E19"),
    (6, "ar-old", "HMJ649"),
    (7, "us", "PLT90"),
    (8, "us", "5GH8821"),
)
FIXTURE_TWO_LINE = ((11, "us", "ABC1234"), (12, "us", "TRK4821"))


def write_fixtures(folder: Path, height: int = 48) -> None:
    """Write small clean synthetic crops and their labels.csv (two-line plates get an empty label)."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for seed, style, text in FIXTURE_PLATES + FIXTURE_TWO_LINE:
        two_line = (seed, style, text) in FIXTURE_TWO_LINE
        rng = np.random.default_rng(seed)
        plate = render_plate(rng, style=style, text=text, two_line=two_line)
        crop = make_crop(rng, plate, clean_rate=1.0)
        scale = height / crop.shape[0]
        crop = cv2.resize(crop, (round(crop.shape[1] * scale), height), interpolation=cv2.INTER_AREA)
        name = f"{'two_line' if two_line else style}_{seed:02d}.png"
        cv2.imwrite(str(folder / name), crop, [cv2.IMWRITE_PNG_COMPRESSION, 9])
        rows.append((name, "" if two_line else text, style, int(two_line)))
    with (folder / "labels.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["image", "plate_text", "style", "two_line"])
        writer.writerows(rows)
