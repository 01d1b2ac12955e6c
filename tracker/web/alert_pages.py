"""`/alerts`: the configured alerts, which are active, and every firing; the same as JSON.

`/alerts` lists the `[[alerts]]` of tracker.toml with their state and the history of
firings (figures, top mentions, delivery per channel); `/alerts/{name}` is one alert,
the page its messages link to. `/api/v1/alerts` and `/api/v1/alerts/history` give the
same data as `tracker alerts list --json` and `tracker alerts history --json`.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, TypedDict

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse

from tracker import alerts
from tracker.config import AlertConfig
from tracker.timeutil import day_start, utcnow
from tracker.web.api import OPEN
from tracker.web.app import WebContext, context
from tracker.web.pages import render

router = APIRouter(include_in_schema=False)
api_router = APIRouter(prefix="/api/v1", tags=["api"])
Ctx = Annotated[WebContext, Depends(context)]


class ConfiguredAlert(TypedDict):
    """One `[[alerts]]` table with its state: a row of /alerts and of `/api/v1/alerts`."""

    name: str
    kind: str
    streams: list[str]
    window: str
    channels: list[str]
    cooldown: str
    active: bool
    since: str | None  # fired_at of the ongoing episode
    subject: str | None
    last_fired_at: str | None  # the latest firing, whatever its state
    last_status: str | None
    last_held_at: str | None
    ended_at: str | None


class AlertBanner(TypedDict):
    """What the overview says of alerts (alert_banner)."""

    active_alerts: list[alerts.FiringRecord]
    ended_alert: alerts.FiringRecord | None


class AlertsDocument(TypedDict):
    """`/api/v1/alerts`: the configured alerts and the firings active now."""

    alerts: list[ConfiguredAlert]
    active: list[alerts.FiringRecord]


class HistoryDocument(TypedDict):
    """`/api/v1/alerts/history`: every firing, newest first."""

    firings: list[alerts.FiringRecord]


def _rows(ctx: WebContext) -> tuple[list[ConfiguredAlert], list[alerts.FiringRecord]]:
    firings = alerts.history(ctx.store, ctx.settings)
    latest: dict[str, alerts.FiringRecord] = {}
    for f in firings:  # newest first: the first of each alert is its latest
        latest.setdefault(f["alert"], f)
    configured = [_alert(a, latest.get(a.name)) for a in ctx.settings.alerts]
    return configured, firings


def _alert(a: AlertConfig, firing: alerts.FiringRecord | None) -> ConfiguredAlert:
    return {
        "name": a.name,
        "kind": a.kind,
        "streams": list(a.streams),
        "window": alerts.duration_text(a.window),
        "channels": alerts.channels(a),
        "cooldown": alerts.duration_text(a.cooldown),
        "active": firing is not None and firing["active"],
        "since": firing["fired_at"] if firing and firing["active"] else None,
        "subject": firing["subject"] if firing and firing["active"] else None,
        # the latest firing, whatever its state: the page says when it fired and that it ended
        "last_fired_at": firing["fired_at"] if firing else None,
        "last_status": firing["status"] if firing else None,
        "last_held_at": firing["last_held_at"] if firing else None,
        "ended_at": firing["cleared_at"] if firing else None,
    }


def alert_banner(ctx: WebContext) -> AlertBanner:
    """What the overview says of alerts: the firings whose episode is ongoing (`active_alerts`,
    linked to /alerts), else the latest firing of the past 7 days (`ended_alert`): when it
    fired and that it ended, or that nothing has checked it since."""
    firings = alerts.history(ctx.store, ctx.settings, since=utcnow() - timedelta(days=7))
    active = [f for f in firings if f["active"]]
    return {"active_alerts": active, "ended_alert": None if active or not firings else firings[0]}


@router.get("/alerts", response_class=HTMLResponse)
def alerts_page(request: Request, ctx: Ctx) -> HTMLResponse:
    configured, firings = _rows(ctx)
    return render(request, "alerts.html", page="alerts", configured=configured, firings=firings[:100],
                  one=None, mute=None)  # fmt: skip


@router.get("/alerts/{name}", response_class=HTMLResponse)
def alert_page(request: Request, ctx: Ctx, name: str) -> HTMLResponse:
    found = next((a for a in ctx.settings.alerts if a.name == name), None)
    firings = alerts.history(ctx.store, ctx.settings, alert=name)
    if found is None and not firings:
        raise HTTPException(404, f"There is no alert named {name!r} in the configuration.")
    configured = [_alert(found, firings[0] if firings else None)] if found else []
    return render(request, "alerts.html", page="alerts", configured=configured, firings=firings[:100],
                  one=name, mute=alerts.mute_hint(ctx.settings, name))  # fmt: skip


@api_router.get(
    "/alerts",
    summary="Configured alerts and whether each is active (`tracker alerts list`)",
    response_model=OPEN,
)
def api_alerts(ctx: Ctx) -> AlertsDocument:
    configured, firings = _rows(ctx)
    return {"alerts": configured, "active": [f for f in firings if f["active"]]}


@api_router.get(
    "/alerts/history",
    summary="Every firing, newest first (`tracker alerts history --json`)",
    response_model=OPEN,
)
def api_history(
    ctx: Ctx,
    since: Annotated[date | None, Query(description="First day, organisation time zone")] = None,
    alert: Annotated[str | None, Query(max_length=100)] = None,
) -> HistoryDocument:
    start = day_start(since, ctx.settings.organisation.zone) if since else None
    return {"firings": alerts.history(ctx.store, ctx.settings, since=start, alert=alert)}
