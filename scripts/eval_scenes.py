"""Measure the shipped pipeline end to end on real scenes: `real-scenes-validation` (validation only, AGPL).

Each photo goes through the same code as `edge-agent read IMAGE` (1 thread by default): its detector input
chosen by the photo's size (readcmd.STILL_INPUTS), the mirrored pass, the box refiner, rectification, five views
on each of three framings, beam search. A plate is *found* when a detection overlaps its labelled box at IoU >=
0.5; its reading is the text of the best-overlapping detection. Prints, per region and overall: exact-plate and
character accuracy, plate-found rate, reading given found, the found plates' mean box IoU, the time per photo,
and the error anatomy of the plates found but misread (characters inserted at the crop's edges or inside,
characters dropped at the ends or inside, substitution pairs truth->read).

``--boxes`` reads the labelled boxes instead of the detector's (the reader's share of the errors: same crop
margin as the pipeline); ``--no-refine`` reads the detector's boxes without the box refiner. ``--reader`` /
``--detector`` / ``--refiner`` evaluate candidate models; ``--formats`` the reader's plate formats (as
`vision.reader.formats` in the config). The dataset is never copied: nothing derived from its pixels
is written, only figures (``--json``).

Usage: .venv/bin/python scripts/eval_scenes.py [--data DIR] [--regions us,eu,br] [--boxes] [--json out.json]
       [--reader models/plate_reader.tflite] [--detector models/plate_detector.tflite] [--threads 1] [--list]
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(REPO))

from training.evaluation import Tally, classify, edge_offsets  # noqa: E402

from edge_agent.device.vision.detector import PlateDetector, iou  # noqa: E402
from edge_agent.device.vision.pipeline import VIEW_FRAMINGS, VisionPipeline, read_views  # noqa: E402
from edge_agent.device.vision.readcmd import Reader  # noqa: E402
from edge_agent.device.vision.reader import OUT_OF_RANGE_CONFIDENCE, PlateReader, TextRead, decode_ctc  # noqa: E402
from edge_agent.device.vision.refine import PlateRefiner  # noqa: E402
from edge_agent.device.vision.scoring import char_errors, normalise_plate  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "datasets" / "real-scenes-validation"
FOUND_IOU = 0.5


class GreedyReader(PlateReader):
    """The reader as it decoded before the beam search: best class per step, length limits only (ablation)."""

    def decode(self, probs: np.ndarray) -> TextRead:
        text, confs = decode_ctc(probs, self.contract.alphabet, self.contract.blank)
        confidence = min(confs, default=0.0)
        if not self.lengths[0] <= len(text) <= self.lengths[1]:
            confidence = min(confidence, OUT_OF_RANGE_CONFIDENCE)
        return TextRead(text, confidence, confs, probs)


def turned(
    image: np.ndarray, box: tuple[float, float, float, float], degrees: float
) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """The photo turned by `degrees` about the plate's centre, and the upright box around the turned plate."""
    x, y, w, h = box
    m = cv2.getRotationMatrix2D((x + w / 2, y + h / 2), degrees, 1.0)
    out = cv2.warpAffine(image, m, (image.shape[1], image.shape[0]), borderMode=cv2.BORDER_REPLICATE)
    corners = cv2.transform(np.array([[[x, y], [x + w, y], [x + w, y + h], [x, y + h]]], np.float32), m)[0]
    (x0, y0), (x1, y1) = corners.min(axis=0), corners.max(axis=0)
    return out, (float(x0), float(y0), float(x1 - x0), float(y1 - y0))


def load_rows(folder: Path) -> list[tuple[Path, str, tuple[float, float, float, float]]]:
    """(image, text, box) rows of one region."""
    with (folder / "labels.csv").open(newline="", encoding="utf-8") as fh:
        return [
            (
                folder / "images" / r["image"].strip(),
                r["plate_text"].strip(),
                (float(r["x"]), float(r["y"]), float(r["w"]), float(r["h"])),
            )
            for r in csv.DictReader(fh)
        ]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the dataset folder (region subfolders)")
    ap.add_argument("--regions", default="us,eu,br", help="comma-separated region subfolders")
    ap.add_argument("--boxes", action="store_true", help="read the labelled boxes instead of the detector's")
    ap.add_argument("--reader", type=Path, default=None, help="reader model (default: the shipped one)")
    ap.add_argument("--detector", type=Path, default=None, help="detector model (default: the shipped one)")
    ap.add_argument("--refiner", type=Path, default=None, help="box refiner model (default: the shipped one)")
    ap.add_argument("--no-refine", action="store_true", help="read the detector's boxes as they are (ablation)")
    ap.add_argument("--formats", default=None, help="plate formats, comma-separated (default: the reader's)")
    ap.add_argument("--input-size", default=None, help="detector input HxW, e.g. 320x576 (default: the model's)")
    ap.add_argument("--threads", type=int, default=1, help="interpreter threads (default 1)")
    ap.add_argument("--no-rectify", action="store_true", help="read the crops as cut, without levelling them")
    ap.add_argument(
        "--one-framing", action="store_true", help="read each box as it is, not also with its top and bottom cut"
    )
    ap.add_argument("--greedy", action="store_true", help="decode greedily instead of the beam search (ablation)")
    ap.add_argument(
        "--rotate",
        type=float,
        default=0.0,
        help="turn every photo by this many degrees about its plate first (alternating sign), a stress test of"
        " tilted plates; the labelled box becomes the upright box around the turned plate",
    )
    ap.add_argument("--json", type=Path, default=None, help="write the figures here")
    ap.add_argument("--list", action="store_true", help="print every misread plate (truth, reading)")
    args = ap.parse_args()
    if not args.data.is_dir():
        print(f"eval_scenes: {args.data} not found (../shared/datasets/real-scenes-validation)", file=sys.stderr)
        return 2

    reader_kwargs: dict[str, Any] = {"num_threads": args.threads}
    if args.formats is not None:
        reader_kwargs["formats"] = [f for f in args.formats.split(",") if f]
    reader = (GreedyReader if args.greedy else PlateReader)(args.reader, **reader_kwargs)
    # The pipeline exactly as `edge-agent read IMAGE` runs it (its detector input chosen by the photo's size),
    # unless --input-size fixes the detector's input.
    refiner = None if args.no_refine else PlateRefiner(args.refiner, num_threads=args.threads)
    framings = ((0.0, 0.0),) if args.one_framing else VIEW_FRAMINGS
    still = Reader(
        threads=args.threads, reader=reader, detector_model=args.detector, refiner=refiner, refine=refiner is not None
    )
    detector = still.detector
    assert detector is not None
    fixed = None
    if args.input_size:
        size = tuple(int(v) for v in args.input_size.split("x"))
        detector = PlateDetector(args.detector, num_threads=args.threads, input_size=size)  # type: ignore[arg-type]
        fixed = VisionPipeline(detector, reader, rectify=not args.no_rectify, refiner=refiner, framings=framings)
    total = Tally()
    box_ious: dict[str, list[float]] = {}
    edges: list[tuple[float, float, float, float]] = []  # found boxes' edges against the labels
    figures: dict[str, Any] = {
        "mode": "labelled boxes" if args.boxes else "pipeline",
        "reader": reader.contract.version,
        "detector": detector.contract.version,
        "refiner": refiner.contract.version if refiner is not None and not args.boxes else None,
    }
    for region in [r for r in args.regions.split(",") if r]:
        tally = Tally()
        for path, text, labelled in load_rows(args.data / region):
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            truth = normalise_plate(text)
            box = labelled
            if image is not None and args.rotate:
                image, box = turned(image, labelled, args.rotate * (1 if tally.plates % 2 else -1))
            tally.plates += 1
            tally.chars += len(truth)
            if image is None:
                print(f"eval_scenes: {path}: unreadable image, counted as missed", file=sys.stderr)
                tally.char_errors += len(truth)
                continue
            t0 = time.perf_counter()
            if args.boxes:
                read = read_views(reader, image, box, rectify=not args.no_rectify, framings=framings).text
                found = True
            else:
                if fixed is not None:
                    sightings = fixed.sightings(image)
                else:
                    sightings = still.sightings(image, rectify=not args.no_rectify, framings=framings)
                tally.ms.append((time.perf_counter() - t0) * 1000)
                overlaps = [float(iou(np.array(box), np.array([s.detection.box]))[0]) for s in sightings]
                best = int(np.argmax(overlaps)) if overlaps else -1
                found = best >= 0 and overlaps[best] >= FOUND_IOU
                read = sightings[best].text if found else ""
                if found:
                    box_ious.setdefault(region, []).append(overlaps[best])
                    edges.append(edge_offsets(sightings[best].detection.box, box))
            pred = normalise_plate(read)
            tally.found += found
            tally.exact += pred == truth
            tally.exact_found += found and pred == truth
            tally.char_errors += char_errors(pred, truth)
            if found and pred != truth:
                classify(pred, truth, tally)
                if args.list:
                    print(f"  {region} {path.name}: {truth} read {pred or '(nothing)'}")
        figures[region] = tally.summary()
        total.add(tally)
    figures["all"] = total.summary()
    box_ious["all"] = [v for values in box_ious.values() for v in values]
    if edges:
        figures["all"]["box_edges_mean"] = [round(float(v), 3) for v in np.mean(edges, axis=0)]
        figures["all"]["box_edges_std"] = [round(float(v), 3) for v in np.std(edges, axis=0)]
    for name, values in box_ious.items():
        figures[name]["box_iou_found"] = round(float(np.mean(values)), 3) if values else None

    print(
        f"{figures['mode']}: reader {figures['reader']}, detector {figures['detector']}, "
        f"refiner {figures['refiner'] or 'off'}, {args.threads} thread(s)"
    )
    print("region  plates  exact%  char%  found%  read|found%  ms/photo p50  box IoU (found)")
    for name in [*args.regions.split(","), "all"]:
        s = figures[name]
        iou_found = s.get("box_iou_found")
        print(
            f"{name:6s} {s['plates']:7d} {s['exact']:7.1f} {s['char']:6.1f} {s['found']:7.1f} "
            f"{s['read_given_found']:11.1f}  {s['ms_p50'] if s['ms_p50'] is not None else '-':>12}  "
            f"{iou_found if iou_found is not None else '-'}"
        )
    if edges:
        mean, std = figures["all"]["box_edges_mean"], figures["all"]["box_edges_std"]
        print(
            "found boxes against the labels, left / right (share of the width), top / bottom (of the height):"
            f" mean {' / '.join(f'{v:+.3f}' for v in mean)}, spread {' / '.join(f'{v:.3f}' for v in std)}"
        )
    for name in [*args.regions.split(","), "all"]:
        s = figures[name]
        anatomy = ", ".join(f"{k} {v}" for k, v in s["anatomy"].items()) or "none"
        pairs = " ".join(f"{k} {v}" for k, v in s["pairs"].items())
        print(f"{name}: found but misread {s['misread']} ({s['single_error']} with one error): {anatomy}")
        if pairs:
            print(f"    substitutions (truth->read): {pairs}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
