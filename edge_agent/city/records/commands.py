"""`edge-agent records ...`: the administrator's commands for the records service.

Every command reads the ``records`` section of a city config file (``--config``); ``--dsn`` overrides its
database, e.g. with a role that may create tables for ``migrate``. What an administrator does here (accounts,
exports, purges) is audited under the operating-system user who ran it, with the role ``administrator-cli``.
The web stack is imported only by ``serve``.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import logging
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from edge_agent.city.records import audit, schema
from edge_agent.city.records.roles import ROLES
from edge_agent.compat import UTC
from edge_agent.config import RecordsConfig
from edge_agent.errors import ConfigError, EdgeAgentError, InvalidInputError, RuntimeMissingError

logger = logging.getLogger(__name__)
CLI_ROLE = "administrator-cli"


class RecordsCommandError(EdgeAgentError):
    """A records command that could not be carried out (database unreachable, schema missing, ...)."""


def add_commands(sub: Any) -> None:
    """Register `records` and its actions on the CLI's subparsers."""
    records = sub.add_parser("records", help="the city's records service: schema, web service, accounts, audit")
    rsub = records.add_subparsers(dest="records_command", required=True, metavar="ACTION")

    def action(parent: Any, name: str, help_: str, func: Any) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = parent.add_parser(name, help=help_)
        p.add_argument("--config", required=True, metavar="FILE", help="city config with a records section")
        p.add_argument("--dsn", help="PostgreSQL DSN instead of records.dsn (e.g. an owner role for migrate)")
        p.set_defaults(func=func)
        return p

    def group(name: str, help_: str) -> Any:
        return rsub.add_parser(name, help=help_).add_subparsers(dest=f"{name}_command", required=True, metavar="ACTION")

    p = action(rsub, "migrate", "create or update the records schema (one transaction)", cmd_migrate)
    p.add_argument("--app-role", help="give this existing role the service's rights (audit: SELECT, INSERT only)")
    action(rsub, "serve", "run the web service (API and pages) and the scheduled purge", cmd_serve)
    action(rsub, "purge", "drop reads past retention now, keeping held ones (audited)", cmd_purge)

    usub = group("user", "accounts: add, disable, enable, reset-mfa")
    for name, help_, func in (
        ("add", "create an account; prints its one-time password and TOTP secret URI", cmd_user_add),
        ("disable", "disable an account and end its sessions", cmd_user_disable),
        ("enable", "enable a disabled account", cmd_user_enable),
        ("reset-mfa", "issue a new TOTP secret (the old authenticator stops working)", cmd_user_reset_mfa),
    ):
        p = action(usub, name, help_, func)
        p.add_argument("username", help="the account's user name")
        if name == "add":
            p.add_argument("--role", required=True, choices=ROLES, help="what the person may do (docs/records.md)")
            p.add_argument("--agency", help="a registered agency, for people of another agency (not the city's)")

    agencies = group("agency", "agencies whose people may have accounts")
    p = action(agencies, "add", "register an agency with its state (and whether it is federal)", cmd_agency_add)
    p.add_argument("name", help="the agency's name, as accounts will name it with --agency")
    p.add_argument("--state", required=True, help="two-letter state code, e.g. WA")
    p.add_argument("--federal", action="store_true", help="a federal agency (searches only with a warrant)")

    hot = group("hotlist", "hotlist entries")
    p = action(
        hot, "import", "import a CSV (plate,reason,source_agency,entered_by,expires[,tolerance])", cmd_hotlist_import
    )
    p.add_argument("file", help="CSV: plate, reason, source_agency, entered_by, expires[, tolerance 0 or 1]")

    asub = group("audit", "check or export the audit trail")
    action(asub, "verify", "recompute the hash chain; name the first broken entry", cmd_audit_verify)
    p = action(asub, "export", "write the entries of a date range as CSV or JSON", cmd_audit_export)
    p.add_argument("--from", dest="start", required=True, help="first day (YYYY-MM-DD, UTC)")
    p.add_argument("--to", dest="end", required=True, help="last day, included (YYYY-MM-DD, UTC)")
    p.add_argument("--format", choices=("csv", "json"), default="csv", help="output format (default csv)")
    p.add_argument("--out", help="file to write (default: standard output)")


def load_records_config(path: str) -> RecordsConfig:
    """The records section of a config file (a clear ConfigError when it is missing)."""
    from edge_agent.configfile import load_config

    cfg = load_config(Path(path), role="records")
    if cfg.records is None:
        raise ConfigError(f"{path}: no records section")
    return cfg.records


def dsn_of(cfg: RecordsConfig, override: str | None) -> str:
    """The DSN to use: --dsn, records.dsn_file or records.dsn."""
    if override:
        return override
    if cfg.dsn_file is not None:
        return cfg.dsn_file.read_text(encoding="utf-8").strip()
    if cfg.dsn:
        return cfg.dsn
    raise ConfigError("records: set records.dsn or records.dsn_file (or give --dsn)")


def connect(dsn: str) -> Any:
    """One psycopg connection, or a one-line error."""
    try:
        import psycopg
    except ImportError:
        raise RuntimeMissingError("the records service needs psycopg 3: pip install 'edge-agent[records]'") from None
    try:
        return psycopg.connect(dsn)
    except psycopg.Error as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise RecordsCommandError(f"cannot reach the records database ({first})") from None


@contextlib.contextmanager
def records_db(cfg: RecordsConfig, override: str | None) -> Iterator[Any]:
    """A connection to a records database whose schema this release can use; closed afterwards."""
    with _checked(dsn_of(cfg, override)) as conn:
        yield conn


@contextlib.contextmanager
def _checked(dsn: str) -> Iterator[Any]:
    conn = connect(dsn)
    try:
        require_schema(conn)
        yield conn
    finally:
        conn.close()


@contextlib.contextmanager
def records_pool(cfg: RecordsConfig, override: str | None, min_size: int = 1, max_size: int = 1) -> Iterator[Any]:
    """A psycopg pool on a records database whose schema was checked first."""
    try:
        from psycopg_pool import ConnectionPool
    except ImportError:
        raise RuntimeMissingError("the records service needs its extra: pip install 'edge-agent[records]'") from None
    dsn = dsn_of(cfg, override)
    with _checked(dsn):
        pass
    with ConnectionPool(dsn, min_size=min_size, max_size=max_size, open=True) as pool:
        yield pool


def require_schema(conn: Any) -> None:
    """Refuse to run against a database whose schema is older than this release's."""
    latest = max(v for v, _, _ in schema.migrations())
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("SELECT to_regclass('schema_migrations') IS NOT NULL")
        present = bool(cur.fetchone()[0])
        have = 0
        if present:
            cur.execute("SELECT coalesce(max(version), 0) FROM schema_migrations")
            have = int(cur.fetchone()[0])
    if have < latest:
        raise RecordsCommandError(
            f"the records schema is at version {have}, this release needs {latest}: run `edge-agent records migrate`"
        )


def _cli_audit(conn: Any, action: str, detail: dict[str, Any]) -> None:
    with conn.transaction(), conn.cursor() as cur:
        audit.append(cur, datetime.now(UTC), _os_user(), CLI_ROLE, action, detail)


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def cmd_migrate(args: argparse.Namespace) -> int:
    """Apply the schema."""
    cfg = load_records_config(args.config)
    conn = connect(dsn_of(cfg, args.dsn))
    try:
        import psycopg

        try:
            applied = schema.migrate(conn, app_role=args.app_role)
        except (psycopg.Error, ValueError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise RecordsCommandError(f"migration failed, nothing changed ({first})") from None
        if applied or args.app_role:
            _cli_audit(conn, "config", {"migrations": applied, "app_role": args.app_role})
    finally:
        conn.close()
    print(f"records schema: applied {', '.join(applied)}" if applied else "records schema: up to date")
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    """One purge now."""
    from edge_agent.city.records.service import RecordsService

    cfg = load_records_config(args.config)
    with records_pool(cfg, args.dsn) as pool:
        report = RecordsService(pool, cfg).purge(actor=_os_user())
    print(json.dumps(report.as_dict()))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """The web service and its purge schedule, until SIGTERM or SIGINT."""
    try:
        import uvicorn
    except ImportError:
        raise RuntimeMissingError("the records service needs its extra: pip install 'edge-agent[records]'") from None
    from edge_agent.city.records.app import create_app
    from edge_agent.city.records.service import RecordsService

    cfg = load_records_config(args.config)
    with records_pool(cfg, args.dsn, min_size=2, max_size=8) as pool:
        service = RecordsService(pool, cfg)
        if service.note_config():
            logger.info("records policy changed since it was last audited; the new one is in the audit log")
        stop = threading.Event()
        purger = threading.Thread(target=_purge_loop, args=(service, stop), name="records-purge", daemon=True)
        purger.start()
        from edge_agent.city.records.alerts import Announcer

        announcer = Announcer(service)
        if cfg.alerts_webhook or cfg.alerts_broker is not None:
            announcer.start()
        server = uvicorn.Server(
            uvicorn.Config(create_app(service), host=cfg.listen, port=cfg.port, log_level="warning", access_log=False)
        )
        logger.info("records service on http://%s:%d (retention %d days)", cfg.listen, cfg.port, cfg.retention_days)
        server.run()
        stop.set()
        announcer.stop()
    return 0


def _purge_loop(service: Any, stop: threading.Event) -> None:
    """Purge every records.purge_interval; check the audit chain at start and then once a day."""
    verified = 0.0
    while not stop.is_set():
        try:
            service.purge()
        except Exception:
            logger.exception("scheduled purge failed; retrying at the next interval")
        if time.monotonic() - verified >= 86_400 or not verified:
            try:
                service.verify_audit()
                verified = time.monotonic()
            except Exception:
                logger.exception("scheduled audit check failed; retrying at the next interval")
        stop.wait(service.cfg.purge_interval)


def _user_command(args: argparse.Namespace, what: str) -> int:
    from edge_agent.city.records import accounts

    cfg = load_records_config(args.config)
    with records_db(cfg, args.dsn) as conn:
        now = datetime.now(UTC)
        try:
            with conn.transaction(), conn.cursor() as cur:
                issued = None
                if what == "add":
                    issued = accounts.add_user(cur, args.username, args.role, now, agency=args.agency)
                elif what == "reset-mfa":
                    issued = accounts.reset_mfa(cur, args.username)
                else:
                    accounts.set_disabled(cur, args.username, what == "disable")
                detail = {"user": args.username}
                if what == "add":
                    detail.update({"role": args.role, "agency": args.agency})
                audit.append(cur, now, _os_user(), CLI_ROLE, f"user_{what.replace('-', '_')}", detail)
        except ValueError as exc:
            raise InvalidInputError(str(exc)) from None
    if issued is not None:
        # Shown once, to the administrator's terminal only; the database keeps a hash and the TOTP secret.
        if issued.password:
            print(f"one-time password: {issued.password}")
        print(f"authenticator (TOTP) URI: {issued.totp_uri}")
    else:
        print(f"user {args.username}: {what}d")
    return 0


def cmd_user_add(args: argparse.Namespace) -> int:
    """Create an account."""
    return _user_command(args, "add")


def cmd_user_disable(args: argparse.Namespace) -> int:
    """Disable an account."""
    return _user_command(args, "disable")


def cmd_user_enable(args: argparse.Namespace) -> int:
    """Enable an account."""
    return _user_command(args, "enable")


def cmd_user_reset_mfa(args: argparse.Namespace) -> int:
    """Issue a new TOTP secret."""
    return _user_command(args, "reset-mfa")


def cmd_audit_verify(args: argparse.Namespace) -> int:
    """Check the chain and record the check; exit 1 naming the first broken entry."""
    cfg = load_records_config(args.config)
    with records_db(cfg, args.dsn) as conn:
        verdict = audit.verify(conn)
        result = "intact" if verdict.ok else f"broken at entry {verdict.broken_id}"
        _cli_audit(conn, "audit_verify", {"result": result, "checked": verdict.checked})
    if verdict.ok:
        print(f"audit log: {verdict.checked} entries, chain intact")
        return 0
    print(
        f"audit log: BROKEN at entry {verdict.broken_id}: {verdict.why} ({verdict.checked} entries before it hold)",
        file=sys.stderr,
    )
    return 1


def cmd_agency_add(args: argparse.Namespace) -> int:
    """Register an agency."""
    from edge_agent.city.records import accounts

    cfg = load_records_config(args.config)
    with records_db(cfg, args.dsn) as conn:
        now = datetime.now(UTC)
        try:
            with conn.transaction(), conn.cursor() as cur:
                accounts.add_agency(cur, args.name, args.state, args.federal, now)
                detail = {"agency": args.name, "state": args.state, "federal": args.federal}
                audit.append(cur, now, _os_user(), CLI_ROLE, "agency_add", detail)
        except ValueError as exc:
            raise InvalidInputError(str(exc)) from None
    print(f"agency {args.name} ({args.state}{', federal' if args.federal else ''}) added")
    return 0


def cmd_hotlist_import(args: argparse.Namespace) -> int:
    """Import a hotlist file (all rows or none)."""
    from edge_agent.city.records.alerts import import_hotlist
    from edge_agent.city.records.service import RecordsError, RecordsService

    cfg = load_records_config(args.config)
    try:
        text = Path(args.file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"cannot read {args.file}: {exc}") from None
    with records_pool(cfg, args.dsn) as pool:
        try:
            result = import_hotlist(RecordsService(pool, cfg), _os_user(), CLI_ROLE, text)
        except RecordsError as exc:
            raise InvalidInputError(f"{args.file}: {exc.message}") from None
    print(f"hotlist: {result['entries']} entries imported; {result['alerts']} pending alert(s) among the held reads")
    return 0


def cmd_audit_export(args: argparse.Namespace) -> int:
    """Write a date range of the audit log."""
    cfg = load_records_config(args.config)
    try:
        start = datetime.strptime(args.start, "%Y-%m-%d").replace(tzinfo=UTC)
        end = datetime.strptime(args.end, "%Y-%m-%d").replace(tzinfo=UTC) + timedelta(days=1)
    except ValueError:
        raise InvalidInputError("--from and --to are days: YYYY-MM-DD") from None
    if end <= start:
        raise InvalidInputError("--to is before --from")
    with records_db(cfg, args.dsn) as conn:
        rows = audit.entries(conn, start, end, limit=10_000_000)
        _cli_audit(
            conn,
            "audit_export",
            {"start": start.isoformat(), "end": end.isoformat(), "format": args.format, "entries": len(rows)},
        )
    text = audit.export(rows, args.format)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"audit log: {len(rows)} entries written to {args.out}")
    else:
        sys.stdout.write(text)
    return 0
