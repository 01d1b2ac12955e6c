"""Building, writing and sending one week's digest: what `tracker digest`, the scheduler's
digest job and the demo share (no CLI here: digest/command.py is the thin shell over it).

`builder` queries, charts and renders on first use only; `check_usage` finds every
problem a user can cause before anything is built, written or sent; files are written
atomically.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from tracker.config import Settings, resolve_secret
from tracker.digest.chart import Draw, chart_png
from tracker.digest.message import Rendered, build_message, preview_html, render
from tracker.digest.weeks import Week, last_complete_week, parse_week
from tracker.errors import UserError
from tracker.store.db import Store
from tracker.timeutil import utcnow

OUT_KINDS = {".eml": "eml", ".html": "html", ".htm": "html", ".pdf": "pdf", ".csv": "csv"}


def write_digest_files(
    settings: Settings, store: Store, directory: Path, *, week: str | None = None
) -> dict[str, Path]:
    """Write `digest.html` (preview) and `digest.eml` (the message) of one week into `directory`,
    from one build (the demo's output); returns {"html": path, "eml": path}."""
    now = utcnow()
    build = builder(settings, store, target_week(settings, week, now), now)
    written = {}
    for kind in ("html", "eml"):
        path = directory / f"digest.{kind}"
        write_atomic(path, file_bytes(settings, build(), kind))
        written[kind] = path
    return written


def target_week(settings: Settings, week: str | None, now: datetime) -> Week:
    zone = settings.organisation.zone
    if week is None:
        return last_complete_week(now, zone)
    target = parse_week(week)
    if target.start > now.astimezone(zone).date():
        raise UserError(f"--week: {target.label} has not started yet")
    return target


def check_usage(settings: Settings, out: Path | None, *, send: bool, force: bool) -> str | None:
    """The --out kind; UserError for anything that cannot work, before any work is done."""
    kind = None
    if out is not None:
        kind = OUT_KINDS.get(out.suffix.lower())
        if kind is None:
            raise UserError(f"--out: expected a file ending in .eml, .html, .pdf or .csv, got {out.name!r}")
        if not out.parent.is_dir():
            raise UserError(f"--out: folder {out.parent} does not exist")
    if force and not send:
        raise UserError("--force goes with --send: it sends again to recipients who already have it")
    if send:
        missing = [name for name in ("digest", "smtp") if getattr(settings, name) is None]
        if missing:
            sections = " and ".join(f"[{m}]" for m in missing)
            raise UserError(f"--send needs {sections} in the configuration (recipients and mail server)")
        assert settings.smtp is not None
        if settings.smtp.username:
            resolve_secret(settings.smtp.password_env, "smtp.password_env")
    return kind


def builder(
    settings: Settings, store: Store, week: Week, now: datetime, draw: Draw | None = None
) -> Callable[[], Rendered]:
    """Build (query, chart, render) on first use only: a second --send that sends nothing builds nothing.
    `draw` makes the chart (chart.drawn_aside's in the CLI; chart_png by default)."""
    built: list[Rendered] = []

    def build() -> Rendered:
        if not built:
            from tracker.digest.data import build_digest
            from tracker.maturity import load_model

            data = build_digest(store, settings, week, model=load_model(settings), now=now)
            sender = settings.digest.sender if settings.digest else None
            built.append(render(data, sender=sender, draw=draw or chart_png))
        return built[0]

    return build


def file_bytes(settings: Settings, rendered: Rendered, kind: str | None) -> bytes:
    """The bytes of an --out file: `html` a browser preview, anything else the whole message."""
    if kind == "html":
        return preview_html(rendered).encode("utf-8")
    if kind in ("pdf", "csv"):
        from tracker.digest import export

        if kind == "csv":
            return export.csv_text(rendered.data).encode("utf-8")
        return export.pdf_bytes(preview_html(rendered))
    digest = settings.digest
    message = build_message(
        rendered, sender=digest.sender if digest else None, to=list(digest.to) if digest else []
    )
    return message.as_bytes()


def write_atomic(path: Path, content: bytes) -> None:
    """Write beside the target and rename: a reader never sees half a file."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        partial.write_bytes(content)
        os.replace(partial, path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise UserError(f"--out: cannot write {path}: {exc.strerror or exc}") from None
