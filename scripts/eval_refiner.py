"""Measure the box refiner on the reader's held-out street plates, and choose its `tighten` there.

The plates: the held-out share (by source photo) of the real street plates whose text a person checked
(`scripts/training/labels/checked.csv`: plates-open-lpr, plates-ro-dashcam, plates-scenes-boxes), at least 40 px
wide. No reader and no refiner trained on them. Each plate gets a detector-like box (its labelled box with the
edges moved as the shipped detector's move on real photos, seeded: `refiner_data.detector_like`), which the
refiner refines. Prints the boxes' mean IoU with the labels and their edge bias, and the share of plates the
shipped reader reads exactly through the pipeline's views on: the labelled box, the detector-like box, the
refined box, and the refined box with its top and bottom trimmed by each pair of the grid. `--update-contract`
writes the best pair (ties: the smaller trim) into the refiner's contract as `postprocess.tighten`, with these
figures. `real-scenes-validation` is not read here.

Usage: .venv/bin/python scripts/eval_refiner.py [--refiner models/plate_refiner.tflite] [--update-contract]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(REPO))

from training import reader_data, refiner_data  # noqa: E402

from edge_agent.device.vision.pipeline import read_views  # noqa: E402
from edge_agent.device.vision.reader import PlateReader  # noqa: E402
from edge_agent.device.vision.refine import Box, PlateRefiner, box_iou, contract_path  # noqa: E402
from edge_agent.device.vision.scoring import normalise_plate  # noqa: E402

TOPS = (0.0, 0.02, 0.04, 0.06)
BOTTOMS = (0.0, 0.03, 0.06, 0.09)


def trimmed(box: Box, top: float, bottom: float) -> Box:
    """`box` with `top` and `bottom` fractions of its height cut off."""
    x, y, w, h = box
    return (x, y + top * h, w, h * (1 - top - bottom))


def edge_bias(boxes: list[Box], truths: list[Box]) -> list[float]:
    """Mean offset of each edge (left, right as fractions of the width; top, bottom of the height)."""
    e = [
        (
            (b[0] - t[0]) / t[2],
            (b[0] + b[2] - t[0] - t[2]) / t[2],
            (b[1] - t[1]) / t[3],
            (b[1] + b[3] - t[1] - t[3]) / t[3],
        )
        for b, t in zip(boxes, truths, strict=True)
    ]
    return [round(float(v), 3) for v in np.mean(e, axis=0)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-root", type=Path, default=REPO.parent / "shared" / "datasets")
    ap.add_argument("--labels", type=Path, default=REPO / "scripts" / "training" / "labels" / "checked.csv")
    ap.add_argument("--refiner", type=Path, default=REPO / "models" / "plate_refiner.tflite")
    ap.add_argument("--reader", type=Path, default=None, help="reader model (default: the shipped one)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the detector-like boxes")
    ap.add_argument("--update-contract", action="store_true", help="write the best trim into the contract")
    args = ap.parse_args()

    refiner = PlateRefiner(args.refiner)
    refiner.contract = dataclasses.replace(refiner.contract, tighten_top=0.0, tighten_bottom=0.0)
    reader = PlateReader(args.reader, num_threads=1)
    _, held = reader_data.teacher_split(args.data_root, args.labels)
    held = [p for p in held if p.box[2] >= 40]
    rng = np.random.default_rng(args.seed)
    truths = [p.box for p in held]
    loose = [refiner_data.detector_like(rng, p.box) for p in held]
    refined = [refiner.refine(p.image, b) for p, b in zip(held, loose, strict=True)]

    def exact(boxes: list[Box]) -> float:
        hits = sum(
            normalise_plate(read_views(reader, p.image, b).text) == normalise_plate(p.text)
            for p, b in zip(held, boxes, strict=True)
        )
        return round(100 * hits / len(held), 1)

    figures: dict[str, object] = {
        "plates": len(held),
        "iou": {
            "detector_like": round(float(np.mean([box_iou(b, t) for b, t in zip(loose, truths, strict=True)])), 3),
            "refined": round(float(np.mean([box_iou(b, t) for b, t in zip(refined, truths, strict=True)])), 3),
        },
        "edge_bias_left_right_top_bottom": {
            "detector_like": edge_bias(loose, truths),
            "refined": edge_bias(refined, truths),
        },
        "exact": {"labelled": exact(truths), "detector_like": exact(loose), "refined": exact(refined)},
    }
    print(f"{len(held)} held-out street plates; reader {reader.contract.version}, refiner {refiner.contract.version}")
    print(json.dumps(figures, indent=1))
    grid = {(t, b): exact([trimmed(r, t, b) for r in refined]) for t in TOPS for b in BOTTOMS}
    print("exact % with the refined box trimmed (rows: top, columns: bottom)")
    print("top\\bottom " + " ".join(f"{b:6.2f}" for b in BOTTOMS))
    for t in TOPS:
        print(f"{t:10.2f} " + " ".join(f"{grid[(t, b)]:6.1f}" for b in BOTTOMS))
    best = max(grid, key=lambda k: (grid[k], -(k[0] + k[1])))
    print(f"best: top {best[0]}, bottom {best[1]}: {grid[best]}%")
    if args.update_contract:
        path = contract_path(args.refiner)
        data = json.loads(path.read_text(encoding="utf-8"))
        data["postprocess"]["tighten"] = {
            "top": best[0],
            "bottom": best[1],
            "meaning": "the refined box loses these fractions of its height at the top and bottom",
            "chosen_by": "python scripts/eval_refiner.py --update-contract",
        }
        data["figures"]["held_out_street_plates"] = {**figures, "exact_tightened": grid[best]}
        path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
        print(f"wrote tighten {best} into {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
