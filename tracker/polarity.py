"""Where a sentiment score turns positive or negative: VADER's thresholds on the compound.

A module of its own so that what only compares stored scores (the daily aggregates,
the metrics, and through them the reflection and the digest) imports no scorer:
tracker.sentiment, which labels with the same thresholds, pulls in VADER's lexicon
and the language detection.
"""

from __future__ import annotations

POSITIVE = 0.05  # a compound at or above this is positive
NEGATIVE = -0.05  # at or below this, negative; in between, neutral
