"""The vision stage of one camera: a thread that takes frames from the capture queue through the pipeline and
hands finished vehicle passes to the seal stage. Frames may be dropped upstream; reads are never dropped here:
handing one over blocks until the seal stage has room.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from edge_agent.device.capture.base import FrameQueue
from edge_agent.device.vision.pipeline import VisionPipeline
from edge_agent.device.vision.tracker import FinishedTrack

logger = logging.getLogger(__name__)


class VisionWorker:
    """Runs one camera's VisionPipeline in its own thread."""

    def __init__(
        self, camera: str, queue: FrameQueue, pipeline: VisionPipeline, emit: Callable[[str, FinishedTrack], None]
    ) -> None:
        self.camera = camera
        self.queue = queue
        self.pipeline = pipeline
        self.emit = emit
        self.reads = 0
        self.error: BaseException | None = None
        self.finished = threading.Event()
        self.alive_at = time.monotonic()
        self._thread = threading.Thread(target=self._run, name=f"vision-{camera}", daemon=True)

    def start(self) -> None:
        """Start analysing."""
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        """Wait until the queue is drained and the tracker flushed."""
        self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        """Running, or finished without an error."""
        return self._thread.is_alive() or (self.finished.is_set() and self.error is None)

    def _hand_over(self, tracks: list[FinishedTrack]) -> None:
        for track in tracks:
            self.emit(self.camera, track)
            self.reads += 1

    def _run(self) -> None:
        try:
            while True:
                self.alive_at = time.monotonic()
                frame = self.queue.get(timeout=0.5)
                if frame is None:
                    if self.queue.closed:
                        break
                    continue
                self._hand_over(self.pipeline.process(frame))
            # end of stream or shutdown: the plates still in view are vehicle passes too
            self._hand_over(self.pipeline.flush())
        except BaseException as exc:  # reported by the agent, which exits non-zero
            self.error = exc
            logger.exception("vision of camera %s failed", self.camera)
        finally:
            self.finished.set()
