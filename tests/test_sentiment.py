"""Sentiment behind one function: VADER compound, labels at ±0.05, English only."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tracker import sentiment

CORPUS = Path(__file__).parent / "fixtures" / "sentiment" / "tweets_GroundTruth.txt"


def corpus() -> list[tuple[float, str]]:
    rows = []
    for line in CORPUS.read_text(encoding="utf-8").splitlines():
        _id, rating, text = line.split("\t", 2)
        rows.append((float(rating), text))
    return rows


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), (0.05, "positive"), (0.0499, "neutral"), (-0.05, "negative"), (-0.0499, "neutral"),
     (1.0, "positive"), (-1.0, "negative"), (0.0, "neutral")],
)  # fmt: skip
def test_label_thresholds(value: float | None, expected: str | None) -> None:
    assert sentiment.label(value) == expected


@pytest.mark.parametrize("lang", ["en", "en-US", "en_GB", "EN"])
def test_english_variants_are_scored(lang: str) -> None:
    assert sentiment.score("I love this!", lang) == pytest.approx(0.6696, abs=1e-4)


@pytest.mark.parametrize("lang", ["de", "fr", "eng", "", None])
def test_other_languages_are_not_scored(lang: str | None) -> None:
    assert sentiment.score("I love this!", lang) is None


def test_empty_text_is_not_scored() -> None:
    assert sentiment.score("   ", "en") is None


def test_detection_of_common_languages() -> None:
    assert sentiment.detect_language("Acme cloud is down again, so annoying") == "en"
    assert sentiment.detect_language("Ce produit est vraiment génial") == "fr"
    assert sentiment.detect_language("Das neue Update ist leider wirklich schlecht") == "de"


@pytest.mark.parametrize("text", ["", "   ", "😀😀🔥", "https://x.y/z 123", "#### 42"])
def test_undetectable_text_has_no_language(text: str) -> None:
    assert sentiment.detect_language(text) is None


@pytest.mark.slow
def test_scores_equal_the_reference_and_agree_with_human_ratings() -> None:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    reference = SentimentIntensityAnalyzer()
    rows = corpus()
    ours = [sentiment.score(text, "en") for _, text in rows]
    for (_, text), value in zip(rows, ours, strict=True):
        assert value == pytest.approx(reference.polarity_scores(text)["compound"], abs=1e-4), text
    humans = [rating for rating, _ in rows]
    assert pearson(humans, [v or 0.0 for v in ours]) == pytest.approx(0.872, abs=0.005)


def pearson(a: list[float], b: list[float]) -> float:
    n = len(a)
    ma, mb = sum(a) / n, sum(b) / n
    cov = sum((x - ma) * (y - mb) for x, y in zip(a, b, strict=True))
    return cov / math.sqrt(sum((x - ma) ** 2 for x in a) * sum((y - mb) ** 2 for y in b))
