"""Failures of the machine rather than of the input: a full disk, a damaged or foreign
database file, a file the tracker may not write. Each becomes one line naming the file
and what to do, instead of "unexpected OperationalError".
"""

from __future__ import annotations

import errno


def explain(exc: BaseException, database: str | None) -> str | None:
    """One line for a known failure of the machine, or None when it is not one of them."""
    from sqlalchemy.exc import DBAPIError

    where = _database_label(database)
    if isinstance(exc, DBAPIError):
        text = str(exc.orig or exc).lower()
        if "disk is full" in text or "no space" in text:
            return (f"the disk holding the database {where} is full: free some space "
                    "(or move database.url elsewhere), then run the command again")  # fmt: skip
        if "not a database" in text or "malformed" in text or "corrupt" in text:
            return (f"the database {where} is damaged or is not a tracker database: restore it from a "
                    "backup, or move it away and run the command again to start an empty one")  # fmt: skip
        if "readonly" in text or "read-only" in text:
            return f"the database {where} is read-only: let the tracker's user write it and its folder"
        if "unable to open" in text:
            return f"cannot open the database {where}: check that its folder exists and is writable"
        if "locked" in text:
            return f"the database {where} stayed locked by another process: run the command again"
        return None
    if isinstance(exc, OSError):
        name = f" {exc.filename}" if exc.filename else ""
        if exc.errno == errno.ENOSPC:
            return f"no space left on the device for{name or ' a file'}: free some space, then run it again"
        if exc.errno == errno.EDQUOT:
            return f"the disk quota is used up writing{name or ' a file'}: free some space, then run again"
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return f"cannot write{name or ' a file'}: {exc.strerror}: give the tracker's user access to it"
    if isinstance(exc, RecursionError):
        return "a file the command read nests too deeply to be processed: check the files it was given"
    return None


def _database_label(url: str | None) -> str:
    if not url:
        return "(database.url)"
    if url.startswith("sqlite:///"):
        return url.removeprefix("sqlite:///")
    from tracker.store.db import redact_url

    return redact_url(url)
