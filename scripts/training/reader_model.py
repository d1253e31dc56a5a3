"""The plate reader network: a convolution-only CRNN trained with CTC, and its TFLite export.

No recurrent layers: LSTM/GRU quantise badly and XNNPACK runs them slowly, while a stack of convolutions that
ends in one column per time step gives the same CTC output layout and runs as a handful of int8 kernels.
Height is downsampled faster than width so that the final feature map keeps ``width / 4`` time steps (enough
for the 19 steps that a 10-character plate with repeats needs under CTC) and collapses height with one dense
convolution.

Shared by ``train_reader.py`` (training, export) and ``bench_reader_arch.py`` (latency of candidates).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
BLANK = len(ALPHABET)  # CTC blank is the last class

# name -> (input height, input width, [(kind, out_channels, stride_h, stride_w), ...])
# kinds: "c" dense 3x3 conv, "s" depthwise 3x3 + pointwise (separable).
ARCHS: dict[str, tuple[int, int, list[tuple[str, int, int, int]]]] = {
    "s48": (
        48,
        160,
        [
            ("c", 16, 2, 2),
            ("s", 32, 1, 1),
            ("s", 64, 2, 2),
            ("s", 64, 1, 1),
            ("s", 96, 2, 1),
            ("s", 96, 1, 1),
            ("s", 128, 2, 1),
        ],
    ),
    "c40": (
        40,
        128,
        [
            ("c", 16, 2, 2),
            ("c", 32, 2, 2),
            ("c", 48, 1, 1),
            ("c", 64, 2, 1),
            ("c", 96, 1, 1),
            ("c", 128, 2, 1),
        ],
    ),
    "m40": (
        40,
        144,
        [
            ("c", 16, 2, 2),
            ("s", 32, 1, 1),
            ("c", 48, 2, 2),
            ("s", 64, 1, 1),
            ("c", 96, 2, 1),
            ("s", 96, 1, 1),
            ("s", 128, 2, 1),
        ],
    ),
    "d40": (
        40,
        128,
        [("c", 16, 2, 2), ("c", 32, 2, 2), ("c", 48, 1, 1), ("c", 64, 2, 1), ("c", 64, 1, 1)],
    ),
    # d40's input with about three times its width and one more block: capacity for real camera crops.
    "r40": (
        40,
        128,
        [("c", 24, 2, 2), ("c", 48, 2, 2), ("c", 64, 1, 1), ("c", 96, 2, 1), ("c", 96, 1, 1), ("c", 96, 1, 1)],
    ),
    "d40w": (
        40,
        144,
        [("c", 16, 2, 2), ("c", 32, 2, 2), ("c", 48, 1, 1), ("c", 64, 2, 1), ("c", 80, 1, 1)],
    ),
    "m48": (
        48,
        160,
        [
            ("c", 16, 2, 2),
            ("s", 32, 1, 1),
            ("c", 48, 2, 2),
            ("s", 64, 1, 1),
            ("c", 96, 2, 1),
            ("s", 96, 1, 1),
            ("s", 128, 2, 1),
        ],
    ),
}
HEAD_CHANNELS = 128


def build_model(arch: str = "m40") -> object:
    """Build the Keras model (input ``H x W x 1`` in [0, 1], output ``T x (len(ALPHABET)+1)`` softmax)."""
    import keras
    from keras import layers

    height, width, blocks = ARCHS[arch]
    inp = keras.Input((height, width, 1), name="image")
    x = inp
    for i, (kind, ch, sh, sw) in enumerate(blocks):
        if kind == "c":
            x = layers.Conv2D(ch, 3, strides=(sh, sw), padding="same", use_bias=False, name=f"conv{i}")(x)
        else:
            x = layers.DepthwiseConv2D(3, strides=(sh, sw), padding="same", use_bias=False, name=f"dw{i}")(x)
            x = layers.BatchNormalization(name=f"dwbn{i}")(x)
            x = layers.ReLU(6.0, name=f"dwrelu{i}")(x)
            x = layers.Conv2D(ch, 1, use_bias=False, name=f"pw{i}")(x)
        x = layers.BatchNormalization(name=f"bn{i}")(x)
        x = layers.ReLU(6.0, name=f"relu{i}")(x)
    # Collapse the remaining rows into one feature column per time step.
    rows = int(x.shape[1])
    x = layers.Conv2D(HEAD_CHANNELS, (rows, 1), padding="valid", use_bias=False, name="collapse")(x)
    x = layers.BatchNormalization(name="collapse_bn")(x)
    x = layers.ReLU(6.0, name="collapse_relu")(x)
    # Wider context along the sequence: neighbouring characters disambiguate spacing and repeats.
    x = layers.DepthwiseConv2D((1, 5), padding="same", use_bias=False, name="ctx_dw")(x)
    x = layers.BatchNormalization(name="ctx_dwbn")(x)
    x = layers.ReLU(6.0, name="ctx_dwrelu")(x)
    x = layers.Conv2D(HEAD_CHANNELS, 1, use_bias=False, name="ctx_pw")(x)
    x = layers.BatchNormalization(name="ctx_bn")(x)
    x = layers.ReLU(6.0, name="ctx_relu")(x)
    x = layers.Dropout(0.1, name="drop")(x)
    x = layers.Conv2D(len(ALPHABET) + 1, 1, name="logits")(x)
    x = layers.Reshape((int(x.shape[2]), len(ALPHABET) + 1), name="seq")(x)
    out = layers.Softmax(name="probs")(x)
    return keras.Model(inp, out, name=f"plate_reader_{arch}")


def count_macs(model: object) -> int:
    """Multiply-accumulates of one inference, counted over the convolution layers."""
    total = 0
    for layer in model.layers:  # type: ignore[attr-defined]
        cls = type(layer).__name__
        if cls not in {"Conv2D", "DepthwiseConv2D"}:
            continue
        out_h, out_w, out_c = (int(d) for d in layer.output.shape[1:])
        kh, kw = layer.kernel_size
        if cls == "Conv2D":
            in_c = int(layer.input.shape[-1])
            total += out_h * out_w * out_c * kh * kw * in_c
        else:
            total += out_h * out_w * out_c * kh * kw
    return total


def export_tflite(
    model: object, out_dir: Path, representative: Callable[[], Iterator[list[np.ndarray]]] | None
) -> bytes:
    """Convert through a SavedModel (the verified path); int8 in/out when given a representative dataset."""
    saved = out_dir / "saved_model"
    model.export(str(saved), format="tf_saved_model", verbose=False)  # type: ignore[attr-defined]
    return convert_saved_model(saved, representative)


def convert_saved_model(saved: Path, representative: Callable[[], Iterator[list[np.ndarray]]] | None) -> bytes:
    """A SavedModel as TFLite bytes: full-integer int8 (input and output too) when given a representative
    dataset, float otherwise."""
    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_saved_model(str(saved))
    if representative is not None:
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = representative
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    data = conv.convert()
    return bytes(data)


def set_threads(threads: int) -> None:
    """Limit TF to `threads` intra-op and inter-op threads (the CPU is shared with another training)."""
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(threads))
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
