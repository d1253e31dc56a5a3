"""`edge-agent provision`: turn a freshly flashed board into an enrolled camera.

The wizard (or the same steps from flags, `--non-interactive`) asks for the device id and the camera, saves one
test frame for aiming (to /run, a tmpfs: it never reaches the SD card), makes the device's keys, imports the
city's enrolment bundle, writes the config and the secrets with their owner and modes, enables the service and
runs the self-test. Without a bundle that carries this device's certificate it writes an enrolment request
instead, for the city to sign (`edge-agent city enroll ID --request FILE`).

Everything is written below `--root` (default `/`), so tests and `scripts/build-image` can provision a directory
tree that stands in for a device's root file system. Paths inside the written config are the device's own
(relative to /etc/edge-agent, or absolute like /var/lib/edge-agent), never the `--root` prefix.
"""

from __future__ import annotations

import grp
import json
import logging
import os
import pwd
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import yaml

from edge_agent.errors import CaptureError, EdgeAgentError, InvalidInputError
from edge_agent.field.enroll import Bundle, Request, check_device_id, make_request, verify_bundle_for
from edge_agent.protocol.crypto.keys import key_id

CONFIG_DIR = Path("etc/edge-agent")
KEYS_DIR = CONFIG_DIR / "keys"
STATE_DIR = Path("/var/lib/edge-agent")
AIM_FRAME = Path("run/edge-agent/aim.jpg")
SERVICE_USER = "edge-agent"
BOOT_DIRS = (Path("boot/firmware"), Path("boot"))
DEVICE_KEY, TLS_KEY = "device_ed25519.key", "device_tls.key"


logger = logging.getLogger(__name__)


@dataclass
class Answers:
    """What provisioning needs; None means ask (interactive) or use the default (non-interactive)."""

    device_id: str | None = None
    camera: str | None = None
    bundle: Path | None = None
    request_out: Path | None = None
    location: str | None = None
    # Replace the city this device is enrolled to (its CA, city key and receipt keys): a local, explicit act.
    reenrol: bool = False


@dataclass
class Outcome:
    """What provisioning did, for the summary and the tests."""

    config: Path
    enrolled: bool
    request: Path | None = None
    aim_frame: Path | None = None
    bundle_deleted: bool = False


class Prompter:
    """Asks a question until the answer validates; the reason is shown before asking again."""

    def __init__(self, stdin: TextIO, stdout: TextIO) -> None:
        self.stdin, self.stdout = stdin, stdout

    def say(self, text: str) -> None:
        """Print a line for the technician."""
        print(text, file=self.stdout, flush=True)

    def ask(self, question: str, validate: Callable[[str], Any], default: str | None = None) -> Any:
        """Return `validate(answer)`; re-ask after an InvalidInputError (or CaptureError) with its message."""
        suffix = f" [{default}]" if default else ""
        while True:
            print(f"{question}{suffix}: ", end="", file=self.stdout, flush=True)
            line = self.stdin.readline()
            if not line:
                raise InvalidInputError(f"no answer to {question!r} (input ended)")
            answer = line.strip() or (default or "")
            try:
                return validate(answer)
            except (InvalidInputError, CaptureError) as exc:
                self.say(f"  not accepted: {exc}")


def default_camera() -> str:
    """The camera a board most likely has: the Pi camera (libcamera), else the first V4L2 device."""
    if any(Path("/dev").glob("media*")) and Path("/proc/device-tree/model").exists():
        model = Path("/proc/device-tree/model").read_text(errors="replace")
        if "Raspberry Pi" in model:
            return "picamera:0"
    return "/dev/video0"


def grab_aim_frame(source: str, out: Path) -> tuple[int, int]:
    """Open the camera, take one frame and save it as JPEG at `out` (for aiming); return its size."""
    import cv2

    from edge_agent.config import CameraConfig
    from edge_agent.device.capture.base import EndOfStream
    from edge_agent.device.capture.worker import make_source

    cam = CameraConfig.model_validate({"name": "aim", "source": source})
    src = make_source(cam, realtime=False)
    src.open()
    try:
        # Skip a few frames: the first ones of a camera are often dark while exposure settles.
        frame = src.read()
        for _ in range(4):
            try:
                frame = src.read()
            except EndOfStream:
                break
    except EndOfStream:
        raise CaptureError(f"camera {source} delivered no frame") from None
    finally:
        src.close()
    out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out), frame.image, [cv2.IMWRITE_JPEG_QUALITY, 85]):
        raise CaptureError(f"could not write the aiming frame to {out}")
    os.chmod(out, 0o600)
    height, width = frame.image.shape[:2]
    return width, height


def _chown(path: Path, user: str | None, group: str | None) -> None:
    """Give `path` to user/group where they exist and we may (root); silently not in a test root as non-root."""
    if os.geteuid() != 0:
        return
    try:
        uid = pwd.getpwnam(user).pw_uid if user else -1
        gid = grp.getgrnam(group).gr_gid if group else -1
    except KeyError:
        return
    os.chown(path, uid, gid)


def device_config(
    device_id: str, camera: str, bundle: Bundle, receipt_files: list[str], location: str | None
) -> dict[str, Any]:
    """The config provisioning writes (paths relative to /etc/edge-agent; private keys as credentials)."""
    return {
        "version": 1,
        "device": {"id": device_id, "location": location or "", "state_dir": str(STATE_DIR)},
        "cameras": [{"name": "cam0", "source": camera, "fps": 15}],
        "crypto": {
            "device_key": f"credential:{DEVICE_KEY}",
            "city_key": "keys/city_x25519.pub",
            "receipt_keys": [f"keys/{name}" for name in receipt_files],
        },
        "uplink": {
            "host": bundle.broker_host,
            "port": bundle.broker_port,
            "topic_prefix": bundle.topic_prefix,
            "tls": {"ca": "keys/ca.pem", "cert": "keys/device.pem", "key": f"credential:{TLS_KEY}"},
        },
    }


class Provisioner:
    """The steps of provisioning, each usable from the wizard and from flags."""

    def __init__(
        self,
        root: Path,
        answers: Answers,
        *,
        interactive: bool,
        prompter: Prompter | None = None,
        boot_dir: Path | None = None,
        check_camera: bool = True,
    ) -> None:
        self.root = root
        self.answers = answers
        self.interactive = interactive
        self.prompt = prompter or Prompter(sys.stdin, sys.stdout)
        self.check_camera = check_camera
        self.boot_dir = boot_dir if boot_dir is not None else self._find_boot()

    def _find_boot(self) -> Path | None:
        for rel in BOOT_DIRS:
            if (self.root / rel).is_dir():
                return self.root / rel
        return None

    @property
    def config_dir(self) -> Path:
        """/etc/edge-agent under the root."""
        return self.root / CONFIG_DIR

    @property
    def keys_dir(self) -> Path:
        """/etc/edge-agent/keys under the root."""
        return self.root / KEYS_DIR

    # --- answers ------------------------------------------------------------------------------------------------

    def _bundle(self) -> Bundle | None:
        path = self.answers.bundle
        if path is None and self.interactive:
            # A mistyped path is asked again (with why), not taken as "no bundle" or an exit.
            answer: tuple[Path, Bundle] | None = self.prompt.ask(
                "Enrolment bundle from the city (path, empty if you have none yet)",
                lambda a: (Path(a), Bundle.load(Path(a))) if a else None,
                default=None,
            )
            if answer is None:
                return None
            self.answers.bundle = answer[0]
            return answer[1]
        return Bundle.load(path) if path is not None else None

    def _device_id(self, bundle: Bundle | None) -> str:
        chosen = self.answers.device_id
        if bundle is not None:
            if chosen and chosen != bundle.device_id:
                raise InvalidInputError(f"the bundle is for device {bundle.device_id!r}, not {chosen!r}")
            return bundle.device_id
        if chosen:
            return check_device_id(chosen)
        if not self.interactive:
            raise InvalidInputError("--device-id is needed when no bundle names the device")
        answer: str = self.prompt.ask("Device id (e.g. cam-elm-st-n)", check_device_id)
        return answer

    def _camera(self) -> tuple[str, tuple[int, int] | None]:
        aim = self.root / AIM_FRAME

        def accept(answer: str) -> tuple[str, tuple[int, int] | None]:
            if not answer:
                raise InvalidInputError("a camera is needed: /dev/video0, picamera:0, rtsp://... or a video file")
            if not self.check_camera:
                return answer, None
            return answer, grab_aim_frame(answer, aim)

        if self.answers.camera:
            return accept(self.answers.camera)
        if not self.interactive:
            return accept(default_camera())
        result: tuple[str, tuple[int, int] | None] = self.prompt.ask(
            "Camera (/dev/video0, picamera:0, rtsp://user:pass@host/stream)", accept, default=default_camera()
        )
        return result

    # --- steps --------------------------------------------------------------------------------------------------

    def _prepare_dirs(self) -> None:
        self.config_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.config_dir, 0o750)  # noqa: S103 - the service group reads its config
        _chown(self.config_dir, "root", SERVICE_USER)
        self.keys_dir.mkdir(parents=True, exist_ok=True)
        # The service's group reads the certificates and public keys here; the private keys are 0600 root and
        # reach the service only through LoadCredential= (systemd/edge-agent.service, tmpfiles.d).
        os.chmod(self.keys_dir, 0o750)  # noqa: S103
        _chown(self.keys_dir, "root", SERVICE_USER)

    def _write_request(self, device_id: str, request: Request) -> Path:
        out = self.answers.request_out
        if out is None:
            base = self.boot_dir if self.boot_dir is not None else self.config_dir
            out = base / f"edge-agent-request-{device_id}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(request.to_json() + "\n")
        return out

    def _check_pinned_city(self, bundle: Bundle) -> None:
        """Refuse a bundle from another city than the one this device is enrolled to, unless re-enrolling.

        Anyone who can write the SD card's boot partition can sign this device's request with a CA of their own;
        a bundle so made would replace the broker, the CA, the city key and the receipt keys, and its receipts
        would delete reads still spooled. Once enrolled, a bundle may renew the certificate, not change the city.
        """
        pinned = {
            "CA": (self.keys_dir / "ca.pem", [bundle.ca_pem]),
            "city key": (self.keys_dir / "city_x25519.pub", [bundle.city_key_pem]),
        }
        changed = [
            what
            for what, (path, new) in pinned.items()
            if path.is_file() and [path.read_text().strip()] != [p.strip() for p in new]
        ]
        held = sorted(p.read_text().strip() for p in self.keys_dir.glob("receipt_ed25519-*.pub"))
        if held and held != sorted(p.strip() for p in bundle.receipt_keys_pem):
            changed.append("receipt keys")
        if not changed:
            return
        if not self.answers.reenrol:
            raise InvalidInputError(
                f"this bundle would change the city this device is enrolled to ({', '.join(changed)} differ): "
                "refused. To move the camera to another city, run `edge-agent provision --reenrol --bundle FILE` "
                "on the device itself"
            )
        logger.warning("re-enrolling to another city: %s replaced by the bundle's", ", ".join(changed))
        for old in self.keys_dir.glob("receipt_ed25519-*.pub"):
            old.unlink()

    def _import_bundle(self, bundle: Bundle) -> list[str]:
        verify_bundle_for(bundle, self.keys_dir / TLS_KEY)
        self._check_pinned_city(bundle)
        assert bundle.device_cert_pem is not None
        files = {"ca.pem": bundle.ca_pem, "device.pem": bundle.device_cert_pem, "city_x25519.pub": bundle.city_key_pem}
        receipt_files = []
        for i, pem in enumerate(bundle.receipt_keys_pem):
            name = f"receipt_ed25519-{i}.pub"
            files[name] = pem
            receipt_files.append(name)
        for name, text in files.items():
            path = self.keys_dir / name
            tmp = path.with_suffix(path.suffix + ".tmp")
            tmp.write_text(text)
            os.chmod(tmp, 0o644)
            tmp.replace(path)
        return receipt_files

    def _write_config(self, data: dict[str, Any]) -> Path:
        path = self.config_dir / "edge-agent.yaml"
        if path.exists():
            shutil.copy2(path, path.with_suffix(".yaml.bak"))
        tmp = path.with_suffix(".yaml.tmp")
        header = "# Written by `edge-agent provision`; check with `edge-agent check-config`.\n"
        tmp.write_text(header + yaml.safe_dump(data, sort_keys=False))
        os.chmod(tmp, 0o640)
        _chown(tmp, "root", SERVICE_USER)
        tmp.replace(path)
        return path

    def _delete_bundle_from_boot(self, device_id: str) -> bool:
        """A bundle on the FAT boot partition is readable by anyone with the card: remove it once imported, and
        the device's request with it (its CSR is what a stranger would sign to make a bundle of their own)."""
        path = self.answers.bundle
        if path is None or self.boot_dir is None:
            return False
        try:
            path.resolve().relative_to(self.boot_dir.resolve())
        except ValueError:
            return False
        path.unlink(missing_ok=True)
        (self.boot_dir / f"edge-agent-request-{device_id}.json").unlink(missing_ok=True)
        return True

    @property
    def _kept_answers(self) -> Path:
        return self.config_dir / "provision-answers.json"

    def _keep_answers(self) -> None:
        """Camera and location given at the request step, kept for the import (no secret in them)."""
        kept = {k: v for k, v in (("camera", self.answers.camera), ("location", self.answers.location)) if v}
        if kept:
            self._kept_answers.write_text(json.dumps(kept) + "\n")
            os.chmod(self._kept_answers, 0o640)

    def _recall_answers(self) -> None:
        """Fill camera and location the import was not given from what the request step kept."""
        try:
            kept = json.loads(self._kept_answers.read_text())
        except (OSError, ValueError):
            return
        if isinstance(kept, dict):
            self.answers.camera = self.answers.camera or kept.get("camera")
            self.answers.location = self.answers.location or kept.get("location")

    def run(self) -> Outcome:
        """Provision; return what was done."""
        bundle = self._bundle()
        device_id = self._device_id(bundle)
        self._prepare_dirs()
        request = make_request(device_id, self.keys_dir)  # makes the keys once; reuses them afterwards
        if bundle is None or not bundle.has_certificate:
            self._keep_answers()
            path = self._write_request(device_id, request)
            self.prompt.say(
                f"Keys made for {device_id} (signing key id {key_id(request.signing_key).hex()}).\n"
                f"Enrolment request written to {path}: the city signs it with\n"
                f"  edge-agent city enroll {device_id} --city CITY_DIR --request {path.name} --out bundle.json\n"
                "then run `edge-agent provision --bundle bundle.json` here."
            )
            return Outcome(self.config_dir / "edge-agent.yaml", enrolled=False, request=path)
        self._recall_answers()
        camera, size = self._camera()
        receipt_files = self._import_bundle(bundle)
        config = self._write_config(device_config(device_id, camera, bundle, receipt_files, self.answers.location))
        self._kept_answers.unlink(missing_ok=True)
        deleted = self._delete_bundle_from_boot(device_id)
        aim = self.root / AIM_FRAME if size else None
        if size:
            self.prompt.say(f"Aiming frame ({size[0]}x{size[1]}) saved to {aim}; it is deleted at the next reboot.")
        self.prompt.say(f"{device_id} enrolled: config {config}, keys in {self.keys_dir} (private keys 0600).")
        return Outcome(config, enrolled=True, aim_frame=aim, bundle_deleted=deleted)


def enable_service(root: Path) -> str:
    """Enable and (re)start the service on a live system; only describe it for another root."""
    if root.resolve() != Path("/") or shutil.which("systemctl") is None:
        return "service not enabled here (not the live root): it starts on the device's next boot"
    try:
        subprocess.run(["systemctl", "enable", "--now", "edge-agent.service"], check=True, capture_output=True)
        subprocess.run(["systemctl", "restart", "edge-agent.service"], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise EdgeAgentError(f"could not enable edge-agent.service ({exc}): is scripts/install-device done?") from exc
    return "edge-agent.service enabled and started"
