"""`edge-agent keys`: key pairs written 0600, never replaced without --force, stable key ids."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from edge_agent.cli import main
from edge_agent.errors import KeyFileError
from edge_agent.protocol.crypto import keys


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


@pytest.mark.parametrize("kind", ["device", "city", "receipt"])
def test_generate_writes_private_0600_and_public(kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    os.umask(0o022)
    assert main(["keys", "generate", kind, "--out", str(tmp_path)]) == 0
    stem = keys.FILE_STEMS[keys.KeyKind(kind)]
    private, public = tmp_path / f"{stem}.key", tmp_path / f"{stem}.pub"
    assert _mode(private) == 0o600
    assert _mode(public) == 0o644
    kid = keys.key_id(keys.load_public_key(public)).hex()
    assert kid in capsys.readouterr().out
    assert keys.key_id(keys.load_private_key(private)).hex() == kid
    assert not list(tmp_path.glob(".*")), "temporary files left behind"


def test_never_overwrites_without_force(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "generate", "device", "--out", str(tmp_path)]) == 0
    private = tmp_path / "device_ed25519.key"
    before = private.read_bytes()
    assert main(["keys", "generate", "device", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "--force" in err
    assert private.read_bytes() == before
    assert main(["keys", "generate", "device", "--out", str(tmp_path), "--force"]) == 0
    assert private.read_bytes() != before
    assert _mode(private) == 0o600


def test_key_id_is_truncated_sha256_of_raw_public_key(tmp_path: Path) -> None:
    _, pub = keys.generate(keys.KeyKind.CITY, tmp_path)
    public = keys.load_recipient_public(pub)
    assert keys.key_id(public) == hashlib.sha256(keys.raw_public(public)).digest()[:8]


def test_show_reports_ids_and_flags_exposed_private_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    priv, pub = keys.generate(keys.KeyKind.RECEIPT, tmp_path)
    assert main(["keys", "show", str(priv), str(pub)]) == 0
    out = capsys.readouterr().out
    kid = keys.key_id(keys.load_public_key(pub)).hex()
    assert out.count(kid) == 2
    assert "Ed25519 private key" in out and "mode 0600" in out
    os.chmod(priv, 0o644)
    assert main(["keys", "show", str(priv)]) == 2
    assert f"PROBLEM: readable by group or others: chmod 600 {priv}" in capsys.readouterr().out


def test_loading_checks_mode_and_kind(tmp_path: Path) -> None:
    dev_priv, _ = keys.generate(keys.KeyKind.DEVICE, tmp_path)
    city_priv, _ = keys.generate(keys.KeyKind.CITY, tmp_path)
    with pytest.raises(KeyFileError, match="X25519 key, but a signing"):
        keys.load_signing_key(city_priv)
    with pytest.raises(KeyFileError, match="Ed25519 key, but the city's X25519"):
        keys.load_recipient_private(dev_priv)
    os.chmod(dev_priv, 0o640)
    with pytest.raises(KeyFileError, match="chmod 600"):
        keys.load_signing_key(dev_priv)
    garbage = tmp_path / "garbage.key"
    garbage.write_text("-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n")
    garbage.chmod(0o600)
    with pytest.raises(KeyFileError, match="not an unencrypted PEM private key"):
        keys.load_private_key(garbage)
    with pytest.raises(KeyFileError, match="not found"):
        keys.load_public_key(tmp_path / "missing.pub")


def test_show_unreadable_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.pub"
    bad.write_text("hello")
    assert main(["keys", "show", str(bad)]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_show_reads_the_certificates_and_tls_key_provisioning_writes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from edge_agent.protocol.crypto.pki import mint_local_pki

    pki = mint_local_pki(tmp_path / "pki", device_ids=["cam-9"])
    device = pki.devices["cam-9"]
    assert main(["keys", "show", str(pki.ca_cert), str(device.cert), str(device.key)]) == 0
    out = capsys.readouterr().out
    assert "certificate for edge-agent local CA" in out
    assert "certificate for cam-9, valid until" in out and "days left" in out
    assert "P-256 TLS private key, mode 0600" in out
