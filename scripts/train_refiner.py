"""Train the box refiner and export it: models/plate_refiner{,_float}.tflite + plate_refiner.json.

The refiner (edge_agent/device/vision/refine.py) sees a window around a detector's box and regresses the plate's
own edges in it. Data (scripts/training/refiner_data.py): the plates of plates-open-lpr and plates-ro-dashcam in
their surroundings (10% held out by source photo, the reader's split) and plates of drawn street scenes, each
sample around a box moved as the shipped detector's boxes are off on real photos. Every epoch's log line gives
the held-out plates' mean IoU with the detector-like boxes as they came and after refinement.

Usage:
    .venv/bin/python scripts/train_refiner.py --out runs/refiner --threads 1 --epochs 40
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(REPO))

from training import refiner_data  # noqa: E402
from training.common import make_deterministic, model_version, platform, weights_digest  # noqa: E402
from training.reader_model import convert_saved_model, count_macs, export_tflite, set_threads  # noqa: E402

from edge_agent.device.vision.refine import cut, to_box, window  # noqa: E402
from edge_agent.device.vision.tracker import iou as box_iou  # noqa: E402

log = logging.getLogger("train_refiner")
HEIGHT, WIDTH = 64, 128
EXPAND = (1.5, 2.0)
MIN_IOU = 0.3


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-root", type=Path, default=REPO.parent / "shared" / "datasets")
    ap.add_argument("--out", type=Path, required=True, help="where the models and the contract go")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--samples-per-epoch", type=int, default=4096)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--synthetic", type=int, default=1500, help="drawn plates in the pool")
    ap.add_argument("--synthetic-share", type=float, default=0.25, help="share of each epoch's samples")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--requantize",
        action="store_true",
        help="only convert --out's float SavedModel (export/float) to int8 again, with today's calibration",
    )
    ap.add_argument(
        "--head",
        choices=("dense", "profile"),
        default="profile",
        help="dense: the four numbers regressed from the flattened features; profile: each edge as the expected"
        " position under a softmax over the window's columns (left, right) or rows (top, bottom)",
    )
    return ap.parse_args(argv)


def build(height: int, width: int, head: str = "profile") -> Any:
    """A small depthwise-separable CNN and one of two heads (see --head)."""
    import keras
    from keras import layers

    def block(x: Any, filters: int, stride: int) -> Any:
        x = layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU(6.0)(x)
        x = layers.Conv2D(filters, 1, use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        return layers.ReLU(6.0)(x)

    inp = keras.Input((height, width, 3), name="window")
    x = layers.Conv2D(16, 3, strides=2, padding="same", use_bias=False)(inp)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU(6.0)(x)
    if head == "profile":
        return keras.Model(inp, _profile_head(x, block), name="plate_refiner")
    for filters, stride in ((32, 1), (48, 2), (64, 1), (96, 2), (96, 1), (128, 2), (128, 1)):
        x = block(x, filters, stride)
    x = layers.Conv2D(32, 1, activation="relu")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(64, activation="relu")(x)
    out = layers.Dense(4, name="edges")(x)
    return keras.Model(inp, out, name="plate_refiner")


def _profile_head(x: Any, block: Any) -> Any:
    """Edges as expected positions: a column profile (left, right) and a row profile (top, bottom) at stride 4,
    each a softmax over positions, times the positions' centres (fractions of the window)."""
    import keras
    from keras import layers

    x = block(x, 32, 1)
    x = block(x, 48, 2)  # stride 4
    x = block(x, 64, 1)
    deep = block(x, 96, 2)  # stride 8: wider context
    deep = block(deep, 96, 1)
    deep = block(deep, 96, 1)
    x = layers.Concatenate()([x, layers.UpSampling2D(2, interpolation="bilinear")(deep)])
    x = block(x, 64, 1)
    rows, cols = int(x.shape[1]), int(x.shape[2])
    outputs = []
    for axis, n in ((1, cols), (2, rows)):  # pool over rows -> column profile; over columns -> row profile
        profile = layers.Lambda(lambda t, a=axis: keras.ops.mean(t, axis=a))(x)
        profile = layers.Conv1D(32, 5, padding="same", activation="relu")(profile)
        logits = layers.Conv1D(2, 5, padding="same")(profile)  # 2 edges along this axis
        prob = layers.Softmax(axis=1)(logits)
        centres = (np.arange(n, dtype=np.float32) + 0.5) / n
        expect = layers.Dense(1, use_bias=False, trainable=False, name=f"centres_{n}")
        edges = layers.Flatten()(expect(layers.Permute((2, 1))(prob)))
        expect.set_weights([centres[:, None]])
        outputs.append(edges)
    (left_right, top_bottom) = outputs
    return layers.Concatenate(name="edges")(
        [left_right[:, :1], top_bottom[:, :1], left_right[:, 1:], top_bottom[:, 1:]]
    )


def calibration(args: argparse.Namespace) -> np.ndarray:
    """Windows for the int8 calibration: 256 as in training, and 64 each with the plate reaching the window's
    right and bottom or left and top edges, so that the output's range covers every edge position (calibrated on
    training windows alone, the outputs stopped at 0.95 of the window)."""
    train_real, _ = refiner_data.real_split(args.data_root)
    rng = np.random.default_rng([args.seed, 5])
    usual, _ = refiner_data.batch(rng, train_real, 256, HEIGHT, WIDTH, EXPAND)
    far = []
    for sign in (1.0, -1.0):
        for k in rng.integers(0, len(train_real), 64):
            plate = train_real[int(k)]
            x, y, w, h = plate.box
            # The detector's box moved off the plate: its far edges land at ~0.98 (or ~0.02) of the window.
            box = (x - sign * 0.22 * w, y - sign * 0.45 * h, w, h)
            far.append(cut(plate.image, window(box, *EXPAND), HEIGHT, WIDTH))
    return np.concatenate([usual, np.stack(far)])


def representative(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """The converter's representative dataset (see `calibration`)."""
    windows = calibration(args)

    def gen():  # type: ignore[no-untyped-def]
        for x in windows:
            yield [x.astype(np.float32)[None] / np.float32(255.0)]

    return gen


def requantize(args: argparse.Namespace) -> None:
    """Convert --out's float SavedModel to int8 again and give the contract the new version."""
    int8 = convert_saved_model(args.out / "export" / "float" / "saved_model", representative(args))
    (args.out / "plate_refiner.tflite").write_bytes(int8)
    path = args.out / "plate_refiner.json"
    contract = json.loads(path.read_text())
    contract["version"] = model_version("refiner", int8)
    contract["training"]["requantized"] = "python " + " ".join(sys.argv)
    path.write_text(json.dumps(contract, indent=1) + "\n")
    log.info("wrote %s (%d kB), %s", args.out / "plate_refiner.tflite", len(int8) // 1000, contract["version"])


def held_out_iou(model: Any, xs: np.ndarray, ys: np.ndarray) -> tuple[float, float]:
    """Mean IoU with the truth of the windows' own boxes (before) and of the model's (after)."""
    pred = model.predict(xs.astype(np.float32) / 255.0, batch_size=128, verbose=0)
    win = (0.0, 0.0, 1.0, 1.0)
    shown = ((1 - 1 / EXPAND[0]) / 2, (1 - 1 / EXPAND[1]) / 2, 1 / EXPAND[0], 1 / EXPAND[1])  # the detector-like box
    before, after = [], []
    for p, t in zip(pred, ys, strict=True):
        truth = to_box(win, t)
        before.append(box_iou(shown, truth))
        after.append(box_iou(to_box(win, p), truth))
    return float(np.mean(before)), float(np.mean(after))


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    set_threads(args.threads)
    if args.requantize:
        requantize(args)
        return
    make_deterministic(args.seed)
    import keras

    train_real, held_real = refiner_data.real_split(args.data_root)
    synth = refiner_data.synthetic(args.seed, args.synthetic)
    log.info("plates: %d real train, %d real held out, %d drawn", len(train_real), len(held_real), len(synth))
    held_rng = np.random.default_rng([args.seed, 99])
    held_x, held_y = refiner_data.batch(held_rng, held_real, 1024, HEIGHT, WIDTH, EXPAND)

    model = build(HEIGHT, WIDTH, args.head)
    steps_per_epoch = args.samples_per_epoch // args.batch
    schedule = keras.optimizers.schedules.CosineDecay(args.lr, args.epochs * steps_per_epoch, alpha=0.02)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss=keras.losses.Huber(delta=0.05))
    history = []
    start = time.time()
    n_synth = int(args.samples_per_epoch * args.synthetic_share)
    for epoch in range(args.epochs):
        rng = np.random.default_rng([args.seed, epoch])
        xr, yr = refiner_data.batch(rng, train_real, args.samples_per_epoch - n_synth, HEIGHT, WIDTH, EXPAND)
        xs, ys = refiner_data.batch(rng, synth, n_synth, HEIGHT, WIDTH, EXPAND)
        x = np.concatenate([xr, xs]).astype(np.float32) / 255.0
        y = np.concatenate([yr, ys])
        order = rng.permutation(len(x))
        fit = model.fit(x[order], y[order], batch_size=args.batch, epochs=1, verbose=0, shuffle=False)
        before, after = held_out_iou(model, held_x, held_y)
        loss = float(fit.history["loss"][-1])
        history.append({"epoch": epoch + 1, "loss": round(loss, 5), "held_iou": round(after, 4)})
        log.info(
            "epoch %d/%d loss %.5f held-out IoU %.3f -> %.3f (%.0f s) weights %s",
            epoch + 1, args.epochs, loss, before, after, time.time() - start, weights_digest(model),
        )  # fmt: skip
    export(args, model, history, time.time() - start, (len(train_real), len(held_real), len(synth)), before)


def export(
    args: argparse.Namespace, model: Any, history: list[dict[str, Any]], seconds: float, counts: tuple[int, ...],
    before: float,
) -> None:  # fmt: skip
    """Write the int8 and float models and the contract."""
    args.out.mkdir(parents=True, exist_ok=True)
    int8 = export_tflite(model, args.out / "export" / "int8", representative(args))
    flt = export_tflite(model, args.out / "export" / "float", None)
    (args.out / "plate_refiner.tflite").write_bytes(int8)
    (args.out / "plate_refiner_float.tflite").write_bytes(flt)
    contract = {
        "name": "plate_refiner",
        "version": model_version("refiner", int8),
        "input": {
            "height": HEIGHT,
            "width": WIDTH,
            "channels": 3,
            "colour_order": "BGR",
            "dtype": "int8",
            "normalisation": "pixel / 255 (int8: scale 1/255, zero point -128)",
            "resize": "refine.cut: the window, frame edge pixels repeated beyond the frame, cv2.resize (INTER_AREA"
            " when shrinking)",
        },
        "window": {
            "expand_x": EXPAND[0],
            "expand_y": EXPAND[1],
            "meaning": "the detector's box scaled by these factors about its centre",
        },
        "output": {
            "layout": ["left", "top", "right", "bottom"],
            "meaning": "the plate's edges, fractions of the window",
        },
        "postprocess": {"min_iou": MIN_IOU, "meaning": "a refined box overlapping the detector's less is ignored"},
        "architecture": {"macs": count_macs(model), "parameters": int(model.count_params())},
        "training": {
            "command": "python " + " ".join(sys.argv),
            "seed": args.seed,
            "epochs": args.epochs,
            "samples_per_epoch": args.samples_per_epoch,
            "threads": args.threads,
            "seconds": round(seconds),
            "data": [
                f"plates-open-lpr (Apache-2.0, faisalthaheem/open-lpr-dataset-plate-detection 7251620) and"
                f" plates-ro-dashcam (MIT, RobertLucian/license-plate-dataset f00f309): {counts[0]} plates train,"
                f" {counts[1]} held out by source photo (the reader's split)",
                f"{counts[2]} plates of drawn street scenes (scripts/training/synth), "
                f"{100 * args.synthetic_share:.0f}% of the samples",
            ],
            "platform": platform(),
            "history": history,
        },
        "figures": {
            "held_out_mean_iou": {
                "detector_like_boxes": round(before, 4),
                "refined_float": history[-1]["held_iou"],
            }
        },
    }
    (args.out / "plate_refiner.json").write_text(json.dumps(contract, indent=1) + "\n")
    log.info("wrote %s (%d kB), float %d kB", args.out / "plate_refiner.tflite", len(int8) // 1000, len(flt) // 1000)


if __name__ == "__main__":
    main()
