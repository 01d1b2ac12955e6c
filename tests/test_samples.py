"""Small samples are marked (issue 14, item 8): a change resting on fewer than MIN_ITEMS items in
either week reads "too few to compare" in the digest and on the web, never a red "-100 pts"."""

from __future__ import annotations

from datetime import date, timedelta

from tracker.digest import fmt
from tracker.digest.data import _entry
from tracker.digest.weeks import Week
from tracker.metrics import DayValue
from tracker.samples import MIN_ITEMS, TOO_FEW
from tracker.web.queries import StreamWeek

WEEK = Week(date(2026, 11, 23))


def days(week: Week, per_day: list[tuple[float, float]]) -> dict[date, DayValue]:
    return {week.start + timedelta(days=i): DayValue(week.start + timedelta(days=i), v, w)
            for i, (v, w) in enumerate(per_day)}  # fmt: skip


def test_a_share_from_two_scored_mentions_is_too_few_to_compare() -> None:
    values = days(WEEK.previous, [(1.0, 1.0), (1.0, 1.0)]) | days(WEEK, [(0.0, 1.0)])  # 100 % -> 0 %
    entry = _entry(values, WEEK, "positive_share")
    assert entry["change"] == -1.0 and entry["comparable"] is False and entry["min_items"] == MIN_ITEMS
    assert fmt.change(entry, "positive_share") == TOO_FEW, "not a red -100.0 pts"
    assert fmt.direction(entry, "positive_share") == "flat"


def test_enough_items_show_the_change() -> None:
    values = days(WEEK.previous, [(0.5, 10.0)] * 7) | days(WEEK, [(0.6, 10.0)] * 7)
    entry = _entry(values, WEEK, "positive_share")
    assert entry["comparable"] is True and fmt.change(entry, "positive_share") == "+10.0 pts"
    counts = days(WEEK.previous, [(1.0, 1.0)] * 7) | days(WEEK, [(2.0, 1.0)] * 7)  # 7 -> 14 mentions
    mentions = _entry(counts, WEEK, "mentions")
    assert mentions["comparable"] is False and fmt.change(mentions, "mentions") == TOO_FEW
    assert fmt._mentions_line({"mentions": mentions}) == f"14 mentions (7 the week before: {TOO_FEW})."


def test_the_web_overview_marks_too_few() -> None:
    row = StreamWeek("brand", "brand", this={"sentiment": -0.5}, last={"sentiment": 0.4},
                     items={"sentiment": (2.0, 40.0)})  # fmt: skip
    assert row.too_few("sentiment") and row.change("sentiment") is None
    row.items["sentiment"] = (12.0, 40.0)
    assert not row.too_few("sentiment") and row.change("sentiment") == -0.9
