"""People who may use the records: local accounts, argon2 password hashes, mandatory TOTP, lock-out, sessions.

argon2-cffi hashes passwords (argon2id, its maintained defaults, rehashed when they change); pyotp checks the
RFC 6238 codes, a step either side allowed for clock drift, and a code once used is refused again (the last
accepted step is stored). After ``lockout_after`` failures in a row an account is locked for ``lockout_minutes``;
the lock and every login, good or bad, are audited by the caller.

A session is a random token in a cookie; the database keeps only its SHA-256, the user and the CSRF token that
every state-changing request must echo.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from edge_agent.city.records.roles import ROLES

ISSUER = "edge-agent records"
_hasher = PasswordHasher()
# A hash to verify against when the user does not exist, so that the answer takes as long either way.
_DUMMY = _hasher.hash("not a password of anyone")


class LoginRefusedError(Exception):
    """A login that did not succeed; `reason` is for the audit log, the person sees one message for all."""

    def __init__(self, reason: str, user: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.user = user


@dataclass(frozen=True)
class Principal:
    """Who is signed in on a session."""

    user_id: int
    username: str
    role: str
    csrf_token: str
    agency: str | None = None  # None: the city's own staff
    agency_state: str | None = None
    federal: bool = False


@dataclass(frozen=True)
class NewAccount:
    """What the administrator hands to a new user (or after a reset): shown once, never stored in clear."""

    username: str
    password: str | None
    totp_uri: str


def _totp_uri(username: str, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)


def add_agency(cur: Any, name: str, state: str, federal: bool, now: datetime) -> int:
    """Register an agency whose people may be given accounts; returns its id."""
    if not (len(state) == 2 and state.isalpha() and state.isupper()):
        raise ValueError(f"state {state!r} is a two-letter code such as WA")
    if not 2 <= len(name.strip()) <= 120:
        raise ValueError("an agency's name has 2 to 120 characters")
    cur.execute(
        "INSERT INTO agencies (name, state, federal, created_at) VALUES (%s, %s, %s, %s) "
        "ON CONFLICT (name) DO NOTHING RETURNING id",
        (name.strip(), state, federal, now),
    )
    row = cur.fetchone()
    if row is None:
        raise ValueError(f"agency {name!r} exists already")
    return int(row[0])


def add_user(
    cur: Any, username: str, role: str, now: datetime, password: str | None = None, agency: str | None = None
) -> NewAccount:
    """Create an account with a fresh TOTP secret (and a random password unless one is given).

    `agency` names a registered agency for people of another agency; the city's own staff have none.
    """
    agency_id = None
    if agency is not None:
        cur.execute("SELECT id FROM agencies WHERE name = %s", (agency,))
        found = cur.fetchone()
        if found is None:
            raise ValueError(f"no agency {agency!r}: add it first (edge-agent records agency add)")
        agency_id = int(found[0])
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    given = password is not None
    password = password if password is not None else secrets.token_urlsafe(12)
    if len(password) < 12:
        raise ValueError("a password needs at least 12 characters")
    secret = pyotp.random_base32()
    cur.execute(
        "INSERT INTO users (username, role, password_hash, totp_secret, created_at, agency_id) "
        "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (username) DO NOTHING",
        (username, role, _hasher.hash(password), secret, now, agency_id),
    )
    if cur.rowcount == 0:
        raise ValueError(f"user {username!r} exists already")
    return NewAccount(username, None if given else password, _totp_uri(username, secret))


def set_disabled(cur: Any, username: str, disabled: bool) -> None:
    """Disable (or enable) an account; its sessions end."""
    cur.execute("UPDATE users SET disabled = %s WHERE username = %s RETURNING id", (disabled, username))
    row = cur.fetchone()
    if row is None:
        raise ValueError(f"no user {username!r}")
    cur.execute("DELETE FROM sessions WHERE user_id = %s", (row[0],))


def reset_mfa(cur: Any, username: str) -> NewAccount:
    """A new TOTP secret (the old authenticator stops working); the account's sessions end."""
    secret = pyotp.random_base32()
    cur.execute(
        "UPDATE users SET totp_secret = %s, last_totp_step = 0, failed_logins = 0, locked_until = NULL "
        "WHERE username = %s RETURNING id",
        (secret, username),
    )
    row = cur.fetchone()
    if row is None:
        raise ValueError(f"no user {username!r}")
    cur.execute("DELETE FROM sessions WHERE user_id = %s", (row[0],))
    return NewAccount(username, None, _totp_uri(username, secret))


def totp_secret(cur: Any, username: str) -> str:
    """The account's TOTP secret (for tests and the administrator's re-issue; never logged)."""
    cur.execute("SELECT totp_secret FROM users WHERE username = %s", (username,))
    row = cur.fetchone()
    if row is None:
        raise ValueError(f"no user {username!r}")
    return str(row[0])


def check_login(
    cur: Any,
    username: str,
    password: str,
    code: str,
    now: datetime,
    lockout_after: int,
    lockout: timedelta,
) -> tuple[int, str]:
    """(user id, role) when password and TOTP code are right; raises LoginRefusedError otherwise.

    Counts failures and locks the account after `lockout_after` in a row; the caller commits either way (the
    count must survive a refusal) and audits the outcome.
    """
    cur.execute(
        "SELECT id, role, password_hash, totp_secret, disabled, failed_logins, locked_until, last_totp_step "
        "FROM users WHERE username = %s FOR UPDATE",
        (username,),
    )
    row = cur.fetchone()
    if row is None:
        _verify(_DUMMY, password)
        raise LoginRefusedError("unknown user", username)
    user_id, role, pw_hash, secret, disabled, failed, locked_until, last_step = row
    if disabled:
        raise LoginRefusedError("account disabled", username)
    if locked_until is not None and locked_until > now:
        raise LoginRefusedError("account locked", username)
    step = _totp_step(secret, code, now)
    if not _verify(pw_hash, password) or step is None or step <= last_step:
        failed += 1
        locked = now + lockout if failed >= lockout_after else None
        cur.execute(
            "UPDATE users SET failed_logins = %s, locked_until = %s WHERE id = %s",
            (0 if locked else failed, locked, user_id),
        )
        if step is not None and step <= last_step:
            raise LoginRefusedError("TOTP code used before", username)
        why = "account locked after repeated failures" if locked else "wrong password or code"
        raise LoginRefusedError(why, username)
    new_hash = _hasher.hash(password) if _hasher.check_needs_rehash(pw_hash) else pw_hash
    cur.execute(
        "UPDATE users SET failed_logins = 0, locked_until = NULL, last_totp_step = %s, password_hash = %s "
        "WHERE id = %s",
        (step, new_hash, user_id),
    )
    return int(user_id), str(role)


def _verify(pw_hash: str, password: str) -> bool:
    try:
        return bool(_hasher.verify(pw_hash, password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _totp_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step `code` belongs to (now, or one either side), or None when it is no valid code."""
    if not (len(code) == 6 and code.isdigit()):
        return None
    totp = pyotp.TOTP(secret)
    for drift in (0, -1, 1):
        at = now + timedelta(seconds=drift * totp.interval)
        if secrets.compare_digest(totp.at(at), code):
            return int(at.timestamp()) // totp.interval
    return None


def open_session(cur: Any, user_id: int, now: datetime, lifetime: timedelta) -> tuple[str, str]:
    """(cookie token, CSRF token) of a new session."""
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)
    cur.execute("DELETE FROM sessions WHERE expires_at < %s", (now,))
    cur.execute(
        "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at) VALUES (%s, %s, %s, %s, %s)",
        (_digest(token), user_id, csrf, now, now + lifetime),
    )
    return token, csrf


def session(cur: Any, token: str, now: datetime) -> Principal | None:
    """Who holds `token`, if the session is alive and the account enabled."""
    cur.execute(
        "SELECT u.id, u.username, u.role, s.csrf_token, a.name, a.state, coalesce(a.federal, false) "
        "FROM sessions s JOIN users u ON u.id = s.user_id LEFT JOIN agencies a ON a.id = u.agency_id "
        "WHERE s.token_hash = %s AND s.expires_at > %s AND NOT u.disabled",
        (_digest(token), now),
    )
    row = cur.fetchone()
    if row is None:
        return None
    return Principal(int(row[0]), str(row[1]), str(row[2]), str(row[3]), row[4], row[5], bool(row[6]))


def close_session(cur: Any, token: str) -> None:
    """End a session (logout)."""
    cur.execute("DELETE FROM sessions WHERE token_hash = %s", (_digest(token),))


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
