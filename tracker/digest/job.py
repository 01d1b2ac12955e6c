"""The digest job of `tracker run`, called hourly.

From [digest] weekday/time on (organisation zone), it sends the last complete
week's digest to every recipient who has not got it, and retries failed ones each
hour until the next week's digest is due. It never sends to someone who has the
week's digest, nor to one whose send is in doubt (only `tracker digest --send
--force` does that). The work is cheap when there is nothing to do: the database
says so before anything is built.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from tracker.config import Settings
from tracker.digest.send import Delivery, in_doubt, pending, send_week
from tracker.digest.weeks import due_week, send_time
from tracker.errors import UserError
from tracker.store.db import Store

log = logging.getLogger("tracker.digest")


def digest_job(settings: Settings, store: Store, now: datetime) -> None:
    """Send the due week's digest to whoever still needs it (see the module docstring)."""
    from tracker.digest.service import builder

    if settings.digest is None or settings.smtp is None:
        return
    week = due_week(settings.digest, settings.organisation.zone, now)
    for recipient in in_doubt(store, week.label):
        log.warning(
            "digest %s to %s is in doubt (a send was interrupted): not resent; "
            "`tracker digest --week %s --send --force` sends it again",
            week.label,
            recipient,
            week.label,
        )
    if not pending(store, week.label, settings.digest.to):
        return
    try:
        report = send_week(settings, store, week.label, builder(settings, store, week, now))
    except UserError as exc:  # e.g. the password's variable is not set: say so, try next hour
        log.error("digest %s: %s", week.label, exc)
        return
    if report.busy:
        log.info("digest %s: another worker (%s) is sending it", week.label, report.busy)
        return
    for o in report.outcomes:
        if o.status == Delivery.SENT:
            log.info("digest %s sent to %s", week.label, o.recipient)
        elif o.status in (Delivery.FAILED, Delivery.IN_DOUBT):
            log.warning("digest %s to %s: %s: %s (attempt %d)", week.label, o.recipient, o.status, o.error,
                        o.attempts)  # fmt: skip


def next_digest_time(settings: Settings, now: datetime) -> datetime | None:
    """When the next week's digest is due (None without [digest] and [smtp]); retries are hourly."""
    if settings.digest is None or settings.smtp is None:
        return None
    zone = settings.organisation.zone
    return send_time(due_week(settings.digest, zone, now).next, settings.digest, zone)


def first_hourly_run(settings: Settings, now: datetime) -> datetime:
    """The first instant at or after `now` that is on the minute of [digest] time (organisation
    zone): an hourly job started then lands exactly on weekday/time (default: now)."""
    if settings.digest is None:
        return now
    local = now.astimezone(settings.organisation.zone)
    tick = local.replace(minute=settings.digest.time.minute, second=0, microsecond=0).astimezone(UTC)
    return tick if tick >= now else tick + timedelta(hours=1)
