"""Implausible zeros: runs of empty days a stream's own rate says should not happen.

A stream whose collection silently stopped (an import that missed some days, an
outage nobody recorded) shows days with zero mentions. They look like data and move
a lift (five empty days of a 20-a-day stream shift it by a fifth). Collection runs
record what they covered (tracker/coverage.py); this catches what they cannot.

For each stream, the daily counts of the measured days are fitted with a
negative binomial (mean and variance of the days, at least Poisson), and again
without the runs that fit flags, so an outage does not make itself plausible. A
run of L consecutive zero days somewhere among the n days has a probability of
about n * P(0)^L under that fit; runs for which it is below OUTAGE_P (0.001) are
possible outages. They are flagged, never dropped on their own: a user confirms
them with `experiment measure --exclude-days`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date, timedelta

OUTAGE_P = 0.001


def zero_probability(mean: float, variance: float) -> float:
    """P(a day has no mention) under a negative binomial of this mean and variance."""
    if mean <= 0:
        return 1.0
    if variance <= mean * (1 + 1e-9):
        return math.exp(-mean)
    shape = mean * mean / (variance - mean)
    return float((shape / (shape + mean)) ** shape)


def zero_runs(counts: Mapping[date, float]) -> list[list[date]]:
    """Maximal runs of consecutive days with a count of 0 (days absent from `counts` end a run)."""
    runs: list[list[date]] = []
    for day in sorted(counts):
        if counts[day] != 0:
            continue
        if runs and runs[-1][-1] == day - timedelta(days=1):
            runs[-1].append(day)
        else:
            runs.append([day])
    return runs


def possible_outages(counts: Mapping[date, float], p: float = OUTAGE_P) -> list[date]:
    """Days in runs of zeros that are implausible (probability < p) for this stream.

    The rate is fitted on every day first; when runs are flagged it is fitted again
    without them (an outage must not make itself plausible) and the runs judged again.
    """
    runs = zero_runs(counts)
    flagged: set[date] = set()
    for _ in range(2):
        rest = [float(v) for d, v in counts.items() if d not in flagged]
        if len(rest) < 7:
            return []
        mean = sum(rest) / len(rest)
        variance = sum((v - mean) ** 2 for v in rest) / max(1, len(rest) - 1)
        floor = math.log(max(zero_probability(mean, variance), 1e-300))
        # a run this long anywhere among the days: about len(counts) * P(0)^L
        scan = math.log(len(counts))
        found = {d for run in runs if scan + len(run) * floor < math.log(p) for d in run}
        if found == flagged:
            break
        flagged = found
    return sorted(flagged)
