"""A realistic small organisation for the web tests and screenshots.

Ten weeks of mentions on five streams (a few hundred, imported as JSONL with the
CLI's importer), collection runs for the Sources page, and experiments registered,
measured and concluded through the services as a marketer would: one that
worked, one that ended without a conclusion, one running, one planned, one cancelled.
With `hostile=True` a mention, a stream error and an author carry markup and
script, which every page must show as text.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select

from tests.conftest import write_config
from tracker.config import Settings, load_settings
from tracker.experiments import ExperimentInput, Registry, measure
from tracker.maturity import load_model
from tracker.mentions import import_file
from tracker.store.db import Store, open_store
from tracker.store.models import CollectionRun, Stream
from tracker.timeutil import utcnow

ZONE = ZoneInfo("Europe/Vienna")
HOSTILE_TEXT = '<script>alert("pwned")</script><img src=x onerror="alert(1)"> Acme is <b>great</b> & "fast"'
HOSTILE_AUTHOR = "<svg onload=alert(2)>mallory"
HOSTILE_URL = 'https://evil.example/"><script>alert(3)</script>'
HOSTILE_ERROR = "HTTP 500: <html><script>alert(4)</script></html>"

STREAMS = [
    {"name": "acme-mastodon", "connector": "mastodon", "hashtag": "acme", "every": "15m"},
    {"name": "acme-bluesky", "connector": "bluesky", "account": "acme.bsky.social", "every": "30m"},
    {"name": "acme-news", "connector": "rss", "url": "https://news.example/acme.xml", "every": "1h"},
    {"name": "acme-social", "connector": "mastodon", "account": "acme@mastodon.social", "every": "1h",
     "role": "owned"},
    {"name": "globex-reddit", "connector": "reddit", "query": "globex", "every": "1h", "role": "competitor",
     "user_agent": "tracker-test/1.0 (by /u/acme)"},
]  # fmt: skip

PLATFORM = {"acme-mastodon": "mastodon", "acme-bluesky": "bluesky", "acme-news": "rss",
            "acme-social": "mastodon", "globex-reddit": "reddit"}  # fmt: skip
AUTHORS = ["lena_k", "marco.dev", "sunita", "jrobles", "opsfrida", "ben_t", "claire.m", "devonh", "yuki",
           "samir.codes", "anna_b", "tomasz"]  # fmt: skip
POSITIVE = [
    "Switched our team to Acme Cloud last month and the dashboards are a joy to use.",
    "Shout-out to the Acme support folks, they fixed our sync issue within the hour. Great service!",
    "The new Acme release is really fast. Love the offline mode.",
    "Acme's API docs are excellent, had the integration running before lunch.",
    "Impressed by how smooth the Acme mobile app feels now. Nice work!",
]
NEUTRAL = [
    "Does anyone know if Acme Sync supports SSO with Okta?",
    "Acme is hosting a webinar on data pipelines next Thursday.",
    "Comparing Acme and Globex for our team of 40, any experiences?",
    "Acme Teams now has a Linux client, according to the changelog.",
    "Reading the Acme quarterly update this morning.",
]
NEGATIVE = [
    "Acme Sync has been down for two hours and support is not answering. Frustrating.",
    "The latest Acme update broke our export scripts. Not happy.",
    "Acme pricing change is a bad surprise for small teams.",
    "Why is the Acme dashboard so slow today? Terrible timing before our demo.",
]
OWN = [
    "Behind the scenes: how our team ships a release every Tuesday. Thread below.",
    "New in Acme Cloud: shared dashboards for every team. Try it today!",
    "We are hiring: two engineers for the Acme Sync team in Vienna.",
    "Tip of the week: keyboard shortcuts in the Acme app save you hours.",
]
RIVAL = [
    "Globex just announced a cheaper plan for startups.",
    "Globex outage again this morning, second time this week.",
    "Tried Globex for a week, decent but the UI is cluttered.",
    "Globex support was helpful with our migration questions.",
]


@dataclass
class World:
    settings: Settings
    store: Store
    config: Path
    today: date


def build(directory: Path, db_url: str, *, hostile: bool = False, seed: int = 7) -> World:
    """Config, database, ten weeks of mentions, collection runs and experiments."""
    config = write_config(directory, db_url=db_url, streams=STREAMS, timezone="Europe/Vienna")
    settings = load_settings(config)
    store = open_store(settings.database_url)
    today = utcnow().astimezone(ZONE).date()
    path = directory / "mentions.jsonl"
    path.write_text(_mentions(today, random.Random(seed), hostile), encoding="utf-8")
    report = import_file(store=store, settings=settings, path=path, fmt="jsonl")
    assert not report.rejected, report.rejected
    _runs(store, hostile)
    _experiments(store, settings, today, hostile)
    return World(settings, store, config, today)


def _mentions(today: date, rng: random.Random, hostile: bool) -> str:
    lines: list[dict[str, object]] = []
    # ten weeks, and six before them: the history a before/after comparison needs (tracker/stats.py)
    first = today - timedelta(days=112)
    now = utcnow().astimezone(ZONE).isoformat()
    for i in range(113):
        day = first + timedelta(days=i)
        weekday_boost = 0 if day.weekday() >= 5 else 1
        for stream in PLATFORM:
            for n in range(_count(stream, day, today, weekday_boost, rng)):
                line = _mention(stream, day, n, rng, today)
                if str(line["created_at"]) < now:  # nothing from later today
                    lines.append(line)
    if hostile:
        lines.append({
            "platform": "mastodon", "external_id": "https://evil.example/1", "url": HOSTILE_URL,
            "author": HOSTILE_AUTHOR, "text": HOSTILE_TEXT, "lang": "en", "likes": 900, "replies": 40,
            "created_at": _at(today - timedelta(days=2), 10, 0), "stream": "acme-mastodon",
        })  # fmt: skip
    return "".join(json.dumps(line) + "\n" for line in lines)


def _count(stream: str, day: date, today: date, boost: int, rng: random.Random) -> int:
    age = (today - day).days
    if stream == "acme-mastodon":
        base = rng.randint(2, 5) + boost
        if 8 <= age <= 35:  # the behind-the-scenes posts worked
            base += 3
        if age == 12:  # a launch day far above the usual volume
            base += 24
        return base
    if stream == "acme-bluesky":
        return rng.randint(1, 4) + boost
    if stream == "acme-news":
        return rng.randint(0, 2)
    if stream == "acme-social":
        return 1 if day.weekday() < 5 else 0
    return rng.randint(2, 5)


def _mention(stream: str, day: date, n: int, rng: random.Random, today: date) -> dict[str, object]:
    kind = "own" if stream == "acme-social" else "mention"
    if kind == "own":
        text = rng.choice(OWN)
    elif stream == "globex-reddit":
        text = rng.choice(RIVAL)
    else:
        text = rng.choice(rng.choices([POSITIVE, NEUTRAL, NEGATIVE], weights=[5, 4, 2])[0])
    platform = PLATFORM[stream]
    ident = f"{stream}-{day.isoformat()}-{n}"
    url = {
        "mastodon": f"https://mastodon.social/@{rng.choice(AUTHORS)}/{abs(hash(ident)) % 10**12}",
        "bluesky": f"https://bsky.app/profile/{rng.choice(AUTHORS)}.bsky.social/post/3k{n}{day:%m%d}",
        "rss": f"https://news.example/acme/{day.isoformat()}-{n}",
        "reddit": f"https://www.reddit.com/r/saas/comments/{n}{day:%m%d}/globex/",
    }[platform]
    likes = int(rng.expovariate(1 / (30 if kind == "own" else 6)))
    return {
        "platform": platform,
        "external_id": ident,
        "url": url,
        "author": "acme" if kind == "own" else rng.choice(AUTHORS),
        "text": text,
        "lang": "en",
        "created_at": _at(day, rng.randint(7, 21), rng.randint(0, 59)),
        "kind": kind,
        "likes": likes,
        "reposts": int(likes * rng.uniform(0.05, 0.4)) if platform in ("mastodon", "bluesky") else None,
        "replies": rng.randint(0, 6),
        "stream": stream,
    }


def _at(day: date, hour: int, minute: int) -> str:
    return datetime.combine(day, time(hour, minute), tzinfo=ZONE).isoformat()


def _runs(store: Store, hostile: bool) -> None:
    """A good recent run on every configured stream (covering all history), one failure before it."""
    now = utcnow()
    with store.write() as session:
        for stream in session.scalars(select(Stream)).all():
            stream_id = stream.id
            if stream.name == "acme-bluesky":
                error = HOSTILE_ERROR if hostile else "bluesky search needs identifier + app_password_env"
                session.add(CollectionRun(stream_id=stream_id, started_at=now - timedelta(hours=3),
                                          finished_at=now - timedelta(hours=3), status="failed", error=error))  # fmt: skip
            session.add(CollectionRun(
                stream_id=stream_id, started_at=now - timedelta(minutes=12), finished_at=now - timedelta(minutes=11),
                status="ok", fetched=40, new=3, updated=5, rejected=0, requests=2,
                covered_from=None, covered_until=now - timedelta(minutes=11),
            ))  # fmt: skip


def _experiments(store: Store, settings: Settings, today: date, hostile: bool) -> None:
    registry = Registry(store, settings, load_model(settings))

    def add(**fields: object) -> int:
        record, _ = registry.add(ExperimentInput(**fields))  # type: ignore[arg-type]
        return int(record["id"])

    worked = add(
        title="Daily behind-the-scenes posts", hypothesis="Showing how we work makes people talk about us.",
        practice="content-calendar", metric="mentions", streams=["acme-mastodon"],
        start=today - timedelta(days=35), end=today - timedelta(days=8), owner="Lena", team="Brand",
    )  # fmt: skip
    ended = add(
        title="Answer every question in public within an hour",
        hypothesis="Fast public answers lift the tone of the conversation.",
        practice="public-customer-answers", metric="sentiment", streams=["acme-mastodon", "acme-bluesky"],
        start=today - timedelta(days=30), end=today - timedelta(days=3), owner="Marco", team="Support",
    )  # fmt: skip
    running = add(
        title="Weekly expert AMA on Bluesky", hypothesis="Live Q&A sessions bring new people to the brand.",
        practice="influencer-outreach", metric="mentions", streams=["acme-bluesky"], control_stream="acme-news",
        start=today - timedelta(days=10), end=today + timedelta(days=17), owner="Sunita", team="Community",
    )  # fmt: skip
    add(
        title="Employee advocacy pilot", hypothesis="Staff sharing our posts raises engagement per post.",
        practice="employee-advocacy", metric="engagement", streams=["acme-social"],
        start=today + timedelta(days=7), end=today + timedelta(days=34), owner="Lena", team="HR",
    )  # fmt: skip
    cancelled = add(
        title="Paid boost of launch posts" if not hostile else '<script>alert("title")</script>',
        hypothesis="Paying for reach lifts share of voice.", practice="paid-amplification",
        metric="share_of_voice", streams=["acme-mastodon"], start=today - timedelta(days=20),
        end=today - timedelta(days=6),
    )  # fmt: skip
    registry.cancel(cancelled)
    measure(store, settings, [worked, ended, running])
    registry.note(worked, "Week 2: replies doubled on the Tuesday thread.", "Lena")
    registry.conclude(worked, "Behind-the-scenes posts work: keep one a day, rotate the teams.", "adopt")
