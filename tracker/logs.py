"""Logging: one line per event, timestamped, to stderr (and to a file when configured).

Nothing logged carries a secret: connectors put credentials only in headers, and
error messages name the variable that holds a secret, never its value.
"""

from __future__ import annotations

import logging
import sys

from tracker.config import Settings

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _OneLine(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return super().format(record).replace("\n", " | ")


def setup_logging(settings: Settings, *, quiet: bool = False) -> None:
    """Configure the `tracker` loggers; `quiet` keeps stderr to warnings (interactive commands)."""
    root = logging.getLogger("tracker")
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    level = getattr(logging, settings.logging.level.upper())
    root.setLevel(level)
    root.propagate = False
    formatter = _OneLine(FORMAT, datefmt="%Y-%m-%dT%H:%M:%S%z")
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(max(level, logging.WARNING) if quiet else level)
    console.setFormatter(formatter)
    root.addHandler(console)
    if settings.logging.file is not None:
        settings.logging.file.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(settings.logging.file, encoding="utf-8")
        handler.setFormatter(formatter)
        root.addHandler(handler)
