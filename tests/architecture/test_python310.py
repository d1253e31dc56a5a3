"""JetPack 6 runs Python 3.10: what edge-agent takes from 3.11 has a stand-in that behaves the same.

CI also checks the code's minimum version with vermin and type-checks it for 3.10 (mypy's python_version);
these tests pin the stand-in's behaviour on the Python that runs them.
"""

from __future__ import annotations

import datetime as dt
import json

from edge_agent.compat import UTC, StrEnum310


class Colour(StrEnum310):
    RED = "red"
    AMBER = "amber"


def test_the_310_string_enum_prints_and_compares_as_its_value() -> None:
    assert str(Colour.RED) == "red"
    assert f"{Colour.AMBER}" == "amber"
    assert f"{Colour.RED:>5}" == "  red"
    assert Colour.RED == "red" and Colour("amber") is Colour.AMBER
    assert json.dumps({"c": Colour.RED}) == '{"c": "red"}'
    assert isinstance(Colour.RED, str)


def test_utc_is_the_standard_utc() -> None:
    assert UTC is dt.timezone.utc
    assert dt.datetime(2026, 1, 1, tzinfo=UTC).isoformat() == "2026-01-01T00:00:00+00:00"
