"""`edge-agent bench vision` and `edge-agent bench pipeline`: figures, measured against a baseline in one run.

bench vision: latency of each model per call (detector per frame, reader per crop) for the shipped int8 models
and their float versions, at the given thread count, p50/p99; for a detector whose contract runs the mirrored
frame too (as `edge-agent read` does on still images), also its single pass (as cameras run it by default).

bench pipeline: frames per second through the whole vision path (capture thread -> bounded queue -> mask ->
motion -> detector -> reader -> tracker), as fast as the file decodes, and in the same run the decode-only rate of
the same file through the same capture source: the floor no pipeline can beat. `ratio` = fps / decode_fps.
Its `board` section says what ran it (CPU, cores, inference runtime) and the two models' own times at 1 thread
(detector per frame as cameras run it, reader per view): the figures to set beside the model card's Pi 4 / Pi 5
estimate when the bench runs on a board.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import resource
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from edge_agent.config import CameraConfig, DetectorConfig, MotionConfig, TrackerConfig
from edge_agent.device.capture.base import EndOfStream, FrameQueue
from edge_agent.device.capture.replay import ReplaySource
from edge_agent.device.capture.worker import CaptureWorker
from edge_agent.device.vision.detector import PlateDetector
from edge_agent.device.vision.masks import Masker
from edge_agent.device.vision.pipeline import STAGES, VisionPipeline, crop_plate
from edge_agent.device.vision.reader import PlateReader
from edge_agent.device.vision.refine import PlateRefiner
from edge_agent.device.vision.runtime import TFLiteModel
from edge_agent.errors import InvalidInputError
from edge_agent.paths import default_model

REPO = Path(__file__).resolve().parents[2]
BENCH_VIDEO = REPO / "tests" / "fixtures" / "video" / "bench_1080p.mp4"


def percentiles(values: list[float]) -> dict[str, Any]:
    """p50 and p99 in ms, rounded for reading."""
    if not values:
        return {"p50": 0.0, "p99": 0.0, "n": 0}
    arr = np.asarray(values)
    return {
        "p50": round(float(np.percentile(arr, 50)), 3),
        "p99": round(float(np.percentile(arr, 99)), 3),
        "n": len(values),
    }


def _timed(fn: Any, inputs: list[Any], repeats: int) -> list[float]:
    """Milliseconds per call of `fn`, cycling through `inputs` (after one warm-up call)."""
    fn(inputs[0])  # warm-up: the first call allocates
    out = []
    for k in range(repeats):
        item = inputs[k % len(inputs)]
        t0 = time.perf_counter()
        fn(item)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def model_latency_ms(path: Path, runs: int = 200, warmup: int = 20) -> tuple[float, float]:
    """p50 and p99 in ms of one inference of a bare .tflite model at 1 thread on zeros, after `warmup` calls."""
    model = TFLiteModel(path, num_threads=1)
    x = np.zeros(model.input.shape, dtype=model.input.dtype)
    for _ in range(warmup):
        model.run(x)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        model.run(x)
        times.append((time.perf_counter() - t0) * 1000)
    return float(np.percentile(times, 50)), float(np.percentile(times, 99))


def _frames(video: Path, n: int) -> list[np.ndarray]:
    src = ReplaySource(str(video), name="bench", realtime=False)
    src.open()
    frames: list[np.ndarray] = []
    try:
        while len(frames) < n:
            frames.append(src.read().image)
    except EndOfStream:
        pass
    finally:
        src.close()
    if not frames:
        raise InvalidInputError(f"{video}: no frame could be decoded")
    return frames


def run_vision_bench(threads: int = 1, repeats: int = 200, video: Path = BENCH_VIDEO) -> dict[str, Any]:
    """Per-model latency, int8 and float, on frames of the bench video (resized to 1280x720) and their plates."""
    import cv2

    frames = [cv2.resize(f, (1280, 720)) for f in _frames(video, 30)] if video.is_file() else []
    if not frames:
        rng = np.random.default_rng(0)
        frames = [rng.integers(0, 255, (720, 1280, 3), dtype=np.uint8)]
    result: dict[str, Any] = {"threads": threads, "frame": "1280x720"}
    for variant in ("int8", "float"):
        suffix = "" if variant == "int8" else "_float"
        det = PlateDetector(default_model(f"plate_detector{suffix}.tflite"), num_threads=threads)
        rdr = PlateReader(default_model(f"plate_reader{suffix}.tflite"), num_threads=threads)
        ref = PlateRefiner(default_model(f"plate_refiner{suffix}.tflite"), num_threads=threads)
        found = [(f, d.box) for f in frames for d in det.detect(f)] or [(frames[0], (600.0, 340.0, 80.0, 40.0))]
        crops = [crop_plate(f, box) for f, box in found]
        det_ms = _timed(det.detect, frames, repeats)
        read_ms = _timed(rdr.read, crops, repeats * 2)
        refine_ms = _timed(lambda fb, r=ref: r.refine(*fb), found, repeats * 2)
        result[variant] = {
            "detector_ms": percentiles(det_ms),
            "detector_flip": det.flip,
            "reader_ms": percentiles(read_ms),
            "refiner_ms": percentiles(refine_ms),
            "detector_bytes": default_model(f"plate_detector{suffix}.tflite").stat().st_size,
            "reader_bytes": default_model(f"plate_reader{suffix}.tflite").stat().st_size,
            "refiner_bytes": default_model(f"plate_refiner{suffix}.tflite").stat().st_size,
        }
        if det.flip:  # still images run the mirrored pass; camera frames by default do not
            single = PlateDetector(default_model(f"plate_detector{suffix}.tflite"), num_threads=threads, flip=False)
            result[variant]["detector_single_pass_ms"] = percentiles(_timed(single.detect, frames, repeats))
    return result


def decode_only(video: Path, limit: int | None = None) -> tuple[int, float]:
    """Frames and seconds to decode the file through the replay source, nothing else."""
    src = ReplaySource(str(video), name="decode", realtime=False)
    src.open()
    frames = 0
    t0 = time.perf_counter()
    try:
        while limit is None or frames < limit:
            src.read()
            frames += 1
    except EndOfStream:
        pass
    finally:
        src.close()
    return frames, time.perf_counter() - t0


def _cpu_name() -> str:
    """The CPU as /proc/cpuinfo names it (x86: model name; Raspberry Pi: the board's Model line)."""
    try:
        info = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return platform.processor() or "unknown"
    fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    return fields.get("model name") or fields.get("Model") or fields.get("Hardware") or "unknown"


def _loaded_ms(model: TFLiteModel, runs: int = 200, warmup: int = 20) -> float:
    """p50 ms of one call of a loaded model on zeros of its input, after `warmup` calls."""
    x = np.zeros(model.input.shape, dtype=model.input.dtype)
    for _ in range(warmup):
        model.run(x)
    return float(np.percentile(_timed(model.run, [x], runs), 50))


def board_facts(detector: PlateDetector, reader: PlateReader, refiner: PlateRefiner) -> dict[str, Any]:
    """What ran the bench, and each model's time per call as the bench loaded it (p50 ms of 200 calls): the
    detector at the daemon's input size, the refiner per plate and the reader per view (15 views a plate)."""
    runtime = "unknown"
    for package in ("ai-edge-litert", "tflite-runtime", "tensorflow-cpu", "tensorflow"):
        try:
            runtime = f"{package} {importlib.metadata.version(package)}"
            break
        except importlib.metadata.PackageNotFoundError:
            continue
    detect_ms, read_ms = _loaded_ms(detector.model), _loaded_ms(reader.model)
    return {
        "machine": platform.machine(),
        "cpu": _cpu_name(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "runtime": runtime,
        "detector_ms_per_inference": round(detect_ms, 2),
        "detector_passes_per_frame": 2 if detector.flip else 1,
        "reader_ms_per_view": round(read_ms, 3),
        "refiner_ms_per_plate": round(_loaded_ms(refiner.model), 3),
    }


def run_pipeline_bench(
    video: Path = BENCH_VIDEO, threads: int = 1, repeat_decode: int = 2, settled_interval: float | None = None
) -> dict[str, Any]:
    """Whole vision path at full speed vs decode-only of the same file, in one run."""
    if not video.is_file():
        raise InvalidInputError(f"video {video} not found (bench pipeline needs a video; pass --video FILE)")
    detector = PlateDetector(num_threads=threads, flip=DetectorConfig().flip)  # as the daemon runs it
    reader = PlateReader(num_threads=threads)
    refiner = PlateRefiner(num_threads=threads)
    decode_runs = [decode_only(video) for _ in range(repeat_decode)]
    frames_decoded = decode_runs[0][0]
    decode_s = statistics.median(s for _, s in decode_runs)

    cam = CameraConfig.model_validate({"name": "bench", "kind": "replay", "source": str(video)})
    tracker = TrackerConfig() if settled_interval is None else TrackerConfig(settled_interval=settled_interval)
    pipeline = VisionPipeline(
        detector, reader, masker=Masker(cam.privacy_zones), motion=MotionConfig(), tracker=tracker, refiner=refiner
    )
    queue = FrameQueue(cam.queue_size, drop_oldest=False)
    worker = CaptureWorker(cam, ReplaySource(str(video), name="bench", realtime=False), queue)
    reads = 0
    t0 = time.perf_counter()
    worker.start()
    while True:
        frame = queue.get(timeout=5.0)
        if frame is None:
            if queue.closed:
                break
            continue
        reads += len(pipeline.process(frame))
    reads += len(pipeline.flush())
    elapsed = time.perf_counter() - t0
    worker.join(5.0)
    if worker.error is not None:
        raise worker.error
    fps = pipeline.frames / elapsed
    decode_fps = frames_decoded / decode_s
    stages: dict[str, dict[str, Any]] = {
        "decode": {"p50": round(decode_s / frames_decoded * 1000, 3), "p99": None, "n": frames_decoded}
    }
    stages.update({s: percentiles(list(pipeline.times[s])) for s in STAGES})
    return {
        "video": video.name,
        "threads": threads,
        "frames": pipeline.frames,
        "analysed_frames": pipeline.analysed,
        "strided_frames": pipeline.strided,
        "settled_interval_s": pipeline.tracker.cfg.settled_interval,
        "fps": round(fps, 1),
        "decode_fps": round(decode_fps, 1),
        "ratio": round(fps / decode_fps, 3),
        "stages": stages,
        "dropped_frames": queue.dropped,
        "reads": reads,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "board": board_facts(detector, reader, refiner),
    }
