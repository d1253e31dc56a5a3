"""The seal stage at stop: a spool that fails is retried briefly, and reads it cannot take are counted, not lost
without a word (issue: a clean stop after a disk-full episode sealed 2 of 11 reads and said nothing)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from edge_agent.clock import ClockState
from edge_agent.config import PrivacyConfig
from edge_agent.device.seal import SealStage
from edge_agent.device.spool import Spool
from edge_agent.device.vision.tracker import FinishedTrack
from edge_agent.errors import SpoolError
from edge_agent.protocol.crypto.envelope import Sealer, Suite


class FullDiskSpool(Spool):
    """A real spool whose commits fail like a full disk until `room` is set."""

    room = False

    def put_many(self, items):  # type: ignore[no-untyped-def]
        if not self.room:
            raise SpoolError("storing reads failed (database or disk is full)")
        return super().put_many(items)


def stage(tmp_path: Path) -> tuple[SealStage, FullDiskSpool]:
    spool = FullDiskSpool(tmp_path / "s.db")
    sealer = Sealer(
        "cam-1", Ed25519PrivateKey.generate(), X25519PrivateKey.generate().public_key(),
        Suite.X25519_SHA256_CHACHA20POLY1305,
    )  # fmt: skip
    return SealStage("cam-1", sealer, spool, PrivacyConfig(), ClockState(), {}), spool


def track(i: int) -> FinishedTrack:
    now = time.time()
    return FinishedTrack(i, f"ABC{i:04d}", 0.9, now, now, 5, "approaching", (10.0, 10.0, 100.0, 30.0))


def test_reads_the_spool_cannot_take_at_stop_are_counted(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    seal, spool = stage(tmp_path)
    seal.start()
    for i in range(11):
        seal.submit("north", track(i))
    time.sleep(0.3)
    with caplog.at_level(logging.ERROR):
        seal.stop(5.0)
    assert seal.counters["made"] == 11
    assert seal.counters["sealed"] == 0
    assert seal.counters["unspooled"] == 11
    assert "stopping with 11 read(s) that could not be spooled" in caplog.text
    assert "ABC" not in caplog.text  # never the plate
    spool.close()


def test_a_disk_with_room_again_at_stop_takes_every_read(tmp_path: Path) -> None:
    seal, spool = stage(tmp_path)
    seal.start()
    for i in range(11):
        seal.submit("north", track(i))
    time.sleep(1.2)  # in backoff, the reads held in memory
    spool.room = True  # the disk is freed; the stop comes before the next retry
    seal.stop(5.0)
    assert seal.counters["sealed"] == 11
    assert seal.counters["unspooled"] == 0
    assert len(spool) == 11
    spool.close()
