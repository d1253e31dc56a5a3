"""How wide a detector box should be cut before the reader reads it: exact reads per crop margin.

Renders fixed synthetic 1280x720 street scenes (plates 60 px wide and up, the texts known), finds the plates with
the shipped detector, and reads each found plate (IoU >= 0.5 with its label) through
``edge_agent.device.vision.pipeline.crop_plate`` at several margins, scored with the project's convention. The same
crops with the labelled box show what a perfect detector would give. ``pipeline.CROP_MARGIN`` comes from this.

Usage:
  .venv/bin/python scripts/eval_crop_margin.py [--scenes 800] [--seed 4242] [--detector models/plate_detector.tflite]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training.synth.scenes import render_scene

from edge_agent.device.vision.detector import PlateDetector, iou
from edge_agent.device.vision.pipeline import CROP_MARGIN, crop_plate
from edge_agent.device.vision.reader import PlateReader
from edge_agent.device.vision.scoring import score

MARGINS = (0.0, 0.02, 0.04, 0.06, 0.08, 0.12)


def main() -> None:
    """Print and return exact-read shares per margin as one JSON line."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenes", type=int, default=800)
    ap.add_argument("--seed", type=int, default=4242)
    ap.add_argument("--detector", type=Path, default=None, help="default: the shipped model")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    detector, reader = PlateDetector(args.detector, num_threads=1), PlateReader(num_threads=1)
    found = []  # (image, detector box, labelled box, text)
    for _ in range(args.scenes):
        scene = render_scene(rng, 720, 1280, min_plate=60, max_plate_frac=0.2)
        dets = detector.detect(scene.image)
        if not dets:
            continue
        boxes = np.asarray([d.box for d in dets], np.float32)
        for truth, text in zip(scene.boxes, scene.texts, strict=True):
            overlap = iou(truth, boxes)
            if text and overlap.max() >= 0.5:
                found.append((scene.image, dets[int(overlap.argmax())].box, tuple(truth), text))

    def exact(margin: float, labelled: bool = False) -> float:
        pairs = ((reader.read(crop_plate(img, t if labelled else b, margin)).text, txt) for img, b, t, txt in found)
        return round(score(pairs).exact_accuracy, 4)

    result = {
        "plates_found": len(found),
        "exact_by_margin": {str(m): exact(m) for m in MARGINS},
        "labelled_box_at_shipped_margin": exact(CROP_MARGIN, labelled=True),
        "shipped_margin": CROP_MARGIN,
        "scenes": args.scenes,
        "seed": args.seed,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
