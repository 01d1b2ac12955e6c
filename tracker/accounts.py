"""Managing web users, their server-side sessions, and API tokens.

Sessions live in the database (`web_sessions`): the browser's cookie carries a random
id of 256 bits, and only its SHA-256 is stored, so a copy of the database opens no
session. A session ends at once on logout, after `[web] session_idle` without a
request, `[web] session_lifetime` after login, and whenever its user's password
changes, the user is disabled or removed, or the session key is rotated: every
check reads the row, so no server needs restarting.

Tokens are shown once and stored as their SHA-256. Each may expire, be revoked
(401 from then on) or be read-only (403 on any write); its last use is kept (to the
minute, so busy scripts do not write on every call).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypedDict

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from tracker import audit
from tracker.errors import UserError
from tracker.store.db import Store
from tracker.store.models import ApiToken, User, WebSession
from tracker.timeutil import iso_z, parse_duration, utcnow

TOKEN_PREFIX = "trk_"
TOUCH_EVERY = timedelta(minutes=1)  # last_seen / last_used are written at most this often
MAX_USER_AGENT = 300


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


# -- users ------------------------------------------------------------------------------------


def find_user(session: Session, name: str) -> User:
    user = session.scalars(select(User).where(User.name == name)).first()
    if user is None:
        raise UserError(f"NAME: no user {name!r} (see `tracker user list`)")
    return user


class UserRecord(TypedDict):
    """A web user as `tracker user list --json` and the CLI show it (times in ISO 8601 UTC)."""

    name: str
    admin: bool
    disabled: bool
    disabled_at: str | None
    created_at: str
    updated_at: str
    sessions: int  # open web sessions


class TokenRecord(TypedDict):
    """An API token as `tracker token list --json` shows it; never the token itself."""

    id: int
    name: str
    user: str | None
    read_only: bool
    created_at: str
    expires_at: str | None
    last_used_at: str | None
    revoked_at: str | None
    state: str  # active, expired or revoked


def list_users(store: Store) -> list[UserRecord]:
    now = utcnow()
    with store.read() as session:
        users = list(session.scalars(select(User).order_by(User.name)))
        open_sessions: dict[int, int] = {}
        for row in session.scalars(select(WebSession).where(WebSession.ended_at.is_(None))):
            if _expired(row, now) is None:
                open_sessions[row.user_id] = open_sessions.get(row.user_id, 0) + 1
        return [
            {
                "name": u.name,
                "admin": bool(u.admin),
                "disabled": u.disabled_at is not None,
                "disabled_at": iso_z(u.disabled_at) if u.disabled_at else None,
                "created_at": iso_z(u.created_at),
                "updated_at": iso_z(u.updated_at),
                "sessions": open_sessions.get(u.id, 0),
            }
            for u in users
        ]


def set_disabled(store: Store, name: str, disabled: bool, *, actor: str | None = None) -> bool:
    """Disable (ending every session at once) or enable a user; False when nothing changed."""
    with store.write() as session:
        user = find_user(session, name)
        if (user.disabled_at is not None) == disabled:
            return False
        user.disabled_at = utcnow() if disabled else None
        user.updated_at = utcnow()
        if disabled:
            end_user_sessions(session, user.id, "user disabled")
        audit.record(session, actor, "user.disable" if disabled else "user.enable", f"user:{name}")
        return True


def remove_user(store: Store, name: str, *, actor: str | None = None) -> None:
    """Delete a user with their sessions and tokens (the audit log keeps their name)."""
    with store.write() as session:
        user = find_user(session, name)
        user_id = user.id
        session.expunge(user)
        session.execute(delete(ApiToken).where(ApiToken.user_id == user_id))
        session.execute(delete(WebSession).where(WebSession.user_id == user_id))
        session.execute(delete(User).where(User.id == user_id))
        audit.record(session, actor, "user.remove", f"user:{name}")


# -- sessions ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionUser:
    """Who an open session belongs to."""

    session_id: int
    user_id: int
    name: str
    admin: bool


def start_session(store: Store, user_id: int, *, client: str | None, user_agent: str | None) -> str:
    """A new session for the user; returns the id for the cookie (only its digest is stored)."""
    sid = secrets.token_urlsafe(32)
    now = utcnow()
    with store.write() as session:
        user = session.get(User, user_id)
        if user is None or user.disabled_at is not None:
            raise UserError("this user cannot sign in")
        session.add(
            WebSession(
                token_hash=digest(sid),
                user_id=user_id,
                created_at=now,
                last_seen_at=now,
                client=client[:100] if client else None,
                user_agent=user_agent[:MAX_USER_AGENT] if user_agent else None,
            )
        )
        audit.record(session, user.name, "login", f"user:{user.name}", client=client)
    return sid


def open_session(store: Store, sid: object, *, idle: timedelta, lifetime: timedelta) -> SessionUser | None:
    """The session's user while it holds; an expired one is ended (and None returned)."""
    if not isinstance(sid, str) or not 20 <= len(sid) <= 100:
        return None
    now = utcnow()
    with store.read() as session:
        row = session.scalars(select(WebSession).where(WebSession.token_hash == digest(sid))).first()
        if row is None or row.ended_at is not None:
            return None
        user = session.get(User, row.user_id)
        reason = _expired(row, now, idle, lifetime)
        if user is None or user.disabled_at is not None:
            reason = reason or "user disabled"
        found = SessionUser(row.id, row.user_id, user.name, bool(user.admin)) if user else None
        touch = now - row.last_seen_at >= TOUCH_EVERY
        row_id = row.id
    if reason is not None or found is None:
        with store.write() as session:
            session.execute(
                update(WebSession)
                .where(WebSession.id == row_id, WebSession.ended_at.is_(None))
                .values(ended_at=now, end_reason=reason)
            )
        return None
    if touch:
        with store.write() as session:
            session.execute(update(WebSession).where(WebSession.id == row_id).values(last_seen_at=now))
    return found


def _expired(
    row: WebSession, now: datetime, idle: timedelta | None = None, lifetime: timedelta | None = None
) -> str | None:
    if idle is not None and now - row.last_seen_at > idle:
        return "idle"
    if lifetime is not None and now - row.created_at > lifetime:
        return "lifetime"
    return None


def end_session(store: Store, session_id: int, *, actor: str, reason: str = "logout",
                client: str | None = None, user_id: int | None = None) -> bool:  # fmt: skip
    """End one session (of `user_id` when given: people end only their own); False if none was open."""
    with store.write() as session:
        row = session.get(WebSession, session_id)
        if row is None or row.ended_at is not None or (user_id is not None and row.user_id != user_id):
            return False
        row.ended_at, row.end_reason = utcnow(), reason
        audit.record(session, actor, "logout" if reason == "logout" else "session.end",
                     f"session:{session_id}", {"reason": reason}, client=client)  # fmt: skip
        return True


def end_user_sessions(session: Session, user_id: int, reason: str) -> int:
    result = session.execute(
        update(WebSession)
        .where(WebSession.user_id == user_id, WebSession.ended_at.is_(None))
        .values(ended_at=utcnow(), end_reason=reason)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def end_all_sessions(store: Store, reason: str, *, actor: str | None = None) -> int:
    with store.write() as session:
        result = session.execute(
            update(WebSession)
            .where(WebSession.ended_at.is_(None))
            .values(ended_at=utcnow(), end_reason=reason)
        )
        count = int(getattr(result, "rowcount", 0) or 0)
        audit.record(session, actor, "sessions.end_all", None, {"reason": reason, "sessions": count})
        return count


def user_sessions(
    store: Store, user_id: int, *, idle: timedelta, lifetime: timedelta
) -> list[dict[str, Any]]:
    """A user's open sessions, newest first."""
    now = utcnow()
    with store.read() as session:
        rows = session.scalars(
            select(WebSession)
            .where(WebSession.user_id == user_id, WebSession.ended_at.is_(None))
            .order_by(WebSession.id.desc())
        )
        return [
            {
                "id": r.id,
                "created_at": iso_z(r.created_at),
                "last_seen_at": iso_z(r.last_seen_at),
                "client": r.client,
                "user_agent": r.user_agent,
            }
            for r in rows
            if _expired(r, now, idle, lifetime) is None
        ]


# -- tokens -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenUse:
    token_id: int
    name: str
    read_only: bool
    user_id: int | None


def parse_expiry(value: str | None) -> timedelta | None:
    if value is None or value.strip().lower() in ("", "never"):
        return None
    try:
        return parse_duration(value)
    except ValueError:
        raise UserError(f'--expires: expected a duration like "90d" (or "never"), got {value!r}') from None


def create_token(
    store: Store,
    name: str,
    *,
    expires: timedelta | None = None,
    read_only: bool = False,
    user: str | None = None,
    actor: str | None = None,
) -> tuple[str, TokenRecord]:
    """A new token (returned once) and its record; only the digest is stored."""
    label = name.strip()
    if not label or len(label) > 200:
        raise UserError("--name: give a short description of what the token is for (at most 200)")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    with store.write() as session:
        owner = find_user(session, user) if user else None
        row = ApiToken(
            name=label,
            token_hash=digest(token),
            created_at=now,
            user_id=owner.id if owner else None,
            expires_at=now + expires if expires else None,
            read_only=read_only,
        )
        session.add(row)
        session.flush()
        audit.record(session, actor, "token.create", f"token:{row.id}",
                     {"name": label, "read_only": read_only, "expires_at": iso_z(row.expires_at)
                      if row.expires_at else None})  # fmt: skip
        return token, token_record(row, owner.name if owner else None, now)


def token_record(row: ApiToken, user: str | None, now: datetime) -> TokenRecord:
    state = (
        "revoked" if row.revoked_at else "expired" if row.expires_at and row.expires_at <= now else "active"
    )
    return {
        "id": row.id,
        "name": row.name,
        "user": user,
        "read_only": bool(row.read_only),
        "created_at": iso_z(row.created_at),
        "expires_at": iso_z(row.expires_at) if row.expires_at else None,
        "last_used_at": iso_z(row.last_used_at) if row.last_used_at else None,
        "revoked_at": iso_z(row.revoked_at) if row.revoked_at else None,
        "state": state,
    }


def list_tokens(store: Store, *, user_id: int | None = None) -> list[TokenRecord]:
    now = utcnow()
    with store.read() as session:
        names = {u.id: u.name for u in session.scalars(select(User))}
        query = select(ApiToken).order_by(ApiToken.id)
        if user_id is not None:
            query = query.where(ApiToken.user_id == user_id)
        return [
            token_record(t, names.get(t.user_id) if t.user_id else None, now) for t in session.scalars(query)
        ]


def revoke_token(
    store: Store, token_id: int, *, actor: str | None = None, user_id: int | None = None
) -> bool:
    """Revoke (401 from the next call on); False when it was already revoked."""
    with store.write() as session:
        row = session.get(ApiToken, token_id) if 0 < token_id < 2**62 else None
        if row is None or (user_id is not None and row.user_id != user_id):
            raise UserError(f"ID: no token with id {token_id} (see `tracker token list`)")
        if row.revoked_at is not None:
            return False
        row.revoked_at = utcnow()
        audit.record(session, actor, "token.revoke", f"token:{token_id}", {"name": row.name})
        return True


def use_token(store: Store, token: str, *, client: str | None = None) -> TokenUse | None:
    """The token's use when it is valid (not revoked, not expired, its user enabled); else None."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    now = utcnow()
    with store.read() as session:
        row = session.scalars(select(ApiToken).where(ApiToken.token_hash == digest(token))).first()
        if row is None or row.revoked_at is not None or (row.expires_at and row.expires_at <= now):
            return None
        if row.user_id is not None:
            owner = session.get(User, row.user_id)
            if owner is None or owner.disabled_at is not None:
                return None
        found = TokenUse(row.id, row.name, bool(row.read_only), row.user_id)
        touch = row.last_used_at is None or now - row.last_used_at >= TOUCH_EVERY
    if touch:  # the last use, and a "token.use" event, at most once a minute per token
        with store.write() as session:
            session.execute(update(ApiToken).where(ApiToken.id == found.token_id).values(last_used_at=now))
            audit.record(
                session, f"token:{found.name}", "token.use", f"token:{found.token_id}", client=client
            )
    return found
