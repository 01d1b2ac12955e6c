"""`tracker db check`: the daily aggregates against the raw mentions, and `--repair`.

Kept apart from the CLI so a scheduled job could run it too. The lines name each
stream set (by stream names) and day that differ, with both figures.
"""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from tracker import aggregates
from tracker.store.db import Store
from tracker.store.models import Stream

SHOWN = 20  # differing cells named one by one; the rest are counted


def check(
    store: Store, zone: ZoneInfo, age: timedelta = aggregates.DEFAULT_AGE, *, repair: bool = False
) -> tuple[list[str], bool]:
    """The report's lines, and whether the aggregates agree (after a repair: whether they did)."""
    with store.write() as session:
        connection = session.connection()
        built_in = aggregates.stored_zone(connection)
        names = {i: n for i, n in session.execute(select(Stream.id, Stream.name))}
        lines: list[str] = []
        wrong_zone = built_in is None or built_in.key != zone.key
        if wrong_zone:
            lines.append(
                f"the daily aggregates are in time zone {built_in.key if built_in else 'none'}, "
                f"the organisation's is {zone.key}: analysis reads the raw mentions until they are rebuilt"
            )
            found = []
        else:
            found = aggregates.differences(connection, zone, age)
        built_at = aggregates.stored_age(connection) or aggregates.DEFAULT_AGE
        wrong_age = not wrong_zone and built_at != age
        if wrong_age:
            lines.append(
                f"the own posts' engagement is aggregated at age {_hours(built_at)}, "
                f"experiments.engagement_age is {_hours(age)}: engagement reads the raw history until "
                "they are rebuilt"
            )
        for diff in found[:SHOWN]:
            if isinstance(diff, aggregates.PostDifference):
                lines.append(
                    f"stream {names.get(diff.stream_id, f'#{diff.stream_id}')}, day {diff.day.isoformat()}, "
                    f"own post #{diff.mention_id}: aggregates say {_engagement(diff.stored)}, "
                    f"the mentions say {_engagement(diff.raw)}"
                )
                continue
            streams = ", ".join(sorted(names.get(s, f"#{s}") for s in aggregates.streams_of(diff.streams)))
            if isinstance(diff, aggregates.ScorerDifference):
                lines.append(
                    f"stream {streams}, day {diff.day.isoformat()}, scorer {diff.scorer}: aggregates say "
                    f"{diff.stored} scored mentions, the mentions say {diff.raw}"
                )
                continue
            lines.append(
                f"stream {streams}, day {diff.day.isoformat()}: "
                f"aggregates say {_figures(diff.stored)}, the mentions say {_figures(diff.raw)}"
            )
        if len(found) > SHOWN:
            lines.append(f"... and {len(found) - SHOWN} more days or posts that differ")
        ok = not found and not wrong_zone and not wrong_age
        if ok:
            cells = len(aggregates.stored(connection))
            lines.append(
                f"daily aggregates agree with the mentions ({cells} stream days, zone {zone.key}, "
                f"engagement at {_hours(age)})"
            )
            return lines, True
        if repair:
            cells = aggregates.rebuild(connection, zone, age)
            lines.append(
                f"repaired: rebuilt {cells} stream days from the mentions (zone {zone.key}, "
                f"engagement at {_hours(age)})"
            )
            return lines, True
        lines.append("run `tracker db check --repair` to rebuild them from the mentions")
        return lines, False


def _figures(values: aggregates.Values | None) -> str:
    if values is None:
        return "nothing"
    mentions, scored, total, positive, negative, own, engagement, squares = values
    return (
        f"{mentions} mentions ({scored} scored, sentiment sum {total:.4f}, squares {squares:.4f}, "
        f"{positive} positive, {negative} negative, {own} own posts, "
        f"engagement {engagement} at the fixed age)"
    )


def _engagement(value: int | None) -> str:
    return "no such post" if value is None else f"engagement {value} at the fixed age"


def _hours(age: timedelta) -> str:
    hours = age.total_seconds() / 3600
    return f"{hours:g} hours"
