"""`tracker alerts list|check|history|test`: the alerts of tracker.toml and what they did.

Registered by tracker/cli.py; the work is in tracker/alerts.py (the same functions the
scheduler calls after each collection run, and the web's Alerts page reads).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from tracker.cli import ConfigOpt, JsonOpt, app, fail, print_json, settings_for, store_for
from tracker.store.enums import DeliveryStatus

alerts_app = typer.Typer(
    help="Alerts: spikes, sentiment drops, keywords and collection problems, pushed as they start.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(alerts_app, name="alerts")


def _window(alert_window: object) -> str:
    from datetime import timedelta

    from tracker.alerts import duration_text

    assert isinstance(alert_window, timedelta)
    return duration_text(alert_window)


@alerts_app.command("list")
def alerts_list(as_json: JsonOpt = False, config: ConfigOpt = None) -> None:
    """The configured alerts, and whether each is active now."""
    from tracker.alerts import active, channels, unknown_searches

    settings = settings_for(config)
    with store_for(settings) as store:
        now_active = {r["alert"]: r for r in active(store, settings)}
        problems = unknown_searches(store, settings.alerts)
    rows: list[dict[str, Any]] = [
        {"name": a.name, "kind": a.kind, "streams": list(a.streams), "window": _window(a.window),
         "channels": channels(a), "active": a.name in now_active,
         "since": now_active[a.name]["fired_at"] if a.name in now_active else None}
        | ({"search": a.search} if a.search else {})
        | ({"error": problems[a.name]} if a.name in problems else {})
        for a in settings.alerts
    ]  # fmt: skip
    if as_json:
        print_json({"alerts": rows})
        return
    if not rows:
        typer.echo("no alerts configured: add [[alerts]] tables to tracker.toml")
        return
    for r in rows:
        state = f"ACTIVE since {r['since']}" if r["active"] else "quiet"
        searched = f"  matching saved search {r['search']!r}" if r.get("search") else ""
        typer.echo(f"{r['name']}  {r['kind']}  last {r['window']}  on {', '.join(r['streams']) or '-'}"
                   f"{searched}  to {', '.join(r['channels'])}  {state}")  # fmt: skip
    for r in rows:
        if "error" in r:
            typer.echo(f"error: {r['error']}", err=True)
    if problems:
        raise typer.Exit(1)


@alerts_app.command("check")
def alerts_check(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Evaluate and print; record and send nothing.")
    ] = False,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Evaluate every alert now (as `tracker run` does after each collection run) and send what fires."""
    from tracker.alerts import MAX_ATTEMPTS, check, history

    settings = settings_for(config)
    if not settings.alerts:
        fail("no alerts configured: add [[alerts]] tables to tracker.toml")
    with store_for(settings) as store:
        results = check(settings, store, dry_run=dry_run)
        fired = {r.firing_id for r in results if r.state in ("fired", "active")}
        sent = {f["id"]: f["deliveries"] for f in history(store, settings) if f["id"] in fired}
    undelivered = [
        (r.alert, channel, d) for r in results if r.firing_id in sent
        for channel, d in sent[r.firing_id].items()
        if d["status"] in (DeliveryStatus.FAILED, DeliveryStatus.IN_DOUBT)
    ]  # fmt: skip
    if as_json:
        print_json({"dry_run": dry_run, "alerts": [r.as_dict() | {"deliveries": sent.get(r.firing_id or -1)}
                                                   for r in results]})  # fmt: skip
    else:
        for r in results:
            line = f"{r.alert}: {r.state.replace('_', ' ')}" + (f" ({r.headline})" if r.headline else "")
            for channel, d in sent.get(r.firing_id or -1, {}).items():
                line += f"; {channel} {d['status'].replace('_', ' ')}"
            typer.echo(line)
        for name, channel, d in undelivered:
            if d["status"] == DeliveryStatus.IN_DOUBT:
                later = "interrupted mid-way, so not resent by itself: check whether it arrived"
            elif int(d.get("attempts", 0)) >= MAX_ATTEMPTS:
                later = f"given up after {MAX_ATTEMPTS} attempts"
            else:
                later = f"tried again from {d['next_at']} by `tracker run` or the next `tracker alerts check`"
            typer.echo(f"{name}: {channel} not delivered: {d.get('error') or d['status']}; {later}", err=True)
    if undelivered or any(r.state == "error" for r in results):
        raise typer.Exit(1)


@alerts_app.command("history")
def alerts_history(
    since: Annotated[
        str | None, typer.Option("--since", help="First day (YYYY-MM-DD, organisation time zone).")
    ] = None,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Every firing, newest first, with its figures and how each channel's delivery went."""
    from tracker.alerts import history
    from tracker.timeutil import day_start, parse_export_day

    settings = settings_for(config)
    first = parse_export_day(since, "--since")
    with store_for(settings) as store:
        rows = history(store, settings, since=day_start(first, settings.organisation.zone) if first else None)
    if as_json:
        print_json({"firings": rows})
        return
    if not rows:
        typer.echo("no alert has fired" + (f" since {since}" if since else ""))
        return
    for r in rows:
        states = {"active": "active", "ended": f"ended {r['cleared_at']}",
                  "unchecked": f"not checked since {r['last_held_at']}, when it held"}  # fmt: skip
        state = states[r["status"]]
        sent = ", ".join(f"{c} {d['status']}" for c, d in r["deliveries"].items())
        typer.echo(f"{r['fired_at']}  {r['alert']}  {r['subject']}  [{state}; {sent}]")


@alerts_app.command("test")
def alerts_test(
    name: Annotated[str, typer.Argument(help="The alert's name in tracker.toml.")],
    config: ConfigOpt = None,
) -> None:
    """Send a sample message to the alert's channels now (nothing is recorded)."""
    from tracker.alerts import send_test

    settings = settings_for(config)
    alert = next((a for a in settings.alerts if a.name == name), None)
    if alert is None:
        known = ", ".join(a.name for a in settings.alerts) or "none configured"
        fail(f"no alert named {name!r} (known: {known})")
    outcome = send_test(settings, alert)
    for channel, status in outcome.items():
        typer.echo(f"{channel}: {status}")
    if any(s != DeliveryStatus.SENT for s in outcome.values()):
        raise typer.Exit(1)
