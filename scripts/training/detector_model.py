"""The plate detector network: a small fully convolutional CenterNet, and its TFLite export.

Backbone: a 3x3 stem at stride 2, then depthwise-separable stages down to stride 32 (wide 5x5 depthwise kernels
at the coarse stages so that a plate filling the frame still fits in the receptive field). A top-down path
(nearest upsampling + add, as in FPN) brings the stride-16 and stride-32 context back to the output stride. Two
heads: ``heat`` (one channel, sigmoid: plate centre probability) and ``box`` (four channels: log of the distances
from the cell centre to the plate's left, top, right and bottom edges, in cells; TTFNet). No Dense or Reshape
layer, so the exported model can be resized to any input that is a multiple of 32.

Channels are few at high resolution because this CPU (and a Pi) spend most of the time in the first layers.

Shared by ``train_detector.py`` (training, export) and ``bench_detector_arch.py`` (latency of candidates).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HEAT_PRIOR = 0.01  # initial heatmap probability (focal-loss practice: start near the background rate)


@dataclass(frozen=True)
class Arch:
    """One candidate architecture: stem width, stages (channels, blocks, kernel), FPN width, output stride."""

    stem: int
    stages: tuple[tuple[int, int, int], ...]  # per stride 4, 8, 16, 32: (channels, blocks, depthwise kernel)
    fpn: int
    stride: int


ARCHS: dict[str, Arch] = {
    "n8": Arch(8, ((16, 1, 3), (32, 2, 3), (64, 3, 5), (96, 2, 5)), 32, 8),
    "s8": Arch(12, ((24, 1, 3), (40, 2, 3), (72, 3, 5), (112, 2, 5)), 40, 8),
    "m8": Arch(16, ((24, 1, 3), (48, 2, 3), (96, 3, 5), (144, 2, 5)), 48, 8),
    "l8": Arch(16, ((32, 1, 3), (64, 2, 3), (128, 4, 5), (192, 2, 5)), 64, 8),
    "x8": Arch(24, ((32, 1, 3), (80, 2, 3), (160, 4, 5), (256, 2, 5)), 96, 8),
    "n4": Arch(8, ((16, 1, 3), (32, 2, 3), (64, 3, 5), (96, 2, 5)), 24, 4),
    "s4": Arch(12, ((24, 1, 3), (40, 2, 3), (72, 3, 5), (112, 2, 5)), 24, 4),
}


def set_threads(threads: int) -> None:
    """Limit TensorFlow to `threads` intra-op and inter-op threads (the CPU is shared with other jobs)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)


def _conv_bn(x: object, ch: int, k: int, stride: int, name: str, act: bool = True) -> object:
    from keras import layers

    x = layers.Conv2D(ch, k, strides=stride, padding="same", use_bias=False, name=name)(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.ReLU(6.0, name=f"{name}_relu")(x) if act else x


def _sep(x: object, ch: int, k: int, stride: int, name: str) -> object:
    """Depthwise k x k then pointwise, each with BN and ReLU6; residual when the shape is kept."""
    from keras import layers

    inp = x
    x = layers.DepthwiseConv2D(k, strides=stride, padding="same", use_bias=False, name=f"{name}_dw")(x)
    x = layers.BatchNormalization(name=f"{name}_dwbn")(x)
    x = layers.ReLU(6.0, name=f"{name}_dwrelu")(x)
    x = layers.Conv2D(ch, 1, use_bias=False, name=f"{name}_pw")(x)
    x = layers.BatchNormalization(name=f"{name}_pwbn")(x)
    if stride == 1 and int(inp.shape[-1]) == ch:  # type: ignore[attr-defined]
        x = layers.Add(name=f"{name}_add")([inp, x])
    return layers.ReLU(6.0, name=f"{name}_relu")(x)


def build_model(arch: str = "s8", height: int | None = None, width: int | None = None, export: bool = False) -> object:
    """Build the training model: input ``H x W x 3`` BGR in [0, 1]; outputs heat logits and box regressions.

    ``height``/``width`` None builds a model of dynamic spatial size (training uses several canvas sizes).
    ``export`` builds the same network (same weights, same outputs) with `_upsample2x` for the TFLite export.
    """
    import keras
    from keras import layers

    spec = ARCHS[arch]
    inp = keras.Input((height, width, 3), name="image")
    x = _conv_bn(inp, spec.stem, 3, 2, "stem")
    feats: dict[int, object] = {}
    stride = 2
    for ch, blocks, k in spec.stages:
        stride *= 2
        for b in range(blocks):
            x = _sep(x, ch, k if b else 3, 2 if b == 0 else 1, f"s{stride}b{b}")
        feats[stride] = x
    # Top-down path: coarse context added into finer maps down to the output stride.
    y = _conv_bn(feats[32], spec.fpn, 1, 1, "lat32")
    s = 32
    while s > spec.stride:
        s //= 2
        up = _upsample2x(y, f"up{s}") if export else layers.UpSampling2D(2, interpolation="nearest", name=f"up{s}")(y)
        lat = _conv_bn(feats[s], spec.fpn, 1, 1, f"lat{s}", act=False)
        y = layers.Add(name=f"fuse{s}")([up, lat])
        y = _sep(y, spec.fpn, 3, 1, f"top{s}")
    head = _sep(y, spec.fpn, 3, 1, "head")
    heat = layers.Conv2D(
        1,
        1,
        name="heat_logits",
        bias_initializer=keras.initializers.Constant(float(np.log(HEAT_PRIOR / (1 - HEAT_PRIOR)))),
    )(head)
    box = layers.Conv2D(4, 1, name="box")(head)
    return keras.Model(inp, [heat, box], name=f"plate_detector_{arch}")


def _upsample2x(x: object, name: str) -> object:
    """Nearest-neighbour 2x upsampling as four channel copies + depth-to-space.

    Equal to ``UpSampling2D(2, "nearest")``, but Keras exports that as TILE + RESHAPE with the training size baked
    in, so the TFLite model could not be resized; CONCATENATION and DEPTH_TO_SPACE work at any input size.
    """
    import tensorflow as tf
    from keras import layers

    copies = layers.Concatenate(axis=-1, name=f"{name}_copies")([x, x, x, x])

    def out_shape(s: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return (s[0], None if s[1] is None else s[1] * 2, None if s[2] is None else s[2] * 2, int(s[3]) // 4)  # type: ignore[arg-type]

    return layers.Lambda(lambda t: tf.nn.depth_to_space(t, 2), output_shape=out_shape, name=name)(copies)


def inference_model(train_model: object) -> object:
    """Wrap the training model for export: sigmoid on the heatmap, outputs ``heat`` (N,H,W,1), ``box`` (N,H,W,4)."""
    import keras
    from keras import layers

    inp = keras.Input(train_model.input.shape[1:], name="image")  # type: ignore[attr-defined]
    logits, box = train_model(inp)  # type: ignore[operator]
    heat = layers.Activation("sigmoid", name="heat")(logits)
    box = layers.Identity(name="boxes")(box)
    return keras.Model(inp, [heat, box], name=train_model.name)  # type: ignore[attr-defined]


def count_macs(model: object) -> int:
    """Multiply-accumulates of one inference, over the convolution layers of a model built with a fixed size."""
    total = 0
    for layer in _conv_layers(model):
        out_h, out_w, out_c = (int(d) for d in layer.output.shape[1:])  # type: ignore[attr-defined]
        kh, kw = layer.kernel_size  # type: ignore[attr-defined]
        per_out = kh * kw * (int(layer.input.shape[-1]) if type(layer).__name__ == "Conv2D" else 1)  # type: ignore[attr-defined]
        total += out_h * out_w * out_c * per_out
    return total


def _conv_layers(model: object) -> list[object]:
    out = []
    for layer in model.layers:  # type: ignore[attr-defined]
        if type(layer).__name__ in {"Conv2D", "DepthwiseConv2D"}:
            out.append(layer)
        elif hasattr(layer, "layers"):
            out.extend(_conv_layers(layer))
    return out


def export_tflite(
    model: object, workdir: Path, representative: Callable[[], Iterator[list[np.ndarray]]] | None
) -> bytes:
    """Convert through a SavedModel (the path that calibrates correctly); int8 in/out when `representative`."""
    import tensorflow as tf

    model.export(str(workdir / "saved_model"), format="tf_saved_model", verbose=False)  # type: ignore[attr-defined]
    conv = tf.lite.TFLiteConverter.from_saved_model(str(workdir / "saved_model"))
    if representative is not None:
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = representative
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    return bytes(conv.convert())
