"""Is the system clock synchronised? A Raspberry Pi has no real-time clock: until NTP (or chrony) has set it,
its time is wrong, and reads must say so (`clock_synced: false` in the envelope and the status).

The kernel knows: adjtimex(2) reports STA_UNSYNC until a time daemon disciplines the clock. No D-Bus, no
timedatectl, works inside the hardened unit.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import time

logger = logging.getLogger(__name__)

STA_UNSYNC = 0x0040
TIME_ERROR = 5


class _Timex(ctypes.Structure):
    _fields_ = [
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("constant", ctypes.c_long),
        ("precision", ctypes.c_long),
        ("tolerance", ctypes.c_long),
        ("time_sec", ctypes.c_long),
        ("time_usec", ctypes.c_long),
        ("tick", ctypes.c_long),
        ("ppsfreq", ctypes.c_long),
        ("jitter", ctypes.c_long),
        ("shift", ctypes.c_int),
        ("stabil", ctypes.c_long),
        ("jitcnt", ctypes.c_long),
        ("calcnt", ctypes.c_long),
        ("errcnt", ctypes.c_long),
        ("stbcnt", ctypes.c_long),
        ("tai", ctypes.c_int),
        ("_padding", ctypes.c_int * 11),
    ]


def kernel_clock_synced() -> bool | None:
    """True/False from adjtimex(2); None when the kernel cannot be asked (not Linux)."""
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        tx = _Timex()
        state = libc.adjtimex(ctypes.byref(tx))
    except (OSError, AttributeError):
        return None
    if state < 0:
        return None
    return state != TIME_ERROR and not tx.status & STA_UNSYNC


class ClockState:
    """Cached answer (the check is cheap, but reads ask often)."""

    def __init__(self, refresh: float = 30.0, override: bool | None = None) -> None:
        self.refresh = refresh
        self.override = override
        self._value: bool = True
        self._checked = -1e9
        self._warned = False

    @property
    def synced(self) -> bool:
        """Whether read times can be trusted."""
        if self.override is not None:
            return self.override
        now = time.monotonic()
        if now - self._checked >= self.refresh:
            self._checked = now
            answer = kernel_clock_synced()
            self._value = True if answer is None else answer
            if not self._value and not self._warned:
                logger.warning("system clock is not synchronised (no NTP yet?): reads are flagged clock_synced=false")
                self._warned = True
            if self._value:
                self._warned = False
        return self._value
