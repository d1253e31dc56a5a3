"""The seal stage: finished vehicle passes become PlateReads, sealed envelopes, and committed spool entries.

Plaintext lives here only in RAM. Reads arriving together are committed in one transaction (one fsync). If the
spool cannot be written (a full or read-only disk), the batch stays in memory and is retried with backoff: a
disk problem delays reads, it does not lose them, unless the process stops before the disk has room again. Then
the stage retries for STOP_RETRY_S and counts every read it could not spool (`unspooled`, in the status message).
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
import time

import cv2
import numpy as np

from edge_agent.clock import ClockState
from edge_agent.config import PrivacyConfig
from edge_agent.device.spool import Spool
from edge_agent.device.vision.tracker import FinishedTrack
from edge_agent.errors import SpoolError, SpoolFullError
from edge_agent.protocol.crypto.envelope import Sealer
from edge_agent.protocol.reads import PlateRead, new_read_id

logger = logging.getLogger(__name__)

# At stop, a spool that still fails is retried for this long (within the agent's stop budget) before the reads
# held in memory are counted as lost.
STOP_RETRY_S = 2.0


def encode_crop(crop: np.ndarray, privacy: PrivacyConfig) -> bytes | None:
    """JPEG of a plate crop, downscaled to `crop_max_width`."""
    if crop is None or crop.size == 0:
        return None
    height, width = crop.shape[:2]
    if width > privacy.crop_max_width:
        scale = privacy.crop_max_width / width
        crop = cv2.resize(crop, (privacy.crop_max_width, max(1, round(height * scale))), interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, privacy.crop_jpeg_quality])
    return data.tobytes() if ok else None


class SealStage:
    """Thread that seals and spools reads handed over by the vision workers."""

    def __init__(
        self,
        device_id: str,
        sealer: Sealer,
        spool: Spool,
        privacy: PrivacyConfig,
        clock: ClockState,
        models: dict[str, str],
        capacity: int = 1024,
    ) -> None:
        self.device_id = device_id
        self.sealer = sealer
        self.spool = spool
        self.privacy = privacy
        self.clock = clock
        self.models = models
        self.inbox: queue.Queue[tuple[str, FinishedTrack]] = queue.Queue(maxsize=capacity)
        self.counters: collections.Counter[str] = collections.Counter()
        self.error: BaseException | None = None
        self.alive_at = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="seal", daemon=True)

    def submit(self, camera: str, track: FinishedTrack) -> None:
        """Hand a finished pass over; blocks when the stage is behind (never drops)."""
        self.counters["made"] += 1
        self.inbox.put((camera, track))

    def start(self) -> None:
        """Start sealing."""
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Seal what was handed over, then stop."""
        self._stop.set()
        self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        """True while the thread runs (or it stopped cleanly)."""
        return self._thread.is_alive() or (self._stop.is_set() and self.error is None)

    def to_read(self, camera: str, track: FinishedTrack) -> PlateRead:
        """The PlateRead of a finished pass (the crop only when the city asked for crops)."""
        crop = encode_crop(track.crop, self.privacy) if self.privacy.include_crop and track.crop is not None else None
        return PlateRead(
            read_id=new_read_id(),
            device_id=self.device_id,
            camera=camera,
            text=track.text,
            confidence=track.confidence,
            first_seen=track.first_ts,
            last_seen=track.last_ts,
            frames=track.frames,
            direction=track.direction,
            clock_synced=self.clock.synced,
            box=(round(track.box[0]), round(track.box[1]), round(track.box[2]), round(track.box[3])),
            crop_jpeg=crop,
            models=self.models,
        )

    def _give_up(self, pending: list[tuple[bytes, bytes, int]], exc: SpoolError) -> None:
        """At stop, with the spool still failing: count every read not spooled, say so once, never the plates."""
        lost = len(pending)
        while True:
            try:
                self.inbox.get_nowait()
            except queue.Empty:
                break
            lost += 1
        self.counters["unspooled"] += lost
        logger.error("stopping with %d read(s) that could not be spooled (%s): they are lost", lost, exc)

    def _run(self) -> None:
        pending: list[tuple[bytes, bytes, int]] = []
        delay = 0.5
        stopping_since = 0.0
        try:
            while True:
                self.alive_at = time.monotonic()
                if not pending:
                    try:
                        item = self.inbox.get(timeout=0.5)
                    except queue.Empty:
                        if self._stop.is_set():
                            return
                        continue
                    batch = [item]
                    while len(batch) < 256:
                        try:
                            batch.append(self.inbox.get_nowait())
                        except queue.Empty:
                            break
                    for camera, track in batch:
                        read = self.to_read(camera, track)
                        seq = self.spool.reserve_seq()
                        pending.append((read.read_id, self.sealer.seal(read, seq), seq))
                        logger.debug("read %s on %s: %s (%.2f)", read.read_id.hex(), camera, read.text, read.confidence)
                try:
                    self.spool.put_many(pending)
                    self.counters["sealed"] += len(pending)
                    pending, delay = [], 0.5
                except SpoolFullError as exc:
                    self.counters["rejected_full"] += len(pending)
                    logger.error("%s (%d read(s))", exc, len(pending))
                    pending = []
                except SpoolError as exc:
                    if self._stop.is_set():
                        # Stopping: retry a few times at short intervals (the disk may have room again), then
                        # count what could not be spooled instead of losing it without a word.
                        stopping_since = stopping_since or time.monotonic()
                        if time.monotonic() - stopping_since > STOP_RETRY_S:
                            self._give_up(pending, exc)
                            return
                        time.sleep(0.25)
                        continue
                    logger.error("%s: keeping %d read(s) in memory, retrying in %.0f s", exc, len(pending), delay)
                    self._stop.wait(delay)
                    delay = min(delay * 2, 30.0)
        except BaseException as exc:
            self.error = exc
            logger.exception("seal stage failed")
