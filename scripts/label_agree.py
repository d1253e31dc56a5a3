"""Labels where two independent readers agree: the teacher (label_teacher.py) and the project's own reader.

The teacher keeps a plate only when three of its five views read it alike, which leaves out more than half of
the real plates (frames, state names and emblems pull its views apart). Many of those it still reads right
with its most voted text. This script reads every plate with a reader of the project's own (the pipeline's five
views on the labelled box, beam search) and keeps a plate the teacher left out when both readings are the same
(O/I folded, 4-9 characters). The teacher's own kept labels are carried over unchanged.

Inputs: label_teacher.py's ``--all`` CSV per set (``<set>.all.csv`` in --labels). Output: ``<set>.csv`` in --out,
the format train_reader.py --teacher-labels reads. ``--validate DIR`` scores the rule on a folder with true text
(real-scenes-validation: validation only, nothing of it is written but figures).

Usage: .venv/bin/python scripts/label_agree.py --labels runs/teacher --reader runs/X/plate_reader.tflite \\
           --out runs/teacher2
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import cv2

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from edge_agent.device.vision.pipeline import read_views  # noqa: E402
from edge_agent.device.vision.reader import PlateReader  # noqa: E402
from edge_agent.device.vision.scoring import normalise_plate  # noqa: E402

SETS = ("plates-open-lpr", "plates-ro-dashcam")


def agree(reader: PlateReader, folder: Path, teacher_rows: list[dict[str, str]]) -> list[tuple[str, str, str]]:
    """(image, text, how) for every plate the teacher kept, or that both readers read alike."""
    boxes = {}
    with (folder / "labels.csv").open(newline="", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            boxes[r["image"]] = (float(r["x"]), float(r["y"]), float(r["w"]), float(r["h"]))
    out = []
    for row in teacher_rows:
        text = row["plate_text"]
        if not row["why"]:
            out.append((row["image"], text, "teacher"))
            continue
        if not 4 <= len(text) <= 9:
            continue
        image = cv2.imread(str(folder / "images" / row["image"]), cv2.IMREAD_COLOR)
        if image is None:
            continue
        ours = read_views(reader, image, boxes[row["image"]], framings=((0.0, 0.0),)).text
        if normalise_plate(ours) == normalise_plate(text):
            out.append((row["image"], text, "teacher+reader"))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-root", type=Path, default=REPO.parent / "shared" / "datasets")
    ap.add_argument("--labels", type=Path, required=True, help="folder of label_teacher.py --all CSVs")
    ap.add_argument("--reader", type=Path, default=None, help="the project's reader (default: the shipped one)")
    ap.add_argument("--out", type=Path, help="folder for the combined <set>.csv files")
    ap.add_argument("--validate", type=Path, help="a folder with true text and its teacher CSV (--labels FILE)")
    args = ap.parse_args()
    reader = PlateReader(args.reader)
    if args.validate:
        with args.labels.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        with (args.validate / "labels.csv").open(newline="", encoding="utf-8") as fh:
            truth = {r["image"]: normalise_plate(r["plate_text"]) for r in csv.DictReader(fh)}
        kept = agree(reader, args.validate, rows)
        for how in ("teacher", "teacher+reader"):
            sel = [(i, t) for i, t, h in kept if h == how]
            right = sum(normalise_plate(t) == truth[i] for i, t in sel)
            print(f"{args.validate.name} {how}: kept {len(sel)} of {len(rows)}, right {right}")
        return 0
    if args.out is None:
        print("label_agree: give --out (or --validate)", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    for name in SETS:
        short = name.removeprefix("plates-")
        src = args.labels / f"{short}.all.csv"
        if not src.is_file():
            print(f"label_agree: {src} not found, {name} skipped", file=sys.stderr)
            continue
        with src.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        kept = agree(reader, args.data_root / name, rows)
        with (args.out / f"{short}.csv").open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["image", "plate_text", "how"])
            w.writerows(kept)
        both = sum(h == "teacher+reader" for _, _, h in kept)
        print(f"{name}: {len(rows)} plates, {len(kept) - both} kept by the teacher, {both} more where both agree")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
