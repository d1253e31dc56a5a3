"""`edge-agent records ...` as an administrator runs it: migrate, accounts, audit verify and export, purge."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from edge_agent.cli import main
from tests.records.conftest import RecordsDB, audit_actions


def _config(tmp_path: Path, dsn: str) -> str:
    path = tmp_path / "city.yaml"
    path.write_text(f"version: 1\nrecords:\n  dsn: '{dsn}'\n  retention_days: 30\n", encoding="utf-8")
    return str(path)


def test_migrate_users_verify_and_export(
    records_db: RecordsDB, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = _config(tmp_path, records_db.app_dsn)
    admin = ["--dsn", records_db.admin_dsn]
    assert main(["records", "migrate", "--config", cfg, *admin]) == 0
    assert "up to date" in capsys.readouterr().out

    assert main(["records", "user", "add", "bob", "--role", "investigator", "--config", cfg]) == 0
    out = capsys.readouterr().out
    assert "one-time password: " in out and "otpauth://totp/" in out and "bob" in out
    assert main(["records", "user", "add", "bob", "--role", "auditor", "--config", cfg]) == 2
    assert "exists already" in capsys.readouterr().err
    assert main(["records", "user", "disable", "bob", "--config", cfg]) == 0
    assert main(["records", "user", "reset-mfa", "bob", "--config", cfg]) == 0
    assert "otpauth://totp/" in capsys.readouterr().out
    assert [a for _, a, _ in audit_actions(records_db)] == ["user_add", "user_disable", "user_reset_mfa"]

    assert main(["records", "audit", "verify", "--config", cfg]) == 0
    assert "3 entries, chain intact" in capsys.readouterr().out
    out_file = tmp_path / "audit.json"
    assert main(["records", "audit", "export", "--config", cfg, "--from", "2000-01-01", "--to", "2100-01-01",
                 "--format", "json", "--out", str(out_file)]) == 0  # fmt: skip
    exported = json.loads(out_file.read_text())
    assert [e["action"] for e in exported] == ["user_add", "user_disable", "user_reset_mfa", "audit_verify"]
    assert exported[-1]["detail"] == {"result": "intact", "checked": 3}

    with psycopg.connect(records_db.admin_dsn, autocommit=True) as conn:
        conn.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update")
        conn.execute("UPDATE audit_log SET actor = 'someone-else' WHERE id = 2")
        conn.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update")
    capsys.readouterr()
    assert main(["records", "audit", "verify", "--config", cfg]) == 1
    assert "BROKEN at entry 2" in capsys.readouterr().err


def test_purge_and_clear_errors(records_db: RecordsDB, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _config(tmp_path, records_db.app_dsn)
    assert main(["records", "purge", "--config", cfg]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["reads_dropped"] == 0 and report["partitions"] == []
    assert [a for _, a, _ in audit_actions(records_db)] == ["purge"]

    bad = _config(tmp_path, "host=127.0.0.1 port=1 user=nobody dbname=none connect_timeout=2")
    assert main(["records", "audit", "verify", "--config", bad]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("edge-agent: error: cannot reach the records database") and "\n" not in err

    empty = tmp_path / "empty.yaml"
    empty.write_text("version: 1\nrecords:\n  retention_days: 0\n", encoding="utf-8")
    assert main(["records", "purge", "--config", str(empty)]) == 2
    assert "retention_days" in capsys.readouterr().err
