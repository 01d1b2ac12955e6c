"""Times, days and durations: every stored instant is aware UTC; days are in the organisation's zone."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from tracker.errors import UserError

_DURATION = re.compile(r"(\d+)\s*(ms|[smhd])")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """Parse "15m", "1h30m", "45s", "1d", "250ms" into a timedelta; raise ValueError otherwise."""
    compact = text.strip().replace(" ", "")
    if not compact or _DURATION.sub("", compact):
        raise ValueError(text)
    seconds = sum(int(n) * _UNITS[u] for n, u in _DURATION.findall(compact))
    if seconds <= 0:
        raise ValueError(text)
    return timedelta(seconds=seconds)


def utcnow() -> datetime:
    return datetime.now(UTC)


def parse_instant(text: str) -> datetime:
    """Parse an ISO 8601 timestamp that carries a UTC offset (or Z); return aware UTC.

    A timestamp without an offset is ambiguous (whose local time?), so it is refused.
    """
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("needs a UTC offset, e.g. 2026-09-01T10:00:00Z")
    return parsed.astimezone(UTC)


def iso_z(moment: datetime) -> str:
    """ISO 8601 UTC with a `Z`, to the second (microseconds kept when present)."""
    utc = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return utc.isoformat().replace("+00:00", "Z")


def parse_day(text: str) -> date:
    """Parse YYYY-MM-DD; raise ValueError otherwise."""
    return date.fromisoformat(text.strip())


def day_start(day: date, zone: ZoneInfo) -> datetime:
    """The UTC instant at which `day` begins in `zone`."""
    return datetime.combine(day, time.min, tzinfo=zone).astimezone(UTC)


def day_bounds(first: date, last: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """UTC [start, end) of the days first..last inclusive in `zone`."""
    return day_start(first, zone), day_start(last + timedelta(days=1), zone)


FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(9000, 12, 31)  # days whose neighbours exist in every zone


def parse_export_day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise UserError(f"{option}: expected a day like 2026-09-01, got {value!r}") from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise UserError(f"{option}: expected a day from {FIRST_DAY} to {LAST_DAY}, got {value}")
    return day
