"""Latency of candidate reader architectures before training: build, export int8 and float, time at 1 thread.

Weights are random (latency does not depend on them); calibration uses random images.
Usage: .venv/bin/python scripts/bench_reader_arch.py m40 c40 s48
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training import reader_model

from edge_agent.bench.vision import model_latency_ms


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
            qi = model_latency_ms(q)
            fl = model_latency_ms(f)
            print(
                f"{arch}: {h}x{w} {reader_model.count_macs(model) / 1e6:.2f} MMAC "
                f"params {model.count_params()} "
                f"int8 {q.stat().st_size / 1e3:.0f} kB p50 {qi[0]:.2f} ms p99 {qi[1]:.2f} | "
                f"float p50 {fl[0]:.2f} ms",
                flush=True,
            )


if __name__ == "__main__":
    main()
