"""Measure the box refiner on the reader's held-out street plates.

The plates: the held-out share (by source photo) of the real street plates whose text a person checked
(`scripts/training/labels/checked.csv`: plates-open-lpr, plates-ro-dashcam, plates-scenes-boxes), at least 40 px
wide. No reader and no refiner trained on them. Each plate gets `--draws` detector-like boxes (its labelled box
with the edges moved as the shipped detector's move on real photos, seeded: `refiner_data.detector_like`), which
the refiner refines. Prints the boxes' mean IoU with the labels and their edge bias, and the share of plates the
reader reads exactly on the labelled, the detector-like and the refined boxes, each through the pipeline's views
(`read_views`: five margins on each of `VIEW_FRAMINGS`) and through the margins alone on the box as it is.
`real-scenes-validation` is not read here.

Usage: .venv/bin/python scripts/eval_refiner.py [--refiner models/plate_refiner.tflite] [--draws 3] [--json F]
       [--record]  (writes the figures into the refiner's contract)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(REPO))

from training import reader_data, refiner_data  # noqa: E402
from training.evaluation import edge_offsets  # noqa: E402

from edge_agent.device.vision.pipeline import VIEW_FRAMINGS, read_views  # noqa: E402
from edge_agent.device.vision.reader import PlateReader  # noqa: E402
from edge_agent.device.vision.refine import PlateRefiner  # noqa: E402
from edge_agent.device.vision.runtime import sidecar_path  # noqa: E402
from edge_agent.device.vision.scoring import normalise_plate  # noqa: E402
from edge_agent.device.vision.tracker import Box, iou  # noqa: E402


def edge_bias(boxes: list[Box], truths: list[Box]) -> list[float]:
    """Mean offset of each edge (left, right as fractions of the width; top, bottom of the height)."""
    e = [edge_offsets(b, t) for b, t in zip(boxes, truths, strict=True)]
    return [round(float(v), 3) for v in np.mean(e, axis=0)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-root", type=Path, default=REPO.parent / "shared" / "datasets")
    ap.add_argument("--labels", type=Path, default=REPO / "scripts" / "training" / "labels" / "checked.csv")
    ap.add_argument("--refiner", type=Path, default=REPO / "models" / "plate_refiner.tflite")
    ap.add_argument("--reader", type=Path, default=None, help="reader model (default: the shipped one)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the detector-like boxes")
    ap.add_argument("--draws", type=int, default=3, help="detector-like boxes per plate (their mean is reported)")
    ap.add_argument("--json", type=Path, default=None, help="write the figures here")
    ap.add_argument("--record", action="store_true", help="also write them into the refiner's contract")
    args = ap.parse_args()

    refiner = PlateRefiner(args.refiner)
    reader = PlateReader(args.reader, num_threads=1)
    # As much of each photo around the plate as the refiner's training keeps: its window reaches that far.
    _, plates = reader_data.teacher_split(args.data_root, args.labels, context=refiner_data.CONTEXT)
    plates = [p for p in plates if p.box[2] >= 40]
    rng = np.random.default_rng(args.seed)
    held = [p for _ in range(args.draws) for p in plates]  # each plate once per draw
    truths = [p.box for p in held]
    loose = [refiner_data.detector_like(rng, p.box) for p in held]
    refined = [refiner.refine(p.image, b) for p, b in zip(held, loose, strict=True)]

    def exact(boxes: list[Box], framings: tuple[tuple[float, float], ...]) -> float:
        hits = sum(
            normalise_plate(read_views(reader, p.image, b, framings=framings).text) == normalise_plate(p.text)
            for p, b in zip(held, boxes, strict=True)
        )
        return round(100 * hits / len(held), 1)

    boxes = {"labelled": truths, "detector_like": loose, "refined": refined}

    figures: dict[str, object] = {
        "plates": len(plates),
        "draws": args.draws,
        "iou": {
            "detector_like": round(float(np.mean([iou(b, t) for b, t in zip(loose, truths, strict=True)])), 3),
            "refined": round(float(np.mean([iou(b, t) for b, t in zip(refined, truths, strict=True)])), 3),
        },
        "edge_bias_left_right_top_bottom": {
            "detector_like": edge_bias(loose, truths),
            "refined": edge_bias(refined, truths),
        },
        "exact_pipeline_views": {k: exact(v, VIEW_FRAMINGS) for k, v in boxes.items()},
        "exact_box_as_it_is": {k: exact(v, ((0.0, 0.0),)) for k, v in boxes.items()},
    }
    print(
        f"{len(plates)} held-out street plates x {args.draws} boxes; reader {reader.contract.version}, "
        f"refiner {refiner.contract.version}"
    )
    print(json.dumps(figures, indent=1))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1) + "\n", encoding="utf-8")
    if args.record:
        path = sidecar_path(args.refiner)
        data = json.loads(path.read_text(encoding="utf-8"))
        data["figures"]["held_out_street_plates"] = {
            "command": "python scripts/eval_refiner.py --record",
            "reader": reader.contract.version,
            **figures,
        }
        path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
