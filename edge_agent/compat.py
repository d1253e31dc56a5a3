"""What Python 3.11 added that edge-agent uses, for Python 3.10 (JetPack 6's Python on a Jetson).

`StrEnum` (3.11's enum.StrEnum: members are strings, and str() and format() give the value) and `UTC`
(3.11's datetime.UTC, the same object as timezone.utc). On 3.11 and later these are the standard library's own.
"""

from __future__ import annotations

import sys
from datetime import timezone
from enum import Enum

UTC = timezone.utc


class StrEnum310(str, Enum):
    """A string enum whose members print as their value, as 3.11's enum.StrEnum (the one used on 3.10)."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


if sys.version_info >= (3, 11):
    from enum import StrEnum  # novermin (the standard library's own from 3.11 on)
else:
    StrEnum = StrEnum310


__all__ = ["UTC", "StrEnum"]
