"""Field operations end to end: city init and enrol, provisioning into a temporary root, doctor, impersonation."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from edge_agent.city.ingest.service import IngestService
from edge_agent.configfile import load_config
from edge_agent.errors import InvalidInputError
from edge_agent.field.enroll import Bundle, CityDir
from edge_agent.field.provision import Answers, Prompter, Provisioner
from edge_agent.local.localbroker import LocalBroker, find_mosquitto, free_port
from edge_agent.protocol.crypto.envelope import sealer_for
from edge_agent.protocol.crypto.pki import (
    Identity,
    load_cert,
    load_tls_key,
    make_ca,
    new_tls_key,
    write_cert,
    write_tls_key,
)
from edge_agent.protocol.reads import PlateRead, new_read_id
from tests.integration.conftest import stored_ids, wait_for
from tests.integration.mqtt_helpers import TestClient

REPO = Path(__file__).resolve().parents[2]


def cli(*args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real `edge-agent` command."""
    return subprocess.run(
        [sys.executable, "-m", "edge_agent", *args],
        check=False,
        capture_output=True,
        text=True,
        input=stdin,
        timeout=90,
        env={**os.environ, **(env or {})},
        cwd=REPO,
    )


def make_video(path: Path, frames: int = 12) -> Path:
    """A short synthetic video standing in for a camera."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 15, (320, 240))
    for i in range(frames):
        img = np.full((240, 320, 3), 40 + (7 * i) % 200, np.uint8)
        writer.write(img)
    writer.release()
    return path


class City:
    """A city made by `edge-agent city init` with a running broker that uses its certificates."""

    def __init__(self, root: Path) -> None:
        self.port = free_port()
        done = cli("city", "init", str(root / "city"), "--broker-host", "localhost", "--broker-port", str(self.port))
        assert done.returncode == 0, done.stderr
        self.dir = CityDir(root / "city")
        crl = self.dir.root / "ca" / "crl.pem"
        self.broker = LocalBroker(root / "broker", self.dir.local_pki(), port=self.port, crl_file=crl)

    def enroll(self, device_id: str, request: Path, out: Path) -> subprocess.CompletedProcess[str]:
        return cli(
            "city", "enroll", device_id, "--city", str(self.dir.root), "--request", str(request), "--out", str(out)
        )

    def ingest(self, tmp: Path) -> IngestService:
        cfg = load_config(self.dir.root / "ingest.yaml", role="ingest")
        assert cfg.ingest is not None
        service = IngestService(cfg.ingest, client_id="ingest-test")
        service.start()
        return service


@pytest.fixture
def city(tmp_path: Path) -> Iterator[City]:
    c = City(tmp_path)
    c.broker.start()
    try:
        yield c
    finally:
        c.broker.stop()


def provision_device(city: City, root: Path, device_id: str, camera: Path) -> Path:
    """The field flow: request on the device, enrol at the city, bundle on the boot partition, provision."""
    boot = root / "boot" / "firmware"
    boot.mkdir(parents=True)
    first = cli("provision", "--root", str(root), "--non-interactive", "--device-id", device_id, "--no-enable")
    assert first.returncode == 0, first.stderr
    request = boot / f"edge-agent-request-{device_id}.json"
    assert request.is_file(), first.stdout
    bundle = boot / "edge-agent-bundle.json"
    enrolled = city.enroll(device_id, request, bundle)
    assert enrolled.returncode == 0, enrolled.stderr
    second = import_bundle(root, bundle, camera)
    assert second.returncode == 0, second.stderr
    assert not bundle.exists(), "the bundle must be removed from the boot partition once imported"
    return root / "etc" / "edge-agent" / "edge-agent.yaml"


def request_again(root: Path, device_id: str, out: Path) -> Path:
    """The device's enrolment request written once more, as anyone who copied it from the card would have it."""
    done = cli("provision", "--root", str(root), "--non-interactive", "--device-id", device_id,
               "--request-out", str(out), "--no-enable")  # fmt: skip
    assert done.returncode == 0, done.stderr
    return out


def import_bundle(root: Path, bundle: Path, camera: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """`provision --bundle` as the first-boot unit runs it (no service, no self-test)."""
    return cli("provision", "--root", str(root), "--non-interactive", "--bundle", str(bundle), "--camera",
               str(camera), "--no-enable", "--no-doctor", *extra)  # fmt: skip


def local_state(config: Path, state: Path) -> Path:
    """The provisioned config with its spool under `state` (the test cannot write /var/lib)."""
    data: dict[str, Any] = yaml.safe_load(config.read_text())
    data["device"]["state_dir"] = str(state)
    data["uplink"]["backoff"] = {"initial": 0.2, "max": 1.0}
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    return config


def test_enrol_provision_connect_and_deliver(city: City, tmp_path: Path) -> None:
    root = tmp_path / "root"
    camera = make_video(tmp_path / "camera.avi")
    config = provision_device(city, root, "cam-7", camera)

    keys_dir = root / "etc" / "edge-agent" / "keys"
    assert stat.S_IMODE(keys_dir.stat().st_mode) == 0o750
    for private in ("device_ed25519.key", "device_tls.key"):
        assert stat.S_IMODE((keys_dir / private).stat().st_mode) == 0o600
    assert stat.S_IMODE(config.stat().st_mode) == 0o640
    aim = root / "run" / "edge-agent" / "aim.jpg"
    assert cv2.imread(str(aim)) is not None, "the aiming frame was not saved"
    # Private keys never left the device: neither the request nor anything the city holds contains them.
    device_private = (keys_dir / "device_ed25519.key").read_bytes()
    for path in city.dir.root.rglob("*"):
        if path.is_file():
            assert device_private not in path.read_bytes()
    # The written config is valid and points at the device's own paths (no test-root prefix).
    text = config.read_text()
    assert str(root) not in text
    assert "credential:device_ed25519.key" in text
    checked = cli("check-config", str(config), "--role", "device")
    assert checked.returncode == 0, checked.stdout + checked.stderr

    # The agent's store-and-forward path, with the new identity, into the city's ingest over mTLS.
    local_state(config, tmp_path / "state")
    ingest = city.ingest(tmp_path)
    ids_file = tmp_path / "ids.txt"
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "tests.integration.forwarder_proc", str(config), str(ids_file), "25", "200"],
            check=False,
            cwd=REPO,
            timeout=60,
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        sent = {bytes.fromhex(x) for x in ids_file.read_text().split()}
        assert wait_for(lambda: set(stored_ids(city.dir.root / "reads.db")[0]) >= sent, 20)
        assert len(sent) == 25
    finally:
        ingest.stop()


def test_second_device_cannot_impersonate_the_first(city: City, tmp_path: Path) -> None:
    camera = make_video(tmp_path / "camera.avi")
    provision_device(city, tmp_path / "r7", "cam-7", camera)
    provision_device(city, tmp_path / "r8", "cam-8", camera)
    keys8 = tmp_path / "r8" / "etc" / "edge-agent" / "keys"
    identity8 = Identity(keys8 / "device.pem", keys8 / "device_tls.key")

    # 1. The broker refuses cam-8's certificate on cam-7's topics.
    client = TestClient(city.broker, city.dir.local_pki(), identity8, "cam-8-intruder")
    try:
        rc = client.publish_wait("alpr/v1/cam-7/reads", b"forged", timeout=10)
        assert rc is None or rc >= 0x80, f"broker accepted cam-8 on cam-7's topic (reason {rc})"
    finally:
        client.close()

    # 2. An envelope that claims to be cam-7 but is signed with cam-8's key is rejected by the ingest, even when
    #    it arrives on a topic cam-8 may use.
    cfg8 = load_config(
        local_state(tmp_path / "r8" / "etc" / "edge-agent" / "edge-agent.yaml", tmp_path / "s8"), role="device"
    )
    forged_cfg = cfg8.model_copy(update={"device": cfg8.device.model_copy(update={"id": "cam-7"})})
    now = time.time()
    read = PlateRead(new_read_id(), "cam-7", "cam0", "FORGED1", 0.9, now, now, 3)
    envelope = sealer_for(forged_cfg).seal(read, 1)
    ingest = city.ingest(tmp_path)
    try:
        client = TestClient(city.broker, city.dir.local_pki(), identity8, "cam-8")
        try:
            client.publish_wait("alpr/v1/cam-8/reads", envelope, timeout=10)
        finally:
            client.close()
        assert wait_for(lambda: sum(v for k, v in ingest.counters.items() if k.startswith("rejected")) >= 1, 10)
        assert stored_ids(city.dir.root / "reads.db")[1] == 0
    finally:
        ingest.stop()


def test_enrolment_refuses_a_bundle_for_another_key(city: City, tmp_path: Path) -> None:
    camera = make_video(tmp_path / "camera.avi")
    provision_device(city, tmp_path / "r7", "cam-7", camera)
    # A second board claiming to be cam-7 with a bundle issued for the first board's key.
    other = tmp_path / "other"
    first = cli("provision", "--root", str(other), "--non-interactive", "--device-id", "cam-9", "--no-enable")
    assert first.returncode == 0
    request = other / "etc" / "edge-agent" / "edge-agent-request-cam-9.json"
    bundle = tmp_path / "b9.json"
    assert city.enroll("cam-9", request, bundle).returncode == 0
    shutil.copy(other / "etc" / "edge-agent" / "keys" / "device_tls.key", tmp_path / "keep.key")
    # Replace the device's TLS key: the bundle's certificate no longer matches this device.
    (other / "etc" / "edge-agent" / "keys" / "device_tls.key").unlink()
    cli("provision", "--root", str(other), "--non-interactive", "--device-id", "cam-9", "--no-enable")
    again = cli("provision", "--root", str(other), "--non-interactive", "--bundle", str(bundle), "--camera",
                str(camera), "--no-enable", "--no-doctor")  # fmt: skip
    assert again.returncode == 2
    assert "another key" in again.stderr
    # And the city refuses to silently re-enrol cam-7 with a different signing key.
    forged = cli("city", "enroll", "cam-7", "--city", str(city.dir.root), "--request", str(request))
    assert forged.returncode == 2 and "cam-9" in forged.stderr


def test_an_enrolled_camera_refuses_another_citys_bundle(city: City, tmp_path: Path) -> None:
    # Anyone who can write the SD card's boot partition could sign the device's request with a CA of their own
    # and drop the bundle there: the first-boot unit imported it, and the camera served another city.
    camera = make_video(tmp_path / "camera.avi")
    root = tmp_path / "r5"
    config = provision_device(city, root, "cam-5", camera)
    boot = root / "boot" / "firmware"
    assert not (boot / "edge-agent-request-cam-5.json").exists(), "the request must leave the boot partition too"
    before = config.read_text()
    keys = root / "etc" / "edge-agent" / "keys"
    pinned_ca = (keys / "ca.pem").read_text()
    rogue = City(tmp_path / "rogue")
    request = request_again(root, "cam-5", tmp_path / "copied-request.json")
    bundle = boot / "edge-agent-bundle.json"
    assert rogue.enroll("cam-5", request, bundle).returncode == 0
    refused = import_bundle(root, bundle, camera)
    assert refused.returncode == 2, refused.stdout
    assert "would change the city this device is enrolled to (CA, city key, receipt keys differ)" in refused.stderr
    assert config.read_text() == before
    assert (keys / "ca.pem").read_text() == pinned_ca
    # Moving the camera to another city is a local, explicit act.
    rogue_ca = Bundle.load(bundle).ca_pem
    moved = import_bundle(root, bundle, camera, "--reenrol")
    assert moved.returncode == 0, moved.stderr
    assert (keys / "ca.pem").read_text().strip() == rogue_ca.strip() != pinned_ca.strip()
    assert "re-enrolling to another city" in moved.stderr


def test_a_malformed_bundle_changes_nothing(city: City, tmp_path: Path) -> None:
    # These imported with exit 0, overwrote a working config and deleted the bundle: a camera that cannot start.
    camera = make_video(tmp_path / "camera.avi")
    root = tmp_path / "r6"
    config = provision_device(city, root, "cam-6", camera)
    before = config.read_text()
    boot = root / "boot" / "firmware"
    request = request_again(root, "cam-6", tmp_path / "req.json")
    good = tmp_path / "good.json"
    assert city.enroll("cam-6", request, good).returncode == 0
    bad_cases = {
        "topic_prefix": (lambda d: d.update(topic_prefix="#"), "topic_prefix '#' is not valid"),
        "port": (lambda d: d["broker"].update(port=0), "port 0 is not valid"),
        "city key": (lambda d: d.update(city_key_pem="-----BEGIN PUBLIC KEY-----\nAAAA\n"), "city_key_pem does not"),
        "receipt key": (lambda d: d.update(receipt_keys_pem=[d["city_key_pem"]]), "receipt_keys_pem[0] does not"),
    }
    for name, (spoil, message) in bad_cases.items():
        data = json.loads(good.read_text())
        spoil(data)
        bundle = boot / "edge-agent-bundle.json"
        bundle.write_text(json.dumps(data))
        done = import_bundle(root, bundle, camera)
        assert done.returncode == 2, name
        assert message in done.stderr, (name, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert config.read_text() == before, name
        assert bundle.exists(), f"{name}: the bundle must stay for the technician"


def test_wizard_reprompts_on_bad_answers(tmp_path: Path) -> None:
    camera = make_video(tmp_path / "camera.avi")
    answers = io.StringIO("\n".join(["", "Bad Id!", "admin", "cam-12", ""]) + "\n")
    out = io.StringIO()
    outcome = Provisioner(
        tmp_path / "root", Answers(), interactive=True, prompter=Prompter(answers, out), boot_dir=tmp_path / "boot"
    ).run()
    text = out.getvalue()
    assert "is not valid" in text and "reserved" in text
    assert not outcome.enrolled and outcome.request is not None
    assert json.loads(outcome.request.read_text())["device_id"] == "cam-12"

    # The camera question re-asks when the camera cannot be opened.
    city_root = tmp_path / "cityroot"
    from edge_agent.field.enroll import Request, city_init

    city = city_init(city_root, "localhost", 8883)
    bundle = city.enroll("cam-12", Request.load(outcome.request))
    bundle_path = tmp_path / "bundle.json"
    bundle_path.write_text(bundle.to_json())
    typo = str(tmp_path / "bundel.json")
    answers = io.StringIO("\n".join([typo, str(bundle_path), str(tmp_path / "nope.mp4"), str(camera)]) + "\n")
    out = io.StringIO()
    outcome = Provisioner(
        tmp_path / "root", Answers(), interactive=True, prompter=Prompter(answers, out), boot_dir=tmp_path / "boot"
    ).run()
    assert outcome.enrolled
    assert "not accepted" in out.getvalue()
    assert out.getvalue().count("Enrolment bundle from the city") == 2  # the mistyped path was asked again
    with pytest.raises(InvalidInputError, match="input ended"):
        Provisioner(
            tmp_path / "r2", Answers(), interactive=True, prompter=Prompter(io.StringIO(""), io.StringIO())
        ).run()


# --- doctor ---------------------------------------------------------------------------------------------------


@pytest.fixture
def provisioned(city: City, tmp_path: Path) -> Path:
    camera = make_video(tmp_path / "camera.avi", frames=60)
    config = provision_device(city, tmp_path / "root", "cam-7", camera)
    return local_state(config, tmp_path / "state")


def doctor(config: Path) -> tuple[int, dict[str, Any], str]:
    table = cli("doctor", "--config", str(config), "--camera-seconds", "1")
    done = cli("doctor", "--config", str(config), "--json", "--camera-seconds", "1")
    report = json.loads(done.stdout)
    return done.returncode, {c["name"]: c for c in report["checks"]}, table.stdout


def test_doctor_healthy(provisioned: Path) -> None:
    rc, checks, table = doctor(provisioned)
    print(table)
    assert checks["config"]["status"] == "pass"
    assert checks["keys"]["status"] == "pass"
    assert checks["broker"]["status"] == "pass", checks["broker"]
    assert checks["camera cam0"]["status"] in {"pass", "warn"}
    assert checks["disk"]["status"] in {"pass", "warn"}
    if checks["models"]["status"] == "pass":
        assert rc == 0, table


def test_doctor_no_broker(city: City, provisioned: Path) -> None:
    city.broker.stop()
    rc, checks, table = doctor(provisioned)
    print(table)
    assert rc == 1
    assert checks["broker"]["status"] == "fail"
    assert "unreachable" in checks["broker"]["detail"]
    assert "fix:" in table


def test_doctor_wrong_ca(provisioned: Path, tmp_path: Path) -> None:
    _, other_ca = make_ca("some other CA")
    write_cert(provisioned.parent / "keys" / "ca.pem", other_ca)
    rc, checks, table = doctor(provisioned)
    print(table)
    assert rc == 1
    assert checks["broker"]["status"] == "fail"
    assert "does not verify" in checks["broker"]["detail"]
    assert "enrolled with" in checks["broker"]["fix"]


def test_doctor_key_mode_0644(provisioned: Path) -> None:
    key = provisioned.parent / "keys" / "device_ed25519.key"
    key.chmod(0o644)
    rc, checks, table = doctor(provisioned)
    print(table)
    assert rc == 1
    bad = [c for c in checks.values() if c["status"] == "fail"]
    assert bad and ("0644" in bad[0]["detail"] or "readable" in bad[0]["detail"]), table
    assert "chmod 600" in table


def test_doctor_fails_a_spool_directory_it_cannot_write(provisioned: Path, tmp_path: Path) -> None:
    # A card that remounted read-only after errors left the spool unwritable, and nothing said so before the daemon
    # failed with an internal error. A file where the state directory should be fails the same way for root too.
    (tmp_path / "state").write_text("not a directory")
    rc, checks, table = doctor(provisioned)
    assert rc == 1, table
    assert checks["disk"]["status"] == "fail"
    assert "is not writable" in checks["disk"]["detail"]
    assert "read-only" in table


def test_doctor_json_is_one_object(provisioned: Path) -> None:
    _, checks, _ = doctor(provisioned)
    assert {"config", "keys", "models", "clock", "broker", "disk", "temperature"} <= set(checks)


def reissue(city: City, provisioned: Path, start: dt.datetime, end: dt.datetime) -> None:
    """The device's TLS certificate again from the city's CA, with the given validity (the key stays)."""
    pki = city.dir.local_pki()
    ca_key, ca_cert = load_tls_key(pki.ca_key), load_cert(pki.ca_cert)
    cert_path = provisioned.parent / "keys" / "device.pem"
    old = load_cert(cert_path)
    cert = (
        x509.CertificateBuilder()
        .subject_name(old.subject)
        .issuer_name(ca_cert.subject)
        .public_key(old.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    write_cert(cert_path, cert)


def test_doctor_names_an_expired_certificate(city: City, provisioned: Path) -> None:
    now = dt.datetime.now(dt.timezone.utc)
    reissue(city, provisioned, now - dt.timedelta(days=400), now - dt.timedelta(days=3))
    rc, checks, table = doctor(provisioned)
    print(table)
    assert rc == 1
    assert checks["certificates"]["status"] == "fail"
    assert "device certificate expired on" in checks["certificates"]["detail"]
    assert "provision --reenrol" in checks["certificates"]["fix"]


def test_doctor_names_a_clock_two_days_behind(city: City, provisioned: Path) -> None:
    # A certificate issued two days after what this clock reads: exactly what a device sees whose clock is two
    # days behind the city's.
    now = dt.datetime.now(dt.timezone.utc)
    reissue(city, provisioned, now + dt.timedelta(days=2), now + dt.timedelta(days=800))
    rc, checks, table = doctor(provisioned)
    print(table)
    assert rc == 1
    assert "the clock is behind" in checks["certificates"]["detail"]
    assert "NTP" in checks["certificates"]["fix"] and "fix: set the time" in table


def test_doctor_warns_before_a_certificate_expires(city: City, provisioned: Path) -> None:
    now = dt.datetime.now(dt.timezone.utc)
    reissue(city, provisioned, now - dt.timedelta(days=300), now + dt.timedelta(days=12, hours=1))
    _, checks, table = doctor(provisioned)
    assert checks["certificates"]["status"] == "warn"
    assert "expires in 12 days" in checks["certificates"]["detail"]
    assert "fix: ask the city for a new enrolment bundle" in table  # warnings show their fix too


def test_doctor_names_a_key_that_is_not_the_certificates(provisioned: Path) -> None:
    write_tls_key(provisioned.parent / "keys" / "device_tls.key", new_tls_key(), force=True)
    rc, checks, _ = doctor(provisioned)
    assert rc == 1
    assert "does not belong to the certificate" in checks["certificates"]["detail"]


def test_doctor_names_a_plaintext_port(provisioned: Path, tmp_path: Path) -> None:
    port = free_port()
    plain = subprocess.Popen([find_mosquitto(), "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        data = yaml.safe_load(provisioned.read_text())
        data["uplink"]["port"] = port
        provisioned.write_text(yaml.safe_dump(data, sort_keys=False))
        rc, checks, table = doctor(provisioned)
    finally:
        plain.terminate()
        plain.wait(10)
    print(table)
    assert rc == 1
    assert f"port {port} does not speak TLS" in checks["broker"]["detail"]
    assert "8883" in checks["broker"]["fix"]


def test_camera_and_location_given_at_the_request_step_are_kept_for_the_import(city: City, tmp_path: Path) -> None:
    root = tmp_path / "root"
    boot = root / "boot" / "firmware"
    boot.mkdir(parents=True)
    camera = make_video(tmp_path / "camera.avi")
    first = cli("provision", "--root", str(root), "--non-interactive", "--device-id", "cam-8", "--camera", str(camera),
                "--location", "Elm St northbound", "--no-enable")  # fmt: skip
    assert first.returncode == 0, first.stderr
    bundle = boot / "edge-agent-bundle.json"
    assert city.enroll("cam-8", boot / "edge-agent-request-cam-8.json", bundle).returncode == 0
    second = cli("provision", "--root", str(root), "--non-interactive", "--bundle", str(bundle), "--no-enable",
                 "--no-doctor")  # fmt: skip
    assert second.returncode == 0, second.stderr
    data = yaml.safe_load((root / "etc" / "edge-agent" / "edge-agent.yaml").read_text())
    assert data["device"]["location"] == "Elm St northbound"
    assert data["cameras"][0]["source"] == str(camera)
    assert not (root / "etc" / "edge-agent" / "provision-answers.json").exists()


def _connects(city: City, device_id: str, cert: Path, key: Path) -> bool:
    """Whether the broker lets this certificate in (a CONNACK within 5 s)."""
    try:
        client = TestClient(city.broker, city.dir.local_pki(), Identity(cert, key), f"{device_id}-probe")
    except (OSError, TimeoutError):
        return False
    client.close()
    return True


def test_a_superseded_or_revoked_certificate_no_longer_connects(city: City, tmp_path: Path) -> None:
    from edge_agent.field.enroll import make_request

    old_keys, new_keys = tmp_path / "old", tmp_path / "new"
    first = city.dir.enroll("cam-5", make_request("cam-5", old_keys))
    (old_keys / "device.pem").write_text(str(first.device_cert_pem))
    assert _connects(city, "cam-5", old_keys / "device.pem", old_keys / "device_tls.key")

    # The camera was reset and enrolled again with new keys: the old certificate is superseded.
    second = city.dir.enroll("cam-5", make_request("cam-5", new_keys), replace=True)
    (new_keys / "device.pem").write_text(str(second.device_cert_pem))
    city.broker.stop()
    city.broker.start()  # the broker reads the CRL at start (or reload)
    assert not _connects(city, "cam-5", old_keys / "device.pem", old_keys / "device_tls.key")
    assert _connects(city, "cam-5", new_keys / "device.pem", new_keys / "device_tls.key")

    done = cli("city", "revoke", "cam-5", "--city", str(city.dir.root))
    assert done.returncode == 0, done.stderr
    assert "1 certificate(s) revoked" in done.stdout
    assert not (city.dir.devices_dir / "cam-5.pub").exists()
    city.broker.stop()
    city.broker.start()
    assert not _connects(city, "cam-5", new_keys / "device.pem", new_keys / "device_tls.key")


def test_service_identities_are_not_device_ids() -> None:
    """A device named like a service would get its rights from the broker's ACL (user blocks match the CN)."""
    from edge_agent.errors import InvalidInputError
    from edge_agent.field.enroll import check_device_id

    for name in ("ingest", "ingest-1", "ingest-12", "city", "city-ha", "dispatch", "dispatch-2", "monitor-ha"):
        with pytest.raises(InvalidInputError, match="reserved"):
            check_device_id(name)
    assert check_device_id("cam-ingest-1") == "cam-ingest-1"


def test_city_identity_gives_a_second_monitor_its_own_certificate_and_rights(tmp_path: Path) -> None:
    """Two clients may not share an identity (the broker makes the CN the client id): a second dashboard gets one
    of its own, with the monitor's rights in the ACL."""
    from edge_agent.protocol.crypto.pki import common_name, load_cert

    city_dir = tmp_path / "city"
    assert cli("city", "init", str(city_dir), "--broker-host", "localhost").returncode == 0
    done = cli("city", "identity", "monitor-ha", "--city", str(city_dir))
    assert done.returncode == 0, done.stderr
    assert common_name(load_cert(city_dir / "monitor" / "monitor-ha.pem")) == "monitor-ha"
    acl = (city_dir / "broker" / "acl").read_text()
    block = acl[acl.index("user monitor-ha\n") :].split("\n\n")[0].splitlines()
    assert block == ["user monitor-ha", "topic read alpr/v1/+/status", "topic read homeassistant/#"]
    assert "user ingest-4\n" in acl and "user city-ha\n" in acl
    again = cli("city", "identity", "monitor-ha", "--city", str(city_dir))
    assert again.returncode == 2 and "exists already" in again.stderr
    wrong = cli("city", "identity", "cam-9", "--city", str(city_dir))
    assert wrong.returncode == 2 and "name it after its role" in wrong.stderr


def test_device_certificates_live_a_year_at_most(city: City, tmp_path: Path) -> None:
    """A stolen device key stops working within about a year even if nobody revokes it."""
    from cryptography import x509

    from edge_agent.errors import InvalidInputError
    from edge_agent.field.enroll import make_request

    def lifetime(bundle_cert: str) -> float:
        cert = x509.load_pem_x509_certificate(bundle_cert.encode())
        return (cert.not_valid_after_utc - cert.not_valid_before_utc).total_seconds() / 86400

    default = city.dir.enroll("cam-7", make_request("cam-7", tmp_path / "a"))
    assert 396 < lifetime(str(default.device_cert_pem)) < 398
    short = city.dir.enroll("cam-7", make_request("cam-7", tmp_path / "b"), replace=True, days=90)
    assert 89 < lifetime(str(short.device_cert_pem)) < 91
    with pytest.raises(InvalidInputError, match="1 to 397 days"):
        city.dir.enroll("cam-7", make_request("cam-7", tmp_path / "c"), replace=True, days=825)


def test_doctor_leaves_a_running_daemons_session_alone(city: City, provisioned: Path) -> None:
    """The broker makes the certificate's CN the client id, so doctor connecting over MQTT with the device's
    certificate would throw the running daemon off and wipe its session: with the daemon up it stops at TLS."""
    from edge_agent.device.agent import hold_instance_lock

    state = Path(yaml.safe_load(provisioned.read_text())["device"]["state_dir"])
    lock = hold_instance_lock(state / "spool.db")  # what a running daemon holds
    pki = city.dir.local_pki()
    assert pki.monitor is not None
    watcher = TestClient(city.broker, pki, pki.monitor, "watcher")
    try:
        watcher.subscribe_wait("alpr/v1/cam-7/status")
        done = cli("doctor", "--config", str(provisioned), "--json", "--camera-seconds", "1", "--skip", "camera")
        broker = {c["name"]: c for c in json.loads(done.stdout)["checks"]}["broker"]
        assert broker["status"] == "pass" and "the MQTT check is the running daemon's" in broker["detail"]
        assert not watcher.wait_messages(1, timeout=1.0)  # doctor published nothing as cam-7
    finally:
        watcher.close()
        lock.close()


def test_city_renew_gives_the_broker_and_services_new_certificates_from_the_same_keys(tmp_path: Path) -> None:
    """Service certificates live 397 days like a device's: the city renews them before the broker's lapses and
    every camera falls off."""
    from cryptography import x509

    from edge_agent.protocol.crypto.pki import key_matches_cert, load_cert

    city_dir = tmp_path / "city"
    init = cli("city", "init", str(city_dir), "--broker-host", "mqtt.city.example", "--broker-host", "10.0.0.5")
    assert init.returncode == 0, init.stderr
    before = {p: load_cert(p).serial_number for p in city_dir.glob("*/*.pem") if p.parent.name != "ca"}
    done = cli("city", "renew", "--city", str(city_dir))
    assert done.returncode == 0, done.stderr
    assert "renewed 9 certificate(s)" in done.stdout  # broker, ingest-1..4, city, city-ha, dispatch, monitor
    for pem, serial in before.items():
        assert load_cert(pem).serial_number != serial, pem
        assert key_matches_cert(pem.with_suffix(".key"), pem), pem
    broker = load_cert(city_dir / "broker" / "broker.pem")
    san = broker.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["mqtt.city.example"]
    assert [str(a) for a in san.get_values_for_type(x509.IPAddress)] == ["10.0.0.5"]
