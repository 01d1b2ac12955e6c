"""Errors a user can cause, and how the CLI turns them into exit codes.

`UserError` (and its subclasses) means bad usage, bad config or bad input: the CLI
prints its message as one line and exits 2 with nothing written. `OperationFailed`
means the operation ran and something failed: exit 1.
"""

from __future__ import annotations


class TrackerError(Exception):
    """Base of every error the product reports to a person without a traceback."""

    exit_code = 1


class UserError(TrackerError):
    """Bad usage, bad config or bad input; nothing was written."""

    exit_code = 2


class ConfigError(UserError):
    """The configuration is invalid; `problems` holds one line per problem, each naming the key."""

    def __init__(self, problems: list[str], source: str = "") -> None:
        self.problems = problems
        self.source = source
        where = f" in {source}" if source else ""
        super().__init__(f"invalid configuration{where}:\n" + "\n".join(problems))


class OperationFailed(TrackerError):
    """The operation ran and something failed (details were printed)."""

    exit_code = 1
