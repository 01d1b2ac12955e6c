"""Implausible zeros (tracker/outages.py) on simulated streams with known outages."""

from __future__ import annotations

import datetime

import numpy as np

from tracker.outages import possible_outages, zero_probability, zero_runs

D0 = datetime.date(2024, 1, 1)


def stream(
    rng: np.random.Generator, level: float, days: int = 56, shape: float = 3.0
) -> dict[datetime.date, float]:
    counts = rng.poisson(level * rng.gamma(shape, 1 / shape, days))
    return {D0 + datetime.timedelta(days=i): float(v) for i, v in enumerate(counts)}


def test_five_empty_days_of_a_20_a_day_stream_are_flagged() -> None:
    rng = np.random.default_rng(1)
    found = 0
    for _ in range(100):
        counts = stream(rng, 20)
        lost = [D0 + datetime.timedelta(days=30 + i) for i in range(5)]
        counts.update({d: 0.0 for d in lost})
        flagged = possible_outages(counts)
        found += set(lost) <= set(flagged)
    assert found >= 99


def test_zeros_of_a_quiet_stream_are_not_flagged() -> None:
    rng = np.random.default_rng(2)
    false_flags = sum(bool(possible_outages(stream(rng, 2))) for _ in range(300))
    assert false_flags <= 3  # p < 0.001 per run: a handful of runs per stream


def test_normal_streams_are_rarely_flagged() -> None:
    rng = np.random.default_rng(3)
    flagged = sum(bool(possible_outages(stream(rng, level))) for level in (5, 20, 200) for _ in range(200))
    assert flagged <= 6  # of 600 streams


def test_pieces() -> None:
    assert zero_probability(20, 20) == np.exp(-20)
    assert 0.002 < zero_probability(20, 20 + 400 / 3) < 0.003  # negative binomial, shape 3
    days = {D0 + datetime.timedelta(days=i): v for i, v in enumerate([0, 0, 3, 0, 5])}
    assert [len(r) for r in zero_runs(days)] == [2, 1]
    assert possible_outages({D0: 0.0}) == []  # too few days to judge
