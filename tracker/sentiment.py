"""Sentiment behind one function: VADER compound and label, English only.

Other languages give None (not 0, not neutral): VADER's lexicon is English and a
neutral score for a German post would be a claim we cannot make. Where an item has
no language, it is detected from the text with py3langid, whose model ships inside
the package (nothing is downloaded at run time).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

POSITIVE = 0.05
NEGATIVE = -0.05
# Below this normalised probability a detection is a guess; we say "unknown" instead.
MIN_LANG_CONFIDENCE = 0.25
_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)


def label(compound: float | None) -> str | None:
    """`positive` (>= 0.05), `negative` (<= -0.05), `neutral`, or None when not scored."""
    if compound is None:
        return None
    if compound >= POSITIVE:
        return "positive"
    if compound <= NEGATIVE:
        return "negative"
    return "neutral"


def is_english(lang: str | None) -> bool:
    """English means primary subtag `en` (`en-US`, `en_GB` too)."""
    return bool(lang) and re.split(r"[-_]", lang or "", maxsplit=1)[0].lower() == "en"


def score(text: str, lang: str | None) -> float | None:
    """VADER compound in [-1, 1] for English text; None for other languages or empty text."""
    if not text.strip() or not is_english(lang):
        return None
    return float(_analyzer().polarity_scores(text)["compound"])


def detect_language(text: str) -> str | None:
    """ISO 639-1 code of the text's language, or None when it cannot be told."""
    if not _LETTER.search(text):
        return None
    lang, confidence = _identifier().classify(text)
    return str(lang) if confidence >= MIN_LANG_CONFIDENCE else None


@lru_cache(maxsize=1)
def _analyzer() -> Any:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


@lru_cache(maxsize=1)
def _identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
