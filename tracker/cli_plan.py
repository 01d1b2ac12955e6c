"""`tracker experiment plan`: the window an effect needs, before the experiment starts."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence

import typer

from tracker.config import Settings
from tracker.errors import UserError
from tracker.ingest import sync_streams
from tracker.power import describe, plan
from tracker.store.db import open_store
from tracker.timeutil import utcnow


def plan_command(
    settings: Settings,
    metric: str,
    streams: Sequence[str],
    controls: Sequence[str],
    days: int,
    effect: float | None,
    expect: str | None,
    as_json: bool,
) -> None:
    if expect not in (None, "increase", "decrease"):
        raise UserError(f"--expect: expected increase or decrease, got {expect!r}")
    with open_store(settings.database_url, settings.organisation.timezone) as store:
        now = utcnow()
        with store.write() as session:
            sync_streams(session=session, settings=settings, now=now)
        with store.read() as session:
            today = now.astimezone(settings.organisation.zone).date()
            found = plan(
                session, settings, metric, streams, controls, days, effect, expect or "increase", today
            )
    for warning in found["warnings"]:
        typer.echo(f"warning: {warning}", err=True)
    if as_json:
        sys.stdout.write(json.dumps(found, indent=2) + "\n")
        return
    relative = found["relative"]
    data = found["data"]
    typer.echo(
        f"{metric} on {', '.join(streams)}"
        + (f" (control: {', '.join(controls)})" if controls else "")
        + f": {data['days']} days of data from {data['start']} to {data['end']}"
    )
    mde = found["mde"]
    typer.echo(
        f"a {days}-day window (and as long a baseline) detects "
        + (
            f"an effect of {describe(mde, relative)} with 80 % power"
            if mde is not None
            else "no plausible effect"
        )
    )
    target = describe(found["effect"], relative)
    if found["suggested_days"] is not None:
        typer.echo(f"for an effect of {target}: plan at least {found['suggested_days']} days")
    else:
        typer.echo(f"for an effect of {target}: no window up to 112 days reaches 80 % power; add streams")
    for row in found["windows"]:
        shown = describe(row["mde"], relative) if row["mde"] is not None else "n/a"
        typer.echo(
            f"  {row['days']:>4} days: detects {shown:>9}; power for {target}: {row['power'] * 100:.0f} %"
        )
