"""A brand's 9 weeks of mentions with known counts, runs, experiments and a maturity move.

The digest week is 2026-W40 (Mon 28 Sep - Sun 4 Oct 2026, Europe/Vienna), against
2026-W39. Counts per local weekday are fixed by `WEEKLY`; the week's figures the tests
expect are written out in `EXPECTED` (and re-derived from the raw lines in the tests).

  acme-mastodon  brand        62 a week; 2026-W40 has 48 on Wednesday 30 Sep (a spike)
  acme-hn        brand        17 a week
  acme-owned     owned        5 own posts a week; mean engagement 11 (W39) -> 20 (W40)
  globex-reddit  competitor   56 a week
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import update

from tests.conftest import write_config
from tracker.config import Settings, load_settings
from tracker.experiments import ExperimentInput, Registry, measure
from tracker.maturity import load_model
from tracker.mentions import import_file
from tracker.store.db import Store, open_store
from tracker.store.models import CollectionRun, Experiment, ExperimentResult, Stream

VIENNA = ZoneInfo("Europe/Vienna")
WEEK = "2026-W40"
WEEK_START = date(2026, 9, 28)
FIRST_DAY = WEEK_START - timedelta(days=56)  # 8 weeks of history before the digest week
LEAD_IN = 42  # days before FIRST_DAY: experiment 1 gets the 49 days before its baseline a verdict needs
SPIKE_DAY = date(2026, 9, 30)
MEASURED = datetime(2026, 10, 5, 5, 0, tzinfo=UTC)  # Monday morning's measurement

STREAMS = [
    {"name": "acme-mastodon", "connector": "mastodon", "hashtag": "acme", "every": "6h"},
    {"name": "acme-hn", "connector": "hackernews", "query": "acme", "every": "6h"},
    {"name": "acme-owned", "connector": "mastodon", "account": "acme@mastodon.social", "every": "6h",
     "role": "owned"},
    {"name": "globex-reddit", "connector": "reddit", "query": "globex", "every": "6h", "role": "competitor",
     "user_agent": "acme-tracker/1.0 (tests)"},
]  # fmt: skip

WEEKLY = {
    "acme-mastodon": [12, 11, 10, 11, 9, 5, 4],
    "acme-hn": [3, 3, 3, 3, 3, 1, 1],
    "acme-owned": [1, 1, 1, 1, 1, 0, 0],
    "globex-reddit": [8, 8, 8, 8, 8, 8, 8],
}
OWN_LIKES = {"2026-W39": [10, 12, 8, 15, 10], "2026-W40": [20, 25, 15, 30, 10]}

# The week (2026-W40) against the week before (2026-W39), the top mentions included.
EXPECTED = {
    "acme-mastodon": {"mentions": (102, 62)},  # 100 + the outage post and the support shoutout
    "acme-hn": {"mentions": (19, 17)},  # 17 + the Show HN and the hostile mention
    "acme-owned": {"mentions": (6, 5), "engagement": (60.0, 11.0)},  # (100 + 260) / 6 and 55 / 5
    "globex-reddit": {"mentions": (56, 56)},
    "summary": {"mentions": (127, 84), "engagement": (60.0, 11.0), "share_of_voice": (127 / 183, 84 / 140)},
}

POSITIVE = [
    "Loving the new Acme dashboard, setup took five minutes",
    "Switched our team to Acme Cloud last month and have not looked back",
    "Acme's docs are genuinely good, found the answer in one search",
]
NEUTRAL = [
    "Does anyone know if Acme supports SSO on the starter plan?",
    "Acme is hosting a webinar on Thursday about data pipelines",
    "Comparing Acme and Globex for our next project",
]
NEGATIVE = ["Billing page on Acme keeps timing out", "Why did Acme remove the CSV export?"]
OUTAGE = "Acme Cloud is down for us in eu-west since 9:40 and the status page is still green"

TOP = [  # (stream, day, text, likes, reposts, replies, sentiment, kind, author)
    ("acme-mastodon", SPIKE_DAY, OUTAGE + ". Anyone else?", 220, 60, 30, -0.6, "mention", "@ops_dana"),
    ("acme-owned", SPIKE_DAY, "We're sorry about today's outage in eu-west. Here is what happened, and what "
     "we are changing so it does not happen again.", 180, 45, 35, -0.1, "own", "@acme"),
    ("acme-mastodon", date(2026, 10, 1), "Shoutout to the Acme support team: they fixed our import issue in "
     "20 minutes, on an outage day.", 110, 20, 10, 0.8, "mention", "@lena_builds"),
    ("acme-hn", date(2026, 10, 2), "Show HN: We moved our analytics pipeline to Acme Cloud. Lessons learned",
     95, None, 41, 0.3, "mention", "pgrant"),
]  # fmt: skip
HOSTILE = {
    "text": '<script>alert("pwned")</script> Acme <b>rocks</b> & "friends" <img src=x onerror=alert(2)>',
    "url": 'https://evil.example/x"><script>alert(1)</script>',
}


@dataclass
class World:
    config: Path
    settings: Settings
    db_url: str
    lines: list[dict[str, Any]]


def count(stream: str, day: date) -> int:
    n = WEEKLY[stream][day.weekday()]
    if stream == "acme-mastodon" and day == SPIKE_DAY:
        return 48
    return n


def _moment(day: date, n: int) -> datetime:
    """Spread a day's items over 07:00-21:59 local time."""
    return datetime.combine(day, time(7), tzinfo=VIENNA) + timedelta(minutes=(n * 37) % 900)


def _sentiment(stream: str, day: date, n: int) -> tuple[str, float]:
    if stream == "acme-mastodon" and day == SPIKE_DAY and n >= 10:
        return OUTAGE, -0.5
    bucket = (n + day.toordinal()) % 5
    if bucket < 3:
        return POSITIVE[(n + day.day) % 3], 0.6
    if bucket == 3:
        return NEUTRAL[(n + day.day) % 3], 0.0
    return NEGATIVE[(n + day.day) % 2], -0.4


def lines(hostile: bool = True) -> list[dict[str, Any]]:
    found = []
    platform = {"acme-mastodon": "mastodon", "acme-hn": "hackernews", "acme-owned": "mastodon",
                "globex-reddit": "reddit"}  # fmt: skip
    # from FIRST_DAY, and LEAD_IN days before it: the history a before/after comparison needs
    for i in range(-LEAD_IN, 63):
        day = FIRST_DAY + timedelta(days=i)
        for stream in WEEKLY:
            for n in range(count(stream, day)):
                text, score = _sentiment(stream, day, n)
                line = {"platform": platform[stream], "external_id": f"{stream}-{day}-{n}", "text": text,
                        "lang": "en", "created_at": _moment(day, n).isoformat(), "stream": stream,
                        "author": f"user{(n * 7 + i) % 23}", "url": f"https://social.example/{stream}/{day}/{n}",
                        "likes": (n * 7 + i) % 9, "replies": n % 3, "sentiment": score}  # fmt: skip
                if stream == "acme-owned":
                    week = f"{day.isocalendar()[0]}-W{day.isocalendar()[1]:02d}"
                    likes = OWN_LIKES.get(week, [12] * 5)[day.weekday()]
                    line.update(kind="own", author="@acme", likes=likes, replies=0, text="Our week at Acme")
                if stream == "globex-reddit":
                    line["text"] = "Globex just shipped a new pricing page"
                found.append(line)
    return found + _top(hostile)


def _top(hostile: bool) -> list[dict[str, Any]]:
    platform = {"acme-mastodon": "mastodon", "acme-hn": "hackernews", "acme-owned": "mastodon"}
    top = []
    for k, (stream, day, text, likes, reposts, replies, score, kind, author) in enumerate(TOP):
        top.append({"platform": platform[stream], "external_id": f"top-{k}", "text": text, "lang": "en",
                    "created_at": _moment(day, 11 + k).isoformat(), "stream": stream, "author": author,
                    "url": f"https://social.example/top/{k}", "likes": likes, "reposts": reposts,
                    "replies": replies, "sentiment": score, "kind": kind})  # fmt: skip
    if hostile:
        top.append({"platform": "mastodon", "external_id": "hostile", "text": HOSTILE["text"], "lang": "en",
                    "created_at": _moment(date(2026, 10, 3), 3).isoformat(), "stream": "acme-hn",
                    "author": "<b>mallory</b>", "url": HOSTILE["url"], "likes": 999, "sentiment": 0.0})  # fmt: skip
    return top


def build(tmp_path: Path, db_url: str, *, hostile: bool = True, extra: str = "") -> World:
    """Write the config, import the mentions, record runs, register and measure experiments."""
    config = write_config(tmp_path, db_url=db_url, streams=STREAMS, extra=extra)
    settings = load_settings(config)
    data = lines(hostile)
    path = tmp_path / "mentions.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in data))
    store = open_store(settings.database_url)
    try:
        report = import_file(store=store, settings=settings, path=path, fmt="jsonl")
        assert not report.rejected, report.rejected
        _runs(store)
        _experiments(store, settings)
    finally:
        store.close()
    return World(config, settings, db_url, data)


def _runs(store: Store) -> None:
    """Runs every 6 h from 21 Sep; acme-hn failed on 1 Oct 10:00-22:00 and the next run could not
    reach back (backfill cap), so 1 Oct is not covered for it."""
    start = datetime(2026, 9, 21, tzinfo=VIENNA).astimezone(UTC)
    gap = (
        datetime(2026, 10, 1, 10, tzinfo=VIENNA).astimezone(UTC),
        datetime(2026, 10, 1, 22, tzinfo=VIENNA).astimezone(UTC),
    )
    with store.write() as session:
        for stream in session.query(Stream).filter(Stream.source == "config"):
            covered = start
            for k in range(15 * 4):
                at = start + timedelta(hours=6 * k)
                run = CollectionRun(stream_id=stream.id, started_at=at, finished_at=at + timedelta(seconds=20),
                                    status="ok", fetched=5, new=3, worker="test:1")  # fmt: skip
                if stream.name == "acme-hn" and gap[0] <= at < gap[1]:
                    run.status, run.error = "failed", "HTTP 503 from hn.algolia.com (retried 4 times)"
                elif stream.name == "acme-hn" and covered < gap[1] <= at:
                    run.covered_from, run.covered_until = gap[1], at
                    covered = at
                else:
                    run.covered_from, run.covered_until = covered, at
                    covered = at
                session.add(run)


def _experiments(store: Store, settings: Settings) -> None:
    registry = Registry(store, settings, load_model(settings))
    specs = [
        ("Daily behind-the-scenes posts", "content-calendar", "mentions", ["acme-mastodon"], "2026-09-07", "2026-10-04", "ana"),
        ("Answer every question within 2 h", "public-customer-answers", "sentiment", ["acme-mastodon"], "2026-09-28", "2026-10-25", "ben"),
        ("Weekly live Q&A thread", "community-management", "engagement", ["acme-owned"], "2026-09-14", "2026-10-11", "ana"),
    ]  # fmt: skip
    ids = []
    for title, practice, metric, streams, start, end, owner in specs:
        record, _ = registry.add(
            ExperimentInput(title=title, hypothesis="it helps", practice=practice, metric=metric, streams=streams,
                            start=date.fromisoformat(start), end=date.fromisoformat(end), owner=owner, team="social")
        )  # fmt: skip
        ids.append(record["id"])
    measure(store, settings, ids, now=MEASURED)
    with store.write() as session:
        created = [
            datetime(2026, 8, 20, tzinfo=UTC),
            datetime(2026, 9, 29, 9, tzinfo=UTC),
            datetime(2026, 9, 30, 8, tzinfo=UTC),
        ]
        for exp_id, when in zip(ids, created, strict=True):
            session.execute(update(Experiment).where(Experiment.id == exp_id).values(created_at=when))
        session.execute(update(ExperimentResult).values(measured_at=MEASURED))
