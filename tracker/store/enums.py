"""The words stored in the status and role columns, as StrEnums: compared, stored and printed
as the plain strings they are (SPEC's JSON fields are unchanged), but spelt once.

No SQLAlchemy here, so tracker/config.py can use them without loading the database layer.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """A stream's role (`role` in the config, `streams.role`)."""

    BRAND = "brand"
    COMPETITOR = "competitor"
    OWNED = "owned"


class RunStatus(StrEnum):
    """A collection run's outcome (`collection_runs.status`); SKIPPED only in reports, never stored."""

    RUNNING = "running"
    OK = "ok"
    PARTIAL = "partial"
    FAILED = "failed"
    SKIPPED = "skipped"  # another worker holds the stream's lease


class DeliveryStatus(StrEnum):
    """One alert firing's delivery to one channel (`alert_firings.deliveries[channel].status`).

    IN_DOUBT is shown, never stored: a delivery left IN_PROGRESS (interrupted mid-way) may or
    may not have arrived, and is never resent by itself."""

    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    SENT = "sent"
    FAILED = "failed"
    IN_DOUBT = "in_doubt"


class SendStatus(StrEnum):
    """One digest send to one recipient (`digest_sends.status`): IN_PROGRESS left behind means in doubt."""

    IN_PROGRESS = "in_progress"
    SENT = "sent"
    FAILED = "failed"
