"""Training data for the plate reader: seeded chunks of synthetic crops plus the Argentine real crops.

Kept free of TensorFlow so that generator worker processes start fast. Every chunk is drawn from
``np.random.default_rng([seed, epoch, chunk])``, so the data does not depend on how many workers made it and a
resumed run sees exactly the data a straight run would.
"""

from __future__ import annotations

import csv
import hashlib
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(REPO))

from synth.crops import make_crop  # noqa: E402
from synth.plates import render_plate  # noqa: E402

from edge_agent.vision.reader import preprocess  # noqa: E402

AR_DIR = "plates-ar-crops"
AR_HOLDOUT = 0.2


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


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description="Write the reader's committed test fixture of synthetic crops.")
    ap.add_argument("--fixtures", type=Path, default=REPO / "tests" / "vision" / "data" / "reader")
    write_fixtures(ap.parse_args().fixtures)
