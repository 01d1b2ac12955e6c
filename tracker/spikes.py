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
digest's spikes and the web overview's (and any alert on spikes): both import it from here.
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
