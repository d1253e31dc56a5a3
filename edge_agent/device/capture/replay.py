"""A video file as a camera: paced in real time or as fast as possible, optionally looped.

This is the source CI and the demo use, and what a technician uses to check a recorded clip. A corrupt stretch
in the file is skipped with a warning rather than ending the replay.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import cv2
import numpy as np

from edge_agent.device.capture.base import EndOfStream, Frame
from edge_agent.errors import CaptureError

logger = logging.getLogger(__name__)

MAX_CONSECUTIVE_BAD = 250  # unreadable frames in a row before the rest of the file is given up


class ReplaySource:
    """Frames of a video file with timestamps from the file's own clock."""

    def __init__(
        self,
        path: Path | str,
        name: str = "replay",
        realtime: bool = True,
        loop: bool = False,
        fps_cap: float | None = None,
        start_ts: float | None = None,
    ) -> None:
        self.path = Path(path)
        self.name = name
        self.realtime = realtime
        self.loop = loop
        self.fps_cap = fps_cap
        self._start_ts = start_ts
        self._cap: cv2.VideoCapture | None = None
        self._index = 0
        self._in_pass = 0  # frames consumed (decoded or not) since the file was last (re)started
        self._loop_offset = 0.0
        self._last_media = -1.0
        self._t0 = 0.0
        self._frame_count = 0
        self.fps = 0.0
        self.skipped = 0

    @property
    def live(self) -> bool:
        """A file paced in real time behaves like a camera; one read as fast as possible does not."""
        return self.realtime

    @property
    def reconnectable(self) -> bool:
        """A file that cannot be read will not get better by retrying."""
        return False

    def open(self) -> None:
        """Open the file; a missing or undecodable file is a one-line CaptureError."""
        if not self.path.is_file():
            raise CaptureError(f"video file {self.path} not found: check cameras[].source")
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            raise CaptureError(f"{self.path} cannot be decoded as video: is it a video file?")
        self._cap = cap
        self.fps = float(cap.get(cv2.CAP_PROP_FPS)) or 25.0
        self._frame_count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self._t0 = time.monotonic()
        if self._start_ts is None:
            self._start_ts = time.time()

    def _grab(self) -> np.ndarray | None:
        assert self._cap is not None
        bad = 0
        while True:
            ok, image = self._cap.read()
            self._in_pass += 1
            if ok and image is not None and image.size:
                if bad:
                    self.skipped += bad
                    logger.warning(
                        "%s: skipped %d unreadable frame(s) before frame %d of %s",
                        self.name,
                        bad,
                        self._index,
                        self.path.name,
                    )
                return image
            # A failed read has consumed the damaged frame's packet, so the next read tries the frame after it;
            # seeking instead would land on a keyframe at or before the damage and never get past it. Whether
            # frames remain is judged by the frames consumed (good and bad) against the container's count,
            # because the decoder's own position counts only the frames it could decode.
            if self._frame_count and self._in_pass < self._frame_count and bad < MAX_CONSECUTIVE_BAD:
                bad += 1
                self._index += 1
                continue
            if bad:
                self.skipped += bad
                logger.warning("%s: the last %d frame(s) of %s are unreadable", self.name, bad, self.path.name)
            return None

    def read(self) -> Frame:
        """The next frame, paced if `realtime`; EndOfStream at the end (unless looping)."""
        if self._cap is None:
            raise CaptureError(f"{self.name}: read() before open()")
        image = self._grab()
        if image is None:
            if not self.loop:
                raise EndOfStream(str(self.path))
            self._loop_offset = self._last_media + 1.0 / self.fps
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            self._in_pass = 0
            image = self._grab()
            if image is None:
                raise EndOfStream(str(self.path))
        pos_ms = float(self._cap.get(cv2.CAP_PROP_POS_MSEC))
        media = self._loop_offset + (pos_ms / 1000.0 if pos_ms > 0 else (self._in_pass - 1) / self.fps)
        if media <= self._last_media:  # some containers report no or repeated times
            media = self._last_media + 1.0 / self.fps
        self._last_media = media
        if self.realtime:
            rate = min(self.fps, self.fps_cap) if self.fps_cap else self.fps
            due = self._t0 + self._index / rate if self.fps_cap else self._t0 + media
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        assert self._start_ts is not None
        frame = Frame(image=image, ts=self._start_ts + media, media_s=media, index=self._index, camera=self.name)
        self._index += 1
        return frame

    def close(self) -> None:
        """Release the file."""
        if self._cap is not None:
            self._cap.release()
            self._cap = None
