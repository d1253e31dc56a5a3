"""Latency of candidate detector architectures before training them: build, export int8 and float, time at 1 thread.

Weights are random (latency does not depend on them); calibration uses random images.
Usage: .venv/bin/python scripts/bench_detector_arch.py s8 n4 --size 224x384
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import detector_model

from edge_agent.vision.runtime import TFLiteModel


def latency_ms(path: Path, runs: int = 200) -> tuple[float, float]:
    """p50 and p99 latency in ms of one inference at 1 thread, after warm-up."""
    model = TFLiteModel(path, num_threads=1)
    x = np.zeros(model.input.shape, dtype=model.input.dtype)
    for _ in range(20):
        model.run(x)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        model.run(x)
        times.append((time.perf_counter() - t0) * 1000)
    return float(np.percentile(times, 50)), float(np.percentile(times, 99))


def main() -> None:
    """Print MMACs, size and latency (int8, float) of each named architecture at each size."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("archs", nargs="+", choices=sorted(detector_model.ARCHS))
    ap.add_argument("--size", action="append", default=None, help="HxW, repeatable (default 224x384)")
    args = ap.parse_args()
    detector_model.set_threads(1)
    rng = np.random.default_rng(0)
    for size in args.size or ["224x384"]:
        h, w = (int(v) for v in size.split("x"))
        for arch in args.archs:
            model = detector_model.inference_model(detector_model.build_model(arch, h, w))

            def rep(h: int = h, w: int = w):  # type: ignore[no-untyped-def]
                for _ in range(8):
                    yield [rng.random((1, h, w, 3), dtype=np.float32)]

            with tempfile.TemporaryDirectory() as tmp:
                q = Path(tmp) / "q.tflite"
                f = Path(tmp) / "f.tflite"
                q.write_bytes(detector_model.export_tflite(model, Path(tmp) / "a", rep))
                f.write_bytes(detector_model.export_tflite(model, Path(tmp) / "b", None))
                qi = latency_ms(q)
                fl = latency_ms(f)
                print(
                    f"{arch} {h}x{w}: {detector_model.count_macs(model) / 1e6:.1f} MMAC "
                    f"params {model.count_params()} int8 {q.stat().st_size / 1e3:.0f} kB "
                    f"p50 {qi[0]:.2f} ms p99 {qi[1]:.2f} | float p50 {fl[0]:.2f} ms",
                    flush=True,
                )


if __name__ == "__main__":
    main()
