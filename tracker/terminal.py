"""Text for a terminal: control characters shown, never obeyed.

Titles, notes, authors and collected text come from people and platforms; printed
raw, an ESC sequence in one could retitle the terminal window, move the cursor,
hide lines or (on some terminals) write files. `clean` shows every control
character (C0, DEL and C1, ESC included) as a visible escape like `\\x1b`, keeping
newlines (and tabs) where a layout needs them. JSON output escapes them by itself.
"""

from __future__ import annotations

import re
import sys
from typing import IO

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_CONTROL_NO_NEWLINE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    char = match.group(0)
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean(text: str, *, newlines: bool = True) -> str:
    """`text` with every control character (and bidirectional override) escaped; newlines and
    tabs are kept unless `newlines` is False (then newlines are escaped too)."""
    pattern = _CONTROL if newlines else _CONTROL_NO_NEWLINE
    return pattern.sub(_escape, text)


class CleanWriter:
    """A text stream that escapes control characters before they reach `out` (a terminal)."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out

    def write(self, text: str) -> int:
        self.out.write(clean(text))
        return len(text)

    def flush(self) -> None:
        self.out.flush()


def is_terminal(stream: IO[str] | None = None) -> bool:
    stream = stream or sys.stdout
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
