"""The frame-source interface and the bounded queue between capture and vision.

Every source yields `Frame`s with two clocks: `ts`, the wall-clock time the frame shows (what a read reports),
and `media_s`, a monotonic stream position (what the tracker and motion gate measure gaps with). A live camera
fills both from the system clocks; a replayed file derives them from the file's own frame times, so a replay
as fast as possible produces the same reads as one in real time.
"""

from __future__ import annotations

import collections
import threading
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np


@dataclass
class Frame:
    """One decoded frame (BGR, HxWx3 uint8) and when it was taken."""

    image: np.ndarray
    ts: float
    media_s: float
    index: int
    camera: str = ""
    meta: dict[str, float] = field(default_factory=dict)


class EndOfStream(Exception):  # noqa: N818 - a signal, not an error
    """A finite source (a replayed file) has no more frames."""


class FrameSource(Protocol):
    """What a camera backend provides; `read()` blocks until a frame, raises EndOfStream or CaptureError."""

    name: str

    def open(self) -> None:
        """Open the device, stream or file; raises CaptureError with what to check."""

    def read(self) -> Frame:
        """The next frame."""

    def close(self) -> None:
        """Release the device."""

    @property
    def live(self) -> bool:
        """True when frames must be dropped rather than waited for (a camera, or a file paced in real time)."""

    @property
    def reconnectable(self) -> bool:
        """True for a camera, which is reopened after a failure; False for a file, whose failure is fatal."""


class FrameQueue:
    """Bounded queue from capture to vision.

    For a live camera a full queue drops its oldest frame (counted): vision works on the freshest picture and a
    slow detector never stalls the camera. For a file replayed as fast as possible, `put()` waits instead, so
    every frame is analysed and the result does not depend on the machine's speed.
    """

    def __init__(self, size: int, drop_oldest: bool = True) -> None:
        self._frames: collections.deque[Frame] = collections.deque()
        self._size = size
        self._drop_oldest = drop_oldest
        self._cond = threading.Condition()
        self._closed = False
        self.dropped = 0
        self.put_count = 0

    def put(self, frame: Frame, timeout: float | None = None) -> bool:
        """Add a frame; False when the queue is closed, or (waiting mode) still full after `timeout`."""
        with self._cond:
            if self._closed:
                return False
            if len(self._frames) >= self._size:
                if self._drop_oldest:
                    self._frames.popleft()
                    self.dropped += 1
                else:
                    room = self._cond.wait_for(lambda: len(self._frames) < self._size or self._closed, timeout)
                    if self._closed or not room:
                        return False
            self._frames.append(frame)
            self.put_count += 1
            self._cond.notify_all()
            return True

    def get(self, timeout: float | None = None) -> Frame | None:
        """The oldest frame, or None on timeout or when closed and empty."""
        with self._cond:
            self._cond.wait_for(lambda: bool(self._frames) or self._closed, timeout)
            if not self._frames:
                return None
            frame = self._frames.popleft()
            self._cond.notify_all()
            return frame

    def close(self) -> None:
        """No more frames will come; readers drain what is left."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        """True once the producer finished."""
        return self._closed

    def __len__(self) -> int:
        return len(self._frames)
