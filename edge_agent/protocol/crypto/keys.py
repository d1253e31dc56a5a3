"""Key material of the protocol: generate, write safely, load with mode checks, and name by key id.

Three key pairs exist (docs/protocol.md):

- ``device``: the device's Ed25519 signing key; it signs every envelope. Made on the device, never leaves it.
- ``city``: the city's X25519 HPKE recipient key; devices hold only its public half, so a device cannot open
  what it sealed.
- ``receipt``: the ingest's Ed25519 key; it signs receipts, and devices delete a read only on a valid one.

Private keys are unencrypted PKCS#8 PEM files of mode 0600 (an unattended device has nobody to type a
passphrase; file modes, the service user and systemd credentials protect them). Public keys are SPKI PEM.
A key id is the first 8 bytes of SHA-256 over the raw 32-byte public key, shown as 16 hex digits.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from edge_agent.compat import StrEnum
from edge_agent.errors import KeyFileError

KEY_ID_LEN = 8

PrivateKey = Ed25519PrivateKey | X25519PrivateKey
PublicKey = Ed25519PublicKey | X25519PublicKey


class KeyKind(StrEnum):
    """The three key pairs of the protocol."""

    DEVICE = "device"
    CITY = "city"
    RECEIPT = "receipt"


FILE_STEMS = {
    KeyKind.DEVICE: "device_ed25519",
    KeyKind.CITY: "city_x25519",
    KeyKind.RECEIPT: "receipt_ed25519",
}


def raw_public(key: PublicKey) -> bytes:
    """The 32 raw bytes of a public key."""
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: PublicKey | PrivateKey) -> bytes:
    """Stable 8-byte id of a key pair: SHA-256 of the raw public key, truncated."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey | X25519PrivateKey) else key
    return hashlib.sha256(raw_public(public)).digest()[:KEY_ID_LEN]


def write_file_atomic(path: Path, data: bytes, mode: int, force: bool) -> None:
    """Write `data` to `path` with `mode` from the first byte on; refuse to replace unless `force`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and not force:
        raise KeyFileError(f"{path} already exists: keep it, or pass --force to replace it (the old key is lost)")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if force:
            os.replace(tmp, path)
        else:
            # link() fails if the name appeared meanwhile, so a concurrent writer cannot be overwritten.
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise KeyFileError(f"{path} already exists: pass --force to replace it") from None
            os.unlink(tmp)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def private_pem(key: PrivateKey) -> bytes:
    """PKCS#8 PEM of a private key."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def public_pem(key: PublicKey) -> bytes:
    """SubjectPublicKeyInfo PEM of a public key."""
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def write_private_key(path: Path, key: PrivateKey, force: bool = False) -> None:
    """Write a private key, mode 0600, never replacing an existing file unless `force`."""
    write_file_atomic(path, private_pem(key), 0o600, force)


def write_public_key(path: Path, key: PublicKey, force: bool = False) -> None:
    """Write a public key, mode 0644."""
    write_file_atomic(path, public_pem(key), 0o644, force)


def new_private_key(kind: KeyKind) -> PrivateKey:
    """A fresh private key of the right algorithm for `kind`."""
    return X25519PrivateKey.generate() if kind is KeyKind.CITY else Ed25519PrivateKey.generate()


def generate(kind: KeyKind, out_dir: Path, force: bool = False) -> tuple[Path, Path]:
    """Generate a key pair of `kind` into `out_dir`; returns (private path, public path)."""
    key = new_private_key(kind)
    stem = FILE_STEMS[kind]
    private_path, public_path = out_dir / f"{stem}.key", out_dir / f"{stem}.pub"
    if not force:
        for p in (private_path, public_path):
            if p.exists():
                raise KeyFileError(f"{p} already exists: keep it, or pass --force to replace it")
    write_private_key(private_path, key, force)
    write_public_key(public_path, key.public_key(), force)
    return private_path, public_path


def check_private_mode(path: Path) -> None:
    """Refuse a private key that group or others can read."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise KeyFileError(f"key file {path} has mode {mode:04o}, readable by group or others: chmod 600 {path}")


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise KeyFileError(f"key file {path} not found: generate it with `edge-agent keys generate`") from None
    except PermissionError:
        raise KeyFileError(f"key file {path} is not readable by this user: check its owner") from None
    except IsADirectoryError:
        raise KeyFileError(f"{path} is a directory, not a key file") from None


def load_private_key(path: Path, check_mode: bool = True) -> PrivateKey:
    """Load an Ed25519 or X25519 private key from PEM, checking that only the owner can read it."""
    data = _read(path)
    if check_mode:
        check_private_mode(path)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"{path} is not an unencrypted PEM private key ({exc}): regenerate it") from None
    if not isinstance(key, Ed25519PrivateKey | X25519PrivateKey):
        raise KeyFileError(f"{path} holds a {type(key).__name__}; edge-agent uses Ed25519 and X25519 keys only")
    return key


def load_public_key(path: Path) -> PublicKey:
    """Load an Ed25519 or X25519 public key from PEM (a private key file also works)."""
    data = _read(path)
    if b"PRIVATE KEY" in data:
        return load_private_key(path).public_key()
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"{path} is not a PEM public key ({exc}): check the file") from None
    if not isinstance(key, Ed25519PublicKey | X25519PublicKey):
        raise KeyFileError(f"{path} holds a {type(key).__name__}; edge-agent uses Ed25519 and X25519 keys only")
    return key


def load_signing_key(path: Path) -> Ed25519PrivateKey:
    """An Ed25519 private key (device or receipt signer)."""
    key = load_private_key(path)
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path} is an X25519 key, but a signing (Ed25519) key is needed here")
    return key


def load_verify_key(path: Path) -> Ed25519PublicKey:
    """An Ed25519 public key (device or receipt verifier)."""
    key = load_public_key(path)
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"{path} is an X25519 key, but a signature (Ed25519) key is needed here")
    return key


def load_recipient_private(path: Path) -> X25519PrivateKey:
    """The city's HPKE X25519 private key."""
    key = load_private_key(path)
    if not isinstance(key, X25519PrivateKey):
        raise KeyFileError(f"{path} is an Ed25519 key, but the city's X25519 (HPKE) key is needed here")
    return key


def load_recipient_public(path: Path) -> X25519PublicKey:
    """The city's HPKE X25519 public key."""
    key = load_public_key(path)
    if not isinstance(key, X25519PublicKey):
        raise KeyFileError(f"{path} is an Ed25519 key, but the city's X25519 (HPKE) public key is needed here")
    return key


@dataclass(frozen=True)
class KeyInfo:
    """What `edge-agent keys show` prints about one file."""

    path: Path
    algorithm: str
    private: bool
    key_id: str
    mode: str
    problem: str | None


def describe(path: Path) -> KeyInfo:
    """Inspect a key file without requiring a safe mode (the problem is reported instead)."""
    data = _read(path)
    private = b"PRIVATE KEY" in data
    key: PrivateKey | PublicKey = load_private_key(path, check_mode=False) if private else load_public_key(path)
    algorithm = "Ed25519" if isinstance(key, Ed25519PrivateKey | Ed25519PublicKey) else "X25519"
    mode = stat.S_IMODE(path.stat().st_mode)
    problem = None
    if private and mode & 0o077:
        problem = f"readable by group or others: chmod 600 {path}"
    return KeyInfo(path, algorithm, private, key_id(key).hex(), f"{mode:04o}", problem)
