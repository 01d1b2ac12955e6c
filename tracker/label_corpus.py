"""A generated labelled corpus with a known signal, in two languages (tests and bench/).

Each text is filler words of its language plus, for a positive or negative one, one or
two words of that polarity; some texts carry a word of the other polarity too, and a
share of labels is flipped at random, so a good model is good but not perfect. With
`signal=False` the labels are drawn independently of the texts: nothing can be learnt.
Seeded: the same arguments give the same corpus.
"""

from __future__ import annotations

import random

WORDS: dict[str, dict[str, tuple[str, ...]]] = {
    "de": {
        "positive": (
            "super",
            "toll",
            "großartig",
            "prima",
            "begeistert",
            "zufrieden",
            "danke",
            "empfehlenswert",
            "schnell",
            "zuverlässig",
            "klasse",
            "freue",
        ),
        "negative": (
            "schlecht",
            "kaputt",
            "ärgerlich",
            "enttäuscht",
            "langsam",
            "furchtbar",
            "nervig",
            "fehler",
            "absturz",
            "teuer",
            "mies",
            "leider",
        ),
        "neutral": (
            "heute",
            "die",
            "app",
            "der",
            "update",
            "ist",
            "wir",
            "haben",
            "neue",
            "version",
            "und",
            "mit",
            "für",
            "das",
            "konto",
            "gestern",
            "bei",
            "in",
            "wien",
            "morgen",
            "kunden",
            "support",
            "seite",
            "einmal",
            "noch",
            "auch",
            "mal",
            "über",
        ),
    },
    "fr": {
        "positive": (
            "génial",
            "super",
            "excellent",
            "merci",
            "parfait",
            "rapide",
            "fiable",
            "content",
            "ravi",
            "bravo",
            "top",
            "formidable",
        ),
        "negative": (
            "nul",
            "lent",
            "cassé",
            "déçu",
            "horrible",
            "panne",
            "bug",
            "cher",
            "pénible",
            "problème",
            "mauvais",
            "hélas",
        ),
        "neutral": (
            "aujourd'hui",
            "le",
            "la",
            "appli",
            "mise",
            "à",
            "jour",
            "est",
            "nous",
            "avons",
            "nouvelle",
            "version",
            "et",
            "avec",
            "pour",
            "compte",
            "hier",
            "chez",
            "paris",
            "demain",
            "clients",
            "service",
            "page",
            "encore",
            "aussi",
            "sur",
            "les",
            "des",
        ),
    },
}
CLASSES = ("positive", "neutral", "negative")


def generate(
    lang: str, n: int, *, seed: int = 0, signal: bool = True, flip: float = 0.10, mixed: float = 0.15
) -> list[dict[str, str]]:
    """`n` labelled texts of `lang` ("de" or "fr"): dicts with text, label and lang."""
    words = WORDS[lang]
    rng = random.Random(f"{lang}:{seed}:{signal}")
    rows = []
    for i in range(n):
        truth = CLASSES[i % 3]
        parts = rng.choices(words["neutral"], k=rng.randint(5, 11))
        if truth != "neutral":
            other = "negative" if truth == "positive" else "positive"
            parts += rng.sample(words[truth], k=rng.randint(1, 2))
            if rng.random() < mixed:
                parts.append(rng.choice(words[other]))
        elif rng.random() < mixed:
            parts.append(rng.choice(words[rng.choice(("positive", "negative"))]))
        rng.shuffle(parts)
        label = truth
        if not signal:
            label = rng.choice(CLASSES)
        elif rng.random() < flip:
            label = rng.choice([c for c in CLASSES if c != truth])
        rows.append({"text": " ".join(parts) + f" #{i}", "label": label, "lang": lang})
    rng.shuffle(rows)
    return rows
