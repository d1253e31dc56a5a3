"""The unit files: `systemd-analyze verify` is clean and the camera daemon's sandbox exposure is at most 2.0."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.systemd.paths import INSTALLED_BINARY, SERVICES, UNITS_DIR

ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed (apt install systemd)")
MAX_EXPOSURE = 2.0


def _settings(unit: str) -> dict[str, list[str]]:
    """Every `Key=value` of a unit file, values in order of appearance."""
    out: dict[str, list[str]] = {}
    for raw in (UNITS_DIR / unit).read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        out.setdefault(key.strip(), []).append(value.strip())
    return out


def _runnable_copy(tmp_path: Path) -> Path:
    """The units in a temp dir with ExecStart pointing at an executable that exists here (verify checks it)."""
    binary = Path(sys.executable).parent / "edge-agent"
    target = str(binary) if binary.exists() else shutil.which("true") or "/bin/true"
    for unit in SERVICES:
        text = (UNITS_DIR / unit).read_text()
        assert INSTALLED_BINARY in text, f"{unit} does not start {INSTALLED_BINARY}"
        (tmp_path / unit).write_text(text.replace(INSTALLED_BINARY, target))
    return tmp_path


def _analyze(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert ANALYZE is not None
    return subprocess.run([ANALYZE, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False)


@needs_analyze
def test_verify_is_clean(tmp_path: Path) -> None:
    units = _runnable_copy(tmp_path)
    result = _analyze("verify", *(f"./{u}" for u in SERVICES), cwd=units)
    # verify exits 0 on unknown keys too; it says so on stderr, so any line about our units is a failure.
    ours = [line for line in (result.stdout + result.stderr).splitlines() if "edge-agent" in line]
    assert result.returncode == 0, result.stdout + result.stderr
    assert ours == []


@needs_analyze
@pytest.mark.parametrize(
    "unit",
    ["edge-agent.service", "edge-agent-firstboot.service", "edge-agent-ingest@1.service", "edge-agent-records.service"],
)
def test_security_exposure(tmp_path: Path, unit: str) -> None:
    units = _runnable_copy(tmp_path)
    if "@" in unit:  # an instance of a template: analysed as the instance a city would run
        (units / unit).write_text((units / f"{unit.partition('@')[0]}@.service").read_text())
    result = _analyze("security", "--offline=true", f"./{unit}", cwd=units)
    assert result.returncode == 0, result.stderr
    match = re.search(r"Overall exposure level for \S+: ([0-9.]+)", result.stdout)
    assert match, result.stdout
    print(result.stdout)
    assert float(match.group(1)) <= MAX_EXPOSURE, result.stdout


def test_daemon_unit_contract() -> None:
    s = _settings("edge-agent.service")
    assert s["ExecStart"] == [f"{INSTALLED_BINARY} run --config /etc/edge-agent/edge-agent.yaml"]
    assert s["Type"] == ["notify"]
    assert s["NotifyAccess"] == ["main"]
    assert s["Restart"] == ["on-failure"]
    assert s["WatchdogSec"] and s["WatchdogSec"][0] != "0"
    assert s["User"] == ["edge-agent"]
    assert s["StateDirectory"] == ["edge-agent"]
    assert s["ConfigurationDirectory"] == ["edge-agent"]
    assert any(v.startswith("device_ed25519.key:/etc/edge-agent/keys/") for v in s["LoadCredential"])
    assert s["CapabilityBoundingSet"] == [""]
    assert s["ProtectSystem"] == ["strict"]
    for key in ("ProtectHome", "PrivateTmp", "NoNewPrivileges"):
        assert s[key] == ["yes"], key
    assert s["DevicePolicy"] == ["closed"]
    allowed = {v.split()[0] for v in s["DeviceAllow"]}
    assert {"char-video4linux", "char-media", "char-dma_heap"} <= allowed
    assert s["SystemCallFilter"][0] == "@system-service"
    assert any(v.startswith("~") and "@privileged" in v for v in s["SystemCallFilter"])
    assert "AF_INET" in s["RestrictAddressFamilies"][0].split()


def test_firstboot_unit_runs_provision_once() -> None:
    s = _settings("edge-agent-firstboot.service")
    bundle = "/boot/firmware/edge-agent-bundle.json"
    assert s["Type"] == ["oneshot"]
    assert s["ConditionPathExists"] == [bundle]
    # --no-enable: edge-agent.service is ordered after this unit, so a `systemctl start` from it would deadlock.
    # --no-doctor: the unit has no network (it parses a file anyone with the card can write).
    assert s["ExecStart"] == [
        f"{INSTALLED_BINARY} provision --non-interactive --bundle {bundle} --no-enable --no-doctor"
    ]
    assert "edge-agent.service" in s["Before"][0].split()
    assert "edge-agent-firstboot.service" in _settings("edge-agent.service")["After"][0].split()


def test_ingest_unit_is_a_template_of_workers() -> None:
    s = _settings("edge-agent-ingest@.service")
    # Each instance is one worker with its own MQTT client id (two workers with one id would kick each other off).
    assert s["ExecStart"] == [f"{INSTALLED_BINARY} ingest --config /etc/edge-agent/ingest.yaml --client-id ingest-%i"]
    assert s["User"] == ["edge-agent-ingest"]
    assert s["Restart"] == ["on-failure"]
    # ... and its own identity: the broker makes the certificate's CN the client id.
    assert sorted(s["LoadCredential"]) == [
        "city_x25519.key:/etc/edge-agent/keys/city_x25519.key",
        "ingest_tls.key:/etc/edge-agent/keys/ingest-%i_tls.key",
        "ingest_tls.pem:/etc/edge-agent/keys/ingest-%i_tls.pem",
        "receipt_ed25519.key:/etc/edge-agent/keys/receipt_ed25519.key",
    ]


def test_service_users_come_from_sysusers() -> None:
    declared = {
        fields[1]
        for line in (UNITS_DIR / "edge-agent.sysusers").read_text().splitlines()
        if (fields := line.split()) and fields[0] == "u"
    }
    for unit in ("edge-agent.service", "edge-agent-ingest@.service"):
        assert _settings(unit)["User"][0] in declared, unit


def test_directory_modes_agree() -> None:
    """tmpfiles.d, the unit and install-device give /etc/edge-agent the mode provision writes (0750)."""
    tmpfiles = {
        fields[1]: (fields[2], fields[3], fields[4])
        for line in (UNITS_DIR / "edge-agent.tmpfiles").read_text().splitlines()
        if (fields := line.split()) and fields[0] == "d"
    }
    assert tmpfiles["/etc/edge-agent"] == ("0750", "root", "edge-agent")
    assert tmpfiles["/etc/edge-agent/keys"] == ("0750", "root", "edge-agent")
    assert tmpfiles["/var/lib/edge-agent"] == ("0700", "edge-agent", "edge-agent")
    s = _settings("edge-agent.service")
    assert s["ConfigurationDirectoryMode"] == ["0750"]
    assert s["StateDirectoryMode"] == ["0700"]
