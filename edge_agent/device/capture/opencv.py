"""Live cameras through OpenCV: V4L2 devices (/dev/videoN), RTSP/HTTP streams, GStreamer pipelines (Jetson CSI).

Reconnecting and stall detection live in the capture worker; this class opens, reads and closes, and turns
every failure into a one-line CaptureError that says what to check.
"""

from __future__ import annotations

import logging
import re
import time

import cv2

from edge_agent.device.capture.base import Frame
from edge_agent.errors import CaptureError

logger = logging.getLogger(__name__)


def mask_credentials(url: str) -> str:
    """The URL with everything between ``//`` and the last ``@`` replaced by ``***``.

    Camera passwords are typed as they are, ``@`` and ``/`` included, so the user part cannot be parsed as a URL
    would be; the host never contains an ``@``, so the last one ends the credentials. Masking a little too much is
    harmless, a password in a log line is not.
    """
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"


def describe_source(source: str) -> tuple[str | int, int, str]:
    """(what to pass to VideoCapture, backend, a human label) for a source string."""
    match = re.fullmatch(r"/dev/video(\d+)", source)
    if match:
        return int(match.group(1)), cv2.CAP_V4L2, source
    if source.isdigit():
        return int(source), cv2.CAP_V4L2, f"/dev/video{source}"
    if "!" in source:
        return source, cv2.CAP_GSTREAMER, "GStreamer pipeline"
    if "://" in source:
        return source, cv2.CAP_FFMPEG, mask_credentials(source)
    return source, cv2.CAP_ANY, source


class OpenCVSource:
    """A live camera read with cv2.VideoCapture."""

    def __init__(
        self,
        source: str,
        name: str = "camera",
        fps: float | None = None,
        resolution: tuple[int, int] | None = None,
        read_timeout: float = 10.0,
    ) -> None:
        self.source = source
        self.name = name
        self.fps = fps
        self.resolution = resolution
        self.read_timeout = read_timeout
        self._target, self._backend, self.label = describe_source(source)
        self._cap: cv2.VideoCapture | None = None
        self._index = 0
        self._t0 = 0.0

    @property
    def live(self) -> bool:
        """Cameras are live: frames are dropped, never waited for."""
        return True

    @property
    def reconnectable(self) -> bool:
        """Cameras and streams come back: reopen with backoff."""
        return True

    def open(self) -> None:
        """Open the camera or stream."""
        params: list[int] = []
        if self._backend == cv2.CAP_FFMPEG:
            timeout_ms = int(self.read_timeout * 1000)
            params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, timeout_ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, timeout_ms]
        cap = cv2.VideoCapture(self._target, self._backend, params)
        if not cap.isOpened():
            cap.release()
            raise CaptureError(self._hint())
        if self.resolution:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.resolution[0])
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.resolution[1])
        if self.fps:
            cap.set(cv2.CAP_PROP_FPS, self.fps)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # latest frame, not a backlog
        self._cap = cap
        self._t0 = time.monotonic()
        logger.info("%s: opened %s", self.name, self.label)

    def _hint(self) -> str:
        if self._backend == cv2.CAP_V4L2:
            return (
                f"no camera at {self.label}: check the cable and `v4l2-ctl --list-devices`, "
                f"or set cameras[].source ({self.name})"
            )
        if self._backend == cv2.CAP_FFMPEG:
            return f"cannot open stream {self.label}: check the address, credentials and network ({self.name})"
        if self._backend == cv2.CAP_GSTREAMER:
            return f"GStreamer pipeline of camera {self.name} did not start: is OpenCV built with GStreamer?"
        return f"cannot open camera source {self.label} ({self.name})"

    def read(self) -> Frame:
        """The next frame; CaptureError when the camera stops delivering."""
        if self._cap is None:
            raise CaptureError(f"{self.name}: read() before open()")
        ok, image = self._cap.read()
        if not ok or image is None:
            raise CaptureError(f"{self.name}: {self.label} stopped delivering frames")
        frame = Frame(
            image=image, ts=time.time(), media_s=time.monotonic() - self._t0, index=self._index, camera=self.name
        )
        self._index += 1
        return frame

    def close(self) -> None:
        """Release the camera."""
        if self._cap is not None:
            self._cap.release()
            self._cap = None
