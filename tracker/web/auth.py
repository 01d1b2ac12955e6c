"""Web users, API tokens and the session signing key.

Passwords are stored as argon2id hashes (argon2-cffi's defaults, rehashed on login
when those defaults grow). API tokens are 256 random bits shown once; only their
SHA-256 is stored (a slow hash buys nothing for a token nobody can guess, and a
plain digest can be looked up by index). Sessions are rows in the database
(`tracker/accounts.py`): the cookie carries only a random session id, and changing a
password ends every session of that user at once.

The key that signs session cookies is generated on first use and kept in a file
beside the configuration (`.tracker-session.key`, mode 0600): `tracker web rotate-key`
replaces it and ends every session, running servers included. It is never printed
or logged.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import re
import secrets
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select

from tracker.config import Settings
from tracker.errors import UserError
from tracker.store.db import Store
from tracker.store.models import User
from tracker.timeutil import utcnow

USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")
MIN_PASSWORD = 8
MAX_PASSWORD = 1024  # argon2 takes any length; a cap keeps a login request cheap
TOKEN_PREFIX = "trk_"
KEY_FILE = ".tracker-session.key"

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified when the name is unknown, so a wrong name costs as long as a wrong password."""
    return _hasher.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class Identity:
    """Who a request acts for: a signed-in user, or a script holding a token."""

    name: str
    via: str  # "session" | "token"
    user_id: int | None = None
    session_id: int | None = None
    token_id: int | None = None
    read_only: bool = False
    admin: bool = False


def fingerprint(password_hash: str) -> str:
    """Changes whenever the password does (a new salt each time)."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:20]


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# -- users ------------------------------------------------------------------------------------


def add_user(store: Store, name: str, password: str, *, admin: bool | None = None,
             actor: str | None = None) -> bool:  # fmt: skip
    """Create the user (True) or set a new password for an existing one (False).

    A new password ends every session of the user at once. The first user is an admin.
    """
    from tracker import accounts, audit

    if not USER_NAME.match(name):
        raise UserError(
            f"NAME: {name!r} is not a user name (letters, digits, '.', '_', '@' or '-', at most 100)"
        )
    if len(password) < MIN_PASSWORD:
        raise UserError(f"password: use at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise UserError(f"password: use at most {MAX_PASSWORD} characters")
    hashed = _hasher.hash(password)
    now = utcnow()
    with store.write() as session:
        user = session.scalars(select(User).where(User.name == name)).first()
        if user is None:
            first = not session.scalar(select(func.count()).select_from(User))
            is_admin = bool(first if admin is None else admin)
            session.add(User(name=name, password_hash=hashed, created_at=now, updated_at=now, admin=is_admin))
            audit.record(session, actor, "user.add", f"user:{name}", {"admin": is_admin})
            return True
        user.password_hash, user.updated_at = hashed, now
        if admin is not None:
            user.admin = admin
        ended = accounts.end_user_sessions(session, user.id, "password changed")
        audit.record(session, actor, "user.password", f"user:{name}", {"sessions_ended": ended})
        return False


def user_count(store: Store) -> int:
    with store.read() as session:
        return int(session.scalar(select(func.count()).select_from(User)) or 0)


def check_password(store: Store, name: str, password: str) -> tuple[int, str] | None:
    """(user id, password fingerprint) when the name and password match, else None.

    A disabled user's password never matches (the work of checking it is done all the same).
    """
    with store.read() as session:
        user = session.scalars(select(User).where(User.name == name)).first()
        found = (user.id, user.password_hash) if user and user.disabled_at is None else None
    if found is None or len(password) > MAX_PASSWORD:
        _verify(_dummy_hash(), password[:MAX_PASSWORD])
        return None
    user_id, hashed = found
    if not _verify(hashed, password):
        return None
    if _hasher.check_needs_rehash(hashed):
        hashed = _hasher.hash(password)
        with store.write() as session:
            row = session.get(User, user_id)
            if row is not None:
                row.password_hash = hashed
    return user_id, fingerprint(hashed)


def _verify(hashed: str, password: str) -> bool:
    try:
        return _hasher.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


def session_user(store: Store, user_id: object, print_: object) -> str | None:
    """The user's name when the session still holds (the user exists, same password)."""
    if not isinstance(user_id, int) or not isinstance(print_, str):
        return None
    with store.read() as session:
        user = session.get(User, user_id)
        if user is None or not hmac.compare_digest(fingerprint(user.password_hash), print_):
            return None
        return user.name


# -- tokens -----------------------------------------------------------------------------------


def create_token(store: Store, name: str) -> str:
    """A new API token (returned once; only its digest is stored)."""
    from tracker.accounts import create_token as create

    return create(store, name)[0]


def token_identity(store: Store, token: str, client: str | None = None) -> Identity | None:
    """Who a bearer token acts for; None when it is unknown, revoked or expired."""
    from tracker.accounts import use_token

    found = use_token(store, token, client=client)
    if found is None:
        return None
    return Identity(f"token:{found.name}", "token", user_id=found.user_id, token_id=found.token_id,
                    read_only=found.read_only)  # fmt: skip


# -- the session signing key ------------------------------------------------------------------


def key_path(settings: Settings) -> Path:
    return settings.directory / KEY_FILE


def session_key(settings: Settings) -> str:
    """The key beside the configuration, created (0600) on first use; racing servers agree on one."""
    path = key_path(settings)
    for _ in range(50):
        key = _read_key(path)
        if key:
            return key
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            time.sleep(0.02)  # another server is writing it right now
            continue
        except OSError as exc:
            raise UserError(f"cannot create the session key {path}: {exc.strerror}") from None
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_urlsafe(48) + "\n")
    key = _read_key(path)
    if not key:
        raise UserError(f"the session key {path} is unreadable or too short: delete it to make a new one")
    return key


def rotate_key(settings: Settings, store: Store, *, actor: str | None = None) -> int:
    """A new session key (0600, replacing the old one atomically) and every session ended.

    Running servers notice the new file on their next request: cookies signed with the
    old key are then refused, and the sessions they named are already ended.
    Returns how many sessions were ended.
    """
    from tracker.accounts import end_all_sessions

    path = settings.directory / KEY_FILE
    partial = path.with_name(path.name + f".{os.getpid()}.new")
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_urlsafe(48) + "\n")
        os.replace(partial, path)
    except OSError as exc:
        raise UserError(f"cannot write the session key {path}: {exc.strerror}") from None
    return end_all_sessions(store, "session key rotated", actor=actor)


def _read_key(path: Path) -> str | None:
    try:
        key = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read the session key {path}: {exc}") from None
    return key if len(key) >= 32 else None


# -- login throttling -------------------------------------------------------------------------


class LoginThrottle:
    """At most `limit` failed logins per client address in `window` seconds (in memory).

    The same limit holds per account (keys `account:NAME`): whoever spreads guesses over
    many addresses (or forged X-Forwarded-For values) locks that account for `window`
    seconds after `limit` failures, instead of guessing on. The cost is that a stranger
    can keep one account locked; its owner can still use API tokens, and an admin sees
    the failed logins (with their addresses) in the audit log.
    """

    def __init__(self, limit: int = 10, window: float = 900.0) -> None:
        self.limit, self.window = limit, window
        self._failures: dict[str, deque[float]] = {}
        self._reported: dict[str, float] = {}

    def blocked(self, client: str) -> bool:
        recent = self._recent(client)
        return len(recent) >= self.limit

    @staticmethod
    def account(name: str) -> str:
        return "account:" + name.strip().lower()[:200]

    def report_block(self, key: str) -> bool:
        """True at most once a minute per key: refused attempts are audited without letting
        someone who keeps trying fill the audit log."""
        now = time.monotonic()
        if now - self._reported.get(key, -60.0) < 60.0:
            return False
        self._reported[key] = now
        while len(self._reported) > 10_000:
            self._reported.pop(next(iter(self._reported)))
        return True

    def failed(self, client: str) -> None:
        self._recent(client).append(time.monotonic())
        while len(self._failures) > 10_000:  # forget the oldest keys rather than grow without end
            self._failures.pop(next(iter(self._failures)))

    def succeeded(self, client: str) -> None:
        """Forget a client's failures (an account's are kept: its lock runs its course)."""
        self._failures.pop(client, None)

    def _recent(self, client: str) -> deque[float]:
        recent = self._failures.setdefault(client, deque())
        while recent and recent[0] < time.monotonic() - self.window:
            recent.popleft()
        return recent
