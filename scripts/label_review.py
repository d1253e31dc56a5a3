"""Real plate text checked by a person: the teacher's and the project's reader's readings, reviewed on sheets.

The teacher (label_teacher.py, PP-OCRv4) is wrong on a fifth to a quarter of the plates it keeps, and a reader
trained on its labels learns those errors. Two independent readers that agree are right far more often; where
they disagree, a person decides. This script does the mechanical half:

``sheets``  reads every plate at least ``--min-width`` pixels wide (40: a narrower one is not legible to a person
            either) of the teacher-labelled sets with the project's reader (the pipeline's views on the
            labelled box, beam search). A plate whose two readings agree (O/I folded, 4-9 characters) is taken as
            it is; every other plate the teacher read goes on numbered review sheets (PNG: the plate, the
            teacher's text "T", the reader's text "R") and into ``queue.csv``.
``apply``   takes the reviewer's decisions (one line per sheet cell: ``ID TEXT``; ``ID t`` or ``ID r`` takes the
            teacher's or the reader's text; ``ID -`` or no line leaves the plate out) and writes the checked
            labels: the agreed plates, the decided ones, and the plates the teacher kept that were not reviewed
            (with the teacher's text, as before), as ``checked.csv`` (set, image, plate, plate_text, how), which
            train_reader.py reads with ``--teacher-labels``. The sheets show the plates the teacher kept first.

The sheets are made of the datasets' pixels and stay in the run folder; only plate text is committed
(``scripts/training/labels/checked.csv``), from sets whose licences allow it (Apache-2.0, MIT).

Usage: .venv/bin/python scripts/label_review.py sheets --teacher runs/chain/teacher --out runs/review
       .venv/bin/python scripts/label_review.py apply --review runs/review --decisions decisions.txt \\
           --out scripts/training/labels/checked.csv
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(REPO))

from training.reader_data import plate_rows  # noqa: E402

from edge_agent.device.vision.pipeline import read_views  # noqa: E402
from edge_agent.device.vision.reader import PlateReader  # noqa: E402
from edge_agent.device.vision.scoring import normalise_plate  # noqa: E402

SETS = ("plates-open-lpr", "plates-ro-dashcam", "plates-scenes-boxes")
COLUMNS, ROWS = 4, 10
CELL_W, CROP_H, TEXT_H = 240, 72, 26
PLATE_TEXT = re.compile(r"^[A-Z0-9]{4,9}$")


def _boxes(folder: Path) -> dict[tuple[str, int], tuple[float, float, float, float]]:
    """(image, plate index) -> box."""
    return {
        (r["image"], index): (float(r["x"]), float(r["y"]), float(r["w"]), float(r["h"]))
        for r, index in plate_rows(folder)
    }


def _cell(
    image: np.ndarray, box: tuple[float, float, float, float], number: int, teacher: str, ours: str
) -> np.ndarray:
    x, y, w, h = box
    pad_x, pad_y = 0.15 * w, 0.3 * h
    x0, y0 = int(max(0, x - pad_x)), int(max(0, y - pad_y))
    x1, y1 = int(min(image.shape[1], x + w + pad_x)), int(min(image.shape[0], y + h + pad_y))
    crop = image[y0:y1, x0:x1]
    scale = min((CELL_W - 8) / max(1, crop.shape[1]), CROP_H / max(1, crop.shape[0]))
    crop = cv2.resize(crop, (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale))))
    cell = np.full((CROP_H + TEXT_H, CELL_W, 3), 255, np.uint8)
    cell[: crop.shape[0], 4 : 4 + crop.shape[1]] = crop
    label = f"{number} T:{teacher or '-'} R:{ours or '-'}"
    cv2.putText(cell, label, (3, CROP_H + 19), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 160), 1, cv2.LINE_AA)
    cv2.rectangle(cell, (0, 0), (CELL_W - 1, CROP_H + TEXT_H - 1), (180, 180, 180), 1)
    return cell


def sheets(args: argparse.Namespace) -> int:
    reader = PlateReader(args.reader)
    args.out.mkdir(parents=True, exist_ok=True)
    agreed: list[list[str]] = []
    pending: list[tuple[list[str], np.ndarray, tuple[float, float, float, float]]] = []
    for name in SETS:
        short = name.removeprefix("plates-")
        src = args.teacher / f"{short}.all.csv"
        if not src.is_file():
            print(f"label_review: {src} not found, {name} skipped", file=sys.stderr)
            continue
        folder = args.data_root / name
        boxes = _boxes(folder)
        with src.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        n_agree = n_queue = 0
        for row in rows:
            index = int(row.get("plate") or 0)
            box = boxes.get((row["image"], index))
            if box is None or box[2] < args.min_width:
                continue
            image = cv2.imread(str(folder / "images" / row["image"]), cv2.IMREAD_COLOR)
            if image is None:
                continue
            teacher = re.sub(r"[^A-Z0-9]", "", row["plate_text"].upper())
            read = read_views(reader, image, box, framings=((0.0, 0.0),))  # as the labels were made
            ours = read.text
            if normalise_plate(teacher) == normalise_plate(ours) and PLATE_TEXT.match(teacher):
                agreed.append([name, row["image"], str(index), row["plate_text"].strip().upper(), "agree"])
                n_agree += 1
            elif PLATE_TEXT.match(teacher) or PLATE_TEXT.match(ours):
                kept = "1" if not row["why"] else ""
                pending.append(([name, row["image"], str(index), teacher, ours, kept], image, box))
                n_queue += 1
        print(f"{name}: {len(rows)} plates, {n_agree} agreed, {n_queue} to review")
    # The plates the teacher kept come first: they were training labels before, and where the two readers differ
    # one of them is wrong. Then, set by set, the plates only a person can settle.
    pending.sort(key=lambda p: not p[0][5])
    queue: list[list[str]] = []
    cells: list[np.ndarray] = []
    for number, (fields, image, box) in enumerate(pending):
        queue.append([str(number), *fields])
        cells.append(_cell(image, box, number, fields[3], fields[4]))
    per_sheet = COLUMNS * ROWS
    for start in range(0, len(cells), per_sheet):
        chunk = cells[start : start + per_sheet]
        blank = np.full_like(cells[0], 255)
        chunk += [blank] * (per_sheet - len(chunk))
        grid = np.vstack([np.hstack(chunk[r * COLUMNS : (r + 1) * COLUMNS]) for r in range(ROWS)])
        cv2.imwrite(str(args.out / f"sheet_{start // per_sheet:03d}.png"), grid)
    with (args.out / "agreed.csv").open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([["set", "image", "plate", "plate_text", "how"], *agreed])
    with (args.out / "queue.csv").open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([["id", "set", "image", "plate", "teacher", "reader", "teacher_kept"], *queue])
    print(f"label_review: {len(agreed)} agreed, {len(queue)} on {-(-len(cells) // per_sheet)} sheets in {args.out}")
    return 0


def apply(args: argparse.Namespace) -> int:
    with (args.review / "queue.csv").open(newline="", encoding="utf-8") as fh:
        queue = {r["id"]: r for r in csv.DictReader(fh)}
    with (args.review / "agreed.csv").open(newline="", encoding="utf-8") as fh:
        rows = [[r["set"], r["image"], r["plate"], r["plate_text"], r["how"]] for r in csv.DictReader(fh)]
    decided = dropped = 0
    seen: set[str] = set()
    for number, raw in enumerate(args.decisions.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 2 or parts[0] not in queue:
            print(
                f"label_review: {args.decisions}:{number}: expected 'ID TEXT' for a queued id: {line!r}",
                file=sys.stderr,
            )
            return 2
        item, choice = queue[parts[0]], parts[1]
        seen.add(parts[0])
        text = {"t": item["teacher"], "r": item["reader"], "-": ""}.get(choice, choice.upper())
        if not text:
            dropped += 1
            continue
        if not PLATE_TEXT.match(text):
            print(f"label_review: {args.decisions}:{number}: {text!r} is not 4-9 of A-Z0-9", file=sys.stderr)
            return 2
        rows.append([item["set"], item["image"], item["plate"], text, "checked"])
        decided += 1
    # A plate the teacher kept and nobody reviewed keeps the teacher's text, as it was a label before.
    unreviewed = [q for key, q in queue.items() if key not in seen and q["teacher_kept"]]
    rows += [[q["set"], q["image"], q["plate"], q["teacher"], "teacher"] for q in unreviewed]
    rows.sort(key=lambda r: (r[0], r[1], int(r[2])))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([["set", "image", "plate", "plate_text", "how"], *rows])
    agreed = len(rows) - decided - len(unreviewed)
    print(
        f"label_review: {agreed} agreed + {decided} checked by eye ({dropped} dropped) + {len(unreviewed)} kept by"
        f" the teacher, unreviewed -> {args.out}"
    )
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="action", required=True)
    s = sub.add_parser("sheets", help="read every plate, queue the disagreements on review sheets")
    s.add_argument("--data-root", type=Path, default=REPO.parent / "shared" / "datasets")
    s.add_argument("--teacher", type=Path, required=True, help="folder of label_teacher.py --all CSVs")
    s.add_argument("--reader", type=Path, default=None, help="the project's reader (default: the shipped one)")
    s.add_argument("--out", type=Path, required=True, help="folder for the sheets, queue.csv and agreed.csv")
    s.add_argument(
        "--min-width", type=float, default=40.0, help="plates narrower than this (source pixels) are left out"
    )
    s.set_defaults(func=sheets)
    a = sub.add_parser("apply", help="write the checked labels from the reviewer's decisions")
    a.add_argument("--review", type=Path, required=True, help="the folder `sheets` wrote")
    a.add_argument("--decisions", type=Path, required=True, help="lines 'ID TEXT', 'ID t', 'ID r' or 'ID -'")
    a.add_argument("--out", type=Path, required=True, help="the checked labels CSV")
    a.set_defaults(func=apply)
    args = ap.parse_args()
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
