"""Label real plate crops with a teacher recognizer: PP-OCRv4 (Apache-2.0) from the `rapidocr-onnxruntime` wheel.

A training tool only: the teacher never ships and is never a runtime dependency. It runs in its own virtualenv
(``python3 -m venv /tmp/teacher && /tmp/teacher/bin/pip install rapidocr-onnxruntime``), reads a dataset's
``labels.csv`` (image, x, y, w, h of the plate inside the image) and reads each plate on five crops (margins of
0-12%, as the pipeline's views, and one cut tighter in height, which drops a state name or a dealer's line).
A text that at least ``--min-votes`` views read alike (after folding O/I), with a mean confidence of at least
``--min-conf`` and 4-9 characters, becomes a label; everything else is left out and counted.

``--validate`` instead scores the same rule on a folder that carries the true text (e.g. real-scenes-validation,
validation only: nothing of it is written), to say how clean the kept labels are.

Usage: /tmp/teacher/bin/python scripts/label_teacher.py DATASET_DIR --out runs/teacher/NAME.csv
       /tmp/teacher/bin/python scripts/label_teacher.py --validate ../shared/datasets/real-scenes-validation/us
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from pathlib import Path

import cv2
import numpy as np
import yaml

MARGINS = (0.0, 0.04, 0.08, 0.12)
# The fifth view: the box's middle rows only (plates print a state, a slogan or a dealer above and below).
TIGHT_ROWS = 0.12
FOLD = str.maketrans({"O": "0", "I": "1"})


def recognizer():  # type: ignore[no-untyped-def]
    """PP-OCRv4's text recognizer with the wheel's own settings, one thread."""
    import rapidocr_onnxruntime
    from rapidocr_onnxruntime.ch_ppocr_rec import TextRecognizer

    root = Path(rapidocr_onnxruntime.__file__).parent
    cfg = yaml.safe_load((root / "config.yaml").read_text(encoding="utf-8"))["Rec"]
    cfg["model_path"] = str(root / cfg["model_path"])
    cfg["intra_op_num_threads"] = 1
    cfg["inter_op_num_threads"] = 1
    return TextRecognizer(cfg)


def crop(image: np.ndarray, box: tuple[float, float, float, float], margin: float) -> np.ndarray:
    """The plate box widened by `margin` per side, clipped (the pipeline's crop_plate rule)."""
    x, y, w, h = box
    height, width = image.shape[:2]
    x0, y0 = int(max(0, np.floor(x - margin * w))), int(max(0, np.floor(y - margin * h)))
    x1, y1 = int(min(width, np.ceil(x + w + margin * w))), int(min(height, np.ceil(y + h + margin * h)))
    return image[y0:y1, x0:x1]


def plate_text(raw: str) -> str:
    """Upper-case A-Z0-9 of a teacher reading."""
    return re.sub(r"[^A-Z0-9]", "", raw.upper())


def label(  # type: ignore[no-untyped-def]
    rec, image: np.ndarray, box: tuple[float, float, float, float], min_conf: float, min_votes: int
) -> tuple[str, float, int, str]:
    """(the views' most voted text, its mean confidence, its votes, why it is not kept or "")."""
    x, y, w, h = box
    crops = [crop(image, box, m) for m in MARGINS]
    crops.append(crop(image, (x - 0.02 * w, y + TIGHT_ROWS * h, w * 1.04, h * (1 - 2 * TIGHT_ROWS)), 0.0))
    if any(c.shape[0] < 8 or c.shape[1] < 16 for c in crops):
        return "", 0.0, 0, "too small"
    results, _ = rec(crops)
    votes: dict[str, list[float]] = {}
    for t, c in results:
        votes.setdefault(plate_text(t).translate(FOLD), []).append(float(c))
    text, confs = max(votes.items(), key=lambda kv: (len(kv[1]), sum(kv[1])))
    conf = float(np.mean(confs))
    if len(confs) < min_votes:
        return text, conf, len(confs), "views disagree"
    if conf < min_conf:
        return text, conf, len(confs), "low confidence"
    if not 4 <= len(text) <= 9:
        return text, conf, len(confs), "length"
    return text, conf, len(confs), ""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset", type=Path, nargs="?", help="folder with labels.csv and images/")
    ap.add_argument(
        "--out",
        type=Path,
        help="CSV of kept labels: image, plate (its place among the photo's rows), plate_text, confidence",
    )
    ap.add_argument("--min-conf", type=float, default=0.85, help="least mean confidence kept (default 0.85)")
    ap.add_argument("--min-votes", type=int, default=3, help="views of the five that must agree (default 3)")
    ap.add_argument("--validate", type=Path, help="score the rule on a folder that has plate_text")
    ap.add_argument(
        "--all",
        type=Path,
        help="also write every plate's most voted text, kept or not (image, plate_text, confidence, votes, why):"
        " label_agree.py keeps those the project's own reader reads alike",
    )
    args = ap.parse_args()
    folder = args.validate or args.dataset
    if folder is None or not (folder / "labels.csv").is_file():
        print("label_teacher: give a dataset folder with labels.csv", file=sys.stderr)
        return 2
    rec = recognizer()
    with (folder / "labels.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    kept: list[tuple[str, int, str, float]] = []
    every: list[tuple[str, int, str, float, int, str]] = []
    why: dict[str, int] = {}
    right = wrong = 0
    seen: dict[str, int] = {}
    for r in rows:
        # A photo may hold several plates: each is named by its photo and its place among the photo's rows.
        index = seen[r["image"]] = seen.get(r["image"], -1) + 1
        image = cv2.imread(str(folder / "images" / r["image"]), cv2.IMREAD_COLOR)
        if image is None:
            why["unreadable"] = why.get("unreadable", 0) + 1
            continue
        box = (float(r["x"]), float(r["y"]), float(r["w"]), float(r["h"]))
        text, conf, votes, reason = label(rec, image, box, args.min_conf, args.min_votes)
        every.append((r["image"], index, text, conf, votes, reason))
        if reason:
            why[reason] = why.get(reason, 0) + 1
            continue
        kept.append((r["image"], index, text, conf))
        if args.validate and args.out:
            kept[-1] = (r["image"], index, text + "|" + plate_text(r["plate_text"]), conf)
        if args.validate:
            truth = plate_text(r["plate_text"]).translate(FOLD)
            right += text.translate(FOLD) == truth
            wrong += text.translate(FOLD) != truth
    print(f"{folder}: {len(rows)} plates, kept {len(kept)}; left out: {why}")
    if args.validate:
        print(f"kept labels right {right}, wrong {wrong} ({100.0 * right / max(1, right + wrong):.1f}% clean)")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["image", "plate", "plate_text", "confidence"])
            for image_name, index, text, conf in kept:
                w.writerow([image_name, index, text, f"{conf:.4f}"])
    if args.all:
        args.all.parent.mkdir(parents=True, exist_ok=True)
        with args.all.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["image", "plate", "plate_text", "confidence", "votes", "why"])
            for image_name, index, text, conf, votes, reason in every:
                w.writerow([image_name, index, text, f"{conf:.4f}", votes, reason])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
