"""Latency of candidate detector architectures before training them: build, export int8 and float, time at 1 thread.

Weights are random (latency does not depend on them); calibration uses random images.
Usage: .venv/bin/python scripts/bench_detector_arch.py s8 n4 --size 224x384
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training import detector_model

from edge_agent.bench.vision import model_latency_ms


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
                qi = model_latency_ms(q)
                fl = model_latency_ms(f)
                print(
                    f"{arch} {h}x{w}: {detector_model.count_macs(model) / 1e6:.1f} MMAC "
                    f"params {model.count_params()} int8 {q.stat().st_size / 1e3:.0f} kB "
                    f"p50 {qi[0]:.2f} ms p99 {qi[1]:.2f} | float p50 {fl[0]:.2f} ms",
                    flush=True,
                )


if __name__ == "__main__":
    main()
