"""An operating-system failure in product words: the path, the reason, what to do.

Kept apart from tracker/cli_messages.py (which knows Typer) so the demo and the services
can word such failures without importing the command line.
"""

from __future__ import annotations

import errno


def os_problem(exc: OSError, doing: str = "") -> str:
    """`cannot write /proc/nope: no such file or directory` (never the exception's class)."""
    where = exc.filename if exc.filename is not None else ""
    reason = (exc.strerror or errno.errorcode.get(exc.errno or 0, "failed")).lower()
    hints = {
        errno.ENOENT: "check the path, or create its folder first",
        errno.EACCES: "check its permissions, or choose another place",
        errno.EPERM: "check its permissions, or choose another place",
        errno.EROFS: "choose a writable place",
        errno.ENOSPC: "free some space",
        errno.EEXIST: "choose another name, or remove it first",
        errno.ENOTDIR: "a part of the path is a file, not a folder",
        errno.EADDRINUSE: "choose another --port, or stop what listens there",
    }
    hint = hints.get(exc.errno or 0)
    subject = f"{doing} {where}".strip()
    return (f"{subject}: {reason}" if subject else reason) + (f" ({hint})" if hint else "")
