"""Train the plate detector (TTFNet-style CenterNet, small separable backbone); export int8 and float TFLite.

Data: the training photos of ``plates-scenes-boxes`` (split by source photo, see ``detector_data``) placed onto
wide canvases with scale, stretch, crop, letterbox, flip and colour augmentation, mixed one to one with
synthetic scenes (``synth.scenes``). Checkpoints every epoch under ``--out``; ``--resume`` continues from the
last one with the same data order. At the end: ``<out>/plate_detector.tflite`` (full int8),
``plate_detector_float.tflite`` and ``plate_detector.json`` (the contract); copy them to ``models/`` by hand
or with ``--install``.

Usage:
  .venv/bin/python scripts/train_detector.py --out runs/detector --epochs 16 --threads 1 --seed 1 --install
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from queue import Queue

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training import detector_data as dd
from training import detector_model
from training.common import make_deterministic, platform, weights_digest

REPO = Path(__file__).resolve().parents[1]
VERSION = "1.2.0"
BOX_WEIGHT = 5.0  # TTFNet's GIoU weight
logger = logging.getLogger("train_detector")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; the defaults are the shipped model's recipe."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "datasets", help="datasets root")
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "detector", help="work and output folder")
    ap.add_argument("--arch", default="s8", choices=sorted(detector_model.ARCHS))
    ap.add_argument("--height", type=int, default=224, help="training canvas and default input height")
    ap.add_argument("--width", type=int, default=384, help="training canvas and default input width")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument(
        "--stretch",
        default="undo",
        choices=("undo", "both"),
        help="real photos: undo the export's square stretch (x0.85-1.6), or also keep it (x0.75-1.6)",
    )
    ap.add_argument("--synthetic", type=int, default=2500, help="pre-rendered synthetic scenes in the pool")
    ap.add_argument("--synthetic-per-epoch", type=float, default=1.0, help="synthetic images per real image")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="TensorFlow intra- and inter-op threads; 1 reruns bit-exact, 2 is a little faster but not bit-exact",
    )
    ap.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --out")
    ap.add_argument("--max-minutes", type=float, default=0.0, help="stop (resumable) after this long; 0 = no limit")
    ap.add_argument("--install", action="store_true", help="copy the exported files into models/")
    ap.add_argument(
        "--export-only",
        action="store_true",
        help="skip training: export the last checkpoint in --out as it is (for a run cut short)",
    )
    ap.add_argument("--limit-real", type=int, default=0, help="use only the first N training photos (smoke tests)")
    return ap.parse_args(argv)


def make_example(
    rng: np.random.Generator, real: list[dd.Photo], scenes: dd.SceneCache, idx: int, h: int, w: int, stretch: str
) -> tuple[np.ndarray, np.ndarray]:
    """One augmented training canvas: a real photo (idx < len(real)) or a pooled synthetic scene."""
    if idx < len(real):
        photo = real[idx]
        img, boxes = dd.place_photo(rng, dd.read_bgr(photo.path), photo.boxes, h, w, stretch)
    else:
        img, boxes = scenes.get(idx - len(real))
        img, boxes = img.copy(), boxes.copy()
    boxes = dd.clip_boxes(boxes, h, w)
    if rng.random() < 0.5:
        img, boxes = dd.flip(img, boxes)
    return dd.colour_jitter(rng, img), boxes


def batches(
    args: argparse.Namespace, real: list[dd.Photo], scenes: dd.SceneCache, epoch: int, stride: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The epoch's batches, in an order and with augmentations fixed by (seed, epoch)."""
    rng = np.random.default_rng([args.seed, epoch])
    n_syn = int(len(real) * args.synthetic_per_epoch)
    order = np.concatenate(
        [np.arange(len(real)), len(real) + rng.choice(len(scenes), n_syn, replace=n_syn > len(scenes))]
    )
    rng.shuffle(order)
    for start in range(0, len(order) - args.batch + 1, args.batch):
        xs, ys = [], []
        for idx in order[start : start + args.batch]:
            img, boxes = make_example(rng, real, scenes, int(idx), args.height, args.width, args.stretch)
            xs.append(img)
            ys.append(dd.encode_targets(boxes, args.height, args.width, stride))
        yield np.stack(xs).astype(np.float32) / 255.0, np.stack(ys)


def prefetch(it: Iterator[tuple[np.ndarray, np.ndarray]], depth: int = 4) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Run the batch generator in one thread (OpenCV releases the GIL) so augmentation overlaps training.

    An exception in the generator is re-raised here rather than leaving the training loop waiting forever.
    """
    q: Queue[tuple[np.ndarray, np.ndarray] | BaseException | None] = Queue(depth)

    def work() -> None:
        try:
            for item in it:
                q.put(item)
        except BaseException as exc:  # handed to the consumer
            q.put(exc)
            return
        q.put(None)

    threading.Thread(target=work, daemon=True).start()
    while (item := q.get()) is not None:
        if isinstance(item, BaseException):
            raise item
        yield item


def make_loss(stride: int):  # type: ignore[no-untyped-def]
    """TTFNet loss: penalty-reduced focal loss on the heatmap, GIoU on the boxes regressed around each centre."""
    import tensorflow as tf

    def loss_fn(logits, box, target):  # type: ignore[no-untyped-def]
        heat, pos, weight = target[..., 0:1], target[..., 5:6], target[..., 6]
        n = tf.maximum(tf.reduce_sum(pos), 1.0)
        p = tf.sigmoid(logits)
        pos_loss = -tf.math.log_sigmoid(logits) * tf.square(1 - p) * pos
        neg_loss = -tf.math.log_sigmoid(-logits) * tf.square(p) * tf.pow(1 - heat, 4) * (1 - pos)
        focal = (tf.reduce_sum(pos_loss) + tf.reduce_sum(neg_loss)) / n
        d = tf.exp(tf.clip_by_value(box, -4.0, 6.0)) * float(stride)  # predicted left, top, right, bottom
        g = target[..., 1:5]
        area_p = (d[..., 0] + d[..., 2]) * (d[..., 1] + d[..., 3])
        area_g = (g[..., 0] + g[..., 2]) * (g[..., 1] + g[..., 3])
        lo = tf.minimum(d, g)
        hi = tf.maximum(d, g)
        inter = (lo[..., 0] + lo[..., 2]) * (lo[..., 1] + lo[..., 3])
        union = area_p + area_g - inter
        enclose = (hi[..., 0] + hi[..., 2]) * (hi[..., 1] + hi[..., 3])
        giou = inter / tf.maximum(union, 1e-6) - (enclose - union) / tf.maximum(enclose, 1e-6)
        box_loss = tf.reduce_sum((1.0 - giou) * weight) / n
        return focal + BOX_WEIGHT * box_loss, (focal, box_loss)

    return loss_fn


def save_checkpoint(out: Path, model, opt, epoch: int, seconds: float) -> None:  # type: ignore[no-untyped-def]
    """Weights, optimizer slots, epoch and training seconds so far, written atomically (a kill leaves no half file)."""
    tmp = out / "ckpt.tmp"
    tmp.mkdir(exist_ok=True)
    model.save_weights(str(tmp / "model.weights.h5"))
    np.savez(tmp / "opt.npz", *[np.asarray(v) for v in opt.variables])
    (tmp / "state.json").write_text(json.dumps({"epoch": epoch, "train_seconds": seconds}))
    final = out / "ckpt"
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)


def load_checkpoint(out: Path, model, opt) -> tuple[int, float]:  # type: ignore[no-untyped-def]
    """Restore a checkpoint; return the epochs already done and their training seconds ((0, 0) when none)."""
    ckpt = out / "ckpt"
    if not (ckpt / "state.json").is_file():
        return 0, 0.0
    model.load_weights(str(ckpt / "model.weights.h5"))
    opt.build(model.trainable_variables)
    slots = np.load(ckpt / "opt.npz")
    for i, v in enumerate(opt.variables):
        v.assign(slots[f"arr_{i}"])
    state = json.loads((ckpt / "state.json").read_text())
    return int(state["epoch"]), float(state.get("train_seconds", 0.0))


def representative(args: argparse.Namespace, real: list[dd.Photo], scenes: dd.SceneCache, stride: int):  # type: ignore[no-untyped-def]
    """Calibration images for int8: 200 training canvases (real and synthetic), never held-out photos."""
    calib = []
    for i, (x, _) in enumerate(batches(args, real, scenes, 10_000, stride)):
        calib.extend(x)
        if i >= 200 // args.batch:
            break

    def gen():  # type: ignore[no-untyped-def]
        for x in calib[:200]:
            yield [x[None]]

    return gen


def export(args: argparse.Namespace, model, real: list[dd.Photo], scenes: dd.SceneCache, info: dict) -> None:  # type: ignore[no-untyped-def]
    """Write int8 and float TFLite at the default input size, and the contract JSON, into --out."""
    spec = detector_model.ARCHS[args.arch]
    fixed = detector_model.build_model(args.arch, args.height, args.width, export=True)
    fixed.set_weights(model.get_weights())
    infer = detector_model.inference_model(fixed)
    with tempfile.TemporaryDirectory() as tmp:
        q = detector_model.export_tflite(infer, Path(tmp) / "q", representative(args, real, scenes, spec.stride))
        f = detector_model.export_tflite(infer, Path(tmp) / "f", None)
    (args.out / "plate_detector.tflite").write_bytes(q)
    (args.out / "plate_detector_float.tflite").write_bytes(f)
    contract = {
        "name": "plate_detector",
        "version": VERSION,
        "kind": "centernet",
        "input": {
            "height": args.height,
            "width": args.width,
            "channels": 3,
            "colour_order": "BGR",
            "dtype": "int8",
            "normalisation": "pixel / 255 (int8: scale 1/255, zero point -128)",
            "resizable": True,
            "size_multiple": 32,
            "letterbox_pad": dd.PAD_VALUE,
        },
        "output": {
            "stride": spec.stride,
            "heat": {"channels": 1, "activation": "sigmoid", "meaning": "plate centre probability"},
            "box": {
                "channels": 4,
                "layout": ["log_left", "log_top", "log_right", "log_bottom"],
                "meaning": "distance from the cell centre ((col + 0.5) * stride, (row + 0.5) * stride) to each "
                "box edge = exp(value) * stride, input pixels",
            },
            "tensors_identified_by": "channel count (1 = heat, 4 = box)",
        },
        "postprocess": {"confidence": 0.3, "nms_iou": 0.45, "max_detections": 32, "peak_kernel": 3},
        "macs": detector_model.count_macs(infer),
        "params": int(infer.count_params()),
        "training": info,
        "figures": {},
    }
    (args.out / "plate_detector.json").write_text(json.dumps(contract, indent=2) + "\n")


def main(argv: list[str] | None = None) -> None:
    """Train (or resume), checkpoint every epoch, export when all epochs are done (or at once with --export-only)."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    detector_model.set_threads(args.threads)
    import keras
    import tensorflow as tf

    make_deterministic(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    train, held = dd.load_photos(args.data)
    if args.limit_real:
        train = train[: args.limit_real]
    logger.info(
        "photos: %d train files (%d sources), %d held-out files (%d sources)",
        len(train), len({p.key for p in train}), len(held), len({p.key for p in held}),
    )  # fmt: skip
    t0 = time.time()
    cache = REPO / ".cache" / f"scenes_{args.seed}_{args.synthetic}_{args.height}x{args.width}.npz"
    scenes = dd.SceneCache(cache, args.synthetic, args.height, args.width, args.seed, train)
    logger.info("synthetic pool: %d scenes, %d plates (%.0f s)", len(scenes), len(scenes.boxes), time.time() - t0)
    spec = detector_model.ARCHS[args.arch]
    model = detector_model.build_model(args.arch)
    steps_per_epoch = int(len(train) * (1 + args.synthetic_per_epoch)) // args.batch
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0, decay_steps=steps_per_epoch * args.epochs, warmup_target=args.lr, warmup_steps=steps_per_epoch
    )
    opt = keras.optimizers.AdamW(learning_rate=schedule, weight_decay=1e-4, clipnorm=5.0)
    resume = args.resume or args.export_only
    start, spent = load_checkpoint(args.out, model, opt) if resume else (0, 0.0)
    if args.export_only and start == 0:
        raise SystemExit(f"no checkpoint in {args.out} to export")
    loss_fn = make_loss(spec.stride)

    @tf.function(reduce_retracing=True)
    def step(x, y):  # type: ignore[no-untyped-def]
        with tf.GradientTape() as tape:
            logits, box = model(x, training=True)
            loss, parts = loss_fn(logits, box, y)
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss, parts

    begin = time.time()
    done = start
    for epoch in range(start, 0 if args.export_only else args.epochs):
        t = time.time()
        sums = np.zeros(3)
        n = 0
        for x, y in prefetch(batches(args, train, scenes, epoch, spec.stride)):
            loss, parts = step(tf.constant(x), tf.constant(y))
            sums += [float(loss), *(float(p) for p in parts)]
            n += 1
        spent += time.time() - t
        done = epoch + 1
        save_checkpoint(args.out, model, opt, done, spent)
        logger.info(
            "epoch %d/%d loss %.3f (focal %.3f box %.3f) %.0f s, weights %s",
            done, args.epochs, *(sums / max(n, 1)), time.time() - t, weights_digest(model),
        )  # fmt: skip
        if args.max_minutes and (time.time() - begin) / 60 > args.max_minutes and done < args.epochs:
            logger.info("stopping after %.0f min; continue with --resume or ship with --export-only", spent / 60)
            return
    info = {
        "command": "python scripts/train_detector.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "seed": args.seed,
        "arch": args.arch,
        "stretch": args.stretch,
        "epochs": done,
        "epochs_planned": args.epochs,
        "seconds": round(spent),
        "threads": args.threads,
        "batch": args.batch,
        "platform": platform(),
        "data": {
            "real": "plates-scenes-boxes training photos (MIT, Roboflow Universe 'experiment-plates' v1, "
            "platerecognition-7gchs)",
            "real_files": len(train),
            "real_sources": len({p.key for p in train}),
            "held_out_files": len(held),
            "held_out_sources": len({p.key for p in held}),
            "synthetic_pool": len(scenes),
            "synthetic_per_epoch": int(len(train) * args.synthetic_per_epoch),
            "split_rule": "source photo = uuid in '<split>__<uuid>_jpg.rf.<hash>.jpg'; held out when "
            f"int(sha1(uuid)[:8], 16) % 100 < {dd.HOLDOUT_PERCENT}",
        },
    }
    export(args, model, train, scenes, info)
    logger.info("exported to %s", args.out)
    if args.install:
        models = REPO / "models"
        models.mkdir(exist_ok=True)
        for name in ("plate_detector.tflite", "plate_detector_float.tflite", "plate_detector.json"):
            shutil.copy2(args.out / name, models / name)
        logger.info("installed into %s", models)


if __name__ == "__main__":
    main()
