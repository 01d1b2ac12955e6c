"""Readable text output of the CLI: local times to the minute, "(3 min ago)", tables within 80 columns.

`--json` output never comes through here: it keeps the UTC ISO instants of SPEC.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from tracker import report
from tracker.terminal import clean
from tracker.timeutil import parse_instant, utcnow

if TYPE_CHECKING:
    from tracker.status import StreamStatus

WIDTH = 80


def local_time(value: str | datetime | None, zone: ZoneInfo) -> str:
    """`2026-12-01 22:01 CET` in the organisation's zone, no seconds, no microseconds."""
    if value is None:
        return "—"
    moment = parse_instant(value) if isinstance(value, str) else value
    local = moment.astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname() or ''}".rstrip()


def relative(value: str | datetime | None, now: datetime | None = None) -> str:
    """`3 min ago`, `in 2 h`, `just now`."""
    if value is None:
        return ""
    moment = parse_instant(value) if isinstance(value, str) else value
    seconds = ((now or utcnow()) - moment).total_seconds()
    future, seconds = seconds < 0, abs(seconds)
    if seconds < 60:
        return "just now" if not future else "in under a minute"
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            text = f"{int(seconds // size)} {unit}"
            return f"in {text}" if future else f"{text} ago"
    return ""  # pragma: no cover - seconds >= 60 always matched


def when(value: str | datetime | None, zone: ZoneInfo, now: datetime | None = None) -> str:
    """`2026-12-01 22:01 CET (3 min ago)`."""
    if value is None:
        return "never"
    return f"{local_time(value, zone)} ({relative(value, now)})"


_INSTANT = re.compile(r"\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})")


def localise_times(text: str, zone: ZoneInfo) -> str:
    """Every ISO instant in `text` as a local time to the minute (`2026-12-01 22:01 CET`)."""
    return _INSTANT.sub(lambda m: local_time(m.group(0), zone), text)


def fit(text: str, width: int) -> str:
    """Cut to `width` characters with an ellipsis."""
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


# -- status -----------------------------------------------------------------------------------


def status_lines(
    streams: Sequence[StreamStatus],
    digests: list[dict[str, Any]],
    upcoming: datetime | None,
    zone: ZoneInfo,
    now: datetime | None = None,
) -> list[str]:
    now = now or utcnow()
    lines: list[str] = []
    if not streams:
        lines.append("no streams yet: add [[streams]] to the configuration, or import mentions")
    for s in streams:
        run = s["last_run"]
        last = (
            f"{run['status']} {when(run['started_at'], zone, now)}, {run['new']} new"
            if run
            else "never collected"
        )
        lines.append(f"{s['name']} ({s['connector']}, {s['role']}): {s['items']:,} items")
        lines.append(f"  last run {clean(last, newlines=False)}")
        if s["covered_until"]:
            gaps = f", {len(s['gaps'])} gaps" if s["gaps"] else ""
            lines.append(f"  covered until {local_time(s['covered_until'], zone)}{gaps}")
        if s["last_error"]:
            error = s["last_error"]
            lines.append(f"  last error {when(error['at'], zone, now)}:")
            lines.append(f"    {clean(str(error['error']), newlines=False)}")
        if s.get("deleted"):
            lines.append(f"  {s['deleted']:,} deleted on the platform since collected (kept, not counted)")
        if s["followers"]:
            account = clean(str(s["followers"]["account"]), newlines=False)
            lines.append(f"  followers of {account}: {s['followers']['count']:,}")
        if s["next_run"]:
            lines.append(f"  next run {when(s['next_run'], zone, now)}")
    if upcoming:
        lines.append(f"next digest {when(upcoming, zone, now)}")
    for d in digests:
        if d["status"] == "in_doubt":
            lines.append(
                f"digest {d['week']} to {d['recipient']}: in doubt: may or may not have arrived; "
                f"`tracker digest --week {d['week']} --send --force` resends"
            )
        else:
            lines.append(f"digest {d['week']} to {d['recipient']}: {d['status']}")
    return lines


# -- experiments ------------------------------------------------------------------------------

VERDICT_WORDS = {"no_effect": "no effect", "insufficient_data": "too little data"}


def lift_short(result: dict[str, Any] | None) -> str:
    """The latest lift on the scale its verdict is judged: `+12.3 %`, `+0.041`, `+2.0 pts`."""
    if not result:
        return "—"
    metric = result.get("metric", "")
    if metric in report.RELATIVE or metric == "engagement":
        value = result.get("lift_rel")
        return "—" if value is None else f"{value * 100:+.1f} %"
    value = result.get("lift_abs")
    if value is None:
        return "—"
    if metric in ("positive_share", "share_of_voice"):
        return f"{value * 100:+.1f} pts"
    return f"{value:+.3f}"


def experiment_table(records: list[dict[str, Any]], width: int = WIDTH) -> list[str]:
    """A header row, then one row per experiment; the title takes what is left of `width`."""
    head = ("id", "status", "verdict", "lift", "metric", "window", "title")
    rows = [
        (
            str(r["id"]),
            r["status"],
            VERDICT_WORDS.get(r["verdict"] or "", r["verdict"] or "not measured"),
            lift_short(r.get("result")),
            r["metric"],
            f"{_short_day(r['start'])}..{_short_day(r['end'])}",
            clean(r["title"], newlines=False),
        )
        for r in records
    ]
    widths = [max(len(head[i]), *(len(row[i]) for row in rows)) for i in range(len(head) - 1)]
    used = sum(widths) + 2 * (len(head) - 1)
    title_width = max(10, width - used)
    aligns = ("<", "<", "<", ">", "<", "<")

    def line(cells: tuple[str, ...]) -> str:
        parts = [f"{c:{a}{w}}" for c, a, w in zip(cells[:-1], aligns, widths, strict=True)]
        return ("  ".join([*parts, fit(cells[-1], title_width)])).rstrip()

    return [line(head), *(line(row) for row in rows)]


def _short_day(value: str | None) -> str:
    return value[2:] if value else "?"  # 26-09-01: the century is never in doubt


def registered_lines(record: dict[str, Any]) -> list[str]:
    """What `experiment add` registered, in a few lines."""
    streams = ", ".join(record.get("streams") or []) or "every stream but the competitors'"
    if record.get("search"):
        streams = f"the mentions matching saved search {record['search']!r} in {streams}"
    control = f"; control {record['control_stream']}" if record.get("control_stream") else ""
    lines = [
        f"registered experiment {record['id']}: {clean(record['title'], newlines=False)}",
        f"  {record['practice']} on {streams}{control}",
        f"  window {record['start']} to {record['end']} "
        f"(baseline {record['baseline']['start']} to {record['baseline']['end']})",
    ]
    effect = record.get("min_effect")
    if effect is not None:
        lines.append(
            f"  metric {record['metric']}, expected to {record['expect']}; "
            f"smallest effect that matters {_effect(record['metric'], effect)}"
        )
    mde = record.get("mde")
    if mde is not None:
        lines.append(f"  detectable with this history: {_effect(record['metric'], mde)}")
    lines.append(f"  status {record['status']}; measure it with `tracker experiment measure {record['id']}`")
    return lines


def _effect(metric: str, value: float) -> str:
    if metric in report.RELATIVE or metric == "engagement":
        return f"{value * 100:.3g} %"
    if metric in ("positive_share", "share_of_voice"):
        return f"{value * 100:.3g} percentage points"
    return f"{value:.3g}"
