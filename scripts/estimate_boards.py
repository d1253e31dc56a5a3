"""Estimate the shipped models' speed on a Raspberry Pi 4 and 5 from what can be measured here.

No board is at hand, so the estimate leans on one published figure and one measurement made here:

1. A reference network with published Raspberry Pi timings: MobileNet v2 1.0 at 224x224 (300 MMAC). XNNPACK's
   README (benchmark of December 2019, Raspbian Buster, float32, 4 threads) gives 47 ms on a Raspberry Pi 4
   (BCM2711, Cortex-A72 at 1.5 GHz).
2. Here, on this machine at 1 thread, the same network (random weights: the speed of a network does not depend
   on them), float32 and int8, and the shipped int8 detector and reader, all through the same runtime. The ratio
   of a shipped model's time to the reference's carries over to the board to the extent that both networks use
   the CPU alike (both are depthwise-separable convolution stacks run by XNNPACK); that is the method's main
   error, taken as a factor of 1.5 either way.
3. Board factors, each a range: one thread of four (x3.0 to x3.6 the 4-thread time), int8 against float32 on a
   core without dot-product instructions (Cortex-A72: x1.2 to x1.5 faster), and a Raspberry Pi 5 (Cortex-A76 at
   2.4 GHz with SDOT) against a 4 (x2.5 to x4 for int8 work).

The printed table gives the low and high ends; the model card copies it with this method. `edge-agent bench
pipeline` on a board prints the same model times (its `board` section) to set beside it.

Usage: .venv/bin/python scripts/estimate_boards.py          (needs the [train] extra: TensorFlow builds the
                                                               reference network)
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from edge_agent.bench.vision import _loaded_ms  # noqa: E402
from edge_agent.device.vision.pipeline import VIEW_FRAMINGS, VIEW_MARGINS  # noqa: E402
from edge_agent.device.vision.readcmd import STILL_INPUTS  # noqa: E402
from edge_agent.device.vision.runtime import TFLiteModel  # noqa: E402

PI4_MOBILENET_V2_FP32_4T_MS = 47.0  # XNNPACK README, Raspberry Pi 4 (BCM2711), 4 threads, float32
ONE_OF_FOUR = (3.0, 3.6)  # a single thread against four
INT8_ON_A72 = (1.2, 1.5)  # int8 faster than float32 on a core without SDOT
PI5_OVER_PI4 = (2.5, 4.0)  # int8 work on a Cortex-A76 with SDOT at 2.4 GHz against a Cortex-A72 at 1.5 GHz
METHOD_ERROR = 1.5  # the shipped models against the reference network: same kind of network, not the same


def reference_models(folder: Path) -> tuple[Path, Path]:
    """MobileNet v2 1.0 224 as float32 and full-integer int8 TFLite files (random weights, random calibration)."""
    import tensorflow as tf

    tf.random.set_seed(0)
    model = tf.keras.applications.MobileNetV2(weights=None, input_shape=(224, 224, 3), classes=1000)
    fp32 = folder / "mobilenet_v2_fp32.tflite"
    fp32.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    rng = np.random.default_rng(0)

    def calibration():  # type: ignore[no-untyped-def]
        for _ in range(8):
            yield [rng.uniform(-1, 1, (1, 224, 224, 3)).astype(np.float32)]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = calibration
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    int8 = folder / "mobilenet_v2_int8.tflite"
    int8.write_bytes(converter.convert())
    return fp32, int8


def timed(path: Path, shape: tuple[int, ...] | None = None) -> float:
    model = TFLiteModel(path, num_threads=1)
    if shape is not None:
        model.resize_input(shape)
    return _loaded_ms(model)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        ref_fp32, ref_int8 = reference_models(Path(tmp))
        here = {
            "MobileNet v2 fp32 (reference)": timed(ref_fp32),
            "MobileNet v2 int8 (reference)": timed(ref_int8),
        }
    detector = REPO / "models" / "plate_detector.tflite"
    reader = REPO / "models" / "plate_reader.tflite"
    still_h, still_w = STILL_INPUTS[-1]
    here["detector int8, 224x384 (cameras, one pass)"] = timed(detector, (1, 224, 384, 3))
    here[f"detector int8, {still_h}x{still_w} (a large photo, one of two passes)"] = timed(
        detector, (1, still_h, still_w, 3)
    )
    views = len(VIEW_MARGINS) * len(VIEW_FRAMINGS)
    here[f"reader int8, one view ({views} per plate)"] = timed(reader)
    here["box refiner int8, one plate"] = timed(REPO / "models" / "plate_refiner.tflite")
    here[f"a camera frame with one plate (all three, {views} views)"] = (
        here["detector int8, 224x384 (cameras, one pass)"]
        + here["box refiner int8, one plate"]
        + views * here[f"reader int8, one view ({views} per plate)"]
    )

    # The reference on a Pi 4 at 1 thread: float32 from the published 4-thread figure, int8 from that.
    pi4_ref_fp32 = [PI4_MOBILENET_V2_FP32_4T_MS * f for f in ONE_OF_FOUR]
    pi4_ref_int8 = [pi4_ref_fp32[0] / INT8_ON_A72[1], pi4_ref_fp32[1] / INT8_ON_A72[0]]
    ref_here = here["MobileNet v2 int8 (reference)"]
    print(f"{'network (1 thread)':<58} {'here ms':>8} {'Pi 4 ms':>15} {'Pi 5 ms':>15}")
    for name, ms in here.items():
        if name.startswith("MobileNet v2 fp32"):
            pi4 = pi4_ref_fp32
        elif name.startswith("MobileNet v2 int8"):
            pi4 = pi4_ref_int8
        else:
            ratio = ms / ref_here
            pi4 = [pi4_ref_int8[0] * ratio / METHOD_ERROR, pi4_ref_int8[1] * ratio * METHOD_ERROR]
        pi5 = [pi4[0] / PI5_OVER_PI4[1], pi4[1] / PI5_OVER_PI4[0]]
        print(f"{name:<58} {ms:8.2f} {pi4[0]:6.1f} - {pi4[1]:6.1f} {pi5[0]:6.1f} - {pi5[1]:6.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
