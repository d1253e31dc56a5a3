"""X.509 for the MQTT transport: the city's device CA, broker and client certificates, CSRs.

TLS keys are ECDSA P-256: every MQTT broker and TLS stack in the field accepts them (Ed25519 certificates are
not universally supported by brokers yet). The certificate CN is the MQTT identity: mosquitto's
`use_identity_as_username` makes it the user name its ACL patterns (`%u`) see, so the CN of a device certificate
is its device id.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from edge_agent.errors import KeyFileError
from edge_agent.protocol.crypto.keys import write_file_atomic

TLSKey = ec.EllipticCurvePrivateKey


def new_tls_key() -> TLSKey:
    """A fresh P-256 key for a TLS certificate."""
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str, org: str = "edge-agent") -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


# Device, service and broker certificates: 397 days, the longest lifetime public TLS allows, so that a stolen
# key stops working within about a year even if nobody revokes it. Devices renew by re-enrolment (a new request
# from the same keys, `city enroll`, the bundle imported); doctor warns 30 days ahead and the status message
# carries the days left. The broker and the city's services renew with `city renew`. The CA lives ten years.
CERT_DAYS = 397


def make_ca(common_name: str = "edge-agent city device CA", days: int = 3650) -> tuple[TLSKey, x509.Certificate]:
    """A self-signed CA that signs broker, ingest and device certificates."""
    key = new_tls_key()
    name = _name(common_name)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - dt.timedelta(minutes=5))
        .not_valid_after(_now() + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def make_csr(key: TLSKey, common_name: str) -> x509.CertificateSigningRequest:
    """A CSR for `common_name` (a device id, or `ingest`); the private key stays with the caller."""
    return x509.CertificateSigningRequestBuilder().subject_name(_name(common_name)).sign(key, hashes.SHA256())


def sign_csr(
    ca_key: TLSKey,
    ca_cert: x509.Certificate,
    csr: x509.CertificateSigningRequest,
    *,
    server: bool = False,
    dns_names: Sequence[str] = (),
    ip_addresses: Sequence[str] = (),
    days: int = CERT_DAYS,
) -> x509.Certificate:
    """Sign a CSR as a client certificate (devices, ingest) or a server certificate (brokers)."""
    if not csr.is_signature_valid:
        raise KeyFileError("the certificate request's signature does not verify: ask the device for a new CSR")
    cns = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(cns) != 1:
        raise KeyFileError("the certificate request must carry exactly one common name")
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(str(cns[0].value)))
        .issuer_name(ca_cert.subject)
        .public_key(csr.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - dt.timedelta(minutes=5))
        .not_valid_after(_now() + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    alt_names: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
    alt_names += [x509.IPAddress(ipaddress.ip_address(a)) for a in ip_addresses]
    if alt_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def issue(
    ca_key: TLSKey,
    ca_cert: x509.Certificate,
    common_name: str,
    *,
    server: bool = False,
    dns_names: Sequence[str] = (),
    ip_addresses: Sequence[str] = (),
) -> tuple[TLSKey, x509.Certificate]:
    """Key and certificate in one step (for brokers and tests; devices use a CSR so keys stay on them)."""
    key = new_tls_key()
    cert = sign_csr(
        ca_key,
        ca_cert,
        make_csr(key, common_name),
        server=server,
        dns_names=dns_names,
        ip_addresses=ip_addresses,
    )
    return key, cert


def cert_pem(cert: x509.Certificate) -> bytes:
    """PEM of a certificate."""
    return cert.public_bytes(serialization.Encoding.PEM)


def tls_key_pem(key: TLSKey) -> bytes:
    """PKCS#8 PEM of a TLS private key."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def write_cert(path: Path, cert: x509.Certificate, force: bool = True) -> None:
    """Write a certificate (public), mode 0644."""
    write_file_atomic(path, cert_pem(cert), 0o644, force)


def write_tls_key(path: Path, key: TLSKey, force: bool = False) -> None:
    """Write a TLS private key, mode 0600."""
    write_file_atomic(path, tls_key_pem(key), 0o600, force)


def load_cert(path: Path) -> x509.Certificate:
    """Load a PEM certificate with a one-line error."""
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except FileNotFoundError:
        raise KeyFileError(f"certificate {path} not found") from None
    except ValueError as exc:
        raise KeyFileError(f"{path} is not a PEM certificate ({exc})") from None


def load_tls_key(path: Path) -> TLSKey:
    """Load a PEM P-256 private key with a one-line error."""
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        raise KeyFileError(f"key {path} not found") from None
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"{path} is not an unencrypted PEM private key ({exc})") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise KeyFileError(f"{path} is not an EC key; TLS keys of edge-agent are ECDSA P-256")
    return key


def common_name(cert: x509.Certificate | x509.CertificateSigningRequest) -> str:
    """The CN of a certificate's (or a signing request's) subject."""
    attrs = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else ""


@dataclass(frozen=True)
class Identity:
    """Paths of one TLS identity: certificate and private key."""

    cert: Path
    key: Path


@dataclass(frozen=True)
class LocalPKI:
    """A complete throw-away PKI for a local broker: CA, broker, ingest and device identities."""

    root: Path
    ca_cert: Path
    ca_key: Path
    broker: Identity
    ingest: Identity
    devices: dict[str, Identity]
    monitor: Identity | None = None  # read-only: status topics and Home Assistant discovery configs

    def device(self, device_id: str) -> Identity:
        """The identity of one device, issuing it on first use."""
        if device_id not in self.devices:
            ca_key, ca_cert = load_tls_key(self.ca_key), load_cert(self.ca_cert)
            self.devices[device_id] = _issue_to(self.root / "devices", device_id, ca_key, ca_cert)
        return self.devices[device_id]

    def service(self, name: str) -> Identity:
        """A city-side identity (`ingest-2`, `city`, `dispatch`...), issuing it on first use. The broker makes
        each connection's client id its certificate's CN, so every concurrent connection needs its own."""
        identity = Identity(self.root / f"{name}.pem", self.root / f"{name}.key")
        if not identity.cert.is_file():
            _issue_to(self.root, name, load_tls_key(self.ca_key), load_cert(self.ca_cert))
        return identity


def _issue_to(
    directory: Path, name: str, ca_key: TLSKey, ca_cert: x509.Certificate, *, server: bool = False
) -> Identity:
    directory.mkdir(parents=True, exist_ok=True)
    dns = ["localhost"] if server else []
    ips = ["127.0.0.1", "::1"] if server else []
    key, cert = issue(ca_key, ca_cert, name, server=server, dns_names=dns, ip_addresses=ips)
    identity = Identity(directory / f"{name}.pem", directory / f"{name}.key")
    write_cert(identity.cert, cert)
    write_tls_key(identity.key, key, force=True)
    return identity


def mint_local_pki(root: Path, device_ids: Sequence[str] = (), ingest_name: str = "ingest-1") -> LocalPKI:
    """Mint a CA, a localhost broker certificate, an ingest certificate and device certificates under `root`."""
    root.mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert = make_ca("edge-agent local CA")
    write_cert(root / "ca.pem", ca_cert)
    write_tls_key(root / "ca.key", ca_key, force=True)
    broker = _issue_to(root, "broker", ca_key, ca_cert, server=True)
    ingest = _issue_to(root, ingest_name, ca_key, ca_cert)
    monitor = _issue_to(root, "monitor", ca_key, ca_cert)
    devices = {d: _issue_to(root / "devices", d, ca_key, ca_cert) for d in device_ids}
    return LocalPKI(root, root / "ca.pem", root / "ca.key", broker, ingest, devices, monitor)


@dataclass(frozen=True)
class CertFacts:
    """What a technician needs to know about a certificate at a given time."""

    subject: str
    not_before: dt.datetime
    not_after: dt.datetime
    now: dt.datetime

    @property
    def days_left(self) -> int:
        """Whole days until it expires (negative once expired)."""
        return (self.not_after - self.now).days

    @property
    def not_yet_valid(self) -> bool:
        """True when this clock reads a time before the certificate's start (the clock is behind)."""
        return self.now < self.not_before

    @property
    def expired(self) -> bool:
        """True when this clock reads a time after the certificate's end."""
        return self.now > self.not_after


def cert_facts(path: Path, now: dt.datetime | None = None) -> CertFacts:
    """Validity of the certificate in `path` against `now` (default: this machine's clock)."""
    cert = load_cert(path)
    return CertFacts(common_name(cert), cert.not_valid_before_utc, cert.not_valid_after_utc, now or _now())


def key_matches_cert(key_path: Path, cert_path: Path) -> bool:
    """True when the private key in `key_path` is the one the certificate in `cert_path` was issued for."""
    key = load_tls_key(key_path)
    cert = load_cert(cert_path)
    raw = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return bool(key.public_key().public_bytes(*raw) == cert.public_key().public_bytes(*raw))


def make_crl(
    ca_key: TLSKey, ca_cert: x509.Certificate, serials: Iterable[int], now: dt.datetime | None = None
) -> x509.CertificateRevocationList:
    """A CRL of the CA naming `serials` as revoked.

    It is valid until the CA itself expires: OpenSSL (and so the broker) refuses every client once a CRL's
    next-update has passed, so a short-lived CRL that nobody renewed would lock out the whole fleet.
    """
    now = now or _now()
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(now)
        .next_update(ca_cert.not_valid_after_utc)
    )
    for serial in sorted(set(serials)):
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(now).build()
        )
    return builder.sign(ca_key, hashes.SHA256())


def write_crl(path: Path, crl: x509.CertificateRevocationList) -> None:
    """Write a CRL as PEM (public: 0644)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_file_atomic(path, crl.public_bytes(serialization.Encoding.PEM), 0o644, force=True)
