"""The audit log: who did what, when, kept in the database (`tracker audit`, /audit on the web).

Anything worth answering "who did this?" later calls `record` inside the transaction
that makes the change, so the event and the change are stored together or not at
all: logins (success and failure, with the client address), logouts, token
creation, revocation and use, user changes, and every change to an experiment.

Actors are named plainly: a web user by their name, a script by `token:NAME`, the
command line by `cli:LOGIN` (the operating-system account that ran it). No secret
is ever an argument: callers pass names and ids, never passwords or tokens.
"""

from __future__ import annotations

import getpass
import os
from datetime import datetime
from typing import Any, TypedDict

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.store.db import Store
from tracker.store.models import AuditEvent
from tracker.timeutil import iso_z, utcnow

MAX_FIELD = 200


def record(
    session: Session,
    actor: str | None,
    action: str,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
    *,
    client: str | None = None,
) -> None:
    """Add one event to the log, in the caller's transaction (`actor` None: the command line)."""
    session.add(
        AuditEvent(
            at=utcnow(),
            actor=(actor or cli_actor())[:MAX_FIELD],
            action=action[:50],
            target=target[:MAX_FIELD] if target else None,
            client=client[:100] if client else None,
            detail=detail or None,
        )
    )


def record_now(store: Store, actor: str | None, action: str, target: str | None = None,
               detail: dict[str, Any] | None = None, *, client: str | None = None) -> None:  # fmt: skip
    """`record` in a transaction of its own (for events that change nothing else, like a failed login)."""
    with store.write() as session:
        record(session, actor, action, target, detail, client=client)


def cli_actor() -> str:
    """The command line's actor: `cli:` and the operating-system login that ran it."""
    try:
        login = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container)
        login = f"uid{os.getuid()}" if hasattr(os, "getuid") else "unknown"
    return f"cli:{login}"


def author(session: Session, target: str, action: str = "experiment.create") -> str | None:
    """Who did `action` on `target` first (who registered an experiment), None when unrecorded."""
    query = (
        select(AuditEvent.actor)
        .where(AuditEvent.target == target, AuditEvent.action == action)
        .order_by(AuditEvent.id)
        .limit(1)
    )
    return session.scalar(query)


def events(store: Store, *, since: datetime | None = None, limit: int = 10_000) -> list[AuditRecord]:
    """Events oldest first (the newest `limit` of them), from `since` on when given."""
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if since is not None:
        query = query.where(AuditEvent.at >= since)
    with store.read() as session:
        rows = list(session.scalars(query))
    return [event_record(e) for e in reversed(rows)]


class AuditRecord(TypedDict):
    """One audit event as `tracker audit --json`, the web's audit page and the API give it."""

    id: int
    at: str
    actor: str
    action: str
    target: str | None
    client: str | None
    detail: dict[str, Any] | None


def event_record(event: AuditEvent) -> AuditRecord:
    return {
        "id": event.id,
        "at": iso_z(event.at),
        "actor": event.actor,
        "action": event.action,
        "target": event.target,
        "client": event.client,
        "detail": event.detail,
    }
