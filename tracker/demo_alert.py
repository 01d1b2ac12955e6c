"""`tracker demo`'s alert: one alert firing on the simulated weeks, and its message as alert.eml.

The demo replays its weeks in seconds, so no alert runs while it collects. Afterwards the
hours of the world's last four weeks are scanned (the pure conditions of tracker/alerts.py
on the world's own posts) for the first moment a `sentiment_drop` or `spike` alert on a
brand stream starts to hold; at that moment the alert is evaluated on the database as
`tracker run` would have, its firing is stored (no channel: nothing is sent), and the email
it would have sent is written next to the digest.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from email.policy import SMTP as SMTP_POLICY
from pathlib import Path
from typing import Any

from tracker.alerts import check, email_message, firing_record, sentiment_verdict
from tracker.config import AlertConfig, Settings
from tracker.spikes import spike_verdict
from tracker.store.db import Store
from tracker.store.enums import Role
from tracker.store.models import AlertFiring

HOUR = timedelta(hours=1)


def candidates(world: Any) -> list[tuple[datetime, str, str]]:
    """(moment, kind, stream) where an alert would start to hold, oldest first."""
    from tracker.sentiment import score_many

    first = max(world.start + timedelta(weeks=3), world.end - timedelta(weeks=4))
    found: list[tuple[datetime, str, str]] = []
    for stream in world.streams:
        if stream.role != Role.BRAND:
            continue
        posts = world.posts_of(stream.name)
        scores = score_many([p.text for p in posts], [p.lang for p in posts])
        counts: dict[int, float] = {}
        for p in posts:
            h = int((p.created_at - world.start) / HOUR)
            counts[h] = counts.get(h, 0.0) + 1
        start_h = int((first - world.start) / HOUR)
        for now_h in range(start_h, int((world.end - world.start) / HOUR)):
            now = world.start + now_h * HOUR
            slots = {k: counts.get(now_h - k, 0.0) for k in range(1, 8 * 168 + 1) if now_h - k >= 0}
            if spike_verdict(slots, counts.get(now_h, 0.0), period=168, threshold=5.0, min_mentions=10)[0]:
                found.append((now + HOUR, "spike", stream.name))
            window = [(p.created_at, s) for p, s in zip(posts, scores, strict=True) if s is not None]
            recent = [s for c, s in window if now - 6 * HOUR <= c < now]
            usual = [s for c, s in window if now - timedelta(days=28) <= c < now - 6 * HOUR]
            if sentiment_verdict(recent, usual, threshold=0.2, min_scored=10)[0]:
                found.append((now, "sentiment_drop", stream.name))
    return sorted(found)


def write_demo_alert(settings: Settings, store: Store, world: Any, directory: Path) -> Path | None:
    """Fire the first alert the world holds and write its message to alert.eml (None: none fired)."""
    for moment, kind, stream in candidates(world)[:20]:
        alert = AlertConfig(name=f"demo-{kind.replace('_', '-')}", kind=kind, streams=(stream,),
                            window=HOUR if kind == "spike" else 6 * HOUR,
                            threshold=5.0 if kind == "spike" else 0.2)  # fmt: skip
        with_alert = replace(settings, alerts=(alert,))
        (result,) = check(with_alert, store, now=moment, deliver=False)
        if result.state != "fired" or result.firing_id is None:
            continue
        # the checks `tracker run` would have made afterwards: the episode ends (cleared_at), so
        # the web does not show a weeks-old alert as active
        step = with_alert.alerts[0].window
        later = moment + step
        while later <= world.end and check(with_alert, store, now=later, deliver=False)[0].state == "active":
            later += step
        with store.read() as session:
            row = session.get(AlertFiring, result.firing_id)
            assert row is not None
            record = firing_record(row, moment)
        message = email_message(with_alert, record, "team@example.invalid", moment)
        path = directory / "alert.eml"
        path.write_bytes(message.as_bytes(policy=SMTP_POLICY))
        return path
    return None
