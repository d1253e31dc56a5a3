"""Latency of candidate reader architectures before training: build, export int8 and float, time at 1 thread.

Weights are random (latency does not depend on them); calibration uses random images.
Usage: .venv/bin/python scripts/bench_reader_arch.py m40 c40 s48
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

import reader_model

from edge_agent.vision.runtime import TFLiteModel


def p50_ms(path: Path, runs: int = 200) -> tuple[float, float]:
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
    """Print MMACs, size and latency (int8, float) of each named architecture."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("archs", nargs="+", choices=sorted(reader_model.ARCHS))
    args = ap.parse_args()
    reader_model.set_threads(1)
    rng = np.random.default_rng(0)
    for arch in args.archs:
        model = reader_model.build_model(arch)
        h, w, _ = reader_model.ARCHS[arch]

        def rep(h: int = h, w: int = w):  # type: ignore[no-untyped-def]
            for _ in range(8):
                yield [rng.random((1, h, w, 1), dtype=np.float32)]

        with tempfile.TemporaryDirectory() as tmp:
            q = Path(tmp) / "q.tflite"
            f = Path(tmp) / "f.tflite"
            q.write_bytes(reader_model.export_tflite(model, Path(tmp) / "a", rep))
            f.write_bytes(reader_model.export_tflite(model, Path(tmp) / "b", None))
            qi = p50_ms(q)
            fl = p50_ms(f)
            print(
                f"{arch}: {h}x{w} {reader_model.count_macs(model) / 1e6:.2f} MMAC "
                f"params {model.count_params()} "
                f"int8 {q.stat().st_size / 1e3:.0f} kB p50 {qi[0]:.2f} ms p99 {qi[1]:.2f} | "
                f"float p50 {fl[0]:.2f} ms",
                flush=True,
            )


if __name__ == "__main__":
    main()
