"""Named leases in the database: one holder at a time, and a crashed holder's lease runs out.

Several `tracker run` processes (on different machines) can share one PostgreSQL
database; a stream is collected by whichever takes its lease. Taking a lease is one
atomic INSERT ... ON CONFLICT DO UPDATE ... WHERE expired-or-mine, which PostgreSQL
and SQLite both evaluate under the row's lock, so two workers can never both win.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta
from functools import lru_cache
from typing import cast

from sqlalchemy import Table, delete, select

from tracker.store.db import Store, insert_for
from tracker.store.models import Lease
from tracker.timeutil import utcnow

LEASES = cast(Table, Lease.__table__)


@lru_cache(maxsize=1)
def worker_id() -> str:
    """This process, as other workers and `status` see it: host:pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


def acquire(
    store: Store, name: str, ttl: timedelta, *, holder: str | None = None, now: datetime | None = None
) -> bool:
    """Take (or extend) the lease `name` for `ttl`; False when another live holder has it."""
    holder = holder or worker_id()
    now = now or utcnow()
    _release_if_dead(store, name)
    with store.write() as session:
        insert = insert_for(store.dialect)(LEASES).values(name=name, holder=holder, expires_at=now + ttl)
        upsert = insert.on_conflict_do_update(
            index_elements=[LEASES.c.name],
            set_={"holder": holder, "expires_at": now + ttl},
            where=(LEASES.c.expires_at < now) | (LEASES.c.holder == holder),
        ).returning(LEASES.c.holder)
        return session.execute(upsert).scalar() == holder


def _release_if_dead(store: Store, name: str) -> None:
    """A lease held by a process of this host that no longer runs (killed, crashed) is void
    at once; a holder on another host can only be outlived (its lease expires)."""
    with store.read() as session:
        current = session.scalar(select(LEASES.c.holder).where(LEASES.c.name == name))
    if current is None or not _dead_here(current):
        return
    with store.write() as session:
        session.execute(delete(LEASES).where(LEASES.c.name == name, LEASES.c.holder == current))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def release(store: Store, name: str, *, holder: str | None = None) -> None:
    with store.write() as session:
        session.execute(
            delete(LEASES).where(LEASES.c.name == name, LEASES.c.holder == (holder or worker_id()))
        )


def holder_of(store: Store, name: str, *, now: datetime | None = None) -> str | None:
    """Who holds an unexpired lease, or None (also when the holder is a dead process of this host)."""
    now = now or utcnow()
    with store.read() as session:
        row = session.execute(
            select(LEASES.c.holder, LEASES.c.expires_at).where(LEASES.c.name == name)
        ).first()
    if row is None or row[1] < now or _dead_here(row[0]):
        return None
    return str(row[0])


def _dead_here(holder: str) -> bool:
    """True when `holder` is a process of this host that no longer runs."""
    host, _, pid = holder.rpartition(":")
    return host == socket.gethostname() and pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid))
