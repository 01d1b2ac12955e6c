"""`tracker digest [--week YYYY-Www] [--out FILE] [--send] [--force] [--json]`.

Without options it prints the text part of the last complete week's digest. `--out`
writes `.eml` (the whole message), `.html` (a browser preview, chart embedded), `.pdf`
(that preview printed) or `.csv` (the week's per-stream table), atomically. `--json`
prints the digest's data. `--send` sends it to [digest] to over [smtp], once per
(week, recipient); `--force` sends it again to those who have it or whose send is in
doubt. Usage problems are found before anything is built, written
or sent.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import typer

from tracker.config import Settings, resolve_secret
from tracker.digest.message import Rendered, build_message, preview_html, render
from tracker.digest.send import Outcome, SendReport, send_week
from tracker.digest.weeks import Week, last_complete_week, parse_week
from tracker.errors import UserError
from tracker.store.db import Store
from tracker.timeutil import utcnow

OUT_KINDS = {".eml": "eml", ".html": "html", ".htm": "html", ".pdf": "pdf", ".csv": "csv"}


def run_digest(
    settings: Settings,
    store: Store,
    *,
    week: str | None,
    out: Path | None,
    send: bool,
    force: bool,
    as_json: bool,
) -> int:
    """The whole command; returns the exit code (1 when a recipient did not get it), raises UserError."""
    now = utcnow()
    target = _target_week(settings, week, now)
    kind = _check_usage(settings, out, send=send, force=force)
    build = builder(settings, store, target, now)
    notes: list[str] = []
    if out is not None:
        write_atomic(out, file_bytes(settings, build(), kind))
        notes.append(f"wrote the {target.label} digest to {out}")
    report = send_week(settings, store, target.label, build, force=force) if send else None
    if as_json:
        document = dict(build().data)
        if report is not None:
            document["delivery"] = [o.as_dict() for o in report.outcomes]
        sys.stdout.write(json.dumps(document, ensure_ascii=False, indent=2) + "\n")
    elif out is None and not send:
        sys.stdout.write(build().text)
    for line in notes:
        typer.echo(line, err=as_json)
    if report is None:
        return 0
    _print_report(report, err=as_json)
    return 0 if report.ok else 1


def write_digest_files(
    settings: Settings, store: Store, directory: Path, *, week: str | None = None
) -> dict[str, Path]:
    """Write `digest.html` (preview) and `digest.eml` (the message) of one week into `directory`,
    from one build (the demo's output); returns {"html": path, "eml": path}."""
    now = utcnow()
    build = builder(settings, store, _target_week(settings, week, now), now)
    written = {}
    for kind in ("html", "eml"):
        path = directory / f"digest.{kind}"
        write_atomic(path, file_bytes(settings, build(), kind))
        written[kind] = path
    return written


def _target_week(settings: Settings, week: str | None, now: datetime) -> Week:
    zone = settings.organisation.zone
    if week is None:
        return last_complete_week(now, zone)
    target = parse_week(week)
    if target.start > now.astimezone(zone).date():
        raise UserError(f"--week: {target.label} has not started yet")
    return target


def _check_usage(settings: Settings, out: Path | None, *, send: bool, force: bool) -> str | None:
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


def builder(settings: Settings, store: Store, week: Week, now: datetime) -> Callable[[], Rendered]:
    """Build (query, chart, render) on first use only: a second --send that sends nothing builds nothing."""
    built: list[Rendered] = []

    def build() -> Rendered:
        if not built:
            from tracker.digest.data import build_digest
            from tracker.maturity import load_model

            data = build_digest(store, settings, week, model=load_model(settings), now=now)
            built.append(render(data, sender=settings.digest.sender if settings.digest else None))
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


def _print_report(report: SendReport, *, err: bool) -> None:
    if report.busy:
        typer.echo(
            f"error: another worker ({report.busy}) is sending the {report.week} digest right now; "
            "nothing was sent, try again in a few minutes",
            err=True,
        )
    for outcome in report.outcomes:
        line, bad = _outcome_line(report.week, outcome)
        typer.echo(line, err=err or bad)


def _outcome_line(week: str, o: Outcome) -> tuple[str, bool]:
    """(a line for people, whether it is a problem)."""
    if o.status == "sent":
        return f"sent the {week} digest to {o.recipient}", False
    if o.status == "already_sent":
        when = f" (sent {o.sent_at:%Y-%m-%d %H:%M} UTC)" if o.sent_at else ""
        return (
            f"{o.recipient} already has the {week} digest{when}: nothing sent (--force sends it again)",
            False,
        )
    if o.status == "skipped_in_doubt":
        return (
            f"error: {o.recipient}: the {week} digest is in doubt (a send was interrupted and may have "
            "arrived): not resent; check with them, then --force sends it again"
        ), True
    if o.status == "in_doubt":
        return (
            f"error: {o.recipient}: {o.error}; it is not resent automatically (--force sends it again)",
            True,
        )
    return (
        f"error: could not send the {week} digest to {o.recipient}: {o.error} "
        f"(attempt {o.attempts}; the digest job retries hourly)"
    ), True
