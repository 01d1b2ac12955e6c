"""Logging: one line per event, timestamped, to stderr (and to a file when configured).

Nothing logged carries a secret: connectors put credentials only in headers, and
error messages name the variable that holds a secret, never its value.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys

from tracker.config import Settings

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _OneLine(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return super().format(record).replace("\n", " | ")


def setup_logging(settings: Settings, *, quiet: bool = False) -> None:
    """Configure our loggers (and APScheduler's, in the same format; it speaks at warnings only).

    `quiet` keeps stderr to warnings, for interactive commands.
    """
    level = getattr(logging, settings.logging.level.upper())
    formatter = _OneLine(FORMAT, datefmt="%Y-%m-%dT%H:%M:%S%z")
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    handlers[0].setLevel(max(level, logging.WARNING) if quiet else level)
    if settings.logging.file is not None:
        settings.logging.file.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):  # private (0600) from the start
            os.close(os.open(settings.logging.file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        handlers.append(logging.FileHandler(settings.logging.file, encoding="utf-8"))
    for handler in handlers:
        handler.setFormatter(formatter)
    for name, own_level in (("tracker", level), ("apscheduler", max(level, logging.WARNING))):
        logger = logging.getLogger(name)
        for old in list(logger.handlers):
            logger.removeHandler(old)
            old.close()
        logger.setLevel(own_level)
        logger.propagate = False
        for handler in handlers:
            logger.addHandler(handler)
