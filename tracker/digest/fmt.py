"""How the digest writes numbers, changes and days; shared by the text and HTML templates.

The phrasing of values and results is that of `tracker.report` (the CLI), so a lift
reads the same in the digest, `experiment show` and the web pages.
"""

from __future__ import annotations

import re
from datetime import date
from typing import TYPE_CHECKING

from tracker.report import number, percent
from tracker.samples import TOO_FEW

if TYPE_CHECKING:  # data.py formats with this module
    from tracker.digest.activity import DigestExperiment
    from tracker.digest.data import DigestRecord, MetricFigures, WeekFigure

# A change smaller than this is "about the same" (relative for counts, absolute otherwise).
STEADY = {"mentions": 0.02, "engagement": 0.02, "sentiment": 0.01, "positive_share": 0.005,
          "share_of_voice": 0.005}  # fmt: skip
LABELS = {
    "mentions": "Mentions",
    "sentiment": "Mean sentiment",
    "positive_share": "Positive share",
    "engagement": "Engagement per own post",
    "share_of_voice": "Share of voice",
}
VERDICTS = {
    "success": "success",
    "failure": "failure",
    "no_effect": "no effect",
    "inconclusive": "inconclusive",
    "insufficient_data": "too little data",
    "running": "running",
}
HIGHLIGHT_SPIKES = 2
HIGHLIGHT_EXPERIMENTS = 3
_SAFE_URL = re.compile(r"^https?://[^\s\x00-\x1f\x7f<>\"'`\\]+$", re.IGNORECASE)


def usual(expected: float) -> str:
    """How a spike's normal reads: `about 10 are usual on that weekday`."""
    if expected < 0.5:
        return "usually none on that weekday"
    return f"about {expected:,.0f} {'is' if round(expected) == 1 else 'are'} usual on that weekday"


def day_short(day: date) -> str:
    """`Wed 30 Sep`."""
    return f"{day:%a} {day.day} {day:%b}"


def day_iso(text: str) -> str:
    return day_short(date.fromisoformat(text))


def count(value: float | None) -> str:
    return "n/a" if value is None else f"{round(value):,}"


def value(entry: WeekFigure, metric: str) -> str:
    """The week's value of a metric entry, as people read it."""
    return _shown(entry["value"], metric)


def previous(entry: WeekFigure, metric: str) -> str:
    return _shown(entry["previous"], metric)


def _shown(v: float | None, metric: str) -> str:
    if v is None:
        return "\u2013"
    if metric == "mentions":
        return count(v)
    if metric == "engagement":
        return f"{v:,.1f}"
    return number(v, metric)


def change(entry: WeekFigure, metric: str) -> str:
    """`+12.3 %` for counts and engagement, `+0.031` for sentiment, `+3.1 pts` for shares; "too few to
    compare" when either week rests on fewer than tracker.samples.MIN_ITEMS items."""
    if entry["change"] is not None and entry.get("comparable") is False:
        return TOO_FEW
    if entry["change"] is None:
        return "new" if entry["value"] is not None and metric != "mentions" else "\u2013"
    if metric in ("mentions", "engagement"):
        if entry["change_rel"] is None:
            if metric == "mentions":
                return f"{entry['change']:+,.0f}" if entry["change"] else "\u00b10"
            return "new"
        return percent(entry["change_rel"])
    if metric == "sentiment":
        return f"{entry['change']:+.3f}"
    return f"{entry['change'] * 100:+.1f} pts"


def direction(entry: WeekFigure, metric: str) -> str:
    """up, down or flat: whether the change is worth an arrow."""
    moved = entry["change_rel"] if metric in ("mentions", "engagement") else entry["change"]
    if moved is None or entry.get("comparable") is False:
        return "flat"
    if abs(moved) < STEADY.get(metric, 0.0):
        return "flat"
    return "up" if moved > 0 else "down"


def arrow(entry: WeekFigure, metric: str) -> str:
    return {"up": "▲", "down": "▼", "flat": "●"}[direction(entry, metric)]


def verdict(name: str | None) -> str:
    return VERDICTS.get(name or "", "not measured yet")


def safe_url(url: str | None) -> str | None:
    """A link people may click: http(s) only, no spaces or quotes; anything else is not linked."""
    if url and _SAFE_URL.match(url):
        return url
    return None


def plain(text: str | None) -> str:
    """Collected text for the text/plain part: no control characters, one line."""
    if not text:
        return ""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


# -- highlights -------------------------------------------------------------------------------


def highlights(data: DigestRecord) -> list[str]:
    """A few sentences that say what moved, for the top of the email."""
    lines = [_mentions_line(data["summary"])]
    sentiment = _sentiment_line(data["summary"])
    if sentiment:
        lines.append(sentiment)
    spikes = sorted(data["spikes"], key=lambda s: -s["score"])
    for spike in spikes[:HIGHLIGHT_SPIKES]:
        lines.append(
            f"Spike: {spike['stream']} on {day_iso(spike['day'])} with {spike['mentions']:,} mentions "
            f"({usual(spike['expected'])})."
        )
    if len(spikes) > HIGHLIGHT_SPIKES:
        lines.append(f"{len(spikes) - HIGHLIGHT_SPIKES} more spike(s): see Spikes.")
    lines += _experiment_lines(data["experiments"])
    for move in data["maturity"]["moves"]:
        lines.append(
            f"Maturity: moved from {move['from']['name']} to {move['to']['name']} on {day_iso(move['date'])}."
        )
    health = data["health"]
    if health["problems"]:
        lines.append(f"Collection needs a look: {len(health['problems'])} problem(s), see Collection health.")
    return lines


def _mentions_line(summary: MetricFigures) -> str:
    entry = summary["mentions"]
    now, before = count(entry["value"]), count(entry["previous"])
    how = direction(entry, "mentions")
    if not entry["value"] and not entry["previous"]:
        return "No mentions this week, nor the week before."
    if entry.get("comparable") is False and entry["value"] and entry["previous"]:
        return f"{now} mentions ({before} the week before: {TOO_FEW})."
    if how == "flat":
        return f"{now} mentions, about the same as the week before ({before})."
    if entry["change_rel"] is None:
        return f"{now} mentions (none the week before)."
    word = "up" if how == "up" else "down"
    return f"{now} mentions, {word} {abs(entry['change_rel']) * 100:.0f} % from {before} the week before."


def _sentiment_line(summary: MetricFigures) -> str | None:
    s, p = summary["sentiment"], summary["positive_share"]
    if s["value"] is None:
        return None
    how = direction(s, "sentiment")
    if s.get("comparable") is False and s["previous"] is not None:
        mood = f"Mean sentiment {number(s['value'], 'sentiment')} ({TOO_FEW} with the week before)"
    elif how == "flat" or s["previous"] is None:
        mood = f"Mean sentiment {number(s['value'], 'sentiment')}"
        mood += ", steady" if s["previous"] is not None else ""
    else:
        word = "up" if how == "up" else "down"
        before, after = number(s["previous"], "sentiment"), number(s["value"], "sentiment")
        mood = f"Mean sentiment {word} to {after} from {before}"
    share = f"{p['value'] * 100:.0f} % of scored mentions positive" if p["value"] is not None else ""
    return f"{mood}; {share}." if share else f"{mood}."


def _experiment_lines(experiments: dict[str, list[DigestExperiment]]) -> list[str]:
    """Verdicts that are news (ended or newly measured), the first few by name."""
    done = {e["id"]: e for e in experiments["ended"] + experiments["measured"]}
    news = [e for e in done.values() if e["verdict"] not in (None, "running", "insufficient_data")]
    lines = []
    for e in news[:HIGHLIGHT_EXPERIMENTS]:
        # The lift without its interval: the Experiments section has the whole result.
        lift = e["result"]["text"].split(" (95 % CI")[0] if e["result"] else ""
        lines.append(f"Experiment #{e['id']} “{e['title']}”: {verdict(e['verdict'])}, {lift}.")
    if len(news) > HIGHLIGHT_EXPERIMENTS:
        lines.append(
            f"{len(news) - HIGHLIGHT_EXPERIMENTS} more experiment(s) with a new verdict: see Experiments."
        )
    started, running = len(experiments["started"]), len(experiments["running"])
    if started or running:
        parts = [f"{started} started" if started else "", f"{running} running" if running else ""]
        lines.append("Experiments: " + ", ".join(p for p in parts if p) + ".")
    return lines
