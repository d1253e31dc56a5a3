"""Shared fixtures: a throw-away PKI and a real mosquitto with TLS, client certificates and the project's ACL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_agent.local.localbroker import LocalBroker
from edge_agent.protocol.crypto.pki import LocalPKI, mint_local_pki

REPO = Path(__file__).resolve().parent.parent
DATASETS = Path(os.environ.get("EDGE_AGENT_DATASETS", REPO.parent / "shared" / "datasets"))


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> LocalPKI:
    """A CA with broker, ingest and two device identities (cam-a, cam-b), minted by the test itself."""
    return mint_local_pki(tmp_path_factory.mktemp("pki"), device_ids=["cam-a", "cam-b"])


@pytest.fixture(scope="session")
def broker(pki: LocalPKI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    """One real mosquitto for the session (mTLS on a free loopback port)."""
    with LocalBroker(tmp_path_factory.mktemp("broker"), pki) as b:
        yield b


@pytest.fixture
def fresh_broker(pki: LocalPKI, tmp_path: Path) -> Iterator[LocalBroker]:
    """A mosquitto of the test's own, for tests that kill or restart it."""
    b = LocalBroker(tmp_path / "broker", pki)
    b.start()
    try:
        yield b
    finally:
        b.stop()
