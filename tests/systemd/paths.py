"""Paths shared by the systemd, install and image tests."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
UNITS_DIR = REPO / "systemd"
SERVICES = (
    "edge-agent.service",
    "edge-agent-ingest@.service",
    "edge-agent-firstboot.service",
    "edge-agent-records.service",
)
INSTALLED_BINARY = "/opt/edge-agent/venv/bin/edge-agent"
