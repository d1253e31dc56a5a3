"""Loading the YAML config with errors a field technician can act on.

Each problem is one line: ``file:line: key.path = 'bad value': what is expected (did you mean ...?)``. Lines come
from the YAML node marks, so they point at the offending key even when pydantic only knows the key path.
"""

from __future__ import annotations

import difflib
import os
import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from edge_agent.config import Config, device_problems, ingest_problems
from edge_agent.errors import ConfigError

KeyPath = tuple[str | int, ...]
# Where `edge-agent provision` stores keys; `credential:NAME` resolves here outside systemd (or in the `keys`
# directory next to the config file, which is the same place for a provisioned device and also works for a
# directory tree provisioned with --root).
DEFAULT_CREDENTIALS_DIR = Path("/etc/edge-agent/keys")


def credentials_dir(config_path: Path) -> Path:
    """Where `credential:NAME` values are read from when systemd did not set $CREDENTIALS_DIRECTORY."""
    if "EDGE_AGENT_CREDENTIALS" in os.environ:
        return Path(os.environ["EDGE_AGENT_CREDENTIALS"])
    beside = config_path.resolve().parent / "keys"
    return beside if beside.is_dir() else DEFAULT_CREDENTIALS_DIR


Role = Literal["any", "device", "ingest", "records"]

_PATTERN_HINTS = {
    r"^[a-z0-9][a-z0-9-]{0,62}$": "lower-case letters, digits and '-', starting with a letter or digit",
    r"^[a-z0-9][a-z0-9_-]{0,31}$": "up to 32 lower-case letters, digits, '_' or '-'",
    r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$": "topic levels of letters, digits, '_' or '-', separated by '/'",
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a config file."""

    file: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


def format_key(loc: KeyPath) -> str:
    """``('cameras', 0, 'fps')`` -> ``cameras[0].fps``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def _line_map(root: yaml.Node) -> tuple[dict[KeyPath, int], list[tuple[KeyPath, int]]]:
    """Map every key path to its 1-based line, and list duplicated keys."""
    lines: dict[KeyPath, int] = {(): root.start_mark.line + 1}
    dupes: list[tuple[KeyPath, int]] = []

    def walk(node: yaml.Node, path: KeyPath) -> None:
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key_node, value_node in node.value:
                key = str(key_node.value)
                child = (*path, key)
                if key in seen:
                    dupes.append((child, key_node.start_mark.line + 1))
                seen.add(key)
                lines[child] = key_node.start_mark.line + 1
                walk(value_node, child)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                child = (*path, i)
                lines[child] = item.start_mark.line + 1
                walk(item, child)

    walk(root, ())
    return lines, dupes


def _line_for(lines: dict[KeyPath, int], loc: KeyPath) -> int | None:
    for n in range(len(loc), -1, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return None


def _model_fields_at(loc: KeyPath) -> list[str]:
    """Field names of the config section at `loc`, for "did you mean" suggestions."""
    current: Any = Config
    for part in loc:
        current = _unwrap(current)
        if isinstance(part, int):
            args = typing.get_args(current)
            current = args[0] if args else None
        elif isinstance(current, type) and issubclass(current, BaseModel) and part in current.model_fields:
            current = current.model_fields[part].annotation
        else:
            return []
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _unwrap(tp: Any) -> Any:
    """Strip Optional and Annotated so a section's model class is reachable."""
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(tp) if a is not type(None)]
            tp = members[0] if len(members) == 1 else tp
            if len(members) != 1:
                return tp
        else:
            return tp


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _did_you_mean(word: str, options: list[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _describe(err: ErrorDetails) -> tuple[KeyPath, str]:
    """Key path and a one-line message for one pydantic error."""
    loc: KeyPath = tuple(p for p in err["loc"] if isinstance(p, int) or ("[" not in p and "(" not in p))
    kind = err["type"]
    ctx = err.get("ctx", {}) or {}
    value = err.get("input")
    if kind == "extra_forbidden":
        key = str(loc[-1]) if loc else "?"
        return loc, "unknown key" + _did_you_mean(key, _model_fields_at(loc[:-1]))
    if kind == "missing":
        return loc, "missing: this key is required"
    shown = _show(value)
    if kind == "literal_error":
        options = [o.strip().strip("'") for o in str(ctx.get("expected", "")).replace(" or ", ", ").split(",")]
        hint = _did_you_mean(str(value), options) if isinstance(value, str) else ""
        return loc, f"{shown} is not valid: expected {ctx.get('expected')}{hint}"
    if kind == "enum":
        return loc, f"{shown} is not valid: expected {ctx.get('expected')}"
    if kind == "string_pattern_mismatch":
        hint = _PATTERN_HINTS.get(str(ctx.get("pattern")), f"text matching {ctx.get('pattern')}")
        return loc, f"{shown} is not valid: expected {hint}"
    bounds = {
        "greater_than": ">",
        "greater_than_equal": ">=",
        "less_than": "<",
        "less_than_equal": "<=",
    }
    if kind in bounds:
        limit = next(iter(ctx.values()), "?")
        return loc, f"{shown} is out of range: expected a number {bounds[kind]} {limit}"
    if kind == "multiple_of":
        return loc, f"{shown} is not valid: expected a multiple of {ctx.get('multiple_of')}"
    if kind in ("too_short", "too_long"):
        return loc, f"{shown} has the wrong length: {err['msg'].lower()}"
    message = err["msg"]
    if kind in ("value_error", "assertion_error"):
        message = message.split(", ", 1)[1] if message.startswith(("Value error", "Assertion failed")) else message
        # A validator's message names the bad item itself; "a list: ..." would only hide it.
        return loc, f"{shown}: {message}" if loc and not isinstance(value, dict | list) else message
    return loc, f"{shown} is not valid: expected {_expectation(message)}"


def _expectation(message: str) -> str:
    """pydantic's "Input should be a valid integer, unable to parse ..." -> "a valid integer"."""
    text = message.removeprefix("Input should be ").split(", unable to", 1)[0]
    text = re.sub(r"a valid dictionary or instance of \w+", "a mapping of settings", text)
    return text[0].lower() + text[1:] if text else message


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a config file") from None
    except PermissionError:
        raise ConfigError(
            f"{path}: cannot read the config file (permission denied): check its owner and mode"
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: is not UTF-8 text: is this the right file?") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc.strerror}") from None


def records_problems(cfg: Config) -> list[tuple[KeyPath, str]]:
    """What the records service needs beyond a valid file: the section and a database."""
    if cfg.records is None:
        return [(("records",), "required for the records service")]
    if not (cfg.records.dsn or cfg.records.dsn_file):
        return [(("records", "dsn"), "set records.dsn or records.dsn_file (the records database)")]
    return []


def check_config(path: Path | str, role: Role = "any", check_files: bool = True) -> tuple[Config | None, list[Problem]]:
    """Parse and validate a config file; returns the config (None if invalid) and every problem found."""
    path = Path(path)
    name = str(path)
    text = _read_text(path)
    if not text.strip():
        return None, [Problem(name, None, "", "the file is empty: start from examples/edge-agent.yaml")]
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        detail = exc.problem or exc.context or "syntax error"
        return None, [Problem(name, line, "", f"YAML syntax error: {detail}")]
    except yaml.YAMLError as exc:
        return None, [Problem(name, None, "", f"YAML error: {exc}")]
    if root is None or data is None:
        return None, [Problem(name, None, "", "the file holds no settings: start from examples/edge-agent.yaml")]
    if not isinstance(data, dict):
        found = "a list" if isinstance(data, list) else f"a {type(data).__name__}"
        return None, [
            Problem(
                name,
                1,
                "",
                f"the top level must be a mapping of sections (device:, cameras:, ...), found {found}",
            )
        ]
    lines, dupes = _line_map(root)
    problems = [
        Problem(name, line, format_key(loc), "appears twice; the last one would win silently") for loc, line in dupes
    ]
    context = {
        "base_dir": path.resolve().parent,
        "check_files": check_files,
        "credentials_dir": str(credentials_dir(path)),
    }
    try:
        cfg = Config.model_validate(data, context=context)
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            loc, message = _describe(err)
            problems.append(Problem(name, _line_for(lines, loc), format_key(loc), message))
        return None, problems
    role_problems: list[tuple[KeyPath, str]] = []
    if role == "device" or (role == "any" and cfg.is_device):
        role_problems += device_problems(cfg)
        if not cfg.cameras:
            role_problems.append((("cameras",), "required for a device: list at least one camera"))
    if role == "ingest" or (role == "any" and cfg.ingest is not None):
        role_problems += ingest_problems(cfg)
    if role == "records" or (role == "any" and cfg.records is not None):
        role_problems += records_problems(cfg)
    for loc, message in role_problems:
        problems.append(Problem(name, _line_for(lines, loc), format_key(loc), message))
    return (None if problems else cfg), problems


def load_config(path: Path | str, role: Role = "any", check_files: bool = True) -> Config:
    """Load a config file or raise `ConfigError` listing every problem."""
    cfg, problems = check_config(path, role=role, check_files=check_files)
    if cfg is None:
        first = str(problems[0]) if problems else f"{path}: invalid config"
        more = f" (and {len(problems) - 1} more: run `edge-agent check-config {path}`)" if len(problems) > 1 else ""
        raise ConfigError(first + more, [str(p) for p in problems])
    return cfg


def summary(cfg: Config) -> str:
    """One line describing a valid config."""
    parts = []
    if cfg.is_device:
        cams = ", ".join(f"{c.name} ({c.kind})" for c in cfg.cameras)
        parts.append(f"device {cfg.device.id}: {len(cfg.cameras)} camera(s) [{cams}]")
        parts.append(f"broker {cfg.uplink.host}:{cfg.uplink.port} ack={cfg.uplink.ack}")
        parts.append(f"spool {cfg.spool_path}")
    if cfg.ingest is not None:
        ing = cfg.ingest
        group = f" group {ing.shared_group}" if ing.shared_group else ""
        parts.append(f"ingest from {ing.broker.host}:{ing.broker.port}{group} into {ing.store.kind}")
    return "; ".join(parts) if parts else "valid, but configures neither a device nor an ingest"
