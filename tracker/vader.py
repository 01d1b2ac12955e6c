"""VADER compound score, re-implemented for speed and bit-for-bit equal to vaderSentiment 3.3.2.

`compound(text)` returns exactly `SentimentIntensityAnalyzer().polarity_scores(text)["compound"]`
of vaderSentiment 3.3.2: the same rules applied in the same order with the same floating-point
operations, so the results are identical (not merely close). vaderSentiment stays the reference
and the source of both lexicons: they are read from the installed package's files and parsed
exactly as it parses them.

What the reference does, step by step, and what is kept:

1. Emoji: every character found in the emoji lexicon is replaced by its description, with a
   space before it unless it starts the text or follows a plain space (' '); nothing is added
   after it ("😁x" becomes "beaming face with smiling eyesx"). Only one-character keys can
   match, because the text is walked one character at a time. Descriptions may carry "!"
   ("ON! arrow") which then counts as an exclamation mark, and capitals ("OK button").
2. Tokens: `str.split()`, then each token loses leading and trailing ASCII punctuation unless
   that leaves two characters or fewer (then the token is kept whole: ":)" and "OK!" stay).
3. ALL-CAPS differential: true when some but not all tokens are `isupper()`.
4. Per token: a booster word, or "kind" before "of", scores 0; a token not in the lexicon
   scores 0; a lexicon token gets its valence, then in this order: "no" before a lexicon word
   scores 0; "no" 1 or 2 tokens before (or 3 before with "or"/"nor" just before) multiplies
   the lexicon valence by -0.74; ALL-CAPS adds/subtracts 0.733 (a valence of 0 subtracts);
   for each of the three preceding tokens that is not a lexicon word: its booster scalar
   (sign follows the current valence, ALL-CAPS booster +-0.733, damped x0.95 / x0.9 at
   distance 2 / 3) is added, then the negation check for that distance ("never so/this" x1.25,
   "without doubt" spares, a negation word or any "n't" multiplies by -0.74; at distance 3
   an immediately preceding "so"/"this" alone also gives x1.25, an operator-precedence quirk
   of the reference kept as is), and at distance 3 the special-case idioms and the two-word
   dampeners ("kind of", "sort of", "just enough") before the word; then "least" just before
   (not "at least", not "very least") multiplies by -0.74.
5. "but": with the reference's own list walk, which finds each value by `list.index` (so a
   repeated value changes its first occurrence) - reproduced literally.
6. Sum, "!" (up to 4, x0.292) and "?" (2-3: x0.18 each, more: 0.96) emphasis away from zero,
   normalise x / sqrt(x*x + 15), clamp to [-1, 1], round to 4 places.

Dead code in the reference that stays dead here: `_sentiment_laden_idioms_check` and
SENTIMENT_LADEN_IDIOMS are never called; the "least" rule inside `negated()` is commented out;
the one-word special case "badass" can never match (idioms are looked up as 2- and 3-token
sequences); no three-word booster exists, so the three-token dampener n-gram never matches;
multi-word lexicon entries ("can't stand", "fed up") and entries with capitals (":D", "O_o")
can never match a lower-cased single token; and the special-case idioms are only looked at
for a lexicon word with at least three tokens before it, the third of which is not a
lexicon word ("the shit" at the start of a text is not an idiom).

What is removed is waste: the reference lower-cases the whole token list again for every
negation and idiom check (quadratic per text), formats strings for idiom look-ups, rebuilds
the negation list per call, and walks the text character by character for emoji. Here tokens
are classified once (and remembered: social media repeats its words), the ALL-CAPS
differential is only counted when a capitalised lexicon word or booster asks for it, idioms
are only looked up when one of their words is present, "but" only when the letters are
there, ASCII text skips the emoji step and other text only looks at its non-ASCII characters.
"""

from __future__ import annotations

import math
import re
import string
from importlib.metadata import PackageNotFoundError, version
from importlib.util import find_spec
from pathlib import Path
from typing import Final

__all__ = ["REFERENCE_VERSION", "compound", "compound_many", "lexicon_dir", "reference_version"]

# The version whose rules are reproduced here (tracker.sentiment uses the reference itself
# when another version is installed).
REFERENCE_VERSION: Final = "3.3.2"

# Constants of vaderSentiment 3.3.2, copied by value and checked against it in tests/test_vader.py.
B_INCR: Final = 0.293
B_DECR: Final = -0.293
C_INCR: Final = 0.733
N_SCALAR: Final = -0.74

NEGATE: Final = frozenset(
    """aint arent cannot cant couldnt darent didnt doesnt ain't aren't can't couldn't daren't didn't
    doesn't dont hadnt hasnt havent isnt mightnt mustnt neither don't hadn't hasn't haven't isn't
    mightn't mustn't neednt needn't never none nope nor not nothing nowhere oughtnt shant shouldnt
    uhuh wasnt werent oughtn't shan't shouldn't uh-uh wasn't weren't without wont wouldnt won't
    wouldn't rarely seldom despite""".split()
)

_UP = """absolutely amazingly awfully completely considerable considerably decidedly deeply effing
enormous enormously entirely especially exceptional exceptionally extreme extremely fabulously
flipping flippin frackin fracking fricking frickin frigging friggin fully fuckin fucking fuggin
fugging greatly hella highly hugely incredible incredibly intensely major majorly more most
particularly purely quite really remarkably so substantially thoroughly total totally tremendous
tremendously uber unbelievably unusually utter utterly very""".split()
_DOWN = """almost barely hardly kinda kindof kind-of less little marginal marginally occasional
occasionally partly scarce scarcely slight slightly somewhat sorta sortof sort-of""".split()
BOOSTER_DICT: Final[dict[str, float]] = {
    **dict.fromkeys(_UP, B_INCR),
    **dict.fromkeys(_DOWN, B_DECR),
    "just enough": B_DECR,
    "kind of": B_DECR,
    "sort of": B_DECR,
}

SPECIAL_CASES: Final[dict[str, float]] = {
    "the shit": 3,
    "the bomb": 3,
    "bad ass": 1.5,
    "badass": 1.5,
    "bus stop": 0.0,
    "yeah right": -2,
    "kiss of death": -1.5,
    "to die for": 3,
    "beating heart": 3.5,
}

# Single tokens are looked up as they are; idioms and multi-word boosters as token tuples
# (tokens never contain whitespace, so "a b" == " ".join(tokens) exactly when the tuple matches).
_SINGLE_BOOSTERS: Final = {k: v for k, v in BOOSTER_DICT.items() if " " not in k}
_BOOSTER_NGRAMS: Final = {tuple(k.split(" ")): v for k, v in BOOSTER_DICT.items() if " " in k}
_SPECIAL: Final = {tuple(k.split(" ")): v for k, v in SPECIAL_CASES.items() if " " in k}
_IDIOM_WORDS: Final = frozenset(w for key in (*_SPECIAL, *_BOOSTER_NGRAMS) for w in key)
_SO_THIS: Final = ("so", "this")
_OR_NOR: Final = ("or", "nor")
_AT_VERY: Final = ("at", "very")
_BUT: Final = re.compile("[bB][uU][tT]")
_PUNCT: Final = string.punctuation


# What the rules need to know about one whitespace-separated token, as a plain tuple (indexing
# a tuple is the cheapest access there is in the hot loop):
#   0 low      stripped token, lower-cased (the reference's `item.lower()`)
#   1 lex      lexicon valence, None when not a lexicon word
#   2 scored   a lexicon word that is not also a booster (boosters score 0)
#   3 upper    `item.isupper()`
#   4 boost    booster scalar of the token, 0.0 when not a booster
#   5 negation `negated([low])`: a negation word, or any "n't"
_Token = tuple[str, float | None, bool, bool, float, bool]


def reference_version() -> str | None:
    """The installed vaderSentiment's version, None when it is not installed."""
    try:
        return version("vaderSentiment")
    except PackageNotFoundError:
        return None


def lexicon_dir() -> Path:
    """The directory of the installed vaderSentiment package (found without importing it)."""
    spec = find_spec("vaderSentiment")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("vaderSentiment is not installed: it is the source of the VADER lexicon")
    return Path(next(iter(spec.submodule_search_locations)))


def _read_lexicon(path: Path) -> dict[str, float]:
    """As SentimentIntensityAnalyzer.make_lex_dict."""
    lex: dict[str, float] = {}
    for line in path.read_text(encoding="utf-8").rstrip("\n").split("\n"):
        if not line:
            continue
        word, measure = line.strip().split("\t")[0:2]
        lex[word] = float(measure)
    return lex


def _read_emoji(path: Path) -> dict[str, str]:
    """As SentimentIntensityAnalyzer.make_emoji_dict."""
    emoji: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").rstrip("\n").split("\n"):
        key, description = line.strip().split("\t")[0:2]
        emoji[key] = description
    return emoji


_DIR = lexicon_dir()
LEXICON: Final = _read_lexicon(_DIR / "vader_lexicon.txt")
EMOJI: Final = _read_emoji(_DIR / "emoji_utf8_lexicon.txt")
# The reference walks the text one character at a time: only one-character keys can match.
_EMOJI_CHARS: Final = {k: v for k, v in EMOJI.items() if len(k) == 1}
_NON_ASCII: Final = re.compile(r"[^\x00-\x7f]")
if any(c.isascii() for c in _EMOJI_CHARS):  # compound() skips the emoji step for ASCII text
    raise ImportError("vaderSentiment's emoji lexicon has ASCII keys: tracker.vader does not handle that")

_TOKENS: dict[str, _Token] = {}
_TOKEN_CACHE_MAX: Final = 300_000


def _learn(raw: str) -> _Token:
    """Classify one raw token (and remember it; the cache is emptied when it grows too big)."""
    stripped = raw.strip(_PUNCT)
    item = raw if len(stripped) <= 2 else stripped
    low = item.lower()
    lex = LEXICON.get(low)
    neg_low = low.lower()  # negated() lower-cases its (already lower-case) input again
    token: _Token = (
        low,
        lex,
        lex is not None and low not in _SINGLE_BOOSTERS,
        item.isupper(),
        _SINGLE_BOOSTERS.get(low, 0.0),
        neg_low in NEGATE or "n't" in neg_low,
    )
    if len(_TOKENS) >= _TOKEN_CACHE_MAX:
        _TOKENS.clear()
    _TOKENS[raw] = token
    return token


def _demojize(text: str) -> str:
    """Emoji -> description, with exactly the spacing of the reference.

    Only non-ASCII characters are looked at (a one-range regex is fast where a class of
    the ~1,200 emoji is slow); each is then looked up in the emoji lexicon.
    """
    emoji = _EMOJI_CHARS
    parts: list[str] = []
    last = 0
    for match in _NON_ASCII.finditer(text):
        char = match.group()
        description = emoji.get(char)
        if description is None:
            continue
        start = match.start()
        parts.append(text[last:start])
        if start > 0 and text[start - 1] != " ":
            parts.append(" ")
        parts.append(description)
        last = start + 1
    if not parts:
        return text
    parts.append(text[last:])
    return "".join(parts)


def _scalar(tok: _Token, valence: float, cap_diff: bool) -> float:
    """scalar_inc_dec for a booster token: its push, signed like the valence."""
    scalar = tok[4]
    if valence < 0:
        scalar *= -1
    if tok[3] and cap_diff:
        if valence > 0:
            scalar += C_INCR
        else:
            scalar -= C_INCR
    return scalar


def _idioms(valence: float, toks: list[_Token], i: int, n: int) -> float:
    """_special_idioms_check, with token tuples instead of formatted strings.

    Called only when one of the tokens i-3 .. i is in _IDIOM_WORDS: otherwise nothing here can
    match, as every sequence looked up starts with one of them.
    """
    l0, l1, l2, l3 = toks[i][0], toks[i - 1][0], toks[i - 2][0], toks[i - 3][0]
    special = _SPECIAL
    for seq in ((l1, l0), (l2, l1, l0), (l2, l1), (l3, l2, l1), (l3, l2)):
        if seq in special:
            valence = special[seq]
            break
    if n - 1 > i:
        zeroone = (l0, toks[i + 1][0])
        if zeroone in special:
            valence = special[zeroone]
    if n - 1 > i + 1:
        zeroonetwo = (l0, toks[i + 1][0], toks[i + 2][0])
        if zeroonetwo in special:
            valence = special[zeroonetwo]
    ngrams = _BOOSTER_NGRAMS
    for ngram in ((l3, l2, l1), (l3, l2), (l2, l1)):
        if ngram in ngrams:
            valence = valence + ngrams[ngram]
    return valence


def _cap_differential(toks: list[_Token]) -> bool:
    """allcap_differential: some, but not all, tokens are ALL CAPS."""
    uppers = sum([t[3] for t in toks])
    return 0 < uppers < len(toks)


def _but_check(toks: list[_Token], sentiments: list[float]) -> None:
    """The reference's 'but' rule, literally: values are found again by list.index."""
    lows = [t[0] for t in toks]
    if "but" not in lows:
        return
    bi = lows.index("but")
    for sentiment in sentiments:  # the list is changed while it is walked, as in the reference
        si = sentiments.index(sentiment)
        if si < bi:
            sentiments[si] = sentiment * 0.5
        elif si > bi:
            sentiments[si] = sentiment * 1.5


def compound(text: str) -> float:
    """polarity_scores(text)["compound"] of vaderSentiment 3.3.2, identical to the last bit."""
    if not text.isascii():
        text = _demojize(text)
    raw = text.split()
    if not raw:
        return 0.0
    cache = _TOKENS
    try:
        toks = list(map(cache.__getitem__, raw))
    except KeyError:
        toks = [cache.get(w) or _learn(w) for w in raw]
    hits = [i for i, t in enumerate(toks) if t[2]]
    if not hits:
        return 0.0  # every token scores 0: the sum is 0 and so is its normalisation
    n = len(toks)
    cap_diff: bool | None = None  # allcap_differential, computed only when a rule asks
    idiom = _IDIOM_WORDS
    sentiments: list[float] = [0] * n
    for i in hits:
        # sentiment_valence of lexicon word i (boosters never get here: they are not `scored`)
        tok = toks[i]
        low = tok[0]
        if low == "kind" and i < n - 1 and toks[i + 1][0] == "of":
            continue  # "kind of" is a dampener, "kind" scores 0
        lex = tok[1]
        assert lex is not None
        valence = lex
        if low == "no" and i != n - 1 and toks[i + 1][1] is not None:
            valence = 0.0  # "no" negates the next lexicon word instead
        if (
            (i > 0 and toks[i - 1][0] == "no")
            or (i > 1 and toks[i - 2][0] == "no")
            or (i > 2 and toks[i - 3][0] == "no" and toks[i - 1][0] in _OR_NOR)
        ):
            valence = lex * N_SCALAR
        if tok[3]:
            if cap_diff is None:
                cap_diff = _cap_differential(toks)
            if cap_diff:
                if valence > 0:
                    valence += C_INCR
                else:
                    valence -= C_INCR
        if i > 0:  # start_i == 0: the token just before
            prev = toks[i - 1]
            if prev[1] is None:
                if prev[4]:
                    if cap_diff is None and prev[3]:
                        cap_diff = _cap_differential(toks)
                    valence = valence + _scalar(prev, valence, bool(cap_diff))
                if prev[5]:
                    valence = valence * N_SCALAR
            if i > 1:  # start_i == 1: two tokens before
                prev = toks[i - 2]
                if prev[1] is None:
                    if prev[4]:
                        if cap_diff is None and prev[3]:
                            cap_diff = _cap_differential(toks)
                        valence = valence + _scalar(prev, valence, bool(cap_diff)) * 0.95
                    l1 = toks[i - 1][0]
                    if prev[0] == "never" and l1 in _SO_THIS:
                        valence = valence * 1.25
                    elif prev[0] == "without" and l1 == "doubt":
                        pass
                    elif prev[5]:
                        valence = valence * N_SCALAR
                if i > 2:  # start_i == 2: three tokens before, then the special-case idioms
                    prev = toks[i - 3]
                    if prev[1] is None:
                        if prev[4]:
                            if cap_diff is None and prev[3]:
                                cap_diff = _cap_differential(toks)
                            valence = valence + _scalar(prev, valence, bool(cap_diff)) * 0.9
                        l1, l2 = toks[i - 1][0], toks[i - 2][0]
                        # (never and (so or this)) or (so or this): the reference's precedence
                        if (prev[0] == "never" and l2 in _SO_THIS) or l1 in _SO_THIS:
                            valence = valence * 1.25
                        elif prev[0] == "without" and (l2 == "doubt" or l1 == "doubt"):
                            pass
                        elif prev[5]:
                            valence = valence * N_SCALAR
                        if low in idiom or l1 in idiom or l2 in idiom or prev[0] in idiom:
                            valence = _idioms(valence, toks, i, n)
            # _least_check: "least" just before, but not "at least" / "very least"
            prev = toks[i - 1]
            if prev[0] == "least" and prev[1] is None and (i == 1 or toks[i - 2][0] not in _AT_VERY):
                valence = valence * N_SCALAR
        sentiments[i] = valence
    if _BUT.search(text) is not None:  # a token "but" needs these letters (no other letter lowers to them)
        _but_check(toks, sentiments)
    total = float(sum(sentiments))
    if total > 0:
        total += _punctuation(text)
    elif total < 0:
        total -= _punctuation(text)
    return round(_normalize(total), 4)


def _punctuation(text: str) -> float:
    ep_count = text.count("!")
    if ep_count > 4:
        ep_count = 4
    ep = ep_count * 0.292
    qm_count = text.count("?")
    qm: float = 0
    if qm_count > 1:
        qm = qm_count * 0.18 if qm_count <= 3 else 0.96
    return ep + qm


def _normalize(score: float, alpha: int = 15) -> float:
    norm = score / math.sqrt((score * score) + alpha)
    if norm < -1.0:
        return -1.0
    if norm > 1.0:
        return 1.0
    return norm


def compound_many(texts: list[str]) -> list[float]:
    """compound() of each text (a convenience for worker processes and benchmarks)."""
    return [compound(t) for t in texts]
