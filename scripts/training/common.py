"""What both training scripts share: a seeded, deterministic TensorFlow, a digest of a model's weights, and a
record of the machine that trained it.

With one thread, ``enable_op_determinism`` and seeded data, two runs of the same command on the same kind of CPU
give the same weights after every epoch; the digest in each epoch's log line is how a rerun shows that it
reproduced the run. On another CPU, oneDNN may pick kernels for another instruction set, whose sums round
differently, and the run drifts; ``platform()`` goes into each model's contract so that a rerun can tell.
"""

from __future__ import annotations

import hashlib
import os
import platform as _platform
import sys
import time
from importlib import metadata
from pathlib import Path

import numpy as np

from training.synth import fonts

# Environment variables that change which kernels TensorFlow runs on a CPU, and so the trained weights.
KERNEL_ENV = ("ONEDNN_MAX_CPU_ISA", "TF_ENABLE_ONEDNN_OPTS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")
# The packages that training pins (scripts/setup --train): their versions go into the record.
TRAIN_CONSTRAINTS = Path(__file__).resolve().parents[2] / "constraints" / "train.txt"


def make_deterministic(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow, and make TensorFlow pick deterministic kernels (or fail loudly)."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def model_version(prefix: str, int8: bytes) -> str:
    """A trained model's version: ``<prefix>-<UTC date>-<first 8 hex digits of the int8 file's sha256>``."""
    return f"{prefix}-{time.strftime('%Y%m%d', time.gmtime())}-{hashlib.sha256(int8).hexdigest()[:8]}"


def weights_digest(model) -> str:  # type: ignore[no-untyped-def]
    """Short sha256 of all weights: equal digests after an epoch mean a rerun reproduced it bit for bit."""
    h = hashlib.sha256()
    for w in model.get_weights():
        h.update(np.ascontiguousarray(w).tobytes())
    return h.hexdigest()[:16]


def _cpu() -> dict[str, str]:
    """The CPU's name, family, model and widest vector extension (from /proc/cpuinfo; elsewhere what is known)."""
    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
            if key.strip() == "flags":
                break
    except OSError:
        return {"name": _platform.processor() or _platform.machine()}
    flags = set(fields.get("flags", "").split())
    widest = next((f for f in ("avx512f", "avx2", "avx", "sse4_1") if f in flags), "none")
    return {
        "name": fields.get("model name", _platform.processor()),
        "family": fields.get("cpu family", ""),
        "model": fields.get("model", ""),
        "widest_vector_isa": widest,
    }


def platform() -> dict[str, object]:
    """The machine and software a model was trained with, for the contract's training record."""
    lines = TRAIN_CONSTRAINTS.read_text().splitlines()
    versions = {}
    for name in (line.split("==")[0].strip() for line in lines if "==" in line and not line.startswith("#")):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return {
        "machine": _platform.machine(),
        "cpu": _cpu(),
        "python": sys.version.split()[0],
        "packages": versions,
        "kernel_env": {k: os.environ[k] for k in KERNEL_ENV if k in os.environ},
        "fonts": fonts.installed_digest(),
    }
