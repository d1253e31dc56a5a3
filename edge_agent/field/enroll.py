"""Enrolment: how a device gets its identity from the city without its private keys ever leaving it.

1. The device makes its keys (Ed25519 signing key, P-256 TLS key) and an enrolment *request*: a CSR for its TLS
   certificate (CN = device id) plus its signing public key. Only public material leaves the device.
2. The city (`edge-agent city enroll`) checks the request, signs the CSR with its device CA, registers the signing
   key with the ingest (`devices/<id>.pub`), and returns a *bundle*: the certificate, the CA, the broker address,
   the city's HPKE key and the ingest's receipt key(s).
3. The device (`edge-agent provision --bundle`) checks that the certificate is for its own key and chains to the
   CA, then stores the public material next to its keys.

A *site bundle* (`city enroll` without a request) carries everything but the certificate; a device provisioned
with it makes its keys and writes the request, e.g. back onto the SD card's boot partition on first boot.
Requests and bundles are JSON files (docs/field-guide.md).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import pwd
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from pydantic import ValidationError

from edge_agent.config import DEVICE_ID_RE, UplinkConfig
from edge_agent.errors import InvalidInputError, KeyFileError
from edge_agent.local.localbroker import ROLE_BLOCKS, render_acl
from edge_agent.protocol.crypto import keys
from edge_agent.protocol.crypto.pki import (
    CERT_DAYS,
    Identity,
    LocalPKI,
    cert_pem,
    common_name,
    load_cert,
    load_tls_key,
    make_csr,
    sign_csr,
)

REQUEST_TYPE = "edge-agent-enrolment-request"
BUNDLE_TYPE = "edge-agent-enrolment-bundle"
# MQTT identities that are not devices (see the ACL), and the first level of the discovery topics.
RESERVED_IDS = {"ingest", "admin", "city", "broker", "monitor", "dispatch", "homeassistant"}
# Every city-side connection has an identity of its own (the broker makes the CN the client id): ingest-1,
# ingest-2, ... and further ones per role (`city identity`: city-*, dispatch-*, monitor-*). No device may be
# named like one, or the broker's ACL would give it that role's rights.
RESERVED_ID_RE = re.compile(r"^(ingest|city|dispatch|monitor)-[a-z0-9-]+$")
SERVICE_ROLES = tuple(ROLE_BLOCKS)
DEFAULT_INGEST_WORKERS = 4


def check_device_id(device_id: str) -> str:
    """A valid, non-reserved device id, or InvalidInputError saying what is allowed."""
    if not re.match(DEVICE_ID_RE, device_id or ""):
        raise InvalidInputError(
            f"device id {device_id!r} is not valid: use up to 63 lower-case letters, digits and '-', "
            "starting with a letter or digit"
        )
    if device_id in RESERVED_IDS or RESERVED_ID_RE.match(device_id):
        raise InvalidInputError(f"device id {device_id!r} is reserved for the city's own services: choose another")
    return device_id


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _load_json(path: Path, kind: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise InvalidInputError(f"{kind} {path} not found") from None
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"{path} is not a readable {kind} ({exc})") from None
    if not isinstance(data, dict):
        raise InvalidInputError(f"{path} is not an edge-agent {kind}")
    return data


# --- request (device -> city) ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """What a device sends to be enrolled: public material only."""

    device_id: str
    csr: x509.CertificateSigningRequest
    signing_key: Ed25519PublicKey

    def to_json(self) -> str:
        """The request file's content."""
        return json.dumps(
            {
                "type": REQUEST_TYPE,
                "v": 1,
                "device_id": self.device_id,
                "csr_pem": self.csr.public_bytes(serialization.Encoding.PEM).decode(),
                "signing_key_pem": keys.public_pem(self.signing_key).decode(),
                "signing_key_id": keys.key_id(self.signing_key).hex(),
                "created": _now(),
            },
            indent=2,
        )

    @classmethod
    def load(cls, path: Path) -> Request:
        """Parse and check a request file."""
        data = _load_json(path, "enrolment request")
        if data.get("type") != REQUEST_TYPE:
            raise InvalidInputError(f"{path} is not an enrolment request (type {data.get('type')!r})")
        try:
            csr = x509.load_pem_x509_csr(data["csr_pem"].encode())
            signing = serialization.load_pem_public_key(data["signing_key_pem"].encode())
        except (KeyError, ValueError, AttributeError) as exc:
            raise InvalidInputError(f"{path}: the request's keys do not parse ({exc})") from None
        if not isinstance(signing, Ed25519PublicKey):
            raise InvalidInputError(f"{path}: the signing key must be Ed25519")
        return cls(check_device_id(str(data.get("device_id", ""))), csr, signing)


def make_request(device_id: str, keys_dir: Path) -> Request:
    """Make (or reuse) this device's keys in `keys_dir` and build its enrolment request."""
    check_device_id(device_id)
    signing_path = keys_dir / "device_ed25519.key"
    tls_path = keys_dir / "device_tls.key"
    if not signing_path.exists():
        keys.write_private_key(signing_path, keys.new_private_key(keys.KeyKind.DEVICE))
    if not tls_path.exists():
        from edge_agent.protocol.crypto.pki import new_tls_key, write_tls_key

        write_tls_key(tls_path, new_tls_key())
    signing = keys.load_signing_key(signing_path)
    tls = load_tls_key(tls_path)
    return Request(device_id, make_csr(tls, device_id), signing.public_key())


# --- bundle (city -> device) ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bundle:
    """What the city gives a device: where the broker is, whom to trust, and (once enrolled) its certificate."""

    device_id: str
    broker_host: str
    broker_port: int
    topic_prefix: str
    ca_pem: str
    city_key_pem: str
    receipt_keys_pem: list[str]
    device_cert_pem: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        """The bundle file's content."""
        city_key = serialization.load_pem_public_key(self.city_key_pem.encode())
        assert isinstance(city_key, X25519PublicKey)
        return json.dumps(
            {
                "type": BUNDLE_TYPE,
                "v": 1,
                "device_id": self.device_id,
                "broker": {"host": self.broker_host, "port": self.broker_port},
                "topic_prefix": self.topic_prefix,
                "ca_pem": self.ca_pem,
                "device_cert_pem": self.device_cert_pem,
                "city_key_pem": self.city_key_pem,
                "city_key_id": keys.key_id(city_key).hex(),
                "receipt_keys_pem": self.receipt_keys_pem,
                "issued": _now(),
            },
            indent=2,
        )

    @classmethod
    def load(cls, path: Path) -> Bundle:
        """Parse a bundle file."""
        data = _load_json(path, "enrolment bundle")
        if data.get("type") != BUNDLE_TYPE:
            raise InvalidInputError(f"{path} is not an enrolment bundle (type {data.get('type')!r})")
        try:
            bundle = cls(
                device_id=check_device_id(str(data["device_id"])),
                broker_host=str(data["broker"]["host"]),
                broker_port=int(data["broker"]["port"]),
                topic_prefix=str(data.get("topic_prefix", "alpr")),
                ca_pem=str(data["ca_pem"]),
                city_key_pem=str(data["city_key_pem"]),
                receipt_keys_pem=[str(k) for k in data["receipt_keys_pem"]],
                device_cert_pem=data.get("device_cert_pem"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInputError(f"{path}: the bundle is incomplete ({exc})") from None
        bundle.check(path)
        return bundle

    def check(self, path: Path) -> None:
        """Everything a camera would be configured with must be valid before anything is written.

        A bundle with a broken key or a topic prefix of "#" used to import, overwrite a working config and be
        deleted, leaving a camera that could not start. InvalidInputError names the field.
        """
        try:
            UplinkConfig.model_validate(
                {"host": self.broker_host, "port": self.broker_port, "topic_prefix": self.topic_prefix}
            )
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            raise InvalidInputError(f"{path}: {where} {err['input']!r} is not valid ({err['msg']})") from None
        checks: list[tuple[str, str, type | None]] = [
            ("ca_pem", self.ca_pem, None),
            ("city_key_pem", self.city_key_pem, X25519PublicKey),
            *((f"receipt_keys_pem[{i}]", pem, Ed25519PublicKey) for i, pem in enumerate(self.receipt_keys_pem)),
        ]
        if self.device_cert_pem:
            checks.append(("device_cert_pem", self.device_cert_pem, None))
        if not self.receipt_keys_pem:
            raise InvalidInputError(f"{path}: receipt_keys_pem is empty: the city's bundle must carry its receipt key")
        for name, pem, kind in checks:
            try:
                if kind is None:
                    x509.load_pem_x509_certificate(pem.encode())
                elif not isinstance(serialization.load_pem_public_key(pem.encode()), kind):
                    raise ValueError(f"not an {kind.__name__.removesuffix('PublicKey')} public key")
            except ValueError as exc:
                raise InvalidInputError(
                    f"{path}: {name} does not parse ({exc}): ask the city for a new bundle"
                ) from None

    @property
    def has_certificate(self) -> bool:
        """False for a site bundle (the device still has to be enrolled)."""
        return bool(self.device_cert_pem)


def verify_bundle_for(bundle: Bundle, tls_key_path: Path) -> x509.Certificate:
    """The bundle's certificate, checked: issued by its CA, for this device id, for the key in `tls_key_path`."""
    if not bundle.device_cert_pem:
        raise InvalidInputError("the bundle carries no certificate yet: enrol the device's request first")
    try:
        cert = x509.load_pem_x509_certificate(bundle.device_cert_pem.encode())
        ca = x509.load_pem_x509_certificate(bundle.ca_pem.encode())
    except ValueError as exc:
        raise InvalidInputError(f"the bundle's certificates do not parse ({exc})") from None
    if common_name(cert) != bundle.device_id:
        raise InvalidInputError(f"the certificate is for {common_name(cert)!r}, not {bundle.device_id!r}")
    ca_key = ca.public_key()
    try:
        assert isinstance(ca_key, ec.EllipticCurvePublicKey)
        ca_key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))  # type: ignore[arg-type]
    except (InvalidSignature, AssertionError):
        raise InvalidInputError("the certificate in the bundle was not issued by the bundle's CA") from None
    mine = load_tls_key(tls_key_path).public_key().public_numbers()
    if cert.public_key().public_numbers() != mine:  # type: ignore[union-attr]
        raise InvalidInputError(
            "the bundle's certificate is for another key than this device's: was it made from this device's request?"
        )
    return cert


# --- the city side --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CityDir:
    """The city's enrolment material (made by `edge-agent city init`)."""

    root: Path

    @property
    def settings(self) -> dict[str, Any]:
        """city.json: broker address and topic prefix."""
        return _load_json(self.root / "city.json", "city settings")

    @property
    def devices_dir(self) -> Path:
        """The ingest's registry of enrolled devices."""
        return self.root / "devices"

    def local_pki(self) -> LocalPKI:
        """The city's CA and service identities in the shape a local broker (tests, the demo) takes."""
        return LocalPKI(
            self.root / "ca",
            self.root / "ca" / "ca.pem",
            self.root / "ca" / "ca.key",
            Identity(self.root / "broker" / "broker.pem", self.root / "broker" / "broker.key"),
            self.service_identity("ingest", "ingest-1"),
            {},
            Identity(self.root / "monitor" / "monitor.pem", self.root / "monitor" / "monitor.key"),
        )

    def service_identity(self, folder: str, name: str) -> Identity:
        """A city service's certificate and key (``folder/name.pem``); cities made before every connection had an
        identity of its own have one ``ingest/ingest.pem`` for all of them."""
        identity = Identity(self.root / folder / f"{name}.pem", self.root / folder / f"{name}.key")
        if identity.cert.is_file():
            return identity
        return Identity(self.root / "ingest" / "ingest.pem", self.root / "ingest" / "ingest.key")

    def bundle(self, device_id: str, cert: x509.Certificate | None = None) -> Bundle:
        """A bundle for `device_id`, with its certificate when given."""
        settings = self.settings
        receipt_pems = [p.read_text() for p in sorted((self.root / "keys").glob("receipt_ed25519*.pub"))]
        return Bundle(
            device_id=device_id,
            broker_host=settings["broker"]["host"],
            broker_port=int(settings["broker"]["port"]),
            topic_prefix=settings.get("topic_prefix", "alpr"),
            ca_pem=(self.root / "ca" / "ca.pem").read_text(),
            city_key_pem=(self.root / "keys" / "city_x25519.pub").read_text(),
            receipt_keys_pem=receipt_pems,
            device_cert_pem=cert_pem(cert).decode() if cert is not None else None,
        )

    def enroll(self, device_id: str, request: Request | None, replace: bool = False, days: int = CERT_DAYS) -> Bundle:
        """Sign the request's CSR, register its signing key, and return the bundle (a site bundle without one)."""
        check_device_id(device_id)
        if request is None:
            return self.bundle(device_id)
        if request.device_id != device_id:
            raise InvalidInputError(f"the request is from device {request.device_id!r}, not {device_id!r}")
        if common_name(request.csr) != device_id:
            raise InvalidInputError(f"the request's CSR names {common_name(request.csr)!r}, not {device_id!r}")
        if not request.csr.is_signature_valid:
            raise InvalidInputError("the request's CSR signature does not verify: ask the device for a new request")
        registered = self.devices_dir / f"{device_id}.pub"
        if registered.exists() and not replace:
            current = keys.load_verify_key(registered)
            if keys.key_id(current) != keys.key_id(request.signing_key):
                raise InvalidInputError(
                    f"device {device_id} is already enrolled with another signing key: "
                    "pass --replace to re-enrol it (the old key stops being accepted)"
                )
        ca_key = load_tls_key(self.root / "ca" / "ca.key")
        ca_cert = load_cert(self.root / "ca" / "ca.pem")
        if not 1 <= days <= CERT_DAYS:
            raise InvalidInputError(f"a device certificate lives 1 to {CERT_DAYS} days, not {days}")
        cert = sign_csr(ca_key, ca_cert, request.csr, days=days)
        keys.write_public_key(registered, request.signing_key, force=True)
        issued = self.root / "issued"
        issued.mkdir(exist_ok=True)
        (issued / f"{device_id}-{cert.serial_number:x}.pem").write_bytes(cert_pem(cert))
        # The new certificate supersedes every earlier one of this device: those stop connecting.
        self.revoke(device_id, keep=cert.serial_number, unregister=False)
        return self.bundle(device_id, cert)

    def add_identity(self, name: str) -> Identity:
        """Issue one more city-side identity (a second monitor, dispatch console, tool or ingest worker) and give
        it its role's block in broker/acl; the role is the name's first part (``monitor-ha``: monitor). The broker
        makes the certificate's CN the client id, so two clients must never share one identity."""
        from edge_agent.paths import package_data_dir
        from edge_agent.protocol.crypto.pki import issue as issue_cert
        from edge_agent.protocol.crypto.pki import write_cert, write_tls_key

        role = name.split("-", 1)[0]
        if role not in SERVICE_ROLES or not RESERVED_ID_RE.match(name):
            raise InvalidInputError(
                f"identity {name!r}: name it after its role, e.g. monitor-ha, dispatch-2, city-tools, ingest-5"
            )
        settings = self.settings
        workers = int(settings.get("ingest_workers", 1))
        more: dict[str, str] = dict(settings.get("identities", {}))
        if name in more or (role == "ingest" and name in {f"ingest-{n}" for n in range(1, workers + 1)}):
            raise InvalidInputError(f"identity {name!r} exists already in {self.root}")
        if (self.devices_dir / f"{name}.pub").exists():
            raise InvalidInputError(f"{name!r} is an enrolled device's id: choose another name")
        ca_key, ca_cert = load_tls_key(self.root / "ca" / "ca.key"), load_cert(self.root / "ca" / "ca.pem")
        key, cert = issue_cert(ca_key, ca_cert, name)
        identity = Identity(self.root / role / f"{name}.pem", self.root / role / f"{name}.key")
        write_tls_key(identity.key, key)
        write_cert(identity.cert, cert)
        more[name] = role
        settings["identities"] = more
        (self.root / "city.json").write_text(json.dumps(settings, indent=2) + "\n")
        template = (package_data_dir("_broker", "docs/mosquitto") / "acl").read_text()
        acl = self.root / "broker" / "acl"
        acl.write_text(render_acl(template, str(settings.get("topic_prefix", "alpr")), workers, more))
        return identity

    def renew_services(self) -> list[str]:
        """New certificates, from the same keys, for the broker and every city-side identity (they live 397 days,
        like a device's); the broker's keeps its names. Returns what was renewed."""
        from cryptography import x509

        from edge_agent.protocol.crypto.pki import write_cert

        ca_key, ca_cert = load_tls_key(self.root / "ca" / "ca.key"), load_cert(self.root / "ca" / "ca.pem")
        renewed = []
        pems = [self.root / "broker" / "broker.pem"]
        for role in SERVICE_ROLES:
            pems += sorted((self.root / role).glob("*.pem"))
        for pem in pems:
            old = load_cert(pem)
            key = load_tls_key(pem.with_suffix(".key"))
            server = pem.parent.name == "broker"
            dns: list[str] = []
            ips: list[str] = []
            if server:
                san = old.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
                dns = san.get_values_for_type(x509.DNSName)
                ips = [str(a) for a in san.get_values_for_type(x509.IPAddress)]
            cert = sign_csr(
                ca_key, ca_cert, make_csr(key, common_name(old)), server=server, dns_names=dns, ip_addresses=ips
            )
            write_cert(pem, cert)
            renewed.append(common_name(old))
        return renewed

    def revoke(self, device_id: str, keep: int | None = None, unregister: bool = True) -> list[int]:
        """Revoke every certificate issued to `device_id` (but `keep`); returns the serials newly revoked.

        The CA's CRL (`ca/crl.pem`, which the broker reads) is written again with every serial revoked so far
        (`ca/revoked.json`). With `unregister` the device's signing key leaves the ingest's registry too, so reads
        it still sends are refused. The broker applies a new CRL when it is reloaded or restarted.
        """
        from edge_agent.protocol.crypto.pki import make_crl, write_crl

        check_device_id(device_id)
        record = self.root / "ca" / "revoked.json"
        revoked: dict[str, str] = json.loads(record.read_text()) if record.exists() else {}
        fresh = []
        for path in sorted((self.root / "issued").glob(f"{device_id}-*.pem")):
            serial = int(path.stem.rsplit("-", 1)[1], 16)
            if serial != keep and f"{serial:x}" not in revoked:
                revoked[f"{serial:x}"] = device_id
                fresh.append(serial)
        if unregister:
            for key in self.devices_dir.glob(f"{device_id}.*pub"):
                key.unlink()
        if fresh or not (self.root / "ca" / "crl.pem").exists():
            ca_key = load_tls_key(self.root / "ca" / "ca.key")
            ca_cert = load_cert(self.root / "ca" / "ca.pem")
            write_crl(self.root / "ca" / "crl.pem", make_crl(ca_key, ca_cert, (int(s, 16) for s in revoked)))
            record.write_text(json.dumps(revoked, indent=1, sort_keys=True) + "\n")
        return fresh


def city_init(
    root: Path,
    broker_host: str,
    broker_port: int = 8883,
    topic_prefix: str = "alpr",
    more_names: Sequence[str] = (),
    broker_user: str = "mosquitto",
    ingest_workers: int = DEFAULT_INGEST_WORKERS,
) -> CityDir:
    """Create a city: device CA, HPKE and receipt keys, broker, ingest and monitor certificates, and a broker
    configuration ready to start (``broker/mosquitto.conf`` and ``broker/acl``, nothing left to fill in).

    ``broker_host`` is the name devices are told to connect to; ``more_names`` are further names or addresses the
    broker's certificate also carries (a LAN address, an internal name). When run as root and ``broker_user``
    exists (Debian's package runs mosquitto as ``mosquitto``), the broker's key and directory are given to that
    user's group so mosquitto can read them after dropping its privileges.

    Every connection has an identity of its own, because the broker makes the certificate's CN the client id:
    ``ingest_workers`` ingest identities (ingest-1 ... ingest-N), ``city`` (the records service's alerts and
    `city ha-discovery`), ``dispatch`` (reads the confirmed alerts) and ``monitor`` (reads status).
    """
    if ingest_workers < 1:
        raise InvalidInputError("a city needs at least one ingest worker (--ingest-workers)")
    from edge_agent.protocol.crypto.pki import issue as issue_cert
    from edge_agent.protocol.crypto.pki import make_ca, make_crl, write_cert, write_crl, write_tls_key

    if (root / "city.json").exists():
        raise KeyFileError(f"{root} already holds a city (city.json): refusing to overwrite its CA and keys")
    root.mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert = make_ca("edge-agent city device CA")
    write_tls_key(root / "ca" / "ca.key", ca_key)
    write_cert(root / "ca" / "ca.pem", ca_cert)
    write_crl(root / "ca" / "crl.pem", make_crl(ca_key, ca_cert, []))
    keys.generate(keys.KeyKind.CITY, root / "keys")
    keys.generate(keys.KeyKind.RECEIPT, root / "keys")
    names = list(dict.fromkeys([broker_host, *more_names]))
    ips = [n for n in names if _is_ip(n)]
    broker_key, broker_cert = issue_cert(
        ca_key, ca_cert, broker_host, server=True, dns_names=[n for n in names if n not in ips], ip_addresses=ips
    )
    write_tls_key(root / "broker" / "broker.key", broker_key)
    write_cert(root / "broker" / "broker.pem", broker_cert)
    services = [("ingest", f"ingest-{n}") for n in range(1, ingest_workers + 1)]
    services += [(name, name) for name in ("city", "dispatch", "monitor")] + [("city", "city-ha")]
    for folder, service in services:
        key, cert = issue_cert(ca_key, ca_cert, service)
        write_tls_key(root / folder / f"{service}.key", key)
        write_cert(root / folder / f"{service}.pem", cert)
    (root / "devices").mkdir(exist_ok=True)
    settings = {
        "broker": {"host": broker_host, "port": broker_port},
        "topic_prefix": topic_prefix,
        "ingest_workers": ingest_workers,
        "identities": {"city-ha": "city"},
    }
    (root / "city.json").write_text(json.dumps(settings, indent=2) + "\n")
    (root / "ingest.yaml").write_text(ingest_yaml(broker_host, broker_port, topic_prefix))
    _broker_config(root, broker_port, topic_prefix, broker_user, ingest_workers, {"city-ha": "city"})
    return CityDir(root)


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _broker_config(root: Path, port: int, prefix: str, run_as: str, ingest_workers: int, more: dict[str, str]) -> None:
    """broker/mosquitto.conf and broker/acl from the shipped templates, every placeholder filled."""
    from string import Template

    from edge_agent.paths import package_data_dir

    templates = package_data_dir("_broker", "docs/mosquitto")
    broker = root / "broker"
    (broker / "data").mkdir(parents=True, exist_ok=True)
    (broker / "acl").write_text(render_acl((templates / "acl").read_text(), prefix, ingest_workers, more))
    conf = Template((templates / "mosquitto.conf").read_text()).substitute(
        acl_file=(broker / "acl").resolve(),
        persistence_dir=(broker / "data").resolve(),
        autosave_interval=60,
        log_dest="stderr",
        port=port,
        bind_address="",
        ca_file=(root / "ca" / "ca.pem").resolve(),
        crl_file=(root / "ca" / "crl.pem").resolve(),
        cert_file=(broker / "broker.pem").resolve(),
        key_file=(broker / "broker.key").resolve(),
        tls_version="tlsv1.2",
        run_as=run_as,
    )
    header = f"# Written by `edge-agent city init` for the city in {root.resolve()}: ready to use as it is.\n"
    (broker / "mosquitto.conf").write_text(header + conf)
    if os.geteuid() == 0:
        try:
            account = pwd.getpwnam(run_as)
        except KeyError:
            return
        # mosquitto reads its key and files after dropping to `run_as`: the key 0640 root:<its group>, the data
        # directory its own. The CA's private key and the other services' keys stay root's alone.
        for path in (broker, broker / "broker.key", broker / "broker.pem", broker / "acl", broker / "mosquitto.conf"):
            os.chown(path, 0, account.pw_gid)
        (broker / "broker.key").chmod(0o640)
        broker.chmod(0o750)
        os.chown(broker / "data", account.pw_uid, account.pw_gid)
        for parent in (root, root / "ca"):
            parent.chmod(parent.stat().st_mode | 0o011)  # traversable, not listable, by mosquitto


def ingest_yaml(broker_host: str, broker_port: int, topic_prefix: str) -> str:
    """A reference-ingest config for a city directory (paths relative to it)."""
    return f"""# Reference ingest for this city (written by `edge-agent city init`; paths are relative to this file).
# Run: edge-agent ingest --config ingest.yaml
version: 1
ingest:
  broker:
    host: {broker_host}
    port: {broker_port}
    client_id: ingest-1
    # Worker 1's identity. Each worker needs its own (ingest/ingest-N.pem and .key): the broker makes the
    # certificate's CN the client id. Under systemd, edge-agent-ingest@N hands worker N its certificate and key
    # as credentials (see docs/field-guide.md).
    tls: {{ca: ca/ca.pem, cert: ingest/ingest-1.pem, key: ingest/ingest-1.key}}
  topic_prefix: {topic_prefix}
  recipient_keys: [keys/city_x25519.key]
  receipt_key: keys/receipt_ed25519.key
  devices_dir: devices
  store: {{kind: sqlite, path: reads.db}}
  # Home Assistant discovery for each camera's status, announced when its first status arrives (retained; the
  # monitor identity reads it). Set to false where no Home Assistant watches this broker.
  homeassistant: true
"""
