"""`tracker digest [--week YYYY-Www] [--out FILE] [--send] [--force] [--json]`.

Without options it prints the text part of the last complete week's digest. `--out`
writes `.eml` (the whole message), `.html` (a browser preview, chart embedded), `.pdf`
(that preview printed) or `.csv` (the week's per-stream table), atomically. `--json`
prints the digest's data. `--send` sends it to [digest] to over [smtp], once per
(week, recipient); `--force` sends it again to those who have it or whose send is in
doubt. Usage problems are found before anything is built, written or sent.
"""

from __future__ import annotations

import json
import sys
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from tracker.config import Settings
from tracker.digest.chart import Draw, drawn_aside
from tracker.digest.service import builder, check_usage, file_bytes, target_week, write_atomic
from tracker.digest.weeks import Week
from tracker.store.db import Store
from tracker.timeutil import utcnow

CHARTED = ("html", "eml", "pdf")  # --out kinds with the chart (not csv)

if TYPE_CHECKING:  # tracker.digest.send (smtplib, ssl, the leases) is imported only to send
    from tracker.digest.send import Outcome, SendReport


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
    target = target_week(settings, week, now)
    kind = check_usage(settings, out, send=send, force=force)
    with ExitStack() as stack:
        draw = stack.enter_context(drawn_aside()) if send or kind in CHARTED else None
        return _run(settings, store, target, now, kind, draw, out=out, send=send, force=force,
                    as_json=as_json)  # fmt: skip


def _run(
    settings: Settings,
    store: Store,
    target: Week,
    now: datetime,
    kind: str | None,
    draw: Draw | None,
    *,
    out: Path | None,
    send: bool,
    force: bool,
    as_json: bool,
) -> int:
    build = builder(settings, store, target, now, draw)
    notes: list[str] = []
    if out is not None:
        write_atomic(out, file_bytes(settings, build(), kind))
        notes.append(f"wrote the {target.label} digest to {out}")
    report = None
    if send:
        from tracker.digest.send import send_week

        report = send_week(settings, store, target.label, build, force=force)
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
    from tracker.digest.send import Delivery

    if o.status == Delivery.SENT:
        return f"sent the {week} digest to {o.recipient}", False
    if o.status == Delivery.ALREADY_SENT:
        when = f" (sent {o.sent_at:%Y-%m-%d %H:%M} UTC)" if o.sent_at else ""
        return (
            f"{o.recipient} already has the {week} digest{when}: nothing sent (--force sends it again)",
            False,
        )
    if o.status == Delivery.SKIPPED_IN_DOUBT:
        return (
            f"error: {o.recipient}: the {week} digest is in doubt (a send was interrupted and may have "
            "arrived): not resent; check with them, then --force sends it again"
        ), True
    if o.status == Delivery.IN_DOUBT:
        return (
            f"error: {o.recipient}: {o.error}; it is not resent automatically (--force sends it again)",
            True,
        )
    return (
        f"error: could not send the {week} digest to {o.recipient}: {o.error} "
        f"(attempt {o.attempts}; the digest job retries hourly)"
    ), True
