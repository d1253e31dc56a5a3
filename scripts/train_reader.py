"""Train the plate reader from scratch and export it: models/plate_reader{,_float}.tflite + plate_reader.json.

Data: fresh synthetic crops every epoch (scripts/training/synth, seeded per chunk) plus the Argentine real crops
(../shared/datasets/plates-ar-crops; a fixed ~20% held out for validation, the rest oversampled). The US
validation crops are never read here.

Usage (one stage; scripts/train_reader_chain runs the model card's three stages and the export):
    .venv/bin/python scripts/train_reader.py --seed 0 --threads 1 --workers 1 --epochs 40 --clean-rate 0.6
Checkpoints every epoch under --work; --resume continues from the last one. Each epoch's log line ends with a digest
of the weights: two runs on the same kind of CPU give the same digests.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing as mp
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(REPO))

from training import reader_data, reader_model  # noqa: E402
from training.common import make_deterministic, model_version, platform, weights_digest  # noqa: E402

from edge_agent.device.vision.reader import decode_ctc, preprocess  # noqa: E402
from edge_agent.device.vision.scoring import score  # noqa: E402

log = logging.getLogger("train_reader")
CHUNK = 512
CONFIDENCE_THRESHOLD = 0.5


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-root", type=Path, default=REPO.parent / "shared" / "datasets")
    ap.add_argument("--out", type=Path, default=REPO / "models", help="where the .tflite and .json go")
    ap.add_argument("--work", type=Path, default=REPO / "runs" / "reader", help="checkpoints and logs")
    ap.add_argument("--arch", default="d40", choices=sorted(reader_model.ARCHS))
    ap.add_argument("--epochs", type=int, default=40, help="at most this many epochs (see --max-minutes)")
    ap.add_argument("--samples-per-epoch", type=int, default=16 * 1024)
    ap.add_argument(
        "--max-minutes",
        type=float,
        default=0.0,
        help="training time budget; the learning-rate schedule follows the share of it spent, and training"
        " stops when it is spent (0: schedule over --epochs)",
    )
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--ar-fraction", type=float, default=0.04, help="share of each batch drawn from AR crops")
    ap.add_argument(
        "--teacher-labels",
        type=Path,
        default=None,
        help="real street plates to train on: a folder of label_teacher.py CSVs (open-lpr.csv, ro-dashcam.csv,"
        " scenes-boxes.csv) or one checked-labels CSV (label_review.py apply)",
    )
    ap.add_argument(
        "--real-fraction", type=float, default=0.3, help="share of each batch drawn from teacher-labelled plates"
    )
    ap.add_argument(
        "--init", type=Path, default=None, help="start from this .keras checkpoint's weights (a fresh schedule)"
    )
    ap.add_argument(
        "--framing-rate",
        type=float,
        default=0.0,
        help="share of the real plates cut from a trimmed framing of their box (pipeline.VIEW_FRAMINGS)",
    )
    ap.add_argument("--clean-rate", type=float, default=0.5, help="share of catalogue-style synthetic crops")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="TensorFlow intra/inter-op threads")
    ap.add_argument("--workers", type=int, default=1, help="synthetic data processes (0: in the main process)")
    ap.add_argument(
        "--threshold",
        type=float,
        default=CONFIDENCE_THRESHOLD,
        help="confidence threshold written into the contract (chosen on synthetic hold-out plates)",
    )
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--export-only", action="store_true", help="skip training, export the last checkpoint")
    return ap.parse_args(argv)


def encode(labels: list[str], max_len: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Dense label matrix (padded with 0) and lengths; texts longer than max_len are cut."""
    y = np.zeros((len(labels), max_len), np.int32)
    lengths = np.zeros(len(labels), np.int32)
    for i, text in enumerate(labels):
        idx = [reader_model.ALPHABET.index(c) for c in text[:max_len]]
        y[i, : len(idx)] = idx
        lengths[i] = len(idx)
    return y, lengths


def epoch_chunks(
    args: argparse.Namespace, epoch: int, pool: mp.pool.Pool | None
) -> Iterator[tuple[np.ndarray, list[str]]]:
    """Yield (inputs uint8, labels) chunks of one epoch in a fixed order."""
    h, w, _ = reader_model.ARCHS[args.arch]
    n_chunks = max(1, args.samples_per_epoch // CHUNK)
    jobs = [(args.seed, epoch, c, CHUNK, h, w, args.clean_rate) for c in range(n_chunks)]
    if pool is None:
        yield from map(reader_data.synth_chunk, jobs)
    else:
        yield from pool.imap(reader_data.synth_chunk, jobs)


def mix_real(
    rng: np.random.Generator,
    xs: np.ndarray,
    labels: list[str],
    real: list[tuple[np.ndarray, str]],
    frac: float,
    start: int = 0,
) -> tuple[np.ndarray, list[str]]:
    """Replace a share of a synthetic chunk (at positions from `start` on) by augmented real crops."""
    if not real or frac <= 0:
        return xs, labels
    n = min(len(labels) - start, round(len(labels) * frac))
    h, w = xs.shape[1:]
    for i in start + rng.choice(len(labels) - start, n, replace=False):
        img, text = real[int(rng.integers(len(real)))]
        xs[i] = reader_data.augment_real(rng, img, h, w)
        labels[i] = text
    return xs, labels


def mix_teacher(
    rng: np.random.Generator,
    xs: np.ndarray,
    labels: list[str],
    plates: list[reader_data.RealPlate],
    frac: float,
    framing_rate: float = 0.0,
) -> tuple[np.ndarray, list[str], int]:
    """Replace the first share of a chunk by real plates cut like the pipeline's crops; returns how many.

    The chunk is shuffled before batching, so the positions do not matter.
    """
    if not plates or frac <= 0:
        return xs, labels, 0
    h, w = xs.shape[1:]
    n = min(len(labels), round(len(labels) * frac))
    for i in range(n):
        plate = plates[int(rng.integers(len(plates)))]
        xs[i] = reader_data.cut_like_pipeline(rng, plate, h, w, framing_rate=framing_rate)
        labels[i] = plate.text
    return xs, labels, n


def evaluate(
    predict: Callable[[np.ndarray], np.ndarray], items: list[tuple[np.ndarray, str]], h: int, w: int
) -> tuple[float, float]:
    """(exact, char) accuracy of a float model on BGR crops."""
    if not items:
        return 0.0, 0.0
    x = np.stack([preprocess(img, h, w) for img, _ in items]).astype(np.float32)[..., None] / 255.0
    probs = predict(x)
    preds = [decode_ctc(p, reader_model.ALPHABET, reader_model.BLANK)[0] for p in probs]
    s = score(zip(preds, [t for _, t in items], strict=True))
    return s.exact_accuracy, s.char_accuracy


def synthetic_holdout(args: argparse.Namespace, n: int = 1024) -> list[tuple[np.ndarray, str]]:
    """A fixed set of single-line synthetic crops from an epoch number that training never reaches."""
    h, w, _ = reader_model.ARCHS[args.arch]
    xs, labels = reader_data.synth_chunk((args.seed, 10_000, 0, n, h, w, args.clean_rate))
    return [(x, t) for x, t in zip(xs, labels, strict=True) if t]


def train(args: argparse.Namespace) -> dict[str, object]:
    """Run (or resume) training; returns the training record for the contract."""
    reader_model.set_threads(args.threads)
    import keras
    import tensorflow as tf

    make_deterministic(args.seed)
    h, w, _ = reader_model.ARCHS[args.arch]
    args.work.mkdir(parents=True, exist_ok=True)
    ckpt, state_path = args.work / "last.keras", args.work / "state.json"
    ar_train, ar_held = reader_data.ar_split(args.data_root)
    real_train = reader_data.load_images(ar_train)
    real_held = reader_data.load_images(ar_held)
    syn_held = synthetic_holdout(args)
    teacher_train: list[reader_data.RealPlate] = []
    teacher_held: list[tuple[np.ndarray, str]] = []
    if args.teacher_labels is not None:
        teacher_train, held = reader_data.teacher_split(args.data_root, args.teacher_labels)
        # Scored as the pipeline cuts them (4% margin, no jitter): the figure tracks the camera's case.
        teacher_held = [
            (np.dstack([reader_data.cut_like_pipeline(np.random.default_rng(0), p, h, w, jitter=0)] * 3), p.text)
            for p in held
        ]
    log.info(
        "AR crops: %d train, %d held out; teacher-labelled plates: %d train, %d held out; synthetic hold-out %d",
        len(real_train),
        len(real_held),
        len(teacher_train),
        len(teacher_held),
        len(syn_held),
    )

    steps_per_epoch = (args.samples_per_epoch // CHUNK) * (CHUNK // args.batch)
    total = steps_per_epoch * args.epochs
    budget = args.max_minutes * 60.0
    state: dict[str, Any] = {"epoch": 0, "seconds": 0.0, "steps": 0, "history": []}
    if args.resume and ckpt.is_file():
        model = keras.models.load_model(ckpt, compile=True)
        state = json.loads(state_path.read_text())
        log.info("resumed after epoch %d", state["epoch"])
    else:
        model = reader_model.build_model(args.arch)
        if args.init is not None:
            model.set_weights(keras.models.load_model(args.init, compile=False).get_weights())
            log.info("weights from %s", args.init)
        model.compile(optimizer=keras.optimizers.Adam(args.lr, clipnorm=5.0))
    opt = model.optimizer
    if args.teacher_labels is not None:
        state["teacher"] = {"labels": str(args.teacher_labels), "train": len(teacher_train), "held": len(teacher_held)}
    state.setdefault("commands", []).append("python scripts/train_reader.py " + " ".join(sys.argv[1:]))

    def progress(seconds: float, steps: int) -> float:
        """Share of the run done: of the time budget when there is one, else of the planned steps."""
        return seconds / budget if budget > 0 else steps / max(1, total)

    def learning_rate(frac: float) -> float:
        """Linear warm-up over the first 3%, then cosine decay to 2% of the peak."""
        if frac < 0.03:
            return args.lr * max(0.02, frac / 0.03)
        t = min(1.0, (frac - 0.03) / 0.97)
        return args.lr * (0.02 + 0.98 * 0.5 * (1 + np.cos(np.pi * t)))

    t_steps = int(model.output.shape[1])

    @tf.function(reduce_retracing=True)
    def step(x, y, yl):  # type: ignore[no-untyped-def]
        with tf.GradientTape() as tape:
            p = model(x, training=True)
            logp = tf.math.log(tf.clip_by_value(p, 1e-7, 1.0))
            loss = tf.reduce_mean(
                tf.nn.ctc_loss(
                    y,
                    logp,
                    yl,
                    tf.fill([tf.shape(x)[0]], t_steps),
                    logits_time_major=False,
                    blank_index=reader_model.BLANK,
                )
            )
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss

    def predict(x: np.ndarray) -> np.ndarray:
        return np.concatenate([model(x[i : i + 256], training=False).numpy() for i in range(0, len(x), 256)])

    ctx = mp.get_context("spawn")
    pool = ctx.Pool(args.workers) if args.workers > 0 else None
    try:
        for epoch in range(int(state["epoch"]), args.epochs):
            if progress(float(state["seconds"]), int(state["steps"])) >= 1.0:
                break
            t0 = time.time()
            rng = np.random.default_rng([args.seed, epoch, 99])
            losses: list[float] = []
            done = False
            for chunk_x, chunk_labels in epoch_chunks(args, epoch, pool):
                if done:
                    break
                xs, labels, n_street = mix_teacher(
                    rng, chunk_x, chunk_labels, teacher_train, args.real_fraction, args.framing_rate
                )
                xs, labels = mix_real(rng, xs, labels, real_train, args.ar_fraction, start=n_street)
                order = rng.permutation(len(labels))
                y_all, len_all = encode(labels)
                for b in range(0, len(order) - args.batch + 1, args.batch):
                    frac = progress(float(state["seconds"]) + time.time() - t0, int(state["steps"]))
                    if frac >= 1.0:
                        done = True
                        break
                    opt.learning_rate.assign(learning_rate(frac))
                    sel = order[b : b + args.batch]
                    x = xs[sel].astype(np.float32)[..., None] * np.float32(1 / 255)
                    losses.append(float(step(x, y_all[sel], len_all[sel])))
                    state["steps"] = int(state["steps"]) + 1
            syn = evaluate(predict, [(np.dstack([x] * 3), t) for x, t in syn_held], h, w)
            ar = evaluate(predict, real_held, h, w)
            street = evaluate(predict, teacher_held, h, w)
            secs = time.time() - t0
            digest = weights_digest(model)
            state["epoch"] = epoch + 1
            state["seconds"] = float(state["seconds"]) + secs
            state["history"].append(  # type: ignore[union-attr]
                {
                    "epoch": epoch + 1,
                    "loss": float(np.mean(losses)),
                    "synthetic_exact": syn[0],
                    "ar_exact": ar[0],
                    "street_exact": street[0],
                    "seconds": secs,
                    "samples": len(losses) * args.batch,
                    "lr": float(opt.learning_rate.numpy()),
                    "weights": digest,
                }
            )
            log.info(
                "epoch %d/%d loss %.3f synthetic exact %.3f char %.3f | AR held-out exact %.3f char %.3f"
                " | street held-out exact %.3f char %.3f | %.0f s"
                " | weights %s",
                epoch + 1,
                args.epochs,
                np.mean(losses),
                syn[0],
                syn[1],
                ar[0],
                ar[1],
                street[0],
                street[1],
                secs,
                digest,
            )
            model.save(ckpt)
            state_path.write_text(json.dumps(state, indent=1))
    finally:
        if pool is not None:
            pool.terminate()
    return {"model": model, "state": state, "ar": (len(real_train), len(real_held))}


def export(args: argparse.Namespace, model: Any, state: dict[str, Any], ar_counts: tuple[int, int]) -> None:
    """Write the int8 and float TFLite models and the JSON contract."""
    h, w, _ = reader_model.ARCHS[args.arch]
    samples = sum(int(e.get("samples", args.samples_per_epoch)) for e in state["history"])
    calib, _ = reader_data.synth_chunk((args.seed, 20_000, 0, 512, h, w, args.clean_rate))

    def representative():  # type: ignore[no-untyped-def]
        for x in calib:
            yield [x.astype(np.float32)[None, :, :, None] / np.float32(255.0)]

    args.out.mkdir(parents=True, exist_ok=True)
    tmp = args.work / "export"
    int8 = reader_model.export_tflite(model, tmp / "int8", representative)
    flt = reader_model.export_tflite(model, tmp / "float", None)
    (args.out / "plate_reader.tflite").write_bytes(int8)
    (args.out / "plate_reader_float.tflite").write_bytes(flt)
    contract = {
        "name": "plate_reader",
        "version": model_version("reader", int8),
        "input": {
            "height": h,
            "width": w,
            "channels": 1,
            "colour": "grey (OpenCV BGR2GRAY)",
            "dtype": "int8",
            "normalisation": "pixel / 255 (int8: scale 1/255, zero point -128)",
            "resize": "cv2.resize to width x height, INTER_AREA when shrinking else INTER_LINEAR, no padding",
        },
        "output": {
            "layout": "1 x T x C softmax probabilities, T time steps left to right",
            "time_steps": int(model.output.shape[1]),
            "classes": len(reader_model.ALPHABET) + 1,
            "alphabet": reader_model.ALPHABET,
            "blank_index": reader_model.BLANK,
            "decode": "greedy CTC outside the model (edge_agent.device.vision.reader.decode_ctc)",
        },
        "decode": {
            "min_length": 2,
            "max_length": 10,
            "confidence_threshold": args.threshold,
            "confidence": "minimum per-character probability; 0.05 cap outside the length limits",
        },
        "architecture": {
            "name": args.arch,
            "macs": reader_model.count_macs(model),
            "parameters": int(model.count_params()),
        },
        "training": {
            "command": " && ".join(state.get("commands", [])) or "python scripts/train_reader.py",
            "seed": args.seed,
            "epochs": len(state["history"]),
            "samples_per_epoch": args.samples_per_epoch,
            "samples": samples,
            "steps": int(state.get("steps", 0)),
            "threads": args.threads,
            "seconds": round(float(state["seconds"])),
            "data": [
                f"synthetic plates (scripts/training/synth, {samples} crops drawn fresh)",
                f"plates-ar-crops (MIT, ankandrew/fast-plate-ocr 3841f1e): {ar_counts[0]} train, "
                f"{ar_counts[1]} held out, {100 * args.ar_fraction:.0f}% of the samples",
                *(
                    [
                        (
                            "real street plates, text checked by a person where the teacher and the project's reader"
                            f" disagreed ({args.teacher_labels}, label_review.py):"
                            if args.teacher_labels is not None and args.teacher_labels.is_file()
                            else "real street plates, text by the PP-OCRv4 teacher (scripts/label_teacher.py,"
                            " label_agree.py):"
                        )
                        + " plates-open-lpr (Apache-2.0, faisalthaheem/open-lpr-dataset-plate-detection 7251620),"
                        " plates-ro-dashcam (MIT, RobertLucian/license-plate-dataset f00f309) and, when labelled,"
                        " plates-scenes-boxes (MIT as declared, Roboflow experiment-plates v1 via"
                        " chirag-agrawal24/ANPR; held out as the detector holds its photos out):"
                        f" {state['teacher']['train']} train, {state['teacher']['held']} held out by source photo,"
                        f" {100 * args.real_fraction:.0f}% of the samples, cut like the pipeline's crops"
                        + (
                            f", {100 * args.framing_rate:.0f}% of them from a trimmed framing"
                            if args.framing_rate
                            else ""
                        )
                    ]
                    if "teacher" in state
                    else []
                ),
            ],
            "platform": platform(),
            "history": state["history"],
        },
        "figures": {},
    }
    (args.out / "plate_reader.json").write_text(json.dumps(contract, indent=1) + "\n")
    log.info(
        "wrote %s (%d kB) and the float model (%d kB)",
        args.out / "plate_reader.tflite",
        len(int8) // 1000,
        len(flt) // 1000,
    )


def main() -> None:
    """Train, then export."""
    args = parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.export_only:
        reader_model.set_threads(args.threads)
        import keras

        model = keras.models.load_model(args.work / "last.keras", compile=False)
        state = json.loads((args.work / "state.json").read_text())
        train_ar, held_ar = reader_data.ar_split(args.data_root)
        export(args, model, state, (len(train_ar), len(held_ar)))
        return
    result = train(args)
    export(args, result["model"], result["state"], result["ar"])  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
