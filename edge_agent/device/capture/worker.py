"""The capture stage: one thread per camera that reads frames into the bounded queue, reconnecting with backoff.

A live camera that fails or stalls (no frame for `stall_timeout`) is closed and reopened with exponential
backoff and jitter; a replayed file that cannot be opened is fatal (it is a configuration error, not an outage).
"""

from __future__ import annotations

import logging
import threading
import time

from edge_agent.config import CameraConfig, CameraKind
from edge_agent.device.capture.base import EndOfStream, FrameQueue, FrameSource
from edge_agent.device.capture.opencv import OpenCVSource, mask_credentials
from edge_agent.device.capture.picamera import PiCameraSource
from edge_agent.device.capture.replay import ReplaySource
from edge_agent.device.uplink import backoff_delay
from edge_agent.errors import CaptureError

logger = logging.getLogger(__name__)


def make_source(cam: CameraConfig, realtime: bool | None = None) -> FrameSource:
    """The frame source a camera config describes (`realtime` overrides a replay's pacing)."""
    if cam.kind is CameraKind.REPLAY:
        return ReplaySource(
            cam.source,
            name=cam.name,
            realtime=cam.replay.realtime if realtime is None else realtime,
            loop=cam.replay.loop,
            fps_cap=cam.fps,
        )
    if cam.kind is CameraKind.PICAMERA:
        return PiCameraSource(cam.source, name=cam.name, fps=cam.fps, resolution=cam.resolution)
    return OpenCVSource(
        cam.source, name=cam.name, fps=cam.fps, resolution=cam.resolution, read_timeout=cam.stall_timeout
    )


class CaptureWorker:
    """Runs a FrameSource in its own thread and feeds a FrameQueue."""

    def __init__(self, cam: CameraConfig, source: FrameSource, queue: FrameQueue) -> None:
        self.cam = cam
        self.source = source
        self.queue = queue
        self.frames_in = 0
        self.reconnects = 0
        self.ended = False
        self.error: BaseException | None = None
        self.first_frame = threading.Event()
        self.last_frame_at = time.monotonic()
        self.alive_at = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"capture-{cam.name}", daemon=True)

    def start(self) -> None:
        """Start reading."""
        self._thread.start()

    def stop(self) -> None:
        """Stop reading; the queue is closed so vision drains what is left."""
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the thread."""
        self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        """True while the thread runs (or it ended normally at the end of a file)."""
        return self._thread.is_alive() or (self.ended and self.error is None)

    @property
    def stalled(self) -> bool:
        """A live camera that has delivered no frame for `stall_timeout`."""
        return self.source.live and not self.ended and time.monotonic() - self.last_frame_at > self.cam.stall_timeout

    def _run(self) -> None:
        attempt = 0
        last_error = ""
        try:
            while not self._stop.is_set():
                self.alive_at = time.monotonic()
                try:
                    self.source.open()
                    self._pump()
                    return
                except EndOfStream:
                    self.ended = True
                    label = mask_credentials(self.cam.source)  # a stream URL may carry a password
                    logger.info("%s: end of %s after %d frames", self.cam.name, label, self.frames_in)
                    return
                except CaptureError as exc:
                    if not self.source.reconnectable:
                        raise
                    if str(exc) != last_error:
                        logger.warning("%s", exc)
                        last_error = str(exc)
                    self.source.close()
                    delay = backoff_delay(attempt, self.cam.reconnect.initial, self.cam.reconnect.max)
                    attempt = attempt + 1 if not self.first_frame.is_set() else 1
                    self.reconnects += 1
                    self._stop.wait(delay)
        except BaseException as exc:  # reported by the agent, which then exits non-zero
            self.error = exc
            logger.error("capture of %s failed: %s", self.cam.name, exc)
        finally:
            self.source.close()
            self.queue.close()

    def _pump(self) -> None:
        """Read frames until stopped; raises CaptureError or EndOfStream."""
        while not self._stop.is_set():
            frame = self.source.read()
            now = time.monotonic()
            self.frames_in += 1
            self.last_frame_at = self.alive_at = now
            self.first_frame.set()
            # A replay read as fast as possible waits for vision instead of dropping (see FrameQueue).
            while not self.queue.put(frame, timeout=0.5):
                if self._stop.is_set() or self.queue.closed:
                    return
                self.alive_at = time.monotonic()
