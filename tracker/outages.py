"""Implausible zeros: runs of empty days a stream's own rate says should not happen.

A stream whose collection silently stopped (an import that missed some days, an
outage nobody recorded) shows days with zero mentions. They look like data and move
a lift (five empty days of a 20-a-day stream shift it by a fifth). Collection runs
record what they covered (tracker/coverage.py); this catches what they cannot.

For each stream, the daily counts of the measured days are fitted with a
negative binomial: mean = the mean of the days outside runs of zeros (a run of at
least two empty days, or a single one when zeros are otherwise absent, does not
count towards the rate it is judged by), and the dispersion from the variance of
those days (at least Poisson). A run of L consecutive zero days has probability
P(0)^L under that fit; runs with a probability below OUTAGE_P (0.001) are
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
    """Days in runs of zeros that are implausible (probability < p) for this stream."""
    runs = zero_runs(counts)
    in_runs = {d for run in runs if len(run) >= 2 for d in run}
    rest = [float(v) for d, v in counts.items() if d not in in_runs]
    if len(rest) < 7:
        return []
    mean = sum(rest) / len(rest)
    variance = sum((v - mean) ** 2 for v in rest) / max(1, len(rest) - 1)
    p0 = zero_probability(mean, variance)
    flagged: list[date] = []
    for run in runs:
        if len(run) * math.log(max(p0, 1e-300)) < math.log(p):
            flagged += run
    return sorted(flagged)
