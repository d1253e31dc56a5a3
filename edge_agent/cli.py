"""The `edge-agent` command line: parses arguments and calls the public function of each room.

Errors derived from `EdgeAgentError` are printed as one line (`edge-agent: error: ...`) with exit code 1 (runtime
failure) or 2 (invalid input or config); `-v` adds the traceback and debug logging.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from edge_agent import __version__
from edge_agent.errors import EXIT_INVALID, EXIT_OK, EXIT_RUNTIME, EdgeAgentError, InvalidInputError

logger = logging.getLogger("edge_agent")

Handler = Callable[[argparse.Namespace], int]


def _setup_logging(verbose: bool, level: str | None = None) -> None:
    chosen = logging.DEBUG if verbose else getattr(logging, (level or "info").upper(), logging.INFO)
    logging.basicConfig(level=chosen, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr, force=True)


# --- check-config ---------------------------------------------------------------------------------------------


def cmd_check_config(args: argparse.Namespace) -> int:
    """Validate a config file: one line per problem, exit 2 if any."""
    from edge_agent.configfile import check_config, summary

    cfg, problems = check_config(Path(args.file), role=args.role, check_files=not args.no_files)
    if cfg is None:
        for problem in problems:
            print(problem)
        print(f"{len(problems)} problem(s) in {args.file}")
        return EXIT_INVALID
    print(f"{args.file}: ok: {summary(cfg)}")
    return EXIT_OK


# --- keys -----------------------------------------------------------------------------------------------------


def cmd_keys_generate(args: argparse.Namespace) -> int:
    """Generate one of the protocol's key pairs."""
    from edge_agent.protocol.crypto import keys

    kind = keys.KeyKind(args.kind)
    private_path, public_path = keys.generate(kind, Path(args.out), force=args.force)
    info = keys.describe(public_path)
    print(f"{kind.value}: private {private_path} (0600), public {public_path}, key id {info.key_id}")
    return EXIT_OK


def _describe_tls_file(path: Path) -> str | None:
    """A line for a certificate or a TLS private key (the files provisioning writes beside the protocol keys)."""
    import stat as stat_

    from edge_agent.protocol.crypto.pki import cert_facts, load_tls_key

    try:
        facts = cert_facts(path)
    except EdgeAgentError:
        pass
    else:
        state = (
            "EXPIRED" if facts.expired else "NOT YET VALID" if facts.not_yet_valid else f"{facts.days_left} days left"
        )
        return f"{path}: certificate for {facts.subject}, valid until {facts.not_after:%Y-%m-%d} ({state})"
    try:
        load_tls_key(path)
    except EdgeAgentError:
        return None
    mode = stat_.S_IMODE(path.stat().st_mode)
    note = "" if not mode & 0o077 else "  PROBLEM: readable by group or others (chmod 600)"
    return f"{path}: P-256 TLS private key, mode {mode:04o}{note}"


def cmd_keys_show(args: argparse.Namespace) -> int:
    """Print algorithm, key id and mode of key files; exit 2 if a private key is exposed."""
    from edge_agent.protocol.crypto import keys

    status = EXIT_OK
    rows = []
    for name in args.files:
        try:
            info = keys.describe(Path(name))
        except EdgeAgentError as exc:
            tls = _describe_tls_file(Path(name))
            if tls is not None:
                print(tls)
                continue
            print(f"{name}: {exc}", file=sys.stderr)
            status = EXIT_INVALID
            continue
        if info.problem:
            status = EXIT_INVALID
        rows.append(info)
        if not args.json:
            kind = "private" if info.private else "public"
            note = f"  PROBLEM: {info.problem}" if info.problem else ""
            print(f"{info.path}: {info.algorithm} {kind} key, key id {info.key_id}, mode {info.mode}{note}")
    if args.json:
        print(json.dumps([{**vars(r), "path": str(r.path)} for r in rows], indent=2))
    return status


# --- run and read ---------------------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    """Run the device pipeline until SIGTERM (or the end of every replayed file)."""
    from edge_agent.configfile import load_config
    from edge_agent.device.agent import run_agent

    cfg = load_config(Path(args.config), role="device")
    _setup_logging(args.verbose, cfg.logging.level)
    return run_agent(cfg, realtime=False if args.fast else None, drain_timeout=args.drain_timeout)


def cmd_read(args: argparse.Namespace) -> int:
    """Read plates from images, crops or videos; one JSON object (or line) per input."""
    from edge_agent.device.vision.readcmd import read_paths

    status = EXIT_OK
    paths = [Path(p) for p in args.paths]
    for result in read_paths(paths, crops=args.crops, threads=args.threads, refine=not args.no_refine):
        if isinstance(result, EdgeAgentError):
            print(f"edge-agent: error: {result}", file=sys.stderr)
            status = EXIT_INVALID
            continue
        if args.json:
            print(json.dumps(result), flush=True)
        else:
            texts = ", ".join(f"{p['text']} ({p['confidence']:.2f})" for p in result["plates"]) or "no plate"
            print(f"{result['path']}: {texts}", flush=True)
    return status


# --- ingest ---------------------------------------------------------------------------------------------------


def cmd_ingest(args: argparse.Namespace) -> int:
    """Run the city's reference ingest until SIGTERM or SIGINT."""
    import signal
    import threading

    from edge_agent.city.ingest.service import IngestService
    from edge_agent.configfile import load_config

    cfg = load_config(Path(args.config), role="ingest")
    assert cfg.ingest is not None
    _setup_logging(args.verbose, cfg.logging.level)
    if args.totals:
        from edge_agent.city.ingest.store import open_store

        store = open_store(cfg.ingest.store)
        try:
            print(json.dumps(dict(sorted(store.counters().items()))))
        finally:
            store.close()
        return EXIT_OK
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    service = IngestService(cfg.ingest, client_id=args.client_id)
    service.start()
    metrics = None
    if cfg.ingest.metrics.enabled:
        from edge_agent.metrics import MetricsServer, ingest_metrics

        metrics = MetricsServer(
            cfg.ingest.metrics.host, cfg.ingest.metrics.port, lambda: ingest_metrics(dict(service.counters))
        )
        metrics.start()
        logger.info("metrics on http://%s:%d/metrics", cfg.ingest.metrics.host, metrics.port)
    logger.info("ingest running (%d enrolled devices); stop with SIGTERM", len(service.registry))
    while not stop.wait(60.0):
        logger.info("ingest counters: %s", dict(service.counters))
    service.stop()
    if metrics is not None:
        metrics.stop()
    logger.info("ingest stopped: %s", dict(service.counters))
    if args.stats_file:
        Path(args.stats_file).write_text(json.dumps(dict(service.counters)))
    return EXIT_OK


# --- bench ----------------------------------------------------------------------------------------------------


def cmd_bench_uplink(args: argparse.Namespace) -> int:
    """Benchmark the store-and-forward path against bare QoS 1 publishing."""
    from edge_agent.bench.uplink import run_uplink_bench

    result = run_uplink_bench(
        args.reads,
        latency_reads=args.latency_reads,
        rate=args.rate,
        ingest_workers=args.ingest_workers,
        store_dsn=args.store_dsn,
    )
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:22s} {value}")
    return EXIT_OK if result["lost"] == 0 and result["duplicates_stored"] == 0 else EXIT_RUNTIME


# --- field operations: city enrolment, provisioning, self-test -----------------------------------------------


def cmd_city_init(args: argparse.Namespace) -> int:
    """Create the city's CA, keys, certificates and a ready broker configuration."""
    from edge_agent.field.enroll import city_init

    hosts = args.broker_host
    city = city_init(
        Path(args.dir),
        hosts[0],
        args.broker_port,
        args.topic_prefix,
        more_names=hosts[1:],
        broker_user=args.broker_user,
        ingest_workers=args.ingest_workers,
    )
    print(f"city created in {city.root}: device CA ca/ca.pem, broker certificate for {', '.join(hosts)}")
    print(f"broker: mosquitto -c {city.root / 'broker' / 'mosquitto.conf'} (runs as {args.broker_user} when root)")
    print(f"ingest: edge-agent ingest --config {city.root / 'ingest.yaml'}")
    print(f"both in the foreground: edge-agent city up {args.dir}")
    print(f"enrol devices with `edge-agent city enroll ID --city {args.dir} --request FILE`")
    return EXIT_OK


def cmd_city_identity(args: argparse.Namespace) -> int:
    """Issue one more city-side identity with its role's rights in the broker's ACL."""
    from edge_agent.field.enroll import CityDir

    city = CityDir(Path(args.city))
    identity = city.add_identity(args.name)
    print(f"{args.name}: certificate {identity.cert}, key {identity.key} (0600)")
    print(f"its rights are in {city.root / 'broker' / 'acl'}: reload the broker (systemctl reload mosquitto)")
    return EXIT_OK


def cmd_city_renew(args: argparse.Namespace) -> int:
    """New certificates for the broker and the city's service identities, from the same keys."""
    from edge_agent.field.enroll import CityDir
    from edge_agent.protocol.crypto.pki import CERT_DAYS

    city = CityDir(Path(args.city))
    renewed = city.renew_services()
    print(f"renewed {len(renewed)} certificate(s) for {CERT_DAYS} days: {', '.join(renewed)}")
    print("restart the broker and the city's services to load them; devices keep their own (re-enrol to renew)")
    return EXIT_OK


def cmd_city_revoke(args: argparse.Namespace) -> int:
    """Revoke a device: its certificates into the CRL, its signing key out of the ingest's registry."""
    from edge_agent.field.enroll import CityDir

    city = CityDir(Path(args.city))
    serials = city.revoke(args.device_id)
    print(f"{args.device_id}: {len(serials)} certificate(s) revoked, signing key removed from {city.devices_dir}")
    print(f"the broker applies {city.root / 'ca' / 'crl.pem'} when reloaded: systemctl reload mosquitto (or restart)")
    return EXIT_OK


def cmd_city_up(args: argparse.Namespace) -> int:
    """Run the city's broker and ingest in the foreground until Ctrl-C (a test city, or a first look)."""
    import signal
    import subprocess
    import time

    from edge_agent.local.localbroker import find_mosquitto

    root = Path(args.dir)
    conf, ingest_yaml = root / "broker" / "mosquitto.conf", root / "ingest.yaml"
    if not conf.is_file() or not ingest_yaml.is_file():
        raise InvalidInputError(f"{root} is not a city made by `edge-agent city init` (no broker/mosquitto.conf)")
    broker = subprocess.Popen([find_mosquitto(), "-c", str(conf)])
    time.sleep(0.5)
    ingest = subprocess.Popen([sys.executable, "-m", "edge_agent", "ingest", "--config", str(ingest_yaml)])
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        while not stopping and broker.poll() is None and ingest.poll() is None:
            time.sleep(0.2)
    finally:
        for proc in (ingest, broker):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
    if stopping:
        return EXIT_OK
    which = "broker" if broker.returncode not in (None, 0) else "ingest"
    raise EdgeAgentError(
        f"the city's {which} stopped (exit {broker.returncode if which == 'broker' else ingest.returncode})"
    )


def cmd_city_ha_discovery(args: argparse.Namespace) -> int:
    """Announce every enrolled camera's status sensors to Home Assistant (retained discovery configs)."""
    from edge_agent.city.homeassistant import discovery
    from edge_agent.field.enroll import CityDir

    city = CityDir(Path(args.city))
    settings = city.settings
    prefix = str(settings.get("topic_prefix", "alpr"))
    devices = sorted(p.stem for p in city.devices_dir.glob("*.pub"))
    messages = {t: m for d in devices for t, m in discovery(d, prefix).items()}
    if args.print:
        for topic, payload in messages.items():
            print(topic, payload)
        return EXIT_OK
    from edge_agent.protocol.mqtt import new_client, tls_context

    pki = city.local_pki()
    host = args.broker_host or str(settings["broker"]["host"])
    port = args.broker_port or int(settings["broker"]["port"])
    tools = city.service_identity("city", "city-ha")
    client, props = new_client("ha-discovery", tls_context(pki.ca_cert, tools.cert, tools.key))
    try:
        client.connect(host, port, keepalive=30, properties=props)
    except OSError as exc:
        raise EdgeAgentError(f"cannot reach the broker at {host}:{port} ({exc})") from None
    client.loop_start()
    try:
        infos = [client.publish(t, m, qos=1, retain=True) for t, m in messages.items()]
        for info in infos:
            info.wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()
    print(f"Home Assistant discovery: {len(messages)} entities for {len(devices)} camera(s) on {host}:{port}")
    return EXIT_OK


def cmd_city_enroll(args: argparse.Namespace) -> int:
    """Sign a device's request and write its bundle (a site bundle when no request is given)."""
    from edge_agent.field.enroll import CityDir, Request

    city = CityDir(Path(args.city))
    request = Request.load(Path(args.request)) if args.request else None
    bundle = city.enroll(args.device_id, request, replace=args.replace, days=args.days)
    out = Path(args.out or f"{args.device_id}-bundle.json")
    out.write_text(bundle.to_json() + "\n")
    out.chmod(0o644)
    if request is None:
        print(f"site bundle for {args.device_id} written to {out}: the device answers with an enrolment request")
    else:
        print(f"{args.device_id} enrolled: certificate issued, signing key registered; bundle written to {out}")
    return EXIT_OK


def cmd_provision(args: argparse.Namespace) -> int:
    """The technician's wizard (or the same from flags)."""
    from edge_agent.field.provision import Answers, Prompter, Provisioner, enable_service

    root = Path(args.root)
    answers = Answers(
        device_id=args.device_id,
        camera=args.camera,
        bundle=Path(args.bundle) if args.bundle else None,
        request_out=Path(args.request_out) if args.request_out else None,
        location=args.location,
        reenrol=args.reenrol,
    )
    prompter = Prompter(sys.stdin, sys.stdout)
    outcome = Provisioner(
        root,
        answers,
        interactive=not args.non_interactive,
        prompter=prompter,
        boot_dir=Path(args.boot_dir) if args.boot_dir else None,
        check_camera=not args.no_camera_check,
    ).run()
    if not outcome.enrolled:
        return EXIT_OK
    if outcome.bundle_deleted:
        prompter.say("the bundle was removed from the boot partition")
    if not args.no_enable:
        prompter.say(enable_service(root))
    if args.no_doctor:
        return EXIT_OK
    return _doctor(outcome.config, as_json=False, skip=frozenset({"camera"}) if args.no_camera_check else frozenset())


def cmd_demo(args: argparse.Namespace) -> int:
    """Replay a bundled video through the real pipeline into a local city and show what it received."""
    from edge_agent.local.demo import DEFAULT_VIDEO, run_demo

    return run_demo(
        Path(args.video) if args.video else DEFAULT_VIDEO,
        Path(args.workdir) if args.workdir else None,
        records=args.records,
    )


def _doctor(config: Path, as_json: bool, skip: frozenset[str], camera_seconds: float = 3.0) -> int:
    from edge_agent.field.doctor import Doctor, Options, render
    from edge_agent.field.doctor import as_json as doctor_json

    doctor = Doctor(config, Options(camera_seconds=camera_seconds, skip=skip))
    checks = doctor.run()
    print(doctor_json(checks) if as_json else render(checks))
    return EXIT_RUNTIME if doctor.failed else EXIT_OK


def cmd_doctor(args: argparse.Namespace) -> int:
    """Self-test of a device config: pass/warn/fail per check."""
    skip = frozenset(s.strip() for s in (args.skip or "").split(",") if s.strip())
    return _doctor(Path(args.config), args.json, skip, args.camera_seconds)


def cmd_bench_vision(args: argparse.Namespace) -> int:
    """Per-model latency of the shipped int8 models and their float versions."""
    from edge_agent.bench.vision import BENCH_VIDEO, run_vision_bench

    result = run_vision_bench(args.threads, args.repeats, Path(args.video) if args.video else BENCH_VIDEO)
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))
    return EXIT_OK


def cmd_bench_pipeline(args: argparse.Namespace) -> int:
    """Whole vision path vs decode-only on the same video."""
    from edge_agent.bench.vision import BENCH_VIDEO, run_pipeline_bench

    result = run_pipeline_bench(
        Path(args.video) if args.video else BENCH_VIDEO, args.threads, settled_interval=args.settled_interval
    )
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))
    return EXIT_OK


# --- parser ---------------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:  # noqa: PLR0915 - one flat list of every command
    """The full argument parser (also used to render the CLI reference)."""
    parser = argparse.ArgumentParser(
        prog="edge-agent",
        description="Privacy-by-design licence-plate camera: read plates, seal them for the city, never lose one.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging and tracebacks")
    parser.add_argument("--version", action="version", version=f"edge-agent {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("check-config", help="validate a config file")
    p.add_argument("file", metavar="FILE", help="the YAML config to check")
    p.add_argument(
        "--role", choices=["any", "device", "ingest", "records"], default="any", help="what the file must configure"
    )
    p.add_argument("--no-files", action="store_true", help="do not check that referenced files exist")
    p.set_defaults(func=cmd_check_config)

    keys_p = sub.add_parser("keys", help="generate and inspect key material")
    keys_sub = keys_p.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    p = keys_sub.add_parser("generate", help="generate a key pair (device, city or receipt)")
    p.add_argument("kind", choices=["device", "city", "receipt"], help="which key pair")
    p.add_argument("--out", default=".", help="directory for the .key (0600) and .pub files")
    p.add_argument("--force", action="store_true", help="replace existing files (the old key is lost)")
    p.set_defaults(func=cmd_keys_generate)
    p = keys_sub.add_parser("show", help="print algorithm, key id and mode of key files")
    p.add_argument("files", nargs="+", metavar="FILE", help="key, certificate or TLS key files")
    p.add_argument("--json", action="store_true", help="one JSON array")
    p.set_defaults(func=cmd_keys_show)

    p = sub.add_parser("run", help="run the camera pipeline (capture, read, seal, spool, upload)")
    p.add_argument("--config", required=True, metavar="FILE", help="the device config (YAML)")
    p.add_argument("--fast", action="store_true", help="replay video files as fast as possible (CI)")
    p.add_argument(
        "--drain-timeout", type=float, default=30.0, help="when every replayed file ended: wait this long for uploads"
    )
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("read", help="read plates from images, plate crops (--crops) or videos")
    p.add_argument("paths", nargs="+", metavar="PATH", help="images, videos, plate crops (--crops) or folders of them")
    p.add_argument("--json", action="store_true", help="one JSON object per input")
    p.add_argument("--crops", action="store_true", help="inputs are plate crops: OCR only")
    p.add_argument("--threads", type=int, default=1, help="inference threads per model")
    p.add_argument(
        "--no-refine",
        action="store_true",
        help="read the detector's boxes as they are, without the box refiner (vision.refiner.enabled: false)",
    )
    p.set_defaults(func=cmd_read)

    p = sub.add_parser("ingest", help="run the city's reference ingest (verify, decrypt, store, receipt)")
    p.add_argument("--config", required=True, metavar="FILE", help="the ingest config (YAML)")
    p.add_argument("--client-id", help="MQTT client id of this worker (default: ingest.broker.client_id)")
    p.add_argument("--stats-file", help="write the final counters here as JSON on exit")
    p.add_argument(
        "--totals",
        action="store_true",
        help="print the counters every worker has added to the store since it was made (JSON) and exit",
    )
    p.set_defaults(func=cmd_ingest)

    bench = sub.add_parser("bench", help="benchmarks (figures, not tests)")
    bench_sub = bench.add_subparsers(dest="bench_command", required=True, metavar="WHAT")
    p = bench_sub.add_parser("uplink", help="sealed, spooled, receipted delivery vs bare QoS 1 publishing")
    p.add_argument("--reads", type=int, default=10000, help="reads to deliver (default 10000)")
    p.add_argument("--latency-reads", type=int, default=200, help="reads sent at --rate for the latency figure")
    p.add_argument("--rate", type=float, default=20.0, help="reads per second for the latency figure")
    p.add_argument(
        "--ingest-workers", type=int, default=1, metavar="N", help="ingest processes on a shared subscription"
    )
    p.add_argument(
        "--store-dsn", metavar="DSN", help="store into this PostgreSQL database (the records schema) instead of SQLite"
    )
    p.add_argument("--json", action="store_true", help="one JSON object")
    p.set_defaults(func=cmd_bench_uplink)

    city = sub.add_parser("city", help="the city's side of enrolment: CA, keys, device certificates")
    city_sub = city.add_subparsers(dest="city_command", required=True, metavar="ACTION")
    p = city_sub.add_parser("init", help="create a city: device CA, HPKE and receipt keys, broker certificate")
    p.add_argument("dir", metavar="DIR", help="where the city's CA, keys and broker config are written (new)")
    p.add_argument(
        "--broker-host",
        required=True,
        action="append",
        help="the name (or IP) devices connect to; repeat it for more names or addresses in the certificate",
    )
    p.add_argument("--broker-port", type=int, default=8883, help="the broker's TLS port (default 8883)")
    p.add_argument("--topic-prefix", default="alpr", help="first level of every topic (default alpr)")
    p.add_argument(
        "--broker-user", default="mosquitto", help="the account mosquitto drops to when started as root (Debian's)"
    )
    p.add_argument(
        "--ingest-workers",
        type=int,
        default=4,
        help="ingest worker identities to issue, ingest-1 ... ingest-N (default 4; one per core of the ingest host)",
    )
    p.set_defaults(func=cmd_city_init)
    p = city_sub.add_parser(
        "identity", help="issue one more city-side identity (a second monitor, dispatch console or ingest worker)"
    )
    p.add_argument("name", metavar="NAME", help="named after its role: monitor-ha, dispatch-2, city-tools, ingest-5")
    p.add_argument("--city", required=True, metavar="DIR", help="the directory made by `city init`")
    p.set_defaults(func=cmd_city_identity)
    p = city_sub.add_parser(
        "renew", help="new certificates for the broker and the city's service identities (same keys, 397 days)"
    )
    p.add_argument("--city", required=True, metavar="DIR", help="the directory made by `city init`")
    p.set_defaults(func=cmd_city_renew)
    p = city_sub.add_parser("revoke", help="revoke a device's certificates (CRL) and remove its signing key")
    p.add_argument("device_id", metavar="DEVICE_ID", help="the device to revoke")
    p.add_argument("--city", required=True, metavar="DIR", help="the directory made by `city init`")
    p.set_defaults(func=cmd_city_revoke)

    p = city_sub.add_parser("up", help="run the city's broker and ingest in the foreground (Ctrl-C stops both)")
    p.add_argument("dir", metavar="DIR", help="the directory made by `city init`")
    p.set_defaults(func=cmd_city_up)

    p = city_sub.add_parser(
        "ha-discovery", help="announce the cameras' status sensors to Home Assistant (MQTT discovery, retained)"
    )
    p.add_argument("--city", required=True, metavar="DIR", help="the directory made by `city init`")
    p.add_argument("--broker-host", help="default: the city's broker (city.json)")
    p.add_argument("--broker-port", type=int, help="default: the city's broker port (city.json)")
    p.add_argument("--print", action="store_true", help="print the topics and payloads instead of publishing")
    p.set_defaults(func=cmd_city_ha_discovery)

    p = city_sub.add_parser("enroll", help="sign a device's enrolment request and write its bundle")
    p.add_argument("device_id", metavar="DEVICE_ID", help="the device id in the request")
    p.add_argument("--city", required=True, metavar="DIR", help="the directory made by `city init`")
    p.add_argument("--request", metavar="FILE", help="the device's request (without: a site bundle)")
    p.add_argument("--out", metavar="FILE", help="bundle file (default: DEVICE_ID-bundle.json)")
    p.add_argument("--replace", action="store_true", help="re-enrol a device that has a new signing key")
    p.add_argument(
        "--days", type=int, default=397, help="the device certificate's lifetime in days (1-397, default 397)"
    )
    p.set_defaults(func=cmd_city_enroll)

    p = sub.add_parser("provision", help="enrol and configure this device (wizard, or flags with --non-interactive)")
    p.add_argument("--root", default="/", help="provision this directory tree instead of / (images, tests)")
    p.add_argument("--non-interactive", action="store_true", help="never prompt; take answers from flags")
    p.add_argument("--device-id", help="this device's id (taken from the bundle when it has one)")
    p.add_argument("--camera", help="/dev/video0, picamera:0, rtsp://..., a GStreamer pipeline or a video file")
    p.add_argument("--bundle", metavar="FILE", help="the enrolment bundle from `edge-agent city enroll`")
    p.add_argument("--request-out", metavar="FILE", help="where to write the enrolment request")
    p.add_argument("--boot-dir", metavar="DIR", help="the boot partition (default: ROOT/boot/firmware or ROOT/boot)")
    p.add_argument("--location", help="free text shown in the status message")
    p.add_argument(
        "--reenrol",
        action="store_true",
        help="accept a bundle from another city than the one this device is enrolled to (replaces its CA, city key"
        " and receipt keys; logged). Never used by the first-boot unit",
    )
    p.add_argument("--no-camera-check", action="store_true", help="do not open the camera (image building)")
    p.add_argument("--no-enable", action="store_true", help="do not enable and start the service")
    p.add_argument("--no-doctor", action="store_true", help="do not run the self-test at the end")
    p.set_defaults(func=cmd_provision)

    p = sub.add_parser("doctor", help="self-test: camera, models, clock, keys, broker, disk, temperature")
    p.add_argument(
        "--config",
        default="/etc/edge-agent/edge-agent.yaml",
        metavar="FILE",
        help="the device config (default /etc/edge-agent/edge-agent.yaml)",
    )
    p.add_argument("--json", action="store_true", help="one JSON object for fleet tooling")
    p.add_argument("--skip", help="comma-separated checks to skip (e.g. camera,models)")
    p.add_argument("--camera-seconds", type=float, default=3.0, help="how long to measure the camera's frame rate")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("demo", help="a local city (broker, ingest) and a device replaying a bundled video")
    p.add_argument("--video", metavar="FILE", help="the video to replay (default: a bundled fixture)")
    p.add_argument("--workdir", metavar="DIR", help="keep the city, logs and spool here (default: a temp dir)")
    p.add_argument(
        "--records",
        action="store_true",
        help="also run the records service on PostgreSQL and search every read through its API as it arrives",
    )
    p.set_defaults(func=cmd_demo)

    p = bench_sub.add_parser("vision", help="per-model latency, int8 and float, p50/p99")
    p.add_argument("--threads", type=int, default=1, help="inference threads per model (default 1)")
    p.add_argument("--repeats", type=int, default=200, help="timed runs per model (default 200)")
    p.add_argument("--video", metavar="FILE", help="frames to run on (default: the 1080p bench fixture)")
    p.add_argument("--json", action="store_true", help="one JSON object")
    p.set_defaults(func=cmd_bench_vision)
    p = bench_sub.add_parser("pipeline", help="frames/s through the whole vision path vs decode-only")
    p.add_argument("--video", metavar="FILE", help="default: the 1080p bench fixture")
    p.add_argument("--threads", type=int, default=1, help="inference threads per model (default 1)")
    p.add_argument(
        "--settled-interval",
        type=float,
        metavar="S",
        help="vision.tracker.settled_interval for this run (default: the config default; 0 analyses every frame)",
    )
    p.add_argument("--json", action="store_true", help="one JSON object")
    p.set_defaults(func=cmd_bench_pipeline)

    from edge_agent.city.records.commands import add_commands as add_records_commands

    add_records_commands(sub)
    for register in _EXTRA_COMMANDS:
        register(sub)
    return parser


# Rooms that add commands register here (keeps this module a thin dispatcher).
_EXTRA_COMMANDS: list[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None]] = []


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `edge-agent` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.verbose, getattr(args, "log_level", None))
    handler: Handler = args.func
    try:
        return handler(args)
    except EdgeAgentError as exc:
        if args.verbose:
            traceback.print_exc()
        print(f"edge-agent: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug: say so in one line, full traceback only when asked
        if args.verbose:
            traceback.print_exc()
        else:
            logger.debug("unexpected error", exc_info=True)
        print(
            f"edge-agent: internal error: {type(exc).__name__}: {exc} (run with -v for the traceback)",
            file=sys.stderr,
        )
        return EXIT_RUNTIME


if __name__ == "__main__":
    sys.exit(main())
