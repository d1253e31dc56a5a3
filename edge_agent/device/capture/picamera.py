"""Raspberry Pi cameras through picamera2 (libcamera), imported only when such a camera is configured.

picamera2 comes from Raspberry Pi OS (`apt install python3-picamera2`); a virtualenv sees it when created with
`--system-site-packages`, which scripts/install-device does on a Pi.
"""

from __future__ import annotations

import importlib
import logging
import time
from typing import Any

from edge_agent.device.capture.base import Frame
from edge_agent.errors import CaptureError

logger = logging.getLogger(__name__)


def camera_number(source: str) -> int:
    """`picamera` or `picamera:N` -> N."""
    _, _, number = source.partition(":")
    try:
        return int(number or 0)
    except ValueError:
        raise CaptureError(f"bad picamera source {source!r}: use picamera:0 or picamera:1") from None


class PiCameraSource:
    """Frames from a CSI camera; timestamps from the sensor."""

    def __init__(
        self, source: str, name: str = "camera", fps: float | None = None, resolution: tuple[int, int] | None = None
    ) -> None:
        self.number = camera_number(source)
        self.name = name
        self.fps = fps
        self.resolution = resolution or (1920, 1080)
        self._cam: Any = None
        self._index = 0
        self._sensor_t0: int | None = None
        self._wall_t0 = 0.0

    @property
    def live(self) -> bool:
        """A camera."""
        return True

    @property
    def reconnectable(self) -> bool:
        """A CSI camera may recover after a glitch: reopen with backoff."""
        return True

    def open(self) -> None:
        """Import picamera2, configure a BGR video stream and start it."""
        try:
            module = importlib.import_module("picamera2")
        except ImportError:
            raise CaptureError(
                "picamera2 is not installed: `sudo apt install python3-picamera2` and a venv with "
                "--system-site-packages (scripts/install-device does this on a Pi)"
            ) from None
        try:
            cam = module.Picamera2(self.number)
            controls = {"FrameRate": float(self.fps)} if self.fps else {}
            # libcamera's "RGB888" is B, G, R in memory: what OpenCV expects.
            config = cam.create_video_configuration(
                main={"size": tuple(self.resolution), "format": "RGB888"}, controls=controls
            )
            cam.configure(config)
            cam.start()
        except Exception as exc:  # picamera2 raises RuntimeError, IndexError, OSError...
            raise CaptureError(
                f"Pi camera {self.number} did not start ({exc}): check the ribbon cable and `rpicam-hello --list`"
            ) from None
        self._cam = cam
        self._wall_t0 = time.time()
        logger.info("%s: Pi camera %d started at %dx%d", self.name, self.number, *self.resolution)

    def read(self) -> Frame:
        """The next frame, timed by the sensor."""
        if self._cam is None:
            raise CaptureError(f"{self.name}: read() before open()")
        try:
            request = self._cam.capture_request()
            try:
                image = request.make_array("main")
                sensor_ns = int(request.get_metadata().get("SensorTimestamp", 0))
            finally:
                request.release()
        except Exception as exc:
            raise CaptureError(f"{self.name}: Pi camera stopped delivering frames ({exc})") from None
        if self._sensor_t0 is None:
            self._sensor_t0 = sensor_ns
        media = (sensor_ns - self._sensor_t0) / 1e9 if sensor_ns else self._index / (self.fps or 30.0)
        frame = Frame(image=image, ts=self._wall_t0 + media, media_s=media, index=self._index, camera=self.name)
        self._index += 1
        return frame

    def close(self) -> None:
        """Stop and release the camera."""
        if self._cam is not None:
            try:
                self._cam.stop()
                self._cam.close()
            except Exception:  # closing a camera that already failed
                logger.debug("picamera close failed", exc_info=True)
            self._cam = None
