"""What both training scripts share: a seeded, deterministic TensorFlow and a digest of a model's weights.

With one thread, ``enable_op_determinism`` and seeded data, two runs of the same command give the same weights
after every epoch; the digest in each epoch's log line is how a rerun shows that it reproduced the run.
"""

from __future__ import annotations

import hashlib

import numpy as np


def make_deterministic(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow, and make TensorFlow pick deterministic kernels (or fail loudly)."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def weights_digest(model) -> str:  # type: ignore[no-untyped-def]
    """Short sha256 of all weights: equal digests after an epoch mean a rerun reproduced it bit for bit."""
    h = hashlib.sha256()
    for w in model.get_weights():
        h.update(np.ascontiguousarray(w).tobytes())
    return h.hexdigest()[:16]
