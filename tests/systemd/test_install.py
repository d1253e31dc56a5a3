"""scripts/install-device and scripts/build-image against temp trees (no root, no systemctl, no network)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

from tests.systemd.paths import REPO, SERVICES, UNITS_DIR

INSTALL = REPO / "scripts" / "install-device"
BUILD = REPO / "scripts" / "build-image"


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=60, check=False)


def _install(prefix: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    result = _run(INSTALL, "--prefix", prefix, "--no-venv", *extra)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def _tree(root: Path) -> dict[str, tuple[str, str]]:
    """Relative path -> (mode, content digest or link target) for everything under root."""
    out = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        if stat.S_ISLNK(st.st_mode):
            what = os.readlink(path)
        elif stat.S_ISREG(st.st_mode):
            what = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            what = "dir"
        out[str(path.relative_to(root))] = (oct(stat.S_IMODE(st.st_mode)), what)
    return out


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_install_is_idempotent_with_the_right_modes(tmp_path: Path) -> None:
    _install(tmp_path)
    first = _tree(tmp_path)
    _install(tmp_path)
    assert _tree(tmp_path) == first

    for unit in SERVICES:
        installed = tmp_path / "etc/systemd/system" / unit
        assert installed.read_bytes() == (UNITS_DIR / unit).read_bytes()
        assert _mode(installed) == 0o644
    assert (tmp_path / "etc/sysusers.d/edge-agent.conf").read_bytes() == (
        UNITS_DIR / "edge-agent.sysusers"
    ).read_bytes()
    assert (tmp_path / "etc/tmpfiles.d/edge-agent.conf").is_file()
    assert (tmp_path / "opt/edge-agent/share/constraints-device.txt").is_file()
    assert _mode(tmp_path / "etc/edge-agent") == 0o750
    assert _mode(tmp_path / "etc/edge-agent/keys") == 0o750
    assert _mode(tmp_path / "var/lib/edge-agent") == 0o700
    assert os.readlink(tmp_path / "usr/local/bin/edge-agent") == "/opt/edge-agent/venv/bin/edge-agent"
    assert not (tmp_path / "etc/systemd/system/multi-user.target.wants").exists()  # --prefix: nothing enabled


def test_second_install_repairs_modes(tmp_path: Path) -> None:
    _install(tmp_path)
    (tmp_path / "etc/edge-agent/keys").chmod(0o777)
    (tmp_path / "var/lib/edge-agent").chmod(0o755)
    _install(tmp_path)
    assert _mode(tmp_path / "etc/edge-agent/keys") == 0o750
    assert _mode(tmp_path / "var/lib/edge-agent") == 0o700


def test_uninstall_keeps_the_spool_unless_wiped(tmp_path: Path) -> None:
    _install(tmp_path)
    spool = tmp_path / "var/lib/edge-agent/spool.db"
    spool.write_bytes(b"unsent reads")
    config = tmp_path / "etc/edge-agent/edge-agent.yaml"
    config.write_text("version: 1\n")
    # Two ingest workers enabled the way systemctl does it: instance links to the template.
    wants = tmp_path / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir(parents=True)
    for i in (1, 2):
        (wants / f"edge-agent-ingest@{i}.service").symlink_to("/etc/systemd/system/edge-agent-ingest@.service")

    _install(tmp_path, "--uninstall")
    assert not list(wants.iterdir()), "an ingest worker is still enabled"
    assert not (tmp_path / "opt/edge-agent").exists()
    assert not any((tmp_path / "etc/systemd/system" / unit).exists() for unit in SERVICES)
    assert not (tmp_path / "etc/sysusers.d/edge-agent.conf").exists()
    assert not (tmp_path / "usr/local/bin/edge-agent").is_symlink()
    assert spool.read_bytes() == b"unsent reads"
    assert config.exists()

    _install(tmp_path, "--uninstall", "--wipe-data")
    assert not (tmp_path / "var/lib/edge-agent").exists()
    assert config.exists()


def test_install_refuses_bad_options(tmp_path: Path) -> None:
    assert _run(INSTALL, "--prefix", tmp_path, "--wipe-data").returncode == 2
    assert _run(INSTALL, "--prefix", tmp_path / "missing").returncode == 2
    assert _run(INSTALL, "--bogus").returncode == 2
    help_text = _run(INSTALL, "--help")
    assert help_text.returncode == 0 and "--prefix DIR" in help_text.stdout and "--wheelhouse DIR" in help_text.stdout
    empty = tmp_path / "wheels"
    empty.mkdir()
    no_wheel = _run(INSTALL, "--prefix", tmp_path, "--wheelhouse", empty)
    assert no_wheel.returncode == 2 and "no edge_agent wheel" in no_wheel.stderr


def _id(table: Path, name: str) -> int:
    """The numeric id of `name` in a passwd or group file."""
    return next(int(line.split(":")[2]) for line in table.read_text().splitlines() if line.startswith(f"{name}:"))


def _image(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A directory tree standing in for a mounted Raspberry Pi OS image, and an enrolment bundle."""
    rootfs = tmp_path / "rootfs"
    (rootfs / "usr/bin").mkdir(parents=True)
    (rootfs / "etc").mkdir()
    (rootfs / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (rootfs / "etc/group").write_text("root:x:0:\nvideo:x:44:\n")
    boot = rootfs / "boot/firmware"
    boot.mkdir(parents=True)
    bundle = tmp_path / "cam-0001.bundle.json"
    bundle.write_text(json.dumps({"type": "edge-agent-enrolment-bundle", "v": 1, "device_id": "cam-0001"}))
    return rootfs, boot, bundle


def test_build_image_customises_a_root_tree(tmp_path: Path) -> None:
    rootfs, boot, bundle = _image(tmp_path)
    for _ in range(2):  # idempotent too
        result = _run(BUILD, "--rootfs", rootfs, "--boot", boot, "--bundle", bundle, "--no-venv")
        assert result.returncode == 0, result.stdout + result.stderr

    wants = rootfs / "etc/systemd/system/multi-user.target.wants"
    for unit in ("edge-agent.service", "edge-agent-firstboot.service"):
        assert os.readlink(wants / unit) == f"/etc/systemd/system/{unit}"
        assert (rootfs / "etc/systemd/system" / unit).is_file()
    assert not list(wants.glob("edge-agent-ingest@*"))  # the city side is not a camera's job
    assert (boot / "edge-agent-bundle.json").read_bytes() == bundle.read_bytes()
    assert _mode(boot / "edge-agent-bundle.json") == 0o600
    assert _mode(rootfs / "etc/edge-agent/keys") == 0o750
    if shutil.which("systemd-sysusers"):
        users = [line.split(":")[0] for line in (rootfs / "etc/passwd").read_text().splitlines()]
        assert users.count("edge-agent") == 1 and users.count("edge-agent-ingest") == 1
        video = next(line for line in (rootfs / "etc/group").read_text().splitlines() if line.startswith("video:"))
        assert "edge-agent" in video.split(":")[3].split(",")

    if os.geteuid() == 0 and shutil.which("systemd-sysusers") and shutil.which("systemd-tmpfiles"):
        # Owners as tmpfiles.d sets them in the image and at every boot: the daemon's group reads config and keys/.
        uid = _id(rootfs / "etc/passwd", "edge-agent")
        gid = _id(rootfs / "etc/group", "edge-agent")
        for rel in ("etc/edge-agent", "etc/edge-agent/keys"):
            st = (rootfs / rel).stat()
            assert (st.st_uid, st.st_gid) == (0, gid), rel
        assert (rootfs / "var/lib/edge-agent").stat().st_uid == uid

    removed = _run(INSTALL, "--prefix", rootfs, "--uninstall")
    assert removed.returncode == 0, removed.stderr
    assert not any(wants.iterdir())


def test_build_image_refuses_what_is_not_an_image_or_a_bundle(tmp_path: Path) -> None:
    rootfs, boot, _ = _image(tmp_path)
    not_bundle = tmp_path / "notes.json"
    not_bundle.write_text('{"hello": 1}')
    assert _run(BUILD, "--rootfs", rootfs, "--boot", boot, "--bundle", not_bundle, "--no-venv").returncode == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _run(BUILD, "--rootfs", empty, "--boot", boot, "--no-venv").returncode == 2
    assert _run(BUILD, "--rootfs", "/", "--boot", boot, "--no-venv").returncode == 2
    help_text = _run(BUILD, "--help")
    assert help_text.returncode == 0 and "losetup" in help_text.stdout and "kpartx" in help_text.stdout


def test_scripts_parse() -> None:
    for script in (INSTALL, BUILD, REPO / "scripts" / "build-wheelhouse"):
        assert _run("bash", "-n", script).returncode == 0, script


def test_the_pin_set_follows_the_target() -> None:
    select = REPO / "constraints" / "select"

    def pick(arch: str, tag: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(select), arch, tag], capture_output=True, text=True, timeout=10, check=False)

    x86 = pick("x86_64", "cp311")
    arm = pick("aarch64", "cp311")
    assert x86.returncode == 0 and x86.stdout.strip().endswith("constraints/device.txt")
    assert arm.returncode == 0 and arm.stdout.strip().endswith("constraints/device-aarch64-cp311.txt")
    jetson = pick("aarch64", "cp310")
    assert jetson.returncode == 0 and jetson.stdout.strip().endswith("constraints/device-aarch64-cp310.txt")
    missing = pick("x86_64", "cp310")
    assert missing.returncode == 1 and "no tested pin set for x86_64 cp310" in missing.stderr
    assert pick("aarch64", "cp312").returncode == 1
    assert pick("armv7l", "cp311").returncode == 1

    def pins(path: str) -> dict[str, str]:
        rows = [line.split("==") for line in Path(path.strip()).read_text().splitlines() if "==" in line]
        return {name.lower().replace("_", "-"): version for name, version in rows}

    on_x86, on_arm = pins(x86.stdout), pins(arm.stdout)
    assert on_arm["ai-edge-litert"] == "1.4.0"  # the newest release with Linux arm64 wheels
    shared = (on_x86.keys() & on_arm.keys()) - {"ai-edge-litert"}
    assert {name: on_arm[name] for name in shared} == {name: on_x86[name] for name in shared}
    # JetPack's Python 3.10: the Pi's set but for the two packages whose pinned releases need 3.11.
    on_jetson = pins(jetson.stdout)
    assert on_jetson.keys() == on_arm.keys()
    assert {name for name in on_arm if on_arm[name] != on_jetson[name]} == {"numpy", "pycparser"}
