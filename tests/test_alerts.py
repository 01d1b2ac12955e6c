"""Alerts (issue 20): the conditions on synthetic data with known truth, once per episode and
cooldown, quiet hours, delivery by email (aiosmtpd) and signed webhook, retries and doubt."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import socket
import threading
import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import insert, select, text

from tests.conftest import write_config
from tests.digest.world import HOSTILE
from tracker.alerts import (
    check,
    collection_problem,
    deliver_due,
    history,
    quiet_end,
    sentiment_verdict,
)
from tracker.config import ConfigError, Settings, load_settings, parse_settings
from tracker.ingest import sync_streams
from tracker.spikes import spike_verdict
from tracker.store.db import Store, open_store
from tracker.store.models import AlertFiring, CollectionRun, Mention, MentionStream

NOW = datetime(2026, 11, 25, 14, 30, tzinfo=UTC)  # a Wednesday afternoon
HOUR = timedelta(hours=1)
SECRET = "whsec-Q7x!9pL2mZ"


# -- the conditions, pure -------------------------------------------------------------------------


def _rate(hour_of_week: int) -> float:
    """Mentions per hour: busy working hours, quiet nights, half on weekends."""
    day, hour = divmod(hour_of_week, 24)
    base = 6.0 if 8 <= hour < 20 else 1.0
    return base / 2 if day >= 5 else base


def _poisson(rng: random.Random, lam: float) -> int:
    n, p, limit = 0, 1.0, pow(2.718281828459045, -lam)
    while True:
        p *= rng.random()
        if p <= limit:
            return n
        n += 1


def _hours(weeks: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [float(_poisson(rng, _rate(h % 168))) for h in range(weeks * 168)]


def _spike_at(counts: list[float], h: int, threshold: float = 5.0) -> tuple[bool, float, float]:
    slots = {k: counts[h - k] for k in range(1, 8 * 168 + 1) if h - k >= 0}
    return spike_verdict(slots, counts[h], period=168, threshold=threshold, min_mentions=10)


def test_spike_fires_on_an_injected_burst_and_never_on_twelve_normal_weeks() -> None:
    false_alerts = 0
    evaluated = 0
    for seed in (1, 2, 3):
        counts = _hours(12, seed)
        for h in range(2 * 168, 12 * 168):  # every hour after two weeks of history
            evaluated += 1
            false_alerts += _spike_at(counts, h)[0]
    assert evaluated == 3 * 10 * 168
    assert false_alerts == 0, f"{false_alerts} false spike alerts over {evaluated} normal hours"
    counts = _hours(12, 4)
    h = 11 * 168 + 2 * 24 + 14  # a Wednesday, 14:00: usually 6
    counts[h] = 58
    holds, expected, score = _spike_at(counts, h)
    assert holds and 4 <= expected <= 8 and score > 5


def test_a_busy_hour_is_not_a_spike_but_the_same_count_at_night_is() -> None:
    counts = _hours(10, 5)
    day_hour, night_hour = 9 * 168 + 10, 9 * 168 + 3  # Monday 10:00 and 03:00
    counts[day_hour] = counts[night_hour] = 11
    assert not _spike_at(counts, day_hour)[0], "11 at 10:00 is an ordinary working hour"
    assert _spike_at(counts, night_hour)[0], "11 at 03:00 is far above the usual 1"


def test_spike_needs_history_and_the_floor() -> None:
    counts = [*_hours(1, 6), 40.0]
    assert not _spike_at(counts, len(counts) - 1)[0], "a week of history is too little"
    counts = _hours(10, 7)
    h = 9 * 168 + 3
    counts[h] = 9  # far above 1 at night, but under min_mentions = 10
    assert not _spike_at(counts, h)[0]


def test_sentiment_drop_fires_on_a_drop_and_stays_quiet_on_normal_windows() -> None:
    rng = random.Random(11)

    def scores(n: int, centre: float) -> list[float]:
        return [max(-1.0, min(1.0, rng.gauss(centre, 0.4))) for _ in range(n)]

    usual = scores(28 * 40, 0.15)
    false_alerts = sum(
        sentiment_verdict(scores(rng.randint(10, 30), 0.15), usual, threshold=0.2, min_scored=10)[0]
        for _ in range(12 * 7 * 4)  # four 6-hour windows a day over 12 weeks
    )
    assert false_alerts == 0
    holds, figures = sentiment_verdict(scores(25, -0.3), usual, threshold=0.2, min_scored=10)
    assert holds and figures["scored"] == 25 and figures["mean"] < 0 < figures["usual"]
    assert not sentiment_verdict(scores(9, -0.6), usual, threshold=0.2, min_scored=10)[0], "too few scored"


def test_collection_problem_runs_and_gap() -> None:
    assert collection_problem(["failed"] * 3, NOW, NOW, runs=3, gap=2 * HOUR) == "failed 3 runs in a row"
    assert collection_problem(["failed", "failed", "ok"], NOW, NOW, runs=3, gap=2 * HOUR) is None
    problem = collection_problem(["ok"], NOW - 3 * HOUR, NOW, runs=3, gap=2 * HOUR)
    assert problem == "not covered for 3 hours (more than 2 hours)"
    assert collection_problem([], None, NOW, runs=3, gap=2 * HOUR) is None, "never run: nothing to say yet"


def test_quiet_hours_end_in_the_organisation_time_zone() -> None:
    vienna = ZoneInfo("Europe/Vienna")
    quiet = (time(22, 0), time(7, 0))
    late = datetime(2026, 11, 25, 22, 30, tzinfo=UTC)  # 23:30 in Vienna
    assert quiet_end(late, quiet, vienna) == datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
    early = datetime(2026, 11, 26, 4, 0, tzinfo=UTC)  # 05:00 in Vienna
    assert quiet_end(early, quiet, vienna) == datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
    assert quiet_end(NOW, quiet, vienna) is None
    assert quiet_end(NOW, None, vienna) is None


# -- configuration --------------------------------------------------------------------------------

BASE = """
[organisation]
name = "Acme"
timezone = "Europe/Vienna"
[[streams]]
name = "acme-rss"
connector = "rss"
url = "https://news.example/feed"
every = "15m"
"""


def test_alert_config_problems_are_one_line_each() -> None:
    raw = tomllib.loads(
        BASE
        + """
[[alerts]]
name = "Bad Name"
kind = "storm"
streams = ["acme-rs"]
to = ["not-an-address"]
quiet_hours = "late"
cooldown = "soon"
webhook_secret_env = "X"
[[alerts]]
name = "kw"
kind = "keyword"
webhook = "https://hooks.example/x"
"""
    )
    with pytest.raises(ConfigError) as caught:
        parse_settings(raw, Path("/x/tracker.toml"))
    problems = "\n".join(caught.value.problems)
    for expected in (
        "alerts[0].name: expected a slug",
        "alerts[0].kind: expected one of spike, sentiment_drop, keyword, collection, got 'storm'",
        "alerts[0].streams: 'acme-rs' is neither a configured stream nor a role",
        "(did you mean 'acme-rss'?)",
        "alerts[0].to: 'not-an-address' is not valid here",
        'alerts[0].quiet_hours: expected a span of the day like "22:00-07:00"',
        "alerts[0].cooldown: expected a duration",
        "alerts[0].webhook_secret_env: signs webhook requests: set webhook too",
        "alerts[1].query: required for a keyword alert",
    ):
        assert expected in problems
    assert "Traceback" not in problems


def test_alert_defaults_and_roles() -> None:
    raw = tomllib.loads(
        BASE
        + """
[[alerts]]
name = "spike"
kind = "spike"
webhook = "https://hooks.example/x"
[[alerts]]
name = "mood"
kind = "sentiment_drop"
streams = ["competitor"]
webhook = "https://hooks.example/x"
"""
    )
    with pytest.raises(ConfigError) as caught:
        parse_settings(raw, Path("/x/tracker.toml"))
    assert caught.value.problems == [
        "alerts[1].streams: 'competitor': no configured stream has the role competitor"
    ], "an alert that would watch nothing is said, not kept silent"
    raw["alerts"][1]["streams"] = ["brand"]
    spike, mood = parse_settings(raw, Path("/x/tracker.toml")).alerts
    assert spike.streams == ("acme-rss",) and spike.window == HOUR and spike.cooldown == 6 * HOUR
    assert spike.threshold == 5.0 and spike.min_mentions == 10 and spike.format == "json"
    assert mood.streams == ("acme-rss",) and mood.window == 6 * HOUR and mood.threshold == 0.2


def test_hostile_alert_config_is_said_once_in_the_alerts_words() -> None:
    raw = tomllib.loads(
        BASE
        + """
[[alerts]]
name = "a"
kind = "spike"
webhook = "not a url"
[[alerts]]
name = "b"
kind = "spike"
webhook = "https://user:pw@hooks.example/x"
"""
    )
    with pytest.raises(ConfigError) as caught:
        parse_settings(raw, Path("/x/tracker.toml"))
    assert caught.value.problems[0] == "alerts[0].webhook: expected an http:// or https:// URL, got 'not a url'"
    assert "webhook_secret_env" in caught.value.problems[1] and "connector" not in caught.value.problems[1]
    assert len(caught.value.problems) == 2, "a bad webhook is not also called a missing destination"


# -- on a store -----------------------------------------------------------------------------------


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[int, Inbox]]:
    from aiosmtpd.controller import Controller

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, inbox
    finally:
        controller.stop()


class Receiver:
    """A local webhook receiver: answers `status` (a list consumed in turn) and keeps the requests."""

    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.requests: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.requests.append((dict(self.headers.items()), body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def verified(self, index: int = -1) -> dict[str, Any]:
        headers, body = self.requests[index]
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert headers["X-Tracker-Signature"] == expected, "the HMAC-SHA256 of the raw body"
        parsed: dict[str, Any] = json.loads(body)
        return parsed


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        r.server.shutdown()
        r.server.server_close()


def _settings(tmp_path: Path, alerts: str, smtp_port: int = 1, db_url: str | None = None) -> Settings:
    extra = (
        '[digest]\nto = ["team@acme.example"]\nfrom = "tracker@acme.example"\n'
        f'[smtp]\nhost = "127.0.0.1"\nport = {smtp_port}\nsecurity = "none"\ntimeout = "5s"\n' + alerts
    )
    path = write_config(
        tmp_path,
        db_url=db_url,
        streams=[
            {"name": "acme-rss", "connector": "rss", "url": "https://news.example/feed", "every": "15m"}
        ],
        extra=extra,
    )
    return load_settings(path)


class World:
    """A store with one stream covered for 9 weeks and 3 mentions every hour."""

    def __init__(self, settings: Settings, now: datetime = NOW) -> None:
        self.store = open_store(settings.database_url)
        with self.store.write() as session:
            self.sid = sync_streams(session=session, settings=settings, now=now)["acme-rss"]
            start = now - timedelta(weeks=9)
            session.add(CollectionRun(stream_id=self.sid, started_at=start, finished_at=start, status="ok",
                                      covered_from=start, covered_until=now + timedelta(days=3)))  # fmt: skip
        self.n = 0
        moment = now - timedelta(weeks=9)
        batch = []
        while moment < now - HOUR:
            batch += [(moment + timedelta(minutes=20 * i), "steady Acme chatter") for i in range(3)]
            moment += HOUR
        self.add(batch, seen=now - timedelta(days=1))

    def add(self, items: list[tuple[datetime, str]], *, seen: datetime | None = None, engagement: int = 1,
            sentiment: float | None = None, url: str | None = None) -> None:  # fmt: skip
        mentions, links = [], []
        for created, body in items:  # bulk inserts: a world of 4,500 mentions in well under a second
            self.n += 1
            mentions.append(dict(id=self.n, platform="rss", external_id=f"m{self.n}", text=body,
                                 created_at=created, kind="mention", engagement=engagement + self.n % 7,
                                 sentiment=sentiment, url=url or f"https://news.example/{self.n}",
                                 author=f"writer{self.n}", first_seen_at=seen or created,
                                 updated_at=seen or created))  # fmt: skip
            links.append(dict(mention_id=self.n, stream_id=self.sid, created_at=created))
        with self.store.write() as session:
            session.execute(insert(Mention), mentions)
            session.execute(insert(MentionStream), links)

    def burst(self, end: datetime, n: int = 40, body: str = "Acme is down again?") -> None:
        self.add([(end - timedelta(minutes=1 + i % 50), body) for i in range(n)], seen=end)

    def firings(self) -> list[AlertFiring]:
        with self.store.read() as session:
            return list(session.scalars(select(AlertFiring).order_by(AlertFiring.id)))


def test_spike_fires_once_per_episode_then_cools_down(tmp_path: Path, db_url: str, receiver: Receiver,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setenv("ALERT_SECRET", SECRET)
    settings = _settings(
        tmp_path,
        f"""
[[alerts]]
name = "acme-spike"
kind = "spike"
webhook = "{receiver.url}"
webhook_secret_env = "ALERT_SECRET"
""",
        db_url=db_url,
    )
    world = World(settings)
    assert [r.state for r in check(settings, world.store, now=NOW)] == ["quiet"], "steady weeks are quiet"
    world.burst(NOW)
    (fired,) = check(settings, world.store, now=NOW)
    assert fired.state == "fired"
    assert fired.headline.startswith("4") and fired.headline.endswith("mentions in the last hour, usually 3")
    body = receiver.verified()
    assert body["alert"]["subject"] == f"Spike on acme-rss: {fired.headline}"
    assert len(body["alert"]["mentions"]) == 5 and all(m["url"] for m in body["alert"]["mentions"])
    assert body["url"].endswith("/alerts/acme-spike")
    # the condition still holds ten minutes later: no second firing, nothing sent again
    assert check(settings, world.store, now=NOW + timedelta(minutes=10))[0].state == "active"
    assert len(receiver.requests) == 1 and len(world.firings()) == 1
    # an hour later the burst is over: the episode clears
    assert check(settings, world.store, now=NOW + 2 * HOUR)[0].state == "cleared"
    # a new burst within the cooldown is not sent
    world.burst(NOW + 3 * HOUR)
    assert check(settings, world.store, now=NOW + 3 * HOUR)[0].state == "cooling_down"
    # after it, it is
    world.burst(NOW + 7 * HOUR)
    assert check(settings, world.store, now=NOW + 7 * HOUR)[0].state == "fired"
    assert len(receiver.requests) == 2 and len(world.firings()) == 2
    with world.store.engine.connect() as conn:
        dump = "\n".join(str(r) for r in conn.execute(text("SELECT * FROM alert_firings")))
    assert SECRET not in dump, "the webhook secret is never stored"
    world.store.close()


def test_keyword_email_has_both_parts_escapes_hostile_text_and_links(
    tmp_path: Path, smtp: tuple[int, Inbox]
) -> None:
    port, inbox = smtp
    settings = _settings(tmp_path, """
[[alerts]]
name = "crisis-words"
kind = "keyword"
query = 'outage OR breach OR "data leak"'
to = ["oncall@acme.example"]
""", smtp_port=port)  # fmt: skip
    world = World(settings)
    assert check(settings, world.store, now=NOW)[0].state == "quiet"
    world.add(
        [(NOW - timedelta(minutes=5), "Acme data leak? " + HOSTILE["text"])], seen=NOW, url=HOSTILE["url"]
    )
    world.add([(NOW - timedelta(minutes=4), "a breach at Acme")], seen=NOW)
    world.add([(NOW - timedelta(minutes=3), "leak of data, not a phrase match")], seen=NOW)
    (fired,) = check(settings, world.store, now=NOW)
    assert fired.state == "fired" and fired.headline.startswith("2 new mentions match")
    (message,) = inbox.messages
    assert message["Subject"].startswith("Keyword alert on acme-rss: 2 new mentions match")
    assert message["From"].endswith("<tracker@acme.example>")
    parts = {p.get_content_type(): p.get_payload(decode=True).decode() for p in message.walk()
             if not p.is_multipart()}  # fmt: skip
    html_part, text_part = parts["text/html"], parts["text/plain"]
    assert "<script>" not in html_part and "&lt;script&gt;" in html_part
    assert "onerror=alert(2)>" not in html_part
    assert 'href="https://evil.example' not in html_part, "an unsafe URL is not linked"
    assert "https://news.example/" in html_part and "https://news.example/" in text_part
    assert "/alerts/crisis-words" in text_part and "To mute this alert" in text_part
    (row,) = history(world.store)
    assert row["deliveries"]["email:oncall@acme.example"]["status"] == "sent"


def test_a_down_webhook_is_retried_with_backoff_and_never_blocks_the_email(
    tmp_path: Path, smtp: tuple[int, Inbox], receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    port, inbox = smtp
    monkeypatch.setenv("ALERT_SECRET", SECRET)
    settings = _settings(tmp_path, f"""
[[alerts]]
name = "acme-spike"
kind = "spike"
to = ["oncall@acme.example"]
webhook = "{receiver.url}"
webhook_secret_env = "ALERT_SECRET"
format = "slack"
""", smtp_port=port)  # fmt: skip
    world = World(settings)
    world.burst(NOW)
    receiver.statuses = [503]
    assert check(settings, world.store, now=NOW)[0].state == "fired"
    (row,) = history(world.store)
    assert (
        row["deliveries"]["webhook"]["status"] == "failed"
        and "HTTP 503" in row["deliveries"]["webhook"]["error"]
    )
    assert row["deliveries"]["email:oncall@acme.example"]["status"] == "sent" and len(inbox.messages) == 1
    assert deliver_due(settings, world.store, now=NOW + timedelta(seconds=10)) == [], "not before the backoff"
    (done,) = deliver_due(settings, world.store, now=NOW + timedelta(seconds=31))
    assert done[1:] == ("webhook", "sent")
    slack = receiver.verified()
    assert (
        set(slack) == {"text"}
        and "Spike on acme-rss" in slack["text"]
        and "/alerts/acme-spike|" in slack["text"]
    )
    assert len(inbox.messages) == 1, "the email is not sent twice"


def test_an_interrupted_webhook_is_in_doubt_and_not_resent(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path,
        """
[[alerts]]
name = "acme-spike"
kind = "spike"
webhook = "https://hooks.example/x"
""",
    )
    world = World(settings)
    world.burst(NOW)
    check(settings, world.store, now=NOW, deliver=False)
    sent: list[bytes] = []

    def broken(request: httpx.Request) -> httpx.Response:
        sent.append(request.content)
        raise httpx.ReadTimeout("no answer", request=request)

    (done,) = deliver_due(settings, world.store, now=NOW, transport=httpx.MockTransport(broken))
    assert done[2] == "in_doubt"
    assert history(world.store)[0]["deliveries"]["webhook"]["status"] == "in_doubt"
    assert deliver_due(settings, world.store, now=NOW + HOUR, transport=httpx.MockTransport(broken)) == []
    assert len(sent) == 1


def test_a_firing_in_quiet_hours_is_sent_when_they_end(tmp_path: Path, receiver: Receiver) -> None:
    settings = _settings(
        tmp_path,
        f"""
[[alerts]]
name = "acme-spike"
kind = "spike"
webhook = "{receiver.url}"
quiet_hours = "14:00-17:00"
""",
    )  # 15:30 in Vienna is inside
    world = World(settings)
    world.burst(NOW)
    assert check(settings, world.store, now=NOW)[0].state == "fired"
    assert receiver.requests == [] and history(world.store)[0]["held_until"] == "2026-11-25T16:00:00Z"
    assert deliver_due(settings, world.store, now=NOW + HOUR) == []
    (done,) = deliver_due(settings, world.store, now=datetime(2026, 11, 25, 16, 0, tzinfo=UTC))
    assert done[2] == "sent" and len(receiver.requests) == 1


QUIET_PAIR = """
[[alerts]]
name = "acme-spike"
kind = "spike"
to = ["oncall@acme.example"]
webhook = "{url}"
webhook_secret_env = "ALERT_SECRET"
quiet_hours = "14:00-17:00"
[[alerts]]
name = "crisis-words"
kind = "keyword"
query = "down OR outage"
to = ["oncall@acme.example"]
webhook = "{url}"
webhook_secret_env = "ALERT_SECRET"
quiet_hours = "14:00-17:00"
"""
QUIET_END = datetime(2026, 11, 25, 16, 0, tzinfo=UTC)  # 17:00 in Vienna


def test_firings_held_by_quiet_hours_go_out_as_one_message_per_channel(
    tmp_path: Path, smtp: tuple[int, Inbox], receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    port, inbox = smtp
    monkeypatch.setenv("ALERT_SECRET", SECRET)
    settings = _settings(tmp_path, QUIET_PAIR.format(url=receiver.url), smtp_port=port)
    world = World(settings)
    world.burst(NOW)  # 15:30 in Vienna: inside the quiet hours
    assert [r.state for r in check(settings, world.store, now=NOW)] == ["fired", "fired"]
    # the keyword episode is over before the quiet hours end; the spike is still on
    check(settings, world.store, now=NOW + HOUR + timedelta(minutes=20))
    assert inbox.messages == [] and receiver.requests == [], "nothing during the quiet hours"
    assert deliver_due(settings, world.store, now=QUIET_END - timedelta(minutes=1)) == []
    done = deliver_due(settings, world.store, now=QUIET_END)
    assert sorted(status for _, _, status in done) == ["sent"] * 4, "two firings, two channels each"
    (message,) = inbox.messages
    assert message["Subject"].startswith("2 alerts held by quiet hours: ")
    parts = {p.get_content_type(): p.get_payload(decode=True).decode() for p in message.walk()
             if not p.is_multipart()}  # fmt: skip
    for part in parts.values():
        assert "Spike on acme-rss" in part and "Keyword alert on acme-rss" in part
        assert "/alerts/acme-spike" in part and "/alerts/crisis-words" in part
    assert "held until they ended at 17:00 (Europe/Vienna)" in parts["text/plain"]
    assert "ended 2026-11-25T15:50:00Z" in parts["text/plain"], "the keyword episode is said to be over"
    assert len(receiver.requests) == 1
    body = receiver.verified()
    assert body["count"] == 2 and [a["alert"] for a in body["alerts"]] == ["acme-spike", "crisis-words"]
    assert body["url"].endswith("/alerts")
    rows = history(world.store)
    batches = {d["batch"] for r in rows for d in r["deliveries"].values()}
    assert len(batches) == 2, "one message per channel, each firing records which one"
    assert deliver_due(settings, world.store, now=QUIET_END + HOUR) == [], "never sent again"
    assert len(inbox.messages) == 1 and len(receiver.requests) == 1
    world.store.close()


def test_a_held_message_that_fails_is_retried_whole_and_one_interrupted_is_in_doubt_for_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALERT_SECRET", SECRET)
    settings = _settings(tmp_path, QUIET_PAIR.format(url="https://hooks.example/x").replace(
        'to = ["oncall@acme.example"]\n', ""))  # fmt: skip
    world = World(settings)
    world.burst(NOW)
    check(settings, world.store, now=NOW, deliver=False)
    sent: list[dict[str, Any]] = []
    answers = [503]

    def hook(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        if not answers:
            raise httpx.ReadTimeout("no answer", request=request)
        return httpx.Response(answers.pop(0))

    transport = httpx.MockTransport(hook)
    first = deliver_due(settings, world.store, now=QUIET_END, transport=transport)
    assert [status for *_, status in first] == ["failed", "failed"] and len(sent) == 1
    assert sent[0]["count"] == 2
    assert deliver_due(settings, world.store, now=QUIET_END + timedelta(seconds=10), transport=transport) == []
    again = deliver_due(settings, world.store, now=QUIET_END + timedelta(seconds=31), transport=transport)
    assert [status for *_, status in again] == ["in_doubt", "in_doubt"] and len(sent) == 2
    assert sent[1]["count"] == 2, "retried as the one message it was"
    assert {r["deliveries"]["webhook"]["status"] for r in history(world.store)} == {"in_doubt"}
    assert deliver_due(settings, world.store, now=QUIET_END + 3 * HOUR, transport=transport) == []
    assert len(sent) == 2, "in doubt: never resent by itself"
    world.store.close()


def test_held_firings_for_different_webhooks_are_not_combined(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALERT_SECRET", SECRET)
    alerts = QUIET_PAIR.format(url="https://hooks.example/x").replace('to = ["oncall@acme.example"]\n', "")
    alerts = alerts.replace("https://hooks.example/x", "https://other.example/y", 1)
    settings = _settings(tmp_path, alerts)
    world = World(settings)
    world.burst(NOW)
    check(settings, world.store, now=NOW, deliver=False)
    seen: list[tuple[str, dict[str, Any]]] = []

    def hook(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.host, json.loads(request.content)))
        return httpx.Response(200)

    deliver_due(settings, world.store, now=QUIET_END, transport=httpx.MockTransport(hook))
    assert sorted((host, "alert" in body) for host, body in seen) == [("hooks.example", True),
                                                                      ("other.example", True)]  # fmt: skip
    world.store.close()


def test_collection_alert_on_failed_runs(tmp_path: Path, receiver: Receiver) -> None:
    settings = _settings(
        tmp_path,
        f"""
[[alerts]]
name = "health"
kind = "collection"
runs = 2
webhook = "{receiver.url}"
""",
    )
    world = World(settings)
    assert check(settings, world.store, now=NOW)[0].state == "quiet"
    with world.store.write() as session:
        for i in range(2):
            session.add(CollectionRun(stream_id=world.sid, started_at=NOW - timedelta(minutes=10 - i),
                                      status="failed", error="HTTP 500"))  # fmt: skip
    (fired,) = check(settings, world.store, now=NOW)
    assert fired.state == "fired" and fired.headline == "acme-rss failed 2 runs in a row"
    assert json.loads(receiver.requests[0][1])["alert"]["subject"] == (
        "Collection problem on acme-rss: acme-rss failed 2 runs in a row"
    )


def _store(settings: Settings) -> Store:
    return open_store(settings.database_url)


def test_cli_list_check_history_and_test(tmp_path: Path, cli: Any, receiver: Receiver) -> None:
    settings = _settings(
        tmp_path,
        f"""
[[alerts]]
name = "acme-spike"
kind = "spike"
webhook = "{receiver.url}"
""",
    )
    world = World(settings)
    world.burst(datetime.now(UTC))
    config = settings.path
    listed = cli("alerts", "list", "--json", "--config", config)
    assert listed.code == 0 and json.loads(listed.out)["alerts"][0]["active"] is False
    dry = cli("alerts", "check", "--dry-run", "--config", config)
    assert dry.code == 0 and "acme-spike: would fire" in dry.out and world.firings() == []
    assert receiver.requests == []
    done = cli("alerts", "check", "--config", config)
    assert "acme-spike: fired" in done.out and len(receiver.requests) == 1
    shown = json.loads(cli("alerts", "history", "--json", "--config", config).out)
    assert shown["firings"][0]["deliveries"]["webhook"]["status"] == "sent"
    assert cli("alerts", "history", "--since", "soon", "--config", config).code == 2
    sample = cli("alerts", "test", "acme-spike", "--config", config)
    assert sample.code == 0 and "webhook: sent" in sample.out and len(receiver.requests) == 2
    assert "[test]" in json.loads(receiver.requests[1][1])["alert"]["subject"]
    unknown = cli("alerts", "test", "nope", "--config", config)
    assert unknown.code == 2 and "no alert named 'nope' (known: acme-spike)" in unknown.err


def test_cli_check_says_what_was_not_delivered_and_exits_1(tmp_path: Path, cli: Any) -> None:
    settings = _settings(tmp_path, """
[[alerts]]
name = "crisis-words"
kind = "keyword"
query = "down"
to = ["oncall@acme.example"]
""")  # fmt: skip  # [smtp] on port 1: nothing listens there
    world = World(settings, now=datetime.now(UTC))
    world.burst(datetime.now(UTC), n=3)
    done = cli("alerts", "check", "--config", settings.path)
    assert done.code == 1 and "crisis-words: fired (3 new mentions match down); email:oncall@acme.example failed" in done.out
    assert "email:oncall@acme.example not delivered: cannot reach 127.0.0.1:1" in done.err
    assert "tried again from" in done.err and "Traceback" not in done.err
    again = cli("alerts", "check", "--config", settings.path)
    assert again.code == 1 and "crisis-words: active" in again.out, "still undelivered: still said"
    world.store.close()


@pytest.mark.slow
def test_web_alerts_page_api_and_overview_link(tmp_path: Path, receiver: Receiver) -> None:
    import asyncio

    from tracker.web.app import create_app

    settings = _settings(
        tmp_path,
        f"""
[[alerts]]
name = "acme-spike"
kind = "spike"
webhook = "{receiver.url}"
""",
    )
    now = datetime.now(UTC).replace(microsecond=0)  # the web reads the wall clock
    world = World(settings, now=now)
    app = create_app(settings, world.store)

    class Client:
        def get(self, path: str, params: dict[str, str] | None = None) -> httpx.Response:
            async def go() -> httpx.Response:
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as c:
                    return await c.get(path, params=params)

            return asyncio.run(go())

    client = Client()
    assert "alerts-active" not in client.get("/").text and "alerts-ended" not in client.get("/").text
    # an episode three days ago, and no check since (tracker run stopped): not active
    old = now - timedelta(days=3)
    world.burst(old)
    assert check(settings, world.store, now=old)[0].state == "fired"
    overview = client.get("/").text
    assert "alerts-active" not in overview and "alerts-ended" in overview and "not checked since" in overview
    assert "ACTIVE" not in cli_free_list(client)
    (firing,) = client.get("/api/v1/alerts/history").json()["firings"]
    assert firing["status"] == "unchecked" and firing["active"] is False
    # the next check finds it over: ended, with when it fired and when it ended
    assert check(settings, world.store, now=now - timedelta(minutes=30))[0].state == "cleared"
    overview = client.get("/").text
    assert "alerts-ended" in overview and "ended" in overview and "alerts-active" not in overview
    page = client.get("/alerts/acme-spike").text
    assert "Ended: fired" in page and "Active" not in page
    # an episode now is active, and links from the overview
    world.add([(now - timedelta(minutes=2 + i % 40), HOSTILE["text"]) for i in range(40)], seen=now,
              url=HOSTILE["url"])  # fmt: skip
    assert check(settings, world.store, now=now)[0].state == "fired"
    overview = client.get("/").text
    assert "alerts-active" in overview and 'href="/alerts"' in overview
    page = client.get("/alerts/acme-spike")
    assert page.status_code == 200 and "Spike on acme-rss" in page.text and "To mute this alert" in page.text
    assert "<script>alert" not in page.text and 'href="https://evil.example' not in page.text
    assert client.get("/alerts/nope").status_code == 404
    listed = client.get("/api/v1/alerts").json()
    assert listed["alerts"][0]["active"] is True and listed["active"][0]["alert"] == "acme-spike"
    today = now.astimezone(settings.organisation.zone).date()
    firings = client.get("/api/v1/alerts/history", params={"since": str(today)}).json()["firings"]
    assert firings[0]["deliveries"]["webhook"]["status"] == "sent" and len(firings[0]["mentions"]) == 5
    assert firings[0]["status"] == "active"
    tomorrow = str(today + timedelta(days=1))
    assert client.get("/api/v1/alerts/history", params={"since": tomorrow}).json()["firings"] == []


def cli_free_list(client: Any) -> str:
    """The Alerts page's table of configured alerts, as text."""
    page: str = client.get("/alerts").text
    return page.split("<h2>History</h2>")[0]


def test_the_digest_lists_the_weeks_alerts(tmp_path: Path, receiver: Receiver) -> None:
    from tracker.digest.data import build_digest
    from tracker.digest.render import render_html, render_text
    from tracker.digest.weeks import week_of
    from tracker.maturity import load_model

    settings = _settings(
        tmp_path,
        f"""
[[alerts]]
name = "acme-spike"
kind = "spike"
webhook = "{receiver.url}"
""",
    )
    world = World(settings)
    world.burst(NOW)
    (fired,) = check(settings, world.store, now=NOW)
    week = week_of(NOW.date())
    data = build_digest(world.store, settings, week, model=load_model(settings), now=NOW + timedelta(days=7))
    assert [a["subject"] for a in data["alerts"]] == [f"Spike on acme-rss: {fired.headline}"]
    assert data["alerts"][0]["local_time"] == "Wed 15:30"
    assert "ALERTS THIS WEEK" in render_text(data) and "Alerts this week" in render_html(data, chart_src="x")
    before = build_digest(world.store, settings, week.previous, model=load_model(settings), now=NOW)
    assert before["alerts"] == []


@pytest.mark.slow
def test_tracker_run_against_the_sandbox_delivers_its_spike_episode_within_one_collection_once(
    tmp_path: Path, smtp: tuple[int, Inbox], receiver: Receiver
) -> None:
    """`tracker sandbox serve` with a spike episode scheduled 20 s after it starts, `tracker run`
    collecting its brand Mastodon stream every 10 s: the email (aiosmtpd) and the signed webhook
    arrive after the collection run that first saw the episode's posts, nothing before the episode,
    nothing again afterwards. Whether the first run (the backfill) ends before the episode or not,
    the same holds; the latency is printed, not asserted."""
    import os
    import signal
    import sqlite3
    import subprocess
    import sys
    import time as clock
    import urllib.request

    from tests.support import answers, file_contains, running, wait_until

    port, inbox = smtp
    arrivals: dict[str, float] = {}
    handle = inbox.handle_DATA

    async def timed(server: Any, session: Any, envelope: Any) -> str:
        arrivals.setdefault("email", clock.time())
        return await handle(server, session, envelope)

    inbox.handle_DATA = timed  # type: ignore[method-assign]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        sandbox_port = s.getsockname()[1]
    base = f"http://127.0.0.1:{sandbox_port}"
    extra = (
        '[digest]\nto = ["team@acme.example"]\nfrom = "tracker@acme.example"\n'
        f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\ntimeout = "5s"\n'
        '[logging]\nfile = "tracker.log"\n'
        f"[sandbox]\nweeks = 9\nport = {sandbox_port}\n"
        '[[sandbox.episodes]]\nkind = "spike"\nafter = "20s"\nspan = "1s"\n'
        '[[alerts]]\nname = "acme-spike"\nkind = "spike"\nstreams = ["acme-mastodon"]\n'
        f'to = ["oncall@acme.example"]\nwebhook = "{receiver.url}"\nwebhook_secret_env = "ALERT_SECRET"\n'
    )
    stream = {"name": "acme-mastodon", "connector": "mastodon", "base_url": f"{base}/mastodon",
              "hashtag": "acme", "role": "brand", "every": "10s", "backfill": 5000}  # fmt: skip
    path = write_config(tmp_path, streams=[stream], extra=extra)
    env = {**os.environ, "ALERT_SECRET": SECRET}
    command = [sys.executable, "-m", "tracker", "--config", str(path)]
    sandbox = subprocess.Popen([*command, "sandbox", "serve"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True, env=env)  # fmt: skip
    tracker: subprocess.Popen[str] | None = None
    log_file = tmp_path / "tracker.log"
    try:
        wait_until(answers(f"{base}/_sandbox"), "the sandbox", alive=running(sandbox))
        with urllib.request.urlopen(f"{base}/_sandbox", timeout=10) as answer:
            described = json.load(answer)
        (episode,) = described["episodes"]
        assert described["clock"] == "live" and episode["stream"] == "acme-mastodon"
        start = datetime.fromisoformat(episode["start"])
        collectable = datetime.fromisoformat(episode["collectable_at"])
        tracker = subprocess.Popen([*command, "run"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True, env=env)  # fmt: skip
        wait_until(file_contains(log_file, "collect acme-mastodon: ok"), "the first run", alive=running(tracker))

        def arrived() -> bool:
            if receiver.requests:
                arrivals.setdefault("webhook", clock.time())
            return bool(inbox.messages) and bool(receiver.requests)

        wait_until(arrived, "the alert email and webhook", alive=running(tracker))
        assert inbox.messages[0]["Subject"].startswith("Spike on acme-mastodon: ")
        assert receiver.verified()["alert"]["alert"] == "acme-spike"
        db = sqlite3.connect(tmp_path / "tracker.db")
        try:
            ((fired,),) = db.execute("SELECT fired_at FROM alert_firings").fetchall()
            runs = db.execute("SELECT started_at, finished_at FROM collection_runs ORDER BY started_at").fetchall()
        finally:
            db.close()
        fired_at = datetime.fromisoformat(fired).replace(tzinfo=UTC)
        run_starts = [datetime.fromisoformat(t).replace(tzinfo=UTC) for t, _ in runs]
        backfilled = datetime.fromisoformat(runs[0][1]).replace(tzinfo=UTC)
        assert fired_at >= start, "nothing fired before the episode"
        runs_to_fire = [t for t in run_starts if collectable <= t <= fired_at]
        assert len(runs_to_fire) <= 1, "delivered after the first collection run that could see the episode"
        seen = log_file.read_text().count("collect acme-mastodon:")
        wait_until(lambda: log_file.read_text().count("collect acme-mastodon:") >= seen + 2, "two more runs",
                   alive=running(tracker))  # fmt: skip
        assert len(inbox.messages) == 1 and len(receiver.requests) == 1, "not delivered again"
        ended_first = backfilled < collectable
        print(f"\nspike collectable -> email {arrivals['email'] - collectable.timestamp():.1f}s, webhook "
              f"{arrivals['webhook'] - collectable.timestamp():.1f}s; {len(runs_to_fire)} run(s) started in "
              f"between; the first run (the backfill) ended {'before' if ended_first else 'after'} the episode")  # fmt: skip
    finally:
        for process in (tracker, sandbox):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
        out, err = tracker.communicate(timeout=60) if tracker is not None else ("", "")
        sandbox.communicate(timeout=60)
    assert tracker.returncode == 0, err
    assert SECRET not in out + err + log_file.read_text()


@pytest.mark.slow
def test_false_alerts_over_the_sandbox_demo_weeks() -> None:
    """The demo's world (seed 42, 12 weeks), evaluated every hour after two weeks, per mention
    stream: episodes of `spike` and `sentiment_drop` outside the days with something injected
    (the world's spike day, and the windows of experiments with a real effect)."""
    from tracker.sandbox.world import generate_world
    from tracker.sentiment import score_many

    world = generate_world(42, 12)
    first = world.start + timedelta(weeks=2)
    hours = int((world.end - first) / HOUR)
    false = {"spike": 0, "sentiment_drop": 0}
    true = {"spike": 0, "sentiment_drop": 0}
    injected = {d.name: {s.day for s in world.spikes if d.name in s.streams} for d in world.streams}
    for exp in world.experiments:  # a real effect on volume or sentiment is an injected episode too
        if exp.real and exp.stream in injected:
            injected[exp.stream] |= {exp.start + timedelta(days=i) for i in range(exp.days)}
    for stream in world.streams:
        if stream.role == "owned":
            continue
        posts = world.posts_of(stream.name)
        scores = score_many([p.text for p in posts], [p.lang for p in posts])
        counts: dict[int, float] = {}
        for p in posts:
            h = int((p.created_at - world.start) / HOUR)
            counts[h] = counts.get(h, 0.0) + 1
        holding = {"spike": False, "sentiment_drop": False}
        for step in range(hours):
            now_h = int((first - world.start) / HOUR) + step
            now = world.start + now_h * HOUR
            slots = {k: counts.get(now_h - k, 0.0) for k in range(1, 8 * 168 + 1) if now_h - k >= 0}
            spike = spike_verdict(slots, counts.get(now_h, 0.0), period=168, threshold=5.0, min_mentions=10)[
                0
            ]
            recent = [
                s
                for p, s in zip(posts, scores, strict=True)
                if s is not None and now - 6 * HOUR <= p.created_at < now
            ]
            usual = [
                s for p, s in zip(posts, scores, strict=True)
                if s is not None and now - timedelta(days=28) <= p.created_at < now - 6 * HOUR
            ]  # fmt: skip
            drop = sentiment_verdict(recent, usual, threshold=0.2, min_scored=10)[0]
            for kind, holds in (("spike", spike), ("sentiment_drop", drop)):
                if holds and not holding[kind]:
                    (true if world.day_of(now) in injected[stream.name] else false)[kind] += 1
                holding[kind] = holds
    print(f"\nover the demo's 12 weeks: false alerts {false}, on injected days {true}")
    assert false == {"spike": 0, "sentiment_drop": 0}


@pytest.mark.slow
def test_the_demo_writes_the_alert_it_fired(tmp_path: Path) -> None:
    import subprocess
    import sys

    workspace = tmp_path / "demo"
    result = subprocess.run([sys.executable, "-m", "tracker", "demo", "--dir", str(workspace)],
                            capture_output=True, text=True, timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"alert:      {workspace / 'alert.eml'}" in result.stdout
    message = message_from_bytes((workspace / "alert.eml").read_bytes())
    assert message["Subject"].startswith(("Sentiment drop on acme-", "Spike on acme-"))
    assert {p.get_content_type() for p in message.walk()} >= {"text/plain", "text/html"}
    shown = subprocess.run([sys.executable, "-m", "tracker", "--config", str(workspace / "tracker.toml"),
                            "alerts", "history", "--json"], capture_output=True, text=True)  # fmt: skip
    (firing,) = json.loads(shown.stdout)["firings"]
    assert firing["subject"] == " ".join(message["Subject"].split()) and len(firing["mentions"]) == 5
    assert firing["status"] == "ended" and firing["active"] is False, "a weeks-old episode is over"
    assert firing["cleared_at"] > firing["fired_at"]


# -- the sentiment drop from the daily aggregates ---------------------------------------------------


def test_sentiment_drop_fires_the_same_from_the_aggregates_as_from_the_mentions(db_url: str) -> None:
    """The usual 28 days read from the daily cells (whole local days) and the mentions (the rest)
    give the same verdict, figures and worst mentions as the mentions alone, for windows that
    start mid-day, at midnight, on a DST change, and with a deleted post and a mention in two
    of the streams."""
    from connectors.base import Item
    from tracker import aggregates
    from tracker.alerts import _sentiment
    from tracker.config import AlertConfig
    from tracker.ingest import upsert_items
    from tracker.store.models import Stream

    zone = ZoneInfo("Europe/Vienna")
    store = open_store(db_url, zone.key)
    with store.write() as session:
        for name in ("brand", "other", "rival"):
            session.add(Stream(name=name, connector="mastodon", role="brand", source="config", created_at=NOW))
    with store.read() as session:
        ids = {s.name: s.id for s in session.query(Stream)}
    texts = ["acme is great", "love acme", "acme is fine", "acme is awful and broken", "meh acme",
             "acme support was terrible", "acme rocks, really good"]  # fmt: skip
    rng = random.Random(22)
    end = datetime(2026, 10, 27, 12, 0, tzinfo=UTC)  # two days after the autumn DST change
    items = []
    for n in range(1000):  # the last 100 in the 8 hours before `end`, mostly bad news
        when = end - timedelta(minutes=rng.randrange(40 * 24 * 60 if n < 900 else 8 * 60))
        late = when > end - timedelta(hours=8)
        streams = rng.choice([("brand",), ("other",), ("brand", "other"), ("rival",)])
        text_ = rng.choice(texts[3:4] + texts[5:6]) if late and rng.random() < 0.7 else rng.choice(texts)
        items.append(Item(platform="mastodon", external_id=f"https://m.example/a/{n}", text=f"{text_} {n}",
                          lang="en", created_at=when, streams=streams))  # fmt: skip
    with store.write() as session:
        upsert_items(session=session, items=items, stream_ids=ids, now=end)
        session.execute(text("UPDATE mentions SET deleted_at = created_at WHERE id % 97 = 0"))
        session.execute(text("DELETE FROM daily_aggregates"))
        aggregates.rebuild(session.connection(), zone)  # the deleted posts leave the cells too
    fired = 0
    for now in (end, end - timedelta(hours=3, minutes=17), datetime(2026, 10, 26, 23, 0, tzinfo=UTC),
                datetime(2026, 10, 25, 22, 30, tzinfo=UTC)):  # fmt: skip
        for window in (HOUR, 6 * HOUR, timedelta(days=1)):
            alert = AlertConfig(name="drop", kind="sentiment_drop", streams=("brand", "other"), window=window,
                                threshold=0.2, min_scored=5)  # fmt: skip
            with store.read() as session:
                streams = [ids["brand"], ids["other"]]
                raw = _sentiment(session, alert, streams, now, None, zone, use_aggregates=False)
                cells = _sentiment(session, alert, streams, now, None, zone, use_aggregates=True)
            assert raw == cells, (now, window)
            fired += raw.holds
    assert fired >= 2  # the late drop fires, so the comparison covers firings, not just silence
    store.close()
