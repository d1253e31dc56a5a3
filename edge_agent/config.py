"""The whole edge-agent configuration as one pydantic model.

Every section of the architecture has a place here with a safe default, so a device config names only what is
particular to it (device id, camera, broker, keys). Unknown keys are refused (`extra="forbid"`) so a misspelt key
is an error, not a silently ignored setting. Loading from YAML with file:line error reports lives in
`edge_agent.configfile`.

File paths are resolved relative to the config file's directory. Secret files (private keys) may also be given as
``credential:NAME``, read from ``$CREDENTIALS_DIRECTORY`` so that systemd's ``LoadCredential=`` works.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from edge_agent.compat import StrEnum
from edge_agent.protocol.formats import parse_formats
from edge_agent.units import parse_duration, parse_size

DEVICE_ID_RE = r"^[a-z0-9][a-z0-9-]{0,62}$"
NAME_RE = r"^[a-z0-9][a-z0-9_-]{0,31}$"
TOPIC_PREFIX_RE = r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$"
CREDENTIAL_PREFIX = "credential:"

Duration = Annotated[float, BeforeValidator(parse_duration)]
Size = Annotated[int, BeforeValidator(parse_size)]


def _base_dir(info: ValidationInfo) -> Path | None:
    ctx = info.context or {}
    base = ctx.get("base_dir")
    return Path(base) if base else None


def _checking_files(info: ValidationInfo) -> bool:
    return bool((info.context or {}).get("check_files", False))


def _resolve(value: Path, info: ValidationInfo) -> Path:
    text = str(value)
    if text.startswith(CREDENTIAL_PREFIX):
        # Under systemd the credential comes from $CREDENTIALS_DIRECTORY (LoadCredential=); run by hand (doctor,
        # a technician as root) it is read from where provisioning stored it.
        cred_dir = os.environ.get("CREDENTIALS_DIRECTORY") or (info.context or {}).get("credentials_dir")
        name = text[len(CREDENTIAL_PREFIX) :]
        if not cred_dir:
            raise ValueError(f"'{text}' needs $CREDENTIALS_DIRECTORY (set by systemd LoadCredential=)")
        return Path(cred_dir) / name
    path = Path(os.path.expanduser(text))
    base = _base_dir(info)
    if not path.is_absolute() and base is not None:
        path = base / path
    return path


def _existing_file(value: Path, info: ValidationInfo) -> Path:
    path = _resolve(value, info)
    if _checking_files(info):
        if not path.exists():
            raise ValueError(f"file {path} does not exist")
        if not path.is_file():
            raise ValueError(f"{path} is not a regular file")
        if not os.access(path, os.R_OK):
            raise ValueError(f"file {path} is not readable by this user")
    return path


def _secret_file(value: Path, info: ValidationInfo) -> Path:
    path = _existing_file(value, info)
    if _checking_files(info):
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise ValueError(f"key file {path} has mode {mode:04o}, readable by group or others: chmod 600 {path}")
    return path


def _plain_path(value: Path, info: ValidationInfo) -> Path:
    return _resolve(value, info)


FilePath = Annotated[Path, AfterValidator(_existing_file)]
SecretFile = Annotated[Path, AfterValidator(_secret_file)]
AnyPath = Annotated[Path, AfterValidator(_plain_path)]


class Section(BaseModel):
    """Base of every config section: unknown keys are errors, values are validated on assignment too."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


# --- device ---------------------------------------------------------------------------------------------------


class DeviceConfig(Section):
    """Who this device is and where it keeps its state."""

    id: Annotated[str | None, Field(pattern=DEVICE_ID_RE)] = Field(
        None, title="Device id", description="Lower-case id used in MQTT topics and the certificate CN."
    )
    location: str | None = Field(None, title="Location", description="Free text, e.g. 'Elm St northbound'.")
    state_dir: AnyPath = Field(
        Path(os.environ.get("STATE_DIRECTORY", "/var/lib/edge-agent")),
        title="State directory",
        description="Where the spool lives; systemd's StateDirectory= sets $STATE_DIRECTORY.",
    )


# --- cameras --------------------------------------------------------------------------------------------------

Point = tuple[Annotated[float, Field(ge=0.0, le=1.0)], Annotated[float, Field(ge=0.0, le=1.0)]]
Polygon = Annotated[list[Point], Field(min_length=3)]


class CameraKind(StrEnum):
    """Frame source backends."""

    REPLAY = "replay"
    OPENCV = "opencv"
    PICAMERA = "picamera"


VIDEO_SUFFIXES = {".mp4", ".mkv", ".avi", ".mov", ".webm", ".m4v", ".ts"}


class ReplayConfig(Section):
    """How a video file is replayed as a camera."""

    realtime: bool = Field(True, description="Pace frames at the file's frame rate (false: as fast as possible).")
    loop: bool = Field(False, description="Start again at the end of the file.")


class ReconnectConfig(Section):
    """Backoff for cameras that drop out (RTSP, USB)."""

    initial: Duration = Field(1.0, gt=0, description="First wait before reconnecting.")
    max: Duration = Field(60.0, gt=0, description="Longest wait between reconnect attempts.")


class CameraConfig(Section):
    """One camera (or a replayed video standing in for one)."""

    name: Annotated[str, Field(pattern=NAME_RE)] = Field(description="Short name, unique on this device.")
    kind: CameraKind | None = Field(None, description="Backend; inferred from source when left out.")
    source: str = Field(
        min_length=1,
        description="Video file, /dev/videoN, rtsp:// URL, GStreamer pipeline (with kind: opencv) or 'picamera:N'.",
    )
    fps: float | None = Field(None, gt=0, le=120, description="Frame rate to ask for, or to cap replay at.")
    resolution: tuple[Annotated[int, Field(gt=0)], Annotated[int, Field(gt=0)]] | None = Field(
        None, description="[width, height] to ask the camera for."
    )
    replay: ReplayConfig = Field(default_factory=ReplayConfig)
    privacy_zones: list[Polygon] = Field(
        default_factory=list,
        description="Polygons in frame-relative coordinates (0-1) blanked before any analysis.",
    )
    detection_zone: Polygon | None = Field(
        None, description="Only plates whose centre lies in this polygon are read; also limits compute."
    )
    reconnect: ReconnectConfig = Field(default_factory=ReconnectConfig)
    stall_timeout: Duration = Field(10.0, gt=0, description="No frame for this long counts as a stalled camera.")
    queue_size: int = Field(4, ge=1, le=64, description="Frames buffered before the oldest is dropped (counted).")

    @field_validator("source")
    @classmethod
    def _replay_file_exists(cls, source: str, info: ValidationInfo) -> str:
        kind = info.data.get("kind") or infer_camera_kind(source)
        if kind is CameraKind.REPLAY:
            path = _resolve(Path(source), info)
            if _checking_files(info) and not path.is_file():
                raise ValueError(f"video file {path} does not exist")
            return str(path)
        return source

    @model_validator(mode="after")
    def _infer_kind(self) -> CameraConfig:
        if self.kind is None:
            self.kind = infer_camera_kind(self.source)
        return self


def infer_camera_kind(source: str) -> CameraKind:
    """Guess the backend from a source string: video file -> replay, picamera:N -> picamera, else OpenCV."""
    if source.startswith("picamera"):
        return CameraKind.PICAMERA
    if Path(source).suffix.lower() in VIDEO_SUFFIXES and "://" not in source:
        return CameraKind.REPLAY
    return CameraKind.OPENCV


# --- vision ---------------------------------------------------------------------------------------------------


InputSide = Annotated[int, Field(ge=64, le=1920, multiple_of=32)]


class DetectorConfig(Section):
    """The plate detector."""

    model: FilePath | None = Field(None, description="A .tflite file with its .json sidecar; default: shipped.")
    confidence: float | None = Field(None, gt=0, lt=1, description="Box threshold; default: the model's.")
    nms_iou: float | None = Field(None, gt=0, lt=1, description="Overlap above which boxes are merged.")
    input_size: tuple[InputSide, InputSide] | None = Field(
        None, description="[height, width] to run the detector at, multiples of 32; default: the model's."
    )
    flip: bool = Field(
        False,
        description="Also run the mirrored frame and combine both: fewer misses and false boxes on each frame, for "
        "twice the detector's time. Off for cameras, where the tracker sees each plate on many frames; "
        "`edge-agent read` on a still image uses it when the model recommends it.",
    )


class ReaderConfig(Section):
    """The plate reader (OCR)."""

    model: FilePath | None = Field(None, description="A .tflite file with its .json sidecar; default: shipped.")
    formats: list[str] = Field(
        default_factory=list,
        description="Plate formats read here: names (br, ar, nl, uk, us) or patterns of L (letter), D (digit), "
        "A (either), e.g. [br] or [LLLDLDD]; a reading that fits none is never confident. Empty: any plate.",
    )

    rectify: bool = Field(
        True,
        description="Turn tilted plates level (measured from the crop, up to 20 degrees) before reading them.",
    )

    @field_validator("formats")
    @classmethod
    def _known_formats(cls, value: list[str]) -> list[str]:
        parse_formats(value)
        return value


class RefinerConfig(Section):
    """The box refiner: moves each detector box onto the plate's own edges before the plate is read."""

    enabled: bool = Field(
        True, description="Tighten detector boxes before reading (off: read the detector's boxes as they are)."
    )
    model: FilePath | None = Field(None, description="A .tflite file with its .json sidecar; default: shipped.")


class MotionConfig(Section):
    """A cheap gate that skips the detector on still frames."""

    enabled: bool = True
    threshold: int = Field(18, ge=1, le=255, description="Grey-level change that counts as motion.")
    min_area: float = Field(0.0005, gt=0, lt=1, description="Share of the frame that must change.")
    width: int = Field(160, ge=32, le=640, description="Width of the low-resolution copy compared.")
    force_every: Duration = Field(1.0, gt=0, description="Run the detector at least this often anyway.")


class TrackerConfig(Section):
    """Turns detections across frames into one read per vehicle pass."""

    iou_match: float = Field(0.2, gt=0, lt=1, description="Box overlap needed to continue a track.")
    max_gap: Duration = Field(1.0, gt=0, description="A track ends after this long without a detection.")
    max_duration: Duration = Field(300.0, gt=0, description="A track longer than this is emitted and restarted.")
    min_frames: int = Field(2, ge=1, description="Frames a plate must be read on before it counts.")
    min_confidence: float = Field(0.5, ge=0, le=1, description="Voted confidence below which no read is emitted.")
    confirm_confidence: float | None = Field(
        None,
        ge=0,
        lt=1,
        description="A pass is reported only if the detector scored its plate at least this on one frame (weaker "
        "detections only extend a pass); default: the detector model's, 0 turns it off.",
    )
    settle_reads: int = Field(
        3,
        ge=0,
        le=50,
        description="A track is settled once this many consecutive reads agree (0: never; every frame analysed).",
    )
    settled_interval: Duration = Field(
        0.3,
        ge=0,
        le=1.0,
        description="While every track is settled, analyse a frame only this often (stream time).",
    )

    @model_validator(mode="after")
    def _interval_below_gap(self) -> TrackerConfig:
        if self.settled_interval >= self.max_gap:
            raise ValueError(
                f"settled_interval ({self.settled_interval:g} s) must be below max_gap ({self.max_gap:g} s), "
                "or settled tracks would end between two analysed frames"
            )
        return self


class VisionConfig(Section):
    """Inference settings shared by all cameras."""

    runtime: Literal["auto", "litert", "tflite-runtime"] = Field("auto", description="TFLite package.")
    threads: int = Field(2, ge=1, le=16, description="Threads per model.")
    detector: DetectorConfig = Field(default_factory=DetectorConfig)
    reader: ReaderConfig = Field(default_factory=ReaderConfig)
    refiner: RefinerConfig = Field(default_factory=RefinerConfig)
    motion: MotionConfig = Field(default_factory=MotionConfig)
    tracker: TrackerConfig = Field(default_factory=TrackerConfig)


class PrivacyConfig(Section):
    """What may leave the device, beyond the plate text."""

    include_crop: bool = Field(False, description="Put the best plate crop inside the sealed envelope.")
    crop_max_width: int = Field(240, ge=32, le=1024, description="Crops are downscaled to at most this width.")
    crop_jpeg_quality: int = Field(85, ge=10, le=100)


# --- crypto, spool, retention ---------------------------------------------------------------------------------


class CryptoConfig(Section):
    """Keys of the protocol (see docs/protocol.md)."""

    device_key: SecretFile | None = Field(None, description="This device's Ed25519 signing key (PEM, 0600).")
    city_key: FilePath | None = Field(None, description="The city's HPKE X25519 public key that reads are sealed to.")
    receipt_keys: list[FilePath] = Field(
        default_factory=list,
        description="Ed25519 public keys whose receipts are trusted (several during rotation).",
    )
    aead: Literal["chacha20poly1305", "aes128gcm"] = Field(
        "chacha20poly1305",
        description="HPKE AEAD; ChaCha20 is fastest on boards without AES instructions (Pi 4).",
    )


class SpoolConfig(Section):
    """The durable on-device queue of sealed reads."""

    path: AnyPath | None = Field(None, description="SQLite file; default: <device.state_dir>/spool.db.")
    max_bytes: Size = Field(512 * 2**20, ge=2**20, description="Size bound of the stored envelopes.")
    when_full: Literal["drop_oldest", "reject_new"] = Field(
        "drop_oldest", description="What gives way when max_bytes is reached; every drop is counted."
    )
    commit_interval: Duration = Field(
        0.01, ge=0, le=5, description="Group commit: wait this long for more reads before one fsync."
    )


class RetentionConfig(Section):
    """How long a read may stay on the device, acknowledged or not."""

    max_age: Duration = Field(30 * 86400.0, gt=0, description="Older envelopes are purged and counted.")
    purge_interval: Duration = Field(3600.0, gt=0, description="How often to look for expired envelopes.")


# --- uplink, health -------------------------------------------------------------------------------------------


class TLSConfig(Section):
    """Mutual TLS to the broker."""

    ca: FilePath | None = Field(None, description="CA bundle that signed the broker certificate.")
    cert: FilePath | None = Field(None, description="This client's certificate (PEM).")
    key: SecretFile | None = Field(None, description="This client's private key (PEM, 0600).")
    min_version: Literal["1.2", "1.3"] = "1.2"


class BrokerConfig(Section):
    """How to reach an MQTT broker."""

    host: str | None = Field(None, min_length=1, description="Broker host name (checked against its certificate).")
    port: int = Field(8883, ge=1, le=65535)
    tls: TLSConfig = Field(default_factory=TLSConfig)
    client_id: str | None = Field(None, description="MQTT client id; default: the device id.")
    keepalive: int = Field(30, ge=5, le=3600, description="MQTT keepalive in seconds.")


class BackoffConfig(Section):
    """Reconnect backoff: exponential with full jitter."""

    initial: Duration = Field(0.5, gt=0)
    max: Duration = Field(60.0, gt=0)


class UplinkConfig(BrokerConfig):
    """The device's connection to the city broker."""

    topic_prefix: Annotated[str, Field(pattern=TOPIC_PREFIX_RE)] = "alpr"
    ack: Literal["receipt", "puback"] = Field(
        "receipt", description="Delete a read on a verified receipt (default) or on a successful PUBACK."
    )
    window: int = Field(64, ge=1, le=1024, description="PUBLISHes sent and awaiting their PUBACK at most.")
    bundle: int = Field(
        32,
        ge=1,
        le=256,
        description="Reads packed into one PUBLISH at most while a backlog drains (1: one envelope per message).",
    )
    receipt_window: int = Field(
        2048, ge=1, le=100000, description="Reads sent and awaiting their receipt at most (bounds resend storms)."
    )
    resend_after: Duration = Field(60.0, gt=0, description="Resend a read whose receipt has not come this long.")
    session_expiry: Duration = Field(7 * 86400.0, ge=0, description="Broker keeps our session (and receipts).")
    backoff: BackoffConfig = Field(default_factory=BackoffConfig)


class MetricsConfig(Section):
    """Optional Prometheus text endpoint."""

    enabled: bool = False
    host: str = Field("127.0.0.1", description="Listen address; keep it on localhost unless firewalled.")
    port: int = Field(9108, ge=1, le=65535)


class HealthConfig(Section):
    """Status topic, heartbeat and the systemd watchdog."""

    heartbeat: Duration = Field(60.0, ge=1, description="Interval of the retained status message.")
    watchdog: bool = Field(True, description="Ping systemd's watchdog while every stage is alive.")
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)


# --- ingest (the city side) -----------------------------------------------------------------------------------


class StoreConfig(Section):
    """Where the ingest stores decrypted reads."""

    kind: Literal["sqlite", "postgres"] = "sqlite"
    path: AnyPath = Field(Path("reads.db"), description="SQLite file (kind: sqlite).")
    dsn: str | None = Field(None, description="PostgreSQL connection string (kind: postgres).")
    dsn_file: SecretFile | None = Field(None, description="File holding the DSN, to keep passwords out of config.")


class IngestConfig(Section):
    """The city's reference consumer."""

    broker: BrokerConfig = Field(default_factory=BrokerConfig)
    topic_prefix: Annotated[str, Field(pattern=TOPIC_PREFIX_RE)] = "alpr"
    shared_group: Annotated[str, Field(pattern=NAME_RE)] | None = Field(
        None, description="Subscribe as $share/<group>/... so several workers split the load."
    )
    recipient_keys: list[SecretFile] = Field(
        default_factory=list, description="HPKE X25519 private keys (current and previous during rotation)."
    )
    receipt_key: SecretFile | None = Field(None, description="Ed25519 key that signs receipts.")
    devices_dir: AnyPath = Field(Path("devices"), description="Enrolled devices: one <device_id>.pub per device.")
    store: StoreConfig = Field(default_factory=StoreConfig)
    receipt_batch: int = Field(256, ge=1, le=4096, description="Read ids per receipt at most.")
    receipt_delay: Duration = Field(0.02, ge=0, le=5, description="Wait this long to fill a receipt batch.")
    metrics: MetricsConfig = Field(default_factory=MetricsConfig, description="Prometheus endpoint of this worker.")
    homeassistant: bool = Field(
        False,
        description="Announce each camera's status sensors to Home Assistant (MQTT discovery under homeassistant/,"
        " retained) when its first status reaches this worker: a camera enrolled later appears by itself.",
    )


# --- records (the city side) ----------------------------------------------------------------------------------

DEFAULT_PURPOSES = [
    "criminal investigation",
    "missing or endangered person",
    "stolen vehicle",
]
DEFAULT_PROHIBITED = [
    "immigration enforcement",
    "traffic enforcement",
    "parking enforcement",
    "civil code enforcement",
    "monitoring of protected First Amendment activity",
]


def _regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"not a regular expression ({exc})") from None
    return value


class RecordsConfig(Section):
    """The city's records service: who may search, for what, and how long reads are kept."""

    dsn: str | None = Field(None, description="PostgreSQL connection string of the records database.")
    dsn_file: SecretFile | None = Field(None, description="File holding the DSN, to keep passwords out of config.")
    listen: str = Field("127.0.0.1", description="Address the web service binds (put TLS in front of it).")
    port: int = Field(8088, ge=1, le=65535)
    retention_days: int = Field(30, ge=1, le=3650, description="Reads older than this are purged unless held.")
    purge_interval: Duration = Field(3600.0, ge=60, description="How often the service purges expired reads.")
    case_number_pattern: Annotated[str, AfterValidator(_regex)] = Field(
        r"^[0-9]{2,4}-[0-9]{3,8}$", description="Every search names a case number matching this (e.g. 2026-000123)."
    )
    purposes: list[Annotated[str, Field(min_length=3, max_length=80)]] = Field(
        default_factory=lambda: list(DEFAULT_PURPOSES), min_length=1, description="Purposes a search may give."
    )
    prohibited_purposes: list[Annotated[str, Field(min_length=3, max_length=80)]] = Field(
        default_factory=lambda: list(DEFAULT_PROHIBITED),
        description="Purposes always refused (and the attempt audited).",
    )
    max_results: int = Field(500, ge=1, le=10_000, description="Most reads one search returns.")
    lockout_after: int = Field(5, ge=1, le=100, description="Failed logins in a row that lock an account.")
    lockout: Duration = Field(900.0, ge=1, description="How long a locked account stays locked.")
    session_lifetime: Duration = Field(8 * 3600.0, ge=60, le=7 * 86400, description="A session ends after this.")
    secure_cookies: bool = Field(True, description="Session cookies only over HTTPS (or to localhost).")
    state: Annotated[str, Field(pattern=r"^[A-Z]{2}$")] | None = Field(
        None,
        description="The state whose law governs the data (e.g. WA): agencies of another state, and federal ones,"
        " search only under a warrant or court order.",
    )
    policy: str = Field(
        "Plate reads are kept for the retention period below and then deleted, unless a supervisor ties them to an"
        " active criminal investigation. Every search names a case number and an authorised purpose, and is logged"
        " and reviewed. The system is never used for immigration, traffic, parking or civil code enforcement, nor to"
        " monitor protected First Amendment activity.",
        max_length=4000,
        description="The policy in plain words, shown on the public transparency report.",
    )
    alerts_webhook: Annotated[str, Field(pattern=r"^https?://")] | None = Field(
        None, description="URL that receives each confirmed hotlist alert as JSON (POST)."
    )
    alerts_broker: BrokerConfig | None = Field(
        None, description="MQTT broker on which confirmed alerts are published (retained: no; QoS 1)."
    )
    alerts_topic: str = Field("alpr/v1/city/alerts", description="Topic of confirmed alerts (docs/protocol.md 9).")

    @model_validator(mode="after")
    def _purposes_apart(self) -> RecordsConfig:
        both = sorted({p.lower() for p in self.purposes} & {p.lower() for p in self.prohibited_purposes})
        if both:
            raise ValueError(f"a purpose cannot be both allowed and prohibited: {', '.join(both)}")
        return self


class LoggingConfig(Section):
    """Logging goes to stderr; journald stamps the time."""

    level: Literal["debug", "info", "warning", "error"] = "info"


# --- root -----------------------------------------------------------------------------------------------------


class Config(Section):
    """The whole configuration of a device (cameras...) or of a city ingest (ingest)."""

    version: Literal[1] = Field(1, description="Config format version.")
    device: DeviceConfig = Field(default_factory=DeviceConfig)
    cameras: list[CameraConfig] = Field(default_factory=list)
    vision: VisionConfig = Field(default_factory=VisionConfig)
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)
    crypto: CryptoConfig = Field(default_factory=CryptoConfig)
    spool: SpoolConfig = Field(default_factory=SpoolConfig)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    uplink: UplinkConfig = Field(default_factory=UplinkConfig)
    health: HealthConfig = Field(default_factory=HealthConfig)
    ingest: IngestConfig | None = None
    records: RecordsConfig | None = None
    logging: LoggingConfig = Field(default_factory=LoggingConfig)

    @model_validator(mode="after")
    def _cross_checks(self) -> Config:
        names = [c.name for c in self.cameras]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"camera names must be unique: {', '.join(dupes)} used twice")
        if self.uplink.backoff.initial > self.uplink.backoff.max:
            raise ValueError("uplink.backoff.initial is longer than uplink.backoff.max")
        for cam in self.cameras:
            if cam.reconnect.initial > cam.reconnect.max:
                raise ValueError(f"camera '{cam.name}': reconnect.initial is longer than reconnect.max")
        store = self.ingest.store if self.ingest is not None else None
        if store is not None and store.kind == "postgres" and not (store.dsn or store.dsn_file):
            raise ValueError("ingest.store.kind is postgres but neither ingest.store.dsn nor dsn_file is set")
        return self

    @property
    def is_device(self) -> bool:
        """True when this file configures a camera device (it has cameras)."""
        return bool(self.cameras)

    @property
    def spool_path(self) -> Path:
        """The spool database path, defaulting into the state directory."""
        return self.spool.path or self.device.state_dir / "spool.db"

    @property
    def topic_root(self) -> str:
        """``<prefix>/v1/<device id>``: every topic of this device lives below it."""
        return f"{self.uplink.topic_prefix}/v1/{self.device.id}"


def device_problems(cfg: Config) -> list[tuple[tuple[str | int, ...], str]]:
    """What a device config lacks to run (key path, message); empty when it can run."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    if cfg.device.id is None:
        problems.append((("device", "id"), "required for a device: set it to this device's enrolled id"))
    if not cfg.uplink.host:
        problems.append((("uplink", "host"), "required for a device: the city broker's host name"))
    for key in ("ca", "cert", "key"):
        if getattr(cfg.uplink.tls, key) is None:
            problems.append((("uplink", "tls", key), "required: the broker is reached over mutual TLS only"))
    if cfg.crypto.device_key is None:
        problems.append((("crypto", "device_key"), "required: run `edge-agent keys generate device`"))
    if cfg.crypto.city_key is None:
        problems.append((("crypto", "city_key"), "required: the city's HPKE public key from the enrolment bundle"))
    if cfg.uplink.ack == "receipt" and not cfg.crypto.receipt_keys:
        problems.append((("crypto", "receipt_keys"), "required with uplink.ack: receipt: the ingest's public key"))
    return problems


def ingest_problems(cfg: Config) -> list[tuple[tuple[str | int, ...], str]]:
    """What an ingest config lacks to run (key path, message); empty when it can run."""
    ing = cfg.ingest
    if ing is None:
        return [(("ingest",), "required: this file has no ingest section")]
    problems: list[tuple[tuple[str | int, ...], str]] = []
    if not ing.broker.host:
        problems.append((("ingest", "broker", "host"), "required: the broker's host name"))
    for key in ("ca", "cert", "key"):
        if getattr(ing.broker.tls, key) is None:
            problems.append((("ingest", "broker", "tls", key), "required: the broker is reached over mutual TLS"))
    if not ing.recipient_keys:
        problems.append((("ingest", "recipient_keys"), "required: run `edge-agent keys generate city`"))
    if ing.receipt_key is None:
        problems.append((("ingest", "receipt_key"), "required: run `edge-agent keys generate receipt`"))
    return problems


def camera_source_is_device(source: str) -> bool:
    """True for a local V4L2 device path (used by doctor and the systemd DeviceAllow= list)."""
    return bool(re.match(r"^/dev/video\d+$", source))


def model_json_schema() -> dict[str, Any]:
    """JSON schema of the config, for editors and documentation."""
    return Config.model_json_schema()
