"""The words of the sandbox world: mentions, own posts and headlines built from templates.

Every English sentence carries its tone in one phrase; everything around it is kept
free of words in VADER's lexicon, so a positive template scores >= 0.05, a negative one
<= -0.05 and a neutral one 0 (tests/sandbox checks every combination). That is what
lets the world inject a sentiment effect by changing the mix of tones.
"""

from __future__ import annotations

import random

TONES = ("positive", "neutral", "negative")

# Mean VADER compound of the English mention templates per tone (measured over every
# combination; tests/sandbox recomputes them). The world uses them to turn an injected
# sentiment effect into a change of the tone mix.
TONE_COMPOUND = {"positive": 0.57, "neutral": 0.0, "negative": -0.51}

PRODUCTS = (
    "{name} Cloud",
    "the {name} app",
    "{name}'s dashboard",
    "{name} Sync",
    "the {name} API",
    "{name}'s mobile app",
    "{name} Teams",
    "the new {name} release",
    "{name} Docs & Wiki",
)
OPENERS = (
    "",
    "",
    "",
    "Quick note. ",
    "Week in review. ",
    "Heads up. ",
    "Update from the office. ",
    "Tried it at work. ",
)
PHRASES = {
    "positive": (
        "is honestly great",
        "just saved me hours",
        "works really well for our team",
        "has been excellent lately",
        "made my day, really happy",
        "is a joy to use",
        "impressed me today",
        "is so good now",
        "keeps getting better, love it",
        "is brilliant for small teams",
        "feels fantastic after the update",
    ),
    "negative": (
        "keeps crashing, so frustrating",
        "is terrible today",
        "broke my workflow again, awful",
        "has the worst onboarding",
        "is a total mess right now",
        "left me disappointed again",
        "is broken after the update",
        "failed twice this morning",
        "is useless without the export",
        "is annoying me more every week",
    ),
    "neutral": (
        "released version {version}",
        "moved the pricing page",
        "has a meetup on Thursday",
        "changed the login screen",
        "posted the changelog for {version}",
        "is on the agenda at work",
        "renamed the teams menu",
        "now ships a beta for tablets",
        "is migrating to a new domain",
        "published the roadmap for Q{quarter}",
    ),
}
CLOSERS = (
    "",
    "",
    "",
    " Thoughts?",
    " More soon.",
    " Details in the thread.",
    " Via a colleague.",
    " (day {day} of testing)",
)
BODIES = (
    "We run it on {n} machines at work.",
    "Setup: {n} seats, EU region.",
    "Posting here because the forum is quiet.",
    "Asking for my team of {n}.",
)
FOREIGN = {
    "de": {
        "positive": ("{p} ist wirklich super", "{p} funktioniert richtig gut"),
        "negative": ("{p} ist schon wieder kaputt", "{p} nervt mich total"),
        "neutral": ("{p} hat ein Update veröffentlicht", "{p} hat die Preisseite geändert"),
    },
    "fr": {
        "positive": ("{p} est vraiment génial", "{p} marche très bien chez nous"),
        "negative": ("{p} est encore en panne", "{p} est vraiment pénible aujourd'hui"),
        "neutral": ("{p} a publié une mise à jour", "{p} a changé la page des tarifs"),
    },
    "es": {
        "positive": ("{p} es genial", "{p} funciona de maravilla"),
        "negative": ("{p} se cayó otra vez", "{p} es un desastre hoy"),
        "neutral": ("{p} publicó una actualización", "{p} cambió la página de precios"),
    },
    "pt": {
        "positive": ("{p} é ótimo", "{p} funciona muito bem"),
        "negative": ("{p} caiu de novo", "{p} está horrível hoje"),
        "neutral": ("{p} lançou uma atualização", "{p} mudou a página de preços"),
    },
    "ja": {
        "positive": ("{p}、本当に便利", "{p}がとても使いやすい"),
        "negative": ("{p}、また落ちてる", "{p}の更新で壊れた"),
        "neutral": ("{p}のアップデートが出た", "{p}の料金ページが変わった"),
    },
}
OWN = {
    "positive": (
        "We just shipped {feature}. Thanks to everyone who tested it!",
        "Big day: {feature} is live for all teams. We love what you build with it.",
        "Thank you for {n} sign-ups this month!",
        "{feature} is here, and it is great. Try it today.",
    ),
    "neutral": (
        "Maintenance window tonight at 22:00 UTC.",
        "The docs for {feature} are now on the site.",
        "Release notes for {version} are out.",
        "Office hours on Thursday: {feature}.",
    ),
    "negative": (
        "Today's outage was awful for many of you. The sync bug is fixed now.",
        "We failed to deliver {feature} on time and we are unhappy about it.",
    ),
}
FEATURES = (
    "dark mode",
    "faster sync",
    "single sign-on",
    "a new export",
    "team dashboards",
    "local caching",
    "audit logs",
    "team spaces",
)
HEADLINES = ("Analysts: ", "Report: ", "", "Industry roundup: ")
SUMMARIES = (
    "{name} confirmed the details on {weekday}.",
    "The change applies to all regions, a spokesperson said.",
    "More details are expected next week.",
    "The company posted the numbers for Q{quarter} on {weekday}.",
)
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")


# Numbers VADER's lexicon scores (143 is "I love you", 187 a threat...): never in a text.
_SCORED_NUMBERS = frozenset({86, 143, 182, 187, 1337, 1432})


def number(rng: random.Random, low: int, high: int) -> int:
    """A random whole number in [low, high] that VADER reads as neutral."""
    while (value := rng.randint(low, high)) in _SCORED_NUMBERS:
        pass
    return value


def product(rng: random.Random, name: str) -> str:
    return rng.choice(PRODUCTS).format(name=name)


def sentence(rng: random.Random, name: str, tone: str, lang: str, *, other: str | None = None) -> str:
    """One mention of `name` in `lang` with the given tone; `other` adds a comparison with it."""
    if lang != "en":
        table = FOREIGN.get(lang, FOREIGN["de"])
        core = rng.choice(table[tone]).format(p=rng.choice((f"{name} Cloud", f"{name} Sync", name)))
        return f"{other} vs. {core}" if other else core
    phrase = rng.choice(PHRASES[tone]).format(
        version=f"{rng.randint(2, 9)}.{rng.randint(0, 20)}", quarter=rng.randint(1, 4)
    )
    subject = product(rng, name)
    text = f"{rng.choice(OPENERS)}{subject[0].upper()}{subject[1:]} {phrase}."
    if other:
        text = f"Comparing {other} and {name}. {text}"
    return text + rng.choice(CLOSERS).format(day=rng.randint(2, 60))


def body(rng: random.Random) -> str:
    """A neutral second paragraph (Reddit selftext, HN story text)."""
    return rng.choice(BODIES).format(n=number(rng, 3, 400))


def summary(rng: random.Random, name: str) -> str:
    """A neutral news summary under a headline."""
    return rng.choice(SUMMARIES).format(name=name, weekday=rng.choice(WEEKDAYS), quarter=rng.randint(1, 4))


def own_post(rng: random.Random, tone: str) -> str:
    """A post of the brand's own account: its own voice, without its name."""
    return rng.choice(OWN[tone]).format(
        feature=rng.choice(FEATURES),
        n=rng.randint(2, 40) * 500,
        version=f"{rng.randint(2, 9)}.{rng.randint(0, 20)}",
    )


def headline(
    rng: random.Random, name: str, tone: str, *, other: str | None = None, prefix: bool = True
) -> str:
    """A headline (news feeds, Hacker News stories); `other` makes it a comparison."""
    phrase = rng.choice(PHRASES[tone]).format(
        version=f"{rng.randint(2, 9)}.{rng.randint(0, 20)}", quarter=rng.randint(1, 4)
    )
    lead = rng.choice(HEADLINES) if prefix else ""
    versus = f"{other} vs. {name}: " if other else ""
    return f"{lead}{versus}{product(rng, name)} {phrase}"
