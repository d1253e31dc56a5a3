"""JPEG recompression, the last step of every training image's camera effects."""

from __future__ import annotations

import cv2
import numpy as np


def recompress(
    rng: np.random.Generator, image: np.ndarray, chance: float, lowest: int, highest: int = 90
) -> np.ndarray:
    """With probability `chance`, `image` encoded as JPEG at a quality drawn from [lowest, highest) and decoded.

    Draws one number from `rng`, and a second only when it recompresses, so callers keep their random streams.
    """
    if rng.random() >= chance:
        return image
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(lowest, highest))])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else image
