"""`edge-agent check-config`: every problem names file:line, the key, the bad value and what is expected."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from edge_agent.cli import main
from edge_agent.configfile import check_config, load_config
from edge_agent.errors import ConfigError

from .conftest import VALID

REPO = Path(__file__).resolve().parents[2]

# (case id, text replacements applied to VALID, substrings the output must contain)
BAD: list[tuple[str, list[tuple[str, str]], list[str]]] = [
    ("misspelt-section", [("cameras:", "cemeras:")], [":5: cemeras: unknown key (did you mean 'cameras'?)"]),
    (
        "misspelt-nested",
        [("  port: 8883", "  prot: 8883")],
        ["uplink.prot: unknown key (did you mean 'port'?)"],
    ),
    (
        "misspelt-camera-key",
        [("    privacy_zones:", "    privacy_zone:")],
        ["cameras[0].privacy_zone: unknown key (did you mean 'privacy_zones'?)"],
    ),
    (
        "bad-enum",
        [("when_full: drop_oldest", "when_full: drop-oldest")],
        ["spool.when_full: 'drop-oldest' is not valid", "(did you mean 'drop_oldest'?)"],
    ),
    (
        "bad-ack",
        [("ack: receipt", "ack: pubak")],
        ["uplink.ack: 'pubak' is not valid", "did you mean 'puback'"],
    ),
    (
        "port-range",
        [("port: 8883", "port: 70000")],
        ["uplink.port: 70000 is out of range: expected a number <= 65535"],
    ),
    (
        "reader-format",
        [
            (
                "  detector: {input_size: [224, 384]}",
                "  detector: {input_size: [224, 384]}\n  reader: {formats: [br, mercosul]}",
            )
        ],
        [":14: vision.reader.formats: unknown plate format 'mercosul': use one of ar, br, nl, uk, us", "e.g. LLLDLDD"],
    ),
    (
        "threads-zero",
        [("threads: 2", "threads: 0")],
        ["vision.threads: 0 is out of range: expected a number >= 1"],
    ),
    (
        "fps-type",
        [("fps: 15", "fps: fast")],
        ["cameras[0].fps: 'fast' is not valid: expected a valid number"],
    ),
    (
        "device-id-pattern",
        [("id: cam-0001", "id: Cam 1")],
        ["device.id: 'Cam 1' is not valid: expected lower-case"],
    ),
    ("device-id-missing", [("  id: cam-0001\n", "")], ["device.id: required for a device"]),
    ("source-missing", [("    source: video.mp4\n", "")], ["cameras[0].source: missing"]),
    (
        "video-missing",
        [("source: video.mp4", "source: nowhere.mp4")],
        ["cameras[0].source: 'nowhere.mp4'", "does not exist"],
    ),
    (
        "zone-too-short",
        [("[[0.0, 0.0], [0.3, 0.0], [0.3, 0.25]]", "[[0.0, 0.0], [0.3, 0.0]]")],
        ["cameras[0].privacy_zones[0]: a list has the wrong length"],
    ),
    (
        "zone-out-of-frame",
        [("[0.3, 0.25]]", "[1.5, 0.25]]")],
        ["cameras[0].privacy_zones[0][2][0]: 1.5 is out of range: expected a number <= 1"],
    ),
    (
        "duration",
        [("max_age: 30d", "max_age: 30 days")],
        ["retention.max_age: '30 days'", "expected a duration"],
    ),
    (
        "size",
        [("max_bytes: 512MiB", "max_bytes: lots")],
        ["spool.max_bytes: 'lots'", "expected a size such as 512MiB"],
    ),
    (
        "size-too-small",
        [("max_bytes: 512MiB", "max_bytes: 1KiB")],
        ["spool.max_bytes: 1024 is out of range: expected a number >= 1048576"],
    ),
    (
        "input-size-multiple",
        [("input_size: [224, 384]", "input_size: [224, 380]")],
        ["vision.detector.input_size[1]: 380 is not valid: expected a multiple of 32"],
    ),
    (
        "key-missing",
        [("keys/city_x25519.pub", "keys/city.pub")],
        ["crypto.city_key: 'keys/city.pub'", "does not exist"],
    ),
    (
        "receipt-keys-missing",
        [("  receipt_keys: [keys/receipt_ed25519.pub]\n", "")],
        ["crypto.receipt_keys: required with uplink.ack: receipt"],
    ),
    (
        "topic-prefix",
        [("topic_prefix: alpr", "topic_prefix: alpr/#")],
        ["uplink.topic_prefix: 'alpr/#' is not valid"],
    ),
    ("version", [("version: 1", "version: 2")], ["version: 2 is not valid: expected 1"]),
    ("camera-kind", [("    fps: 15", "    kind: usb\n    fps: 15")], ["cameras[0].kind: 'usb' is not valid"]),
    (
        "tls-missing",
        [("    ca: certs/ca.pem\n", "")],
        ["uplink.tls.ca: required: the broker is reached over mutual TLS"],
    ),
    (
        "duplicate-camera",
        [("cameras:\n", "cameras:\n  - {name: north, source: video.mp4}\n")],
        ["camera names must be unique: north used twice"],
    ),
    ("duplicate-key", [("  port: 8883\n", "  port: 8883\n  port: 1883\n")], ["uplink.port: appears twice"]),
    (
        "backoff-order",
        [("  ack: receipt\n", "  ack: receipt\n  backoff: {initial: 2m, max: 10s}\n")],
        ["uplink.backoff.initial is longer than uplink.backoff.max"],
    ),
    (
        "section-type",
        [("retention:\n  max_age: 30d", "retention: 30d")],
        ["retention: '30d' is not valid: expected a mapping of settings"],
    ),
]


def _write(dir_: Path, text: str, name: str = "edge-agent.yaml") -> Path:
    path = dir_ / name
    path.write_text(text)
    return path


def _cli(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["check-config", str(path)])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_valid_config_exits_0(config_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _cli(_write(config_dir, VALID), capsys)
    assert code == 0, out
    assert "ok: device cam-0001: 1 camera(s) [north (replay)]" in out


@pytest.mark.parametrize(("case", "edits", "expected"), BAD, ids=[b[0] for b in BAD])
def test_bad_config_names_the_key(
    case: str,
    edits: list[tuple[str, str]],
    expected: list[str],
    config_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = VALID
    for old, new in edits:
        assert old in text, f"case {case}: {old!r} not in the base config"
        text = text.replace(old, new, 1)
    path = _write(config_dir, text, f"{case}.yaml")
    code, out = _cli(path, capsys)
    assert code == 2, out
    for fragment in expected:
        assert fragment in out, f"{fragment!r} missing from:\n{out}"
    # every problem line starts with file:line
    first = out.splitlines()[0]
    assert first.startswith(f"{path}:"), first


def test_line_numbers_point_at_the_key(config_dir: Path) -> None:
    text = VALID.replace("port: 8883", "port: 70000")
    _, problems = check_config(_write(config_dir, text, "line.yaml"))
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if "port: 70000" in ln)
    assert [(p.key, p.line) for p in problems] == [("uplink.port", line)]


def test_private_key_readable_by_others_is_refused(
    config_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copytree(config_dir, tmp_path / "d")
    key = tmp_path / "d" / "keys" / "device_ed25519.key"
    os.chmod(key, 0o644)
    code, out = _cli(_write(tmp_path / "d", VALID), capsys)
    assert code == 2
    assert f"crypto.device_key: 'keys/device_ed25519.key': key file {key} has mode 0644" in out
    assert f"chmod 600 {key}" in out


def test_tls_key_mode_checked_too(config_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copytree(config_dir, tmp_path / "d")
    os.chmod(tmp_path / "d" / "certs" / "devices" / "cam-0001.key", 0o640)
    code, out = _cli(_write(tmp_path / "d", VALID), capsys)
    assert code == 2
    assert "uplink.tls.key:" in out and "mode 0640" in out


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "the file is empty"),
        ("   \n# only a comment\n", "the file holds no settings"),
        (
            "- device\n- cameras\n",
            ":1: the top level must be a mapping of sections (device:, cameras:, ...), found a list",
        ),
        ("just text", "found a str"),
        ("device:\n  id: [cam\n", "YAML syntax error"),
        ("device:\n\tid: cam\n", ":2: YAML syntax error"),
    ],
    ids=["empty", "comment-only", "list", "scalar", "unclosed", "tab"],
)
def test_unparseable_files(tmp_path: Path, text: str, expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _cli(_write(tmp_path, text), capsys)
    assert code == 2
    assert expected in out


def test_missing_and_unreadable_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _cli(tmp_path / "nope.yaml", capsys)
    assert code == 2 and "config file not found" in out
    code, out = _cli(tmp_path, capsys)
    assert code == 2 and "is a directory, not a config file" in out
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    code, out = _cli(binary, capsys)
    assert code == 2 and "is not UTF-8 text" in out
    # exactly one line, no traceback
    assert len(out.strip().splitlines()) == 1


def test_load_config_raises_with_every_problem(config_dir: Path) -> None:
    text = VALID.replace("port: 8883", "port: 0").replace("threads: 2", "threads: 99")
    with pytest.raises(ConfigError) as info:
        load_config(_write(config_dir, text, "two.yaml"))
    assert len(info.value.problems) == 2
    assert "and 1 more" in str(info.value)


def test_shipped_examples_are_valid_shapes(capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("edge-agent.yaml", "ingest.yaml"):
        code = main(["check-config", "--no-files", str(REPO / "examples" / name)])
        assert code == 0, capsys.readouterr().out


def test_shipped_device_example_valid_with_its_files(
    config_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Lay out the files the annotated example names, then check it for real (files, modes and all).
    root = tmp_path / "etc"
    shutil.copytree(config_dir / "keys", root / "keys")
    (root / "certs").mkdir()
    shutil.copy(config_dir / "certs" / "ca.pem", root / "certs" / "ca.pem")
    shutil.copy(config_dir / "certs" / "devices" / "cam-0001.pem", root / "certs" / "device.pem")
    shutil.copy(config_dir / "certs" / "devices" / "cam-0001.key", root / "keys" / "device_tls.key")
    text = (REPO / "examples" / "edge-agent.yaml").read_text()
    text = text.replace("../tests/fixtures/video/day_single.mp4", str(config_dir / "video.mp4"))
    code, out = _cli(_write(root, text), capsys)
    assert code == 0, out
