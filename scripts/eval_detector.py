"""Evaluate the plate detector: held-out real photos, fixed synthetic 720p scenes, float vs int8, latency.

Held-out photos are those of ``plates-scenes-boxes`` whose source photo the split rule holds out (see
``detector_data``); every file of such a photo is scored. A detection is a true positive when it matches a
not-yet-matched labelled plate with IoU >= 0.5 (greedy, best score first); every other detection is a false box.
For each confidence threshold: recall and false boxes per image. The operating point is the lowest threshold
with at most ``--max-fp`` false boxes per image; the confirm point, a tenth of that (the score one frame of a
vehicle pass must reach for the tracker to report the pass). Every model is scored twice: with the mirrored pass
(``PlateDetector(flip=True)``) and without it. Latency is measured at 1 thread on a 1280x720 frame: one model
invoke alone, and the whole ``detect`` call (letterbox, inference (twice with the mirrored pass), decode, NMS).

``--write-fixtures DIR`` instead renders the small synthetic test scenes of ``tests/vision/data/detector``
(JPEG + ``boxes.json``); they are drawn, not taken from any data set.

Usage:
  .venv/bin/python scripts/eval_detector.py --out runs/eval_detector.json [--update-contract [--mode flip]]
  .venv/bin/python scripts/eval_detector.py --write-fixtures tests/vision/data/detector
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training import detector_data as dd
from training.evaluation import FLOOR, breakdown, score
from training.synth.scenes import render_scene, single_vehicle_scene

from edge_agent.device.vision.detector import DetectorContract, PlateDetector, thresholds_for

REPO = Path(__file__).resolve().parents[1]


def run_detector(det: PlateDetector, images: list[tuple[np.ndarray, np.ndarray]]) -> list:  # type: ignore[type-arg]
    """Detections (box array, confidence) at the floor threshold for each (image, truth) pair."""
    out = []
    for img, truth in images:
        dets = [(np.asarray(d.box, np.float32), d.confidence) for d in det.detect(img)]
        out.append((dets, truth))
    return out


def latency(det: PlateDetector, frame: np.ndarray, runs: int = 300) -> dict[str, float]:
    """p50/p99 of the model invoke alone and of the whole ``detect`` call on ``frame``, in ms."""
    x = np.zeros(det.model.input.shape, det.model.input.dtype)
    for _ in range(30):
        det.model.run(x)
        det.detect(frame)
    invoke, full = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        det.model.run(x)
        t1 = time.perf_counter()
        det.detect(frame)
        t2 = time.perf_counter()
        invoke.append((t1 - t0) * 1e3)
        full.append((t2 - t1) * 1e3)
    h, w = frame.shape[:2]
    return {
        "frame": f"{w}x{h}",
        "invoke_p50_ms": round(float(np.percentile(invoke, 50)), 2),
        "invoke_p99_ms": round(float(np.percentile(invoke, 99)), 2),
        "detect_p50_ms": round(float(np.percentile(full, 50)), 2),
        "detect_p99_ms": round(float(np.percentile(full, 99)), 2),
    }


def synthetic_720p(count: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """A fixed set of synthetic 1280x720 scenes with plates 40 to ~250 px wide (a street camera's range)."""
    rng = np.random.default_rng(seed)
    scenes = []
    for _ in range(count):
        s = render_scene(rng, 720, 1280, min_plate=40, max_plate_frac=0.2)
        scenes.append((s.image, s.boxes))
    return scenes


FIXTURE_WIDTHS = (36, 48, 60, 75, 90, 110, 130, 160)


def write_fixtures(folder: Path, seed: int = 7) -> None:
    """Render the end-to-end test scenes: 640x360 JPEGs, one plate each, and their boxes in ``boxes.json``."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    boxes = {}
    for i, width in enumerate(FIXTURE_WIDTHS):
        scene = single_vehicle_scene(rng, 360, 640, float(width), camera=i % 2 == 1)
        name = f"scene_{i:02d}.jpg"
        cv2.imwrite(str(folder / name), scene.image, [cv2.IMWRITE_JPEG_QUALITY, 70])
        boxes[name] = [[round(float(v), 1) for v in b] for b in scene.boxes]
    meta = {
        "about": "synthetic scenes drawn by scripts/eval_detector.py --write-fixtures (seed "
        f"{seed}); boxes are x, y, w, h in pixels of each plate's outer edge",
        "boxes": boxes,
    }
    text = json.dumps(meta, indent=2)
    for b in boxes.values():  # one line per scene
        text = text.replace(json.dumps(b, indent=2).replace("\n", "\n    "), json.dumps(b))
    (folder / "boxes.json").write_text(text + "\n")
    print(f"wrote {len(boxes)} scenes to {folder}")


MODES = ("flip", "single")  # with the mirrored pass (PlateDetector flip=True) and without


def main() -> None:
    """Evaluate int8 and float models, each with and without the mirrored pass, and write the JSON summary."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "datasets")
    ap.add_argument("--model", type=Path, default=REPO / "models" / "plate_detector.tflite")
    ap.add_argument("--float-model", type=Path, default=None, help="default: <model stem>_float.tflite")
    ap.add_argument("--input-size", default=None, help="HxW, default: the contract's")
    ap.add_argument("--max-fp", type=float, default=0.2, help="false boxes per image at the operating point")
    ap.add_argument("--synthetic", type=int, default=60, help="synthetic 720p scenes (0 to skip)")
    ap.add_argument("--write-fixtures", type=Path, default=None, help="render the test fixtures here and stop")
    ap.add_argument(
        "--latency-only",
        action="store_true",
        help="only time both models (e.g. again on a quieter CPU); with --update-contract, replace the latency figures",
    )
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "eval_detector.json")
    ap.add_argument("--update-contract", action="store_true", help="write the figures into the model's .json")
    ap.add_argument(
        "--mode",
        choices=MODES,
        default=None,
        help="with --update-contract: how the model runs by default (postprocess.flip); default: as the contract says",
    )
    args = ap.parse_args()
    if args.write_fixtures:
        write_fixtures(args.write_fixtures)
        return
    size = tuple(int(v) for v in args.input_size.split("x")) if args.input_size else None
    float_model = args.float_model or args.model.with_name(args.model.stem + "_float.tflite")
    if args.latency_only:
        time_only(args.model, float_model, size, args.update_contract)
        return
    _, held = dd.load_photos(args.data)
    photos = [(dd.read_bgr(p.path), p.boxes) for p in held]
    synth = synthetic_720p(args.synthetic, seed=2024) if args.synthetic else []
    frame = synth[0][0] if synth else np.full((720, 1280, 3), 100, np.uint8)
    summary: dict = {
        "held_out": {"files": len(held), "sources": len({p.key for p in held}), "rule": dd.__doc__.split("\n\n")[1]},
        "max_fp_per_image": args.max_fp,
    }
    for name, path in (("int8", args.model), ("float", float_model)):
        summary[name] = {"model": str(path.relative_to(REPO) if path.is_relative_to(REPO) else path)}
        summary[name]["file_bytes"] = path.stat().st_size
        for mode in MODES:
            det = PlateDetector(path, num_threads=1, input_size=size, confidence=FLOOR, flip=mode == "flip")  # type: ignore[arg-type]
            res: dict = {"input_size": list(det.input_size)}
            found = run_detector(det, photos)
            res["held_out_photos"] = score(found, args.max_fp)
            op = res["held_out_photos"]["operating_point"]
            if op is not None:
                h, w = det.input_size
                scale = [min(h / img.shape[0], w / img.shape[1]) for img, _ in photos]
                res["held_out_breakdown"] = breakdown(found, op["threshold"], scale)
            if synth:
                res["synthetic_720p"] = score(run_detector(det, synth), args.max_fp)
            res["latency_1_thread"] = latency(det, frame)
            summary[name][mode] = res
            print(f"{name} {mode}: held-out operating point {op}")
            print(f"{name} {mode}: found / plates at it: {res.get('held_out_breakdown')}")
            if synth:
                print(f"{name} {mode}: synthetic 720p operating point {res['synthetic_720p']['operating_point']}")
            print(f"{name} {mode}: latency {res['latency_1_thread']}")
        print(f"{name}: {summary[name]['file_bytes']} B")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {args.out}")
    if args.update_contract:
        update_contract(args.model.with_suffix(".json"), summary, args)


def time_only(model: Path, float_model: Path, size: tuple[int, ...] | None, update: bool) -> None:
    """Latency of both models in both modes on a fixed synthetic 1280x720 frame; optionally into the contract."""
    frame = synthetic_720p(1, seed=2024)[0][0]
    timings: dict[str, dict[str, dict[str, float | str]]] = {}
    for name, path in (("int8", model), ("float", float_model)):
        for mode in MODES:
            det = PlateDetector(path, num_threads=1, input_size=size, flip=mode == "flip")  # type: ignore[arg-type]
            timings.setdefault(name, {})[mode] = latency(det, frame)
            print(f"{name} {mode}: latency {timings[name][mode]}")
    if update:
        contract_path = model.with_suffix(".json")
        contract = json.loads(contract_path.read_text())
        for name, modes in timings.items():
            for mode, value in modes.items():
                contract.setdefault("figures", {}).setdefault(name, {}).setdefault(mode, {})["latency_1_thread"] = value
        contract_path.write_text(json.dumps(contract, indent=2) + "\n")
        print(f"updated {contract_path}")


def update_contract(path: Path, summary: dict, args: argparse.Namespace) -> None:
    """Record the figures, the default mode and each mode's threshold (int8 operating points) in the contract."""
    contract = json.loads(path.read_text())
    post = contract["postprocess"]
    mode = args.mode or ("flip" if post.get("flip") else "single")
    post["flip"] = mode == "flip"
    for key, from_mode, point in (
        ("confidence", mode, "operating_point"),
        ("confidence_without_flip", "single", "operating_point"),
        ("confirm_confidence", mode, "confirm_point"),
        ("confirm_confidence_without_flip", "single", "confirm_point"),
    ):
        found = summary["int8"][from_mode]["held_out_photos"][point]
        if found is not None:
            post[key] = found["threshold"]
    if mode == "single":
        post.pop("confidence_without_flip", None)
        post.pop("confirm_confidence_without_flip", None)
    figures: dict = {
        "command": "python scripts/eval_detector.py " + " ".join(sys.argv[1:]),
        "held_out": {k: v for k, v in summary["held_out"].items() if k != "rule"},
        "max_fp_per_image": args.max_fp,
        "iou": 0.5,
    }
    for name in ("int8", "float"):
        figures[name] = {"file_bytes": summary[name]["file_bytes"]}
        for m in MODES:
            res = summary[name][m]
            held = res["held_out_photos"]
            shipped, _ = thresholds_for(DetectorContract.from_dict(contract, path.name), flip=m == "flip")
            figures[name][m] = {
                "held_out_operating_point": held["operating_point"],
                "held_out_at_shipped_threshold": _at(held, shipped),
                "held_out_confirm_point": held["confirm_point"],
                "synthetic_720p_operating_point": (res.get("synthetic_720p") or {}).get("operating_point"),
                "latency_1_thread": res["latency_1_thread"],
            }
    contract["figures"] = figures
    contract.pop("metrics", None)
    path.write_text(json.dumps(contract, indent=2) + "\n")
    print(f"updated {path}")


def _at(result: dict, threshold: float) -> dict | None:
    """The curve row at ``threshold`` (the nearest one evaluated)."""
    rows = result["curve"]
    return min(rows, key=lambda r: abs(r["threshold"] - threshold)) if rows else None


if __name__ == "__main__":
    main()
