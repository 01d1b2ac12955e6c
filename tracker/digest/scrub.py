"""Removing a password from text in every form SMTP authentication carries it.

AUTH LOGIN sends base64(password); AUTH PLAIN sends base64("\\0user\\0password"), where
the password starts at any byte offset modulo 3, so its base64 shares no fixed
substring with base64(password). A server that echoes what it got (in a 535 reply,
possibly split over several reply lines) puts any of these in an error message.

`scrub` therefore (1) removes the password itself, (2) decodes every run of base64
characters, whitespace inside it allowed, at each of the four alignments, and
blanks the characters that encode the password or any 8 bytes of it in a row (a
reply cut short leaks most of a password too), and (3) removes the part of
base64(k bytes + password) that depends on the password alone, for k = 0, 1, 2, which
catches a run cut short. It works on the raw text, before any whitespace is joined.
"""

from __future__ import annotations

import base64
import binascii
import re

MASK = "***"
WINDOW = 8  # this many bytes of the password in a row count as a leak
_RUN = re.compile(r"[A-Za-z0-9+/=](?:[A-Za-z0-9+/=]|\s)*")
_B64_CHAR = re.compile(r"[A-Za-z0-9+/=]")


def scrub(text: str, password: str | None) -> str:
    """`text` without the password: plain, in base64 at any alignment, whole or in part."""
    if not password:
        return text
    secret = password.encode()
    text = text.replace(password, MASK)
    text = _decoded_runs(text, secret)
    for core in cores(secret):
        text = text.replace(core, MASK)
    return text


def cores(secret: bytes) -> list[str]:
    """The characters of base64(k bytes + secret), k = 0..2, that depend on the secret alone."""
    found = []
    for k in range(3):
        encoded = base64.b64encode(b"\0" * k + secret).decode()
        start = 4 if k else 0  # the first group mixes the prefix with the secret
        end = len(encoded) if (k + len(secret)) % 3 == 0 else len(encoded) - 4  # the last may be partial
        core = encoded[start:end]
        if len(core) >= 4:
            found.append(core)
    return found


def _decoded_runs(text: str, secret: bytes) -> str:
    for _ in range(50):  # each pass blanks one occurrence; a message holds a handful at most
        span = _find(text, secret)
        if span is None:
            return text
        text = text[: span[0]] + MASK + text[span[1] :]
    return text


def _find(text: str, secret: bytes) -> tuple[int, int] | None:
    """The span of `text` whose base64 characters encode `secret`, if any run does."""
    for run in _RUN.finditer(text):
        where = [run.start() + m.start() for m in _B64_CHAR.finditer(run.group(0))]
        compact = "".join(text[i] for i in where).rstrip("=")
        for shift in range(4):
            chunk = compact[shift:]
            chunk = chunk[: len(chunk) - len(chunk) % 4]
            if len(chunk) < 4:
                continue
            try:
                decoded = base64.b64decode(chunk.replace("=", "A"), validate=True)
            except (binascii.Error, ValueError):
                continue
            found = _overlap(decoded, secret)
            if found is None:
                continue
            at, end = found
            first = shift + (at // 3) * 4
            last = shift + ((end - 1) // 3) * 4 + 3
            return where[first], where[min(last, len(where) - 1)] + 1
    return None


def _overlap(decoded: bytes, secret: bytes) -> tuple[int, int] | None:
    """The [start, end) bytes of `decoded` that hold the secret, or any WINDOW bytes in a row of
    it (a reply cut short, or split where whitespace was), None when there are none."""
    at = decoded.find(secret)
    if at >= 0:
        return at, at + len(secret)
    size = min(WINDOW, len(secret))
    spans = []
    for i in range(len(secret) - size + 1):
        pos = decoded.find(secret[i : i + size])
        if pos >= 0:
            spans.append((pos, pos + size))
    if not spans:
        return None
    return min(s for s, _ in spans), max(e for _, e in spans)
