"""Capture: file replay (timestamps, pacing, corrupt data, end of stream), the bounded queue, the worker."""

from __future__ import annotations

import itertools
import sys
import threading
import time
import types
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from edge_agent.config import CameraConfig
from edge_agent.device.capture.base import EndOfStream, Frame, FrameQueue
from edge_agent.device.capture.opencv import OpenCVSource, describe_source
from edge_agent.device.capture.picamera import PiCameraSource, camera_number
from edge_agent.device.capture.replay import ReplaySource
from edge_agent.device.capture.worker import CaptureWorker, make_source
from edge_agent.errors import CaptureError


def write_video(path: Path, frames: int = 20, fps: float = 10.0, size: tuple[int, int] = (160, 120)) -> Path:
    """A small MPEG-4 clip whose frame i shows the number i as its brightness."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    for i in range(frames):
        writer.write(np.full((size[1], size[0], 3), i * 10 % 256, np.uint8))
    writer.release()
    return path


def _frame(i: int) -> Frame:
    return Frame(np.zeros((2, 2, 3), np.uint8), ts=float(i), media_s=float(i), index=i)


def test_replay_times_come_from_the_file(tmp_path: Path) -> None:
    src = ReplaySource(write_video(tmp_path / "v.mp4"), realtime=False, start_ts=1000.0)
    src.open()
    frames = []
    with pytest.raises(EndOfStream):
        while True:
            frames.append(src.read())
    src.close()
    assert len(frames) == 20
    assert [f.index for f in frames] == list(range(20))
    steps = np.diff([f.media_s for f in frames])
    assert np.allclose(steps, 0.1, atol=1e-3)
    assert frames[0].ts == pytest.approx(1000.0 + frames[0].media_s)


def test_realtime_replay_is_paced(tmp_path: Path) -> None:
    src = ReplaySource(write_video(tmp_path / "v.mp4", frames=6, fps=20.0), realtime=True)
    src.open()
    start = time.monotonic()
    for _ in range(6):
        src.read()
    assert time.monotonic() - start >= 0.2  # 6 frames at 20 fps: the last is due at 0.25 s
    src.close()


def test_loop_keeps_time_increasing(tmp_path: Path) -> None:
    src = ReplaySource(write_video(tmp_path / "v.mp4", frames=5), realtime=False, loop=True)
    src.open()
    media = [src.read().media_s for _ in range(12)]
    src.close()
    assert all(b > a for a, b in itertools.pairwise(media))


def test_missing_and_undecodable_files(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match="not found"):
        ReplaySource(tmp_path / "nope.mp4").open()
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video" * 100)
    with pytest.raises(CaptureError, match="cannot be decoded as video"):
        ReplaySource(junk).open()


def test_frame_queue_drops_oldest_for_live_sources() -> None:
    q = FrameQueue(3, drop_oldest=True)
    for i in range(5):
        assert q.put(_frame(i))
    assert q.dropped == 2
    assert [q.get(0).index for _ in range(3)] == [2, 3, 4]  # type: ignore[union-attr]


def test_frame_queue_waits_for_file_replay() -> None:
    q = FrameQueue(2, drop_oldest=False)
    assert q.put(_frame(0)) and q.put(_frame(1))
    assert not q.put(_frame(2), timeout=0.05)  # full: the producer waits instead of dropping
    got: list[int] = []
    t = threading.Thread(target=lambda: got.extend(q.get(1).index for _ in range(3)))  # type: ignore[union-attr]
    t.start()
    assert q.put(_frame(2), timeout=2)
    t.join(2)
    assert got == [0, 1, 2] and q.dropped == 0
    q.close()
    assert q.get(0.01) is None and not q.put(_frame(3))


def test_worker_replays_a_file_into_the_queue(tmp_path: Path) -> None:
    cam = CameraConfig(name="north", source=str(write_video(tmp_path / "v.mp4", frames=12)))
    source = make_source(cam, realtime=False)
    q = FrameQueue(4, drop_oldest=source.live)
    worker = CaptureWorker(cam, source, q)
    worker.start()
    seen = []
    while (frame := q.get(2)) is not None:
        seen.append(frame.index)
    worker.join(2)
    assert seen == list(range(12)) and worker.ended and worker.error is None and q.dropped == 0


def test_worker_reconnects_a_failing_live_camera() -> None:
    class Flaky:
        name, live, reconnectable = "flaky", True, True

        def __init__(self) -> None:
            self.opens = 0
            self.reads = 0

        def open(self) -> None:
            self.opens += 1
            if self.opens < 3:
                raise CaptureError("no camera at /dev/video9")

        def read(self) -> Frame:
            self.reads += 1
            if self.reads % 5 == 0:
                raise CaptureError("stopped delivering frames")
            return _frame(self.reads)

        def close(self) -> None:
            pass

    cam = CameraConfig(name="flaky", source="/dev/video9", reconnect={"initial": 0.01, "max": 0.02})
    source = Flaky()
    q = FrameQueue(100)
    worker = CaptureWorker(cam, source, q)
    worker.start()
    deadline = time.monotonic() + 5
    while q.put_count < 12 and time.monotonic() < deadline:
        time.sleep(0.01)
    worker.stop()
    worker.join(2)
    assert q.put_count >= 12 and source.opens >= 4 and worker.reconnects >= 3 and worker.error is None


def test_worker_reports_a_missing_replay_file_as_fatal(tmp_path: Path) -> None:
    cam = CameraConfig(name="gone", source=str(tmp_path / "gone.mp4"))
    worker = CaptureWorker(cam, make_source(cam), FrameQueue(2))
    worker.start()
    worker.join(2)
    assert isinstance(worker.error, CaptureError) and not worker.alive


def test_opencv_source_descriptions_and_hints() -> None:
    assert describe_source("/dev/video3")[0] == 3
    assert describe_source("rtsp://user:secret@10.0.0.5/stream")[2] == "rtsp://***@10.0.0.5/stream"
    # Passwords are typed as they are: an @ or a / inside one must not leave part of it in the label.
    for password in ("p@ss", "a/b@c", "x@y/z", "//@@"):
        label = describe_source(f"rtsp://admin:{password}@10.0.0.5:554/Streaming/101")[2]
        assert label == "rtsp://***@10.0.0.5:554/Streaming/101"
        assert password not in label
    assert describe_source("rtsp://10.0.0.5/stream")[2] == "rtsp://10.0.0.5/stream"
    assert describe_source("nvarguscamerasrc ! appsink")[2] == "GStreamer pipeline"
    with pytest.raises(CaptureError, match="no camera at /dev/video97: check the cable"):
        OpenCVSource("/dev/video97", name="north").open()


def test_picamera_without_picamera2_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "picamera2", None)
    with pytest.raises(CaptureError, match="apt install python3-picamera2"):
        PiCameraSource("picamera:0").open()
    with pytest.raises(CaptureError, match="bad picamera source"):
        camera_number("picamera:x")


def test_picamera_against_a_fake_module(monkeypatch: pytest.MonkeyPatch) -> None:
    class Request:
        def __init__(self, n: int) -> None:
            self.n = n

        def make_array(self, name: str) -> np.ndarray:
            return np.full((4, 6, 3), self.n, np.uint8)

        def get_metadata(self) -> dict[str, Any]:
            return {"SensorTimestamp": 5_000_000_000 + self.n * 33_333_333}

        def release(self) -> None:
            pass

    class FakeCam:
        def __init__(self, number: int) -> None:
            self.number, self.n, self.config = number, 0, None

        def create_video_configuration(self, **kw: Any) -> dict[str, Any]:
            return kw

        def configure(self, config: dict[str, Any]) -> None:
            self.config = config

        def start(self) -> None:
            pass

        def capture_request(self) -> Request:
            self.n += 1
            return Request(self.n)

        def stop(self) -> None:
            pass

        def close(self) -> None:
            pass

    monkeypatch.setitem(sys.modules, "picamera2", types.SimpleNamespace(Picamera2=FakeCam))
    src = PiCameraSource("picamera:1", fps=30, resolution=(6, 4))
    src.open()
    frames = [src.read() for _ in range(3)]
    src.close()
    assert [f.image[0, 0, 0] for f in frames] == [1, 2, 3]
    assert frames[2].media_s == pytest.approx(2 * 0.0333333, abs=1e-4)
