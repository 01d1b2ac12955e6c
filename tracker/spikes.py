"""Spikes: days whose mention count is far above what is normal for that weekday.

Normal is judged robustly against the trailing weeks, so one earlier burst does not
hide the next one and a weekly rhythm (quiet weekends, busy Mondays) is not news:

  expected  the median count of the same weekday over the trailing `weeks` weeks
            (the median of all trailing days when fewer than 3 of that weekday are known)
  scale     1.4826 x the median absolute deviation of every trailing day from its own
            weekday's median (the MAD, scaled to match a standard deviation), but at
            least sqrt(expected): counts vary at least that much by chance (Poisson), and
            a perfectly regular history would otherwise make one extra mention a spike
  spike     (count - expected) / scale >= `threshold` and at least `min_excess` more
            mentions than expected, so a quiet stream going from 1 to 4 is not a spike

Only covered days are passed in: an outage is not a quiet day. The one rule behind the
digest's spikes and the web overview's (`find_spikes`, on days) and the spike alerts'
(`spike_verdict`, the same rule on slots of the alert's window, tracker/alerts.py).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from statistics import median

THRESHOLD = 3.5
MIN_EXCESS = 5.0
MIN_HISTORY = 14  # trailing days with data needed before anything is called unusual
MAD_TO_SD = 1.4826
MIN_HISTORY_SLOTS = 14 * 24  # two weeks of hourly slots before an alert calls anything unusual


@dataclass(frozen=True)
class Spike:
    day: date
    count: float
    expected: float
    score: float  # robust z: how many scales above the expected count


def find_spikes(
    history: Mapping[date, float],
    days: Iterable[date],
    *,
    weeks: int = 8,
    threshold: float = THRESHOLD,
    min_excess: float = MIN_EXCESS,
) -> list[Spike]:
    """The spikes among `days`, each judged against the `weeks` weeks before it in `history`.

    Days are handled as ordinals (date.toordinal; its weekday is (ordinal - 1) % 7): the web
    overview judges 28 days of 12 streams on every request."""
    by_ordinal = {d.toordinal(): v for d, v in history.items()}
    found = []
    for day in days:
        if day not in history:
            continue
        n = day.toordinal()
        trailing = [(o, by_ordinal[o]) for o in range(n - weeks * 7, n) if o in by_ordinal]
        if len(trailing) < MIN_HISTORY:
            continue
        expected, scale = _normal(trailing, day.weekday())
        count = history[day]
        score = (count - expected) / scale
        if score >= threshold and count - expected >= min_excess:
            found.append(Spike(day, count, expected, score))
    return found


def _normal(trailing: list[tuple[int, float]], weekday: int) -> tuple[float, float]:
    """(expected count for `weekday`, robust scale) from the trailing days (ordinal, count)."""
    overall = median(v for _, v in trailing)
    pairs = [((o - 1) % 7, v) for o, v in trailing]  # date.fromordinal(1) is a Monday (weekday 0)
    same: dict[int, list[float]] = {}
    for wd, v in pairs:
        same.setdefault(wd, []).append(v)
    by_weekday = {wd: median(same[wd]) if len(same.get(wd, ())) >= 3 else overall for wd in range(7)}
    residuals = [v - by_weekday[wd] for wd, v in pairs]
    centre = median(residuals)
    mad = median(abs(r - centre) for r in residuals)
    expected = by_weekday[weekday]
    return expected, max(MAD_TO_SD * mad, math.sqrt(max(expected, 1.0)))


def spike_verdict(
    slots: Mapping[int, float],
    current: float,
    *,
    period: int,
    threshold: float,
    min_mentions: int,
    min_excess: float = MIN_EXCESS,
    min_history: int = MIN_HISTORY_SLOTS,
) -> tuple[bool, float, float]:
    """(holds, expected, score) for `current` mentions in the latest slot.

    `slots` maps k >= 1 (the slot k windows before the latest) to its count, covered slots
    only; `period` is the number of slots in a week, so slot k has the same hour and weekday
    as the latest when k % period == 0. The rule is find_spikes', on slots: expected
    is the median of the same slot of the week (the median of all slots when fewer than 3
    are known), the scale 1.4826 x the MAD of every slot from its own slot-of-week median,
    at least sqrt(expected), times sqrt(1 + pi / 2n) for the error of a median of n slots
    (so four weeks of history need a bigger jump than eight)."""
    if len(slots) < min_history:
        return False, 0.0, 0.0
    day = period // 7 if period % 7 == 0 and period >= 7 else period
    by_week: dict[int, list[float]] = {}
    by_day: dict[int, list[float]] = {}
    for k, v in slots.items():
        by_week.setdefault(k % period, []).append(v)
        by_day.setdefault(k % day, []).append(v)

    def normal(k: int) -> float | None:
        found = _median_of(by_week.get(k % period, []))
        return found if found is not None else _median_of(by_day.get(k % day, []))

    expected_now = normal(0)
    if expected_now is None:  # not three of this slot of the week, nor of the day: unknown
        return False, 0.0, 0.0
    known = len(by_week.get(0, []))
    known = known if known >= 3 else len(by_day.get(0, []))
    medians = {phase: normal(phase) for phase in by_week}
    residuals = [v - m for k, v in slots.items() if (m := medians[k % period]) is not None]
    centre = median(residuals)
    mad = median(abs(r - centre) for r in residuals)
    expected = expected_now
    # the expected count is itself a median of `known` slots: its own error adds to the scale
    scale = max(MAD_TO_SD * mad, math.sqrt(max(expected, 1.0))) * math.sqrt(1 + math.pi / (2 * known))
    score = (current - expected) / scale
    holds = score >= threshold and current >= min_mentions and current - expected >= min_excess
    return holds, expected, score


def _median_of(values: list[float]) -> float | None:
    return median(values) if len(values) >= 3 else None
