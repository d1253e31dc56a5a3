"""Where edge-agent finds what ships with it (models) and where it keeps state by default."""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def models_dir() -> Path:
    """The directory holding the shipped models: $EDGE_AGENT_MODELS, the wheel's copy, or the source tree's."""
    env = os.environ.get("EDGE_AGENT_MODELS")
    if env:
        return Path(env)
    packaged = _PACKAGE_DIR / "_models"
    if packaged.is_dir():
        return packaged
    return _PACKAGE_DIR.parent / "models"


def default_model(name: str) -> Path:
    """Path of a shipped model by file name, e.g. ``plate_reader.tflite``."""
    return models_dir() / name


def package_data_dir(packaged_name: str, source_relative: str) -> Path:
    """A data directory shipped in the wheel as `edge_agent/<packaged_name>`, else found in the source tree."""
    packaged = _PACKAGE_DIR / packaged_name
    if packaged.is_dir():
        return packaged
    return _PACKAGE_DIR.parent / source_relative
