"""The inference backend: one small interface over LiteRT (`ai-edge-litert`) or the older `tflite-runtime`.

Both expose the same `Interpreter` class. LiteRT is preferred: it runs int8 models on XNNPACK. `tflite-runtime`
2.14 is the fallback for boards where LiteRT has no wheel; it needs numpy<2 and does not accelerate int8.
A missing backend is reported with what to install, not with a traceback.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from edge_agent.compat import StrEnum
from edge_agent.errors import ModelError, RuntimeMissingError

logger = logging.getLogger(__name__)
T = TypeVar("T")


class Backend(StrEnum):
    """Which TFLite interpreter package to use."""

    AUTO = "auto"
    LITERT = "litert"
    TFLITE_RUNTIME = "tflite-runtime"


_INSTALL_HINT = {
    Backend.LITERT: "pip install ai-edge-litert",
    Backend.TFLITE_RUNTIME: "pip install 'tflite-runtime==2.14.*' 'numpy<2'",
}


def _import_interpreter(backend: Backend) -> tuple[Any, Backend]:
    """Return the Interpreter class of the requested backend, trying LiteRT first on `auto`."""
    order = [Backend.LITERT, Backend.TFLITE_RUNTIME] if backend is Backend.AUTO else [backend]
    reasons = []
    for candidate in order:
        try:
            if candidate is Backend.LITERT:
                from ai_edge_litert.interpreter import Interpreter
            else:
                from tflite_runtime.interpreter import Interpreter
        except ImportError as exc:  # a broken install raises more than ModuleNotFoundError
            reasons.append(f"{candidate.value}: {exc}")
            continue
        return Interpreter, candidate
    hints = " or ".join(_INSTALL_HINT[c] for c in order)
    raise RuntimeMissingError(f"no TFLite runtime could be imported ({'; '.join(reasons)}): install one: {hints}")


@dataclass(frozen=True)
class TensorInfo:
    """Shape, type and quantisation of one model input or output."""

    index: int
    name: str
    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    scale: float
    zero_point: int

    @property
    def quantized(self) -> bool:
        """True when the tensor holds integers that stand for `scale * (q - zero_point)`."""
        return self.scale != 0.0 and self.dtype.kind in "iu"


def _tensor_info(detail: dict[str, Any]) -> TensorInfo:
    scale, zero_point = detail.get("quantization", (0.0, 0))
    return TensorInfo(
        index=int(detail["index"]),
        name=str(detail["name"]),
        shape=tuple(int(d) for d in detail["shape"]),
        dtype=np.dtype(detail["dtype"]),
        scale=float(scale),
        zero_point=int(zero_point),
    )


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Silence what the TFLite runtime's C++ code prints on stderr ("INFO: Created TensorFlow Lite XNNPACK
    delegate for CPU.") unless debug logging is on (-v). Models load before any stage thread starts, so nothing
    else writes to stderr meanwhile."""
    if logger.isEnabledFor(logging.DEBUG):
        yield
        return
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        sys.stderr.flush()
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class TFLiteModel:
    """A loaded `.tflite` model: feed float (normalised) or already-quantised input, get float outputs."""

    def __init__(self, path: Path | str, num_threads: int = 1, backend: Backend | str = Backend.AUTO) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise ModelError(f"model file {self.path} not found: reinstall edge-agent or fix the model path")
        interpreter_cls, self.backend = _import_interpreter(Backend(backend))
        try:
            with quiet_native_stderr():
                self._interp = interpreter_cls(model_path=str(self.path), num_threads=max(1, int(num_threads)))
                self._interp.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"{self.path} is not a usable TFLite model ({first}): replace the file") from exc
        self._refresh_details()
        logger.debug("loaded %s with %s, %d thread(s)", self.path.name, self.backend.value, num_threads)

    def _refresh_details(self) -> None:
        self.inputs = [_tensor_info(d) for d in self._interp.get_input_details()]
        self.outputs = [_tensor_info(d) for d in self._interp.get_output_details()]

    @property
    def input(self) -> TensorInfo:
        """The first (for our models, the only) input."""
        return self.inputs[0]

    def resize_input(self, shape: tuple[int, ...]) -> None:
        """Change the input shape of a fully convolutional model (e.g. to match a camera's aspect ratio)."""
        if tuple(shape) == self.input.shape:
            return
        try:
            self._interp.resize_tensor_input(self.input.index, list(shape), strict=False)
            self._interp.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"{self.path.name} cannot take input shape {shape}: {exc}") from exc
        self._refresh_details()

    def quantize(self, x: np.ndarray) -> np.ndarray:
        """Turn a float array in the model's normalised range into the input tensor's type."""
        info = self.input
        if not info.quantized:
            return np.asarray(x, dtype=info.dtype)
        limits = np.iinfo(info.dtype)
        q = np.rint(np.asarray(x, dtype=np.float32) / info.scale) + info.zero_point
        quantized: np.ndarray = np.clip(q, limits.min, limits.max).astype(info.dtype)
        return quantized

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        """Run one inference. `x` is either float (quantised here) or already of the input's dtype."""
        info = self.input
        if x.dtype != info.dtype:
            x = self.quantize(x)
        if x.shape != info.shape:
            raise ModelError(f"{self.path.name} expects input {info.shape}, got {x.shape}")
        self._interp.set_tensor(info.index, x)
        self._interp.invoke()
        return [self.dequantize(o, np.asarray(self._interp.get_tensor(o.index))) for o in self.outputs]

    @staticmethod
    def dequantize(info: TensorInfo, q: np.ndarray) -> np.ndarray:
        """Float view of an output tensor."""
        if not info.quantized:
            return q.astype(np.float32, copy=False)
        return (q.astype(np.float32) - info.zero_point) * info.scale


def sidecar_path(model_path: Path) -> Path:
    """The JSON contract beside a model: ``<stem>.json``; the float twin ``<name>_float.tflite`` shares
    ``<name>.json`` with the int8 model."""
    own = model_path.with_suffix(".json")
    if own.is_file() or not model_path.stem.endswith("_float"):
        return own
    return model_path.with_name(model_path.stem.removesuffix("_float") + ".json")


def read_sidecar(path: Path, trainer: str, parse: Callable[[dict[str, Any]], T]) -> T:
    """A model's contract parsed by `parse`; a missing, unreadable or malformed one raises ModelError naming the
    file, the problem and `trainer` (the script that writes it)."""
    if not path.is_file():
        raise ModelError(f"model contract {path} not found: ship the .json next to the .tflite ({trainer})")
    try:
        return parse(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ModelError(f"model contract {path} is malformed ({exc!r}): regenerate it with {trainer}") from exc


def uint8_to_input(image: np.ndarray, info: TensorInfo) -> np.ndarray:
    """Fast path from uint8 pixels to an input tensor whose float value is `pixel / 255`.

    For the usual int8 quantisation of that range (scale 1/255, zero point -128) this is a bit flip, far cheaper
    per frame than dividing and rounding.
    """
    if info.dtype == np.int8 and info.zero_point == -128 and abs(info.scale * 255.0 - 1.0) < 1e-3:
        flipped: np.ndarray = np.bitwise_xor(image, np.uint8(0x80)).view(np.int8)
        return flipped
    if info.dtype == np.uint8 and info.zero_point == 0 and abs(info.scale * 255.0 - 1.0) < 1e-3:
        return image
    if info.quantized:
        q = np.rint(image.astype(np.float32) / (255.0 * info.scale)) + info.zero_point
        limits = np.iinfo(info.dtype)
        clipped: np.ndarray = np.clip(q, limits.min, limits.max).astype(info.dtype)
        return clipped
    scaled: np.ndarray = image.astype(np.float32) * np.float32(1.0 / 255.0)
    return scaled
