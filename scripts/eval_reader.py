"""Evaluate the plate reader (int8 and float, 1 thread) on a folder of crops with labels.csv.

Prints exact-plate and character accuracy overall and per state, p50/p99 latency of ``PlateReader.read``
per crop (preprocessing included), the int8-vs-float gap, how the confidence threshold splits right and wrong
readings, the same on the held-out Argentine crops, and on fresh synthetic crops (single-line, and two-line
plates, which must come out below the threshold); writes a JSON summary. With ``--record`` the figures also go
into the model's contract (``models/plate_reader.json``, key ``figures``).

With ``--cli FILE`` it instead scores the JSON lines written by
``edge-agent read --crops --json --threads 1 DIR/images/*.png > FILE`` against the folder's labels.

Usage: .venv/bin/python scripts/eval_reader.py [--crops DIR] [--json out.json] [--record] [--synthetic N]
       .venv/bin/python scripts/eval_reader.py --cli reads.jsonl [--crops DIR]
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(REPO))

from training import reader_data  # noqa: E402

from edge_agent.device.vision.reader import PlateReader  # noqa: E402
from edge_agent.device.vision.scoring import normalise_plate, score  # noqa: E402


def load_labels(folder: Path) -> list[tuple[Path, str, str]]:
    """(image path, text, state) rows of a crops folder (labels.csv may have CRLF line endings)."""
    with (folder / "labels.csv").open(newline="", encoding="utf-8") as fh:
        return [
            (folder / "images" / r["image"].strip(), r["plate_text"].strip(), (r.get("state") or "").strip())
            for r in csv.DictReader(fh)
        ]


def print_groups(per_group: dict[str, dict[str, float]]) -> None:
    """Per-group table, worst exact accuracy first."""
    print("per state: state n exact% char%")
    for g, s in sorted(per_group.items(), key=lambda kv: (kv[1]["exact"], kv[0])):
        print(f"  {g or '-'} {s['n']} {100 * s['exact']:.1f} {100 * s['char']:.1f}")


def group_scores(preds: list[str], rows: list[tuple[Path, str, str]]) -> dict[str, dict[str, float]]:
    """Exact and char accuracy per state (third column of the rows)."""
    groups: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for p, (_, t, g) in zip(preds, rows, strict=True):
        groups[g].append((p, t))
    out = {}
    for g, pairs in sorted(groups.items()):
        s = score(pairs)
        out[g] = {"n": s.plates, "exact": round(s.exact_accuracy, 4), "char": round(s.char_accuracy, 4)}
    return out


def score_cli(path: Path, rows: list[tuple[Path, str, str]]) -> None:
    """Score ``edge-agent read --crops --json`` output (one JSON object per line) against the labels."""
    by_name: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            obj = json.loads(line)
            plates = obj.get("plates") or []
            by_name[Path(obj["path"]).name] = plates[0]["text"] if plates else ""
    missing = [p.name for p, _, _ in rows if p.name not in by_name]
    preds = [by_name.get(p.name, "") for p, _, _ in rows]
    s = score((p, t) for p, (_, t, _) in zip(preds, rows, strict=True))
    print(
        f"{path.name}: {s.plates} crops ({len(missing)} without output)  exact {100 * s.exact_accuracy:.1f}%"
        f"  char {100 * s.char_accuracy:.1f}%"
    )
    print_groups(group_scores(preds, rows))


def threshold_split(preds: list[str], confs: list[float], truths: list[str], threshold: float) -> dict[str, float]:
    """Share of readings at or above the threshold, and the exact accuracy of those and of the rest."""
    right = [normalise_plate(p) == normalise_plate(t) for p, t in zip(preds, truths, strict=True)]
    above = [r for r, c in zip(right, confs, strict=True) if c >= threshold]
    below = [r for r, c in zip(right, confs, strict=True) if c < threshold]
    return {
        "threshold": threshold,
        "share_above": round(len(above) / max(1, len(right)), 4),
        "exact_above": round(sum(above) / max(1, len(above)), 4),
        "exact_below": round(sum(below) / max(1, len(below)), 4),
    }


def synthetic_check(reader: PlateReader, n: int, seed: int = 424242) -> dict[str, float]:
    """Fresh synthetic crops (a seed training never uses): single-line accuracy and two-line refusals."""
    from training.synth.crops import make_crop
    from training.synth.plates import render_plate

    rng = np.random.default_rng(seed)
    single, single_conf, truths, two_conf = [], [], [], []
    for i in range(n):
        two = i % 4 == 0
        plate = render_plate(rng, two_line=two)
        r = reader.read(make_crop(rng, plate, 0.5))
        if plate.two_line:
            two_conf.append(r.confidence)
        else:
            single.append(r.text)
            single_conf.append(r.confidence)
            truths.append(plate.text)
    s = score(zip(single, truths, strict=True))
    split = threshold_split(single, single_conf, truths, reader.threshold)
    print("synthetic threshold table: threshold, single-line share above, exact above, two-line share above")
    for th in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8):
        t = threshold_split(single, single_conf, truths, th)
        two = sum(c >= th for c in two_conf) / max(1, len(two_conf))
        print(f"  {th:.1f} {t['share_above']:.3f} {t['exact_above']:.3f} {two:.3f}")
    return {
        "single_line_n": s.plates,
        "single_line_exact": round(s.exact_accuracy, 4),
        "single_line_char": round(s.char_accuracy, 4),
        "single_line_share_above_threshold": split["share_above"],
        "single_line_exact_above_threshold": split["exact_above"],
        "two_line_n": len(two_conf),
        "two_line_share_above_threshold": round(
            sum(c >= reader.threshold for c in two_conf) / max(1, len(two_conf)), 4
        ),
    }


def run(reader: PlateReader, items: list[tuple[np.ndarray, str, str]]) -> dict[str, object]:
    """Read every crop; return predictions, accuracy overall and per group, and latency percentiles."""
    for img, _, _ in items[:10]:  # warm-up
        reader.read(img)
    preds, times, confs = [], [], []
    for img, _, _ in items:
        t0 = time.perf_counter()
        r = reader.read(img)
        times.append((time.perf_counter() - t0) * 1000)
        preds.append(r.text)
        confs.append(r.confidence)
    overall = score((p, t) for p, (_, t, _) in zip(preds, items, strict=True))
    per_group = group_scores(preds, [(Path(), t, g) for _, t, g in items])
    return {
        "n": overall.plates,
        "exact": round(overall.exact_accuracy, 4),
        "char": round(overall.char_accuracy, 4),
        "p50_ms": round(float(np.percentile(times, 50)), 3),
        "p99_ms": round(float(np.percentile(times, 99)), 3),
        "confidence": threshold_split(preds, confs, [t for _, t, _ in items], reader.threshold),
        "per_group": per_group,
        "predictions": preds,
        "confidences": [round(c, 3) for c in confs],
    }


def main() -> None:
    """Evaluate and print the report."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    datasets = REPO.parent / "shared" / "datasets"
    ap.add_argument("--crops", type=Path, default=datasets / "us-crops-validation")
    ap.add_argument("--data-root", type=Path, default=datasets, help="for the held-out plates-ar-crops")
    ap.add_argument("--models", type=Path, default=REPO / "models")
    ap.add_argument("--json", type=Path, default=REPO / "runs" / "eval_reader.json")
    ap.add_argument("--failures", type=int, default=0, help="print this many misread crops (name, truth, pred)")
    ap.add_argument("--record", action="store_true", help="write the figures into models/plate_reader.json")
    ap.add_argument("--synthetic", type=int, default=800, help="fresh synthetic crops to check (0: none)")
    ap.add_argument("--cli", type=Path, help="score this `edge-agent read --crops --json` output and stop")
    ap.add_argument(
        "--write-fixtures",
        type=Path,
        help="write the reader's committed test crops (tests/vision/data/reader: drawn, no data set) here and stop",
    )
    args = ap.parse_args()
    if args.write_fixtures:
        reader_data.write_fixtures(args.write_fixtures)
        return

    rows = load_labels(args.crops)
    if args.cli is not None:
        score_cli(args.cli, rows)
        return
    us = [(cv2.imread(str(p), cv2.IMREAD_COLOR), t, s) for p, t, s in rows]
    missing = [str(p) for (p, _, _), (img, _, _) in zip(rows, us, strict=True) if img is None]
    if missing:
        sys.exit(f"cannot read {len(missing)} crops, e.g. {missing[0]}")
    _, held = reader_data.ar_split(args.data_root)
    ar = [(img, t, "AR") for img, t in reader_data.load_images(held)]

    summary: dict[str, object] = {"crops": str(args.crops), "models": {}}
    for name in ("plate_reader.tflite", "plate_reader_float.tflite"):
        path = args.models / name
        reader = PlateReader(path, num_threads=1)
        res_us = run(reader, us)
        res_ar = run(reader, ar)
        kind = "float" if "float" in name else "int8"
        summary["models"][kind] = {  # type: ignore[index]
            "file": name,
            "bytes": path.stat().st_size,
            "us": {k: v for k, v in res_us.items() if k not in ("predictions", "confidences")},
            "synthetic": synthetic_check(reader, args.synthetic) if args.synthetic else {},
            "ar_held_out": {k: v for k, v in res_ar.items() if k not in ("predictions", "confidences", "per_group")},
        }
        print(f"== {kind} ({name}, {path.stat().st_size / 1e3:.0f} kB), 1 thread")
        print(
            f"us-crops-validation: {res_us['n']} crops  exact {100 * res_us['exact']:.1f}%  "
            f"char {100 * res_us['char']:.1f}%  p50 {res_us['p50_ms']:.2f} ms  p99 {res_us['p99_ms']:.2f} ms"
        )
        print(
            f"plates-ar-crops held out: {res_ar['n']} crops  exact {100 * res_ar['exact']:.1f}%  "
            f"char {100 * res_ar['char']:.1f}%"
        )
        print(f"us-crops-validation confidence split: {res_us['confidence']}")
        print(f"synthetic: {summary['models'][kind]['synthetic']}")  # type: ignore[index]
        if kind == "int8":
            print_groups(res_us["per_group"])  # type: ignore[arg-type]
            bad = [
                (p.name, t, pred, c)
                for (p, t, _), pred, c in zip(rows, res_us["predictions"], res_us["confidences"], strict=True)  # type: ignore[call-overload]
                if normalise_plate(pred) != normalise_plate(t)
            ]
            for name_, t, pred, c in bad[: args.failures]:
                print(f"  miss {name_} truth {t} read {pred} conf {c}")
    models = summary["models"]  # type: ignore[assignment]
    gap = models["int8"]["us"]["exact"] - models["float"]["us"]["exact"]  # type: ignore[index]
    summary["int8_minus_float_exact_points"] = round(100 * gap, 2)
    print(f"int8 - float exact accuracy: {100 * gap:+.1f} points")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(summary, indent=1) + "\n")
    print(f"summary written to {args.json}")
    if args.record:
        contract_path = args.models / "plate_reader.json"
        contract = json.loads(contract_path.read_text())
        contract["figures"] = {
            "us_crops_validation_int8": models["int8"]["us"],  # type: ignore[index]
            "us_crops_validation_float": {
                k: models["float"]["us"][k] for k in ("n", "exact", "char", "p50_ms", "p99_ms", "confidence")
            },  # type: ignore[index]
            "int8_minus_float_exact_points": summary["int8_minus_float_exact_points"],
            "ar_held_out_int8": models["int8"]["ar_held_out"],  # type: ignore[index]
            "ar_held_out_float": models["float"]["ar_held_out"],  # type: ignore[index]
            "synthetic_int8": models["int8"]["synthetic"],  # type: ignore[index]
            "threads": 1,
            "command": "python scripts/eval_reader.py --record",
        }
        contract_path.write_text(json.dumps(contract, indent=1) + "\n")
        print(f"figures recorded in {contract_path}")


if __name__ == "__main__":
    main()
