"""tracker.vader against its reference, vaderSentiment 3.3.2: identical compound scores.

The fast scorer reproduces the reference's arithmetic operation for operation, so the
scores are compared for exact equality (the target only asks for a difference of at most
1e-4; every comparison here reports how many texts differ at all, and that must be none).
Inputs: both human-rated corpora shipped with VADER, a seeded generated corpus of 24,000
varied social-media texts that exercises every rule, named quirks of the reference, and
property-based tests (hypothesis) on arbitrary and on structured text. Also here:
`sentiment.score_many` (cache, pool, fallback) and `sentiment.detect_languages`.
"""

from __future__ import annotations

import random
import string
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from vaderSentiment import vaderSentiment as ref

from tracker import sentiment, vader

FIXTURES = Path(__file__).parent / "fixtures" / "sentiment"
ANALYZER = ref.SentimentIntensityAnalyzer()


def reference(text: str) -> float:
    return float(ANALYZER.polarity_scores(text)["compound"])


def compare(texts: Iterable[str]) -> tuple[int, int, float, list[tuple[str, float, float]]]:
    """(texts compared, texts that differ at all, max abs difference, first differences)."""
    count = differ = 0
    worst = 0.0
    examples: list[tuple[str, float, float]] = []
    for text in texts:
        expected, got = reference(text), vader.compound(text)
        count += 1
        if got != expected:
            differ += 1
            worst = max(worst, abs(got - expected))
            if len(examples) < 5:
                examples.append((text, expected, got))
    return count, differ, worst, examples


def assert_identical(texts: Iterable[str], at_least: int = 1) -> None:
    count, differ, worst, examples = compare(texts)
    assert count >= at_least
    assert worst <= 1e-4, examples
    assert differ == 0, f"{differ} of {count} texts differ (max {worst}): {examples}"


# -- the lexicon and the rule tables are the reference's ---------------------------------------


def test_lexicons_are_read_from_the_reference_package() -> None:
    assert ANALYZER.lexicon == vader.LEXICON
    assert ANALYZER.emojis == vader.EMOJI
    assert Path(ref.__file__).parent == vader.lexicon_dir()


def test_the_installed_reference_is_the_version_reproduced() -> None:
    assert vader.reference_version() == vader.REFERENCE_VERSION
    assert sentiment._FAST  # so sentiment.score is tracker.vader, and that is what is tested here


def test_another_reference_version_is_used_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sentiment, "_FAST", False)
    monkeypatch.setattr(vader, "compound", None)  # not called
    texts = ["I love this!", "not bad", "I love this!"]
    assert sentiment.score_many(texts, ["en"] * 3) == [reference(t) for t in texts]
    assert sentiment.score("awful", "en") == reference("awful")


def test_rule_tables_equal_the_reference() -> None:
    assert (vader.B_INCR, vader.B_DECR, vader.C_INCR, vader.N_SCALAR) == (
        ref.B_INCR, ref.B_DECR, ref.C_INCR, ref.N_SCALAR)  # fmt: skip
    assert set(ref.NEGATE) == vader.NEGATE
    assert ref.BOOSTER_DICT == vader.BOOSTER_DICT
    assert ref.SPECIAL_CASES == vader.SPECIAL_CASES


# -- corpora ------------------------------------------------------------------------------------


def ground_truth(name: str) -> list[str]:
    lines = (FIXTURES / name).read_text(encoding="utf-8").splitlines()
    return [line.split("\t", 2)[2] for line in lines if line.strip()]


@pytest.mark.parametrize(
    ("name", "rows"), [("tweets_GroundTruth.txt", 4200), ("movieReviewSnippets_GroundTruth.txt", 10605)]
)
def test_ground_truth_corpora_score_identically(name: str, rows: int) -> None:
    texts = ground_truth(name)
    assert len(texts) >= rows - 5
    assert_identical(texts, at_least=len(texts))


LEX_WORDS = sorted(vader.LEXICON)
SINGLE_BOOSTERS = sorted(k for k in vader.BOOSTER_DICT if " " not in k)
NEGATIONS = [*sorted(vader.NEGATE), "wouldn't", "isn't", "DON'T", "Can't", "ain't", "couldn't've"]
EMOJI_CHARS = sorted(k for k in vader.EMOJI if len(k) == 1)
EMOJI_SEQUENCES = sorted(k for k in vader.EMOJI if len(k) > 1)
EMOTICONS = [":)", ":-)", ":(", ":-(", ":D", ":d", "XD", "xD", ":P", ";)", "<3", "</3", ":/", "=)", "^_^",
             "O_o", ":'(", "(:", "):", "D:", ":-D", "8-)", "=D"]  # fmt: skip
IDIOMS = [*ref.SPECIAL_CASES, *ref.SENTIMENT_LADEN_IDIOMS, "kind of", "sort of", "just enough", "at least",
          "very least", "the least", "never so", "never this", "without doubt", "without a doubt", "no or",
          "nor", "kind", "of", "least", "no", "NO", "No", "not", "never", "so", "this", "very", "at", "but",
          "BUT", "But", "but,", "(but)", "yeah right", "YEAH RIGHT", "the Shit", "bus stop"]  # fmt: skip
FILLER = ("acme cloud the a an it is was we they you i my our app update release support team today "
          "pricing docs api outage launch feature customer service phone new old just now again "
          "really still with for on in to of and or too also then").split()  # fmt: skip
UNICODE = ["café", "naïve", "İstanbul", "straße", "ΣΊΣΥΦΟΣ", "Ωmega", "\u212aelvin", "日本語", "пример",
           "résumé", "coöperate", "\u200d", "\ufe0f", "ǅ", "ﬁne", "Ⅻ", "½", "١٢٣", "x\u0301"]  # fmt: skip
URLS = ["https://acme.example/x?y=1", "http://t.co/AbC123", "www.acme.io", "@acme_cloud", "@Support",
        "#fail", "#LoveIt", "#SoGood", "$ACME", "RT", "via", "&amp;", "&lt;3"]  # fmt: skip
PUNCT_TAILS = ["", "", "", "", "!", "!!", "!!!", "!!!!!", "?", "??", "???", "?!?", "...", ",", ".", ";", ":",
               "'", '"', ")", "!?", "?!!", "*", "~"]  # fmt: skip
SEPARATORS = [" "] * 12 + ["  ", "\n", "\t", "\u00a0", " \n ", "\u2003"]


def _word(rng: random.Random) -> str:
    pool = rng.random()
    if pool < 0.30:
        word = rng.choice(LEX_WORDS)
    elif pool < 0.42:
        word = rng.choice(SINGLE_BOOSTERS)
    elif pool < 0.52:
        word = rng.choice(NEGATIONS)
    elif pool < 0.64:
        word = rng.choice(IDIOMS)
    elif pool < 0.69:
        word = rng.choice(EMOTICONS)
    elif pool < 0.75:
        word = "".join(rng.choice(EMOJI_CHARS) for _ in range(rng.randint(1, 3)))
    elif pool < 0.76:
        word = rng.choice(EMOJI_SEQUENCES)
    elif pool < 0.80:
        word = rng.choice(URLS)
    elif pool < 0.83:
        word = rng.choice(UNICODE)
    else:
        word = rng.choice(FILLER)
    shape = rng.random()
    if shape < 0.12:
        word = word.upper()
    elif shape < 0.17:
        word = word.capitalize()
    elif shape < 0.19:
        word = word.swapcase()
    if rng.random() < 0.25:
        word += rng.choice(PUNCT_TAILS)
    if rng.random() < 0.05:
        word = rng.choice("\"'(*[<_-") + word
    if rng.random() < 0.04:  # an emoji glued to a word, before or after
        emoji = rng.choice(EMOJI_CHARS)
        word = emoji + word if rng.random() < 0.5 else word + emoji
    return word


def varied_corpus(count: int, seed: int = 20240) -> Iterator[str]:
    """Seeded social-media-like texts that hit every rule of the scorer (and its quirks)."""
    rng = random.Random(seed)
    made: list[str] = []
    for n in range(count):
        if made and rng.random() < 0.03:  # a retweet: the same text again
            yield rng.choice(made)
            continue
        words = [_word(rng) for _ in range(rng.choice((1, 2, 3, 4, 6, 8, 10, 12, 12, 14, 16, 20, 30)))]
        text = words[0]
        for word in words[1:]:
            text += rng.choice(SEPARATORS) + word
        if rng.random() < 0.1:
            text = rng.choice(("", " ", "  ", "\n")) + text + rng.choice(("", " ", "!!", "?", "\n"))
        if n % 50 == 0:
            text = text.upper()  # everything in capitals: no ALL-CAPS differential
        made.append(text)
        yield text


@pytest.mark.slow
def test_generated_varied_corpus_scores_identically() -> None:
    texts = list(varied_corpus(24_000))
    # the corpus does reach the rules it is meant to test
    joined = "\n".join(texts).lower()
    for needle in (" but ", "kind of", "at least", "never so", "without doubt", "the shit", "!!!", "???"):
        assert needle in joined, needle
    assert_identical(texts, at_least=24_000)


# -- named rules and quirks -------------------------------------------------------------------

QUIRKS = [
    "", " ", "\n\t ", "!!!", "???", ":)", ":D", "D:", "XD lol", "OK", "ok!", "NO", "no", "no no", "no no good",
    "No GOOD", "no bad ideas", "it is no or bad", "it is not good or nor bad",  # "no" rules
    "VADER is smart, handsome, and funny!", "VADER is VERY SMART, handsome, and FUNNY!!!",
    "VADER is VERY SMART, uber handsome, and FRIGGIN FUNNY!!!", "GOOD", "GOOD BAD", "good BAD",
    "The book was only kind of good.", "kind of", "kind", "kind of good", "it is KIND OF GOOD",
    "At least it isn't a horrible book.", "the very least good", "least good", "it was least good", "at least good",
    "Sentiment analysis has never been good.", "Sentiment analysis has never been this good!",
    "never so good", "it is never so good", "it was never this bad", "never really so good", "x so y good",
    "it was so bad", "a this b good", "Without a doubt, excellent idea.", "without doubt good",
    "x without doubt good", "without a doubt good",
    "With VADER, sentiment analysis is the shit!", "this is the shit", "the shit", "it is the bomb!",
    "VADER is such a badass!", "On the other hand, VADER is quite bad ass", "yeah right it is great",
    "oh yeah right", "that was the kiss of death", "a cake to die for", "my beating heart", "the bus stop",
    "he cut the mustard", "under the weather", "in the red today",  # sentiment-laden idioms: dead code
    "it is fed up", "i can't stand it",  # multi-word lexicon entries: dead
    "good but good", "good good but", "great but great great", "bad but not bad", "good, but bad",
    "but", "but good", "good but", "BUT it was good", "it was good BUT", "good but bad but good",
    "love love love but hate", "love but love love hate", "good bad good bad but good", "ok ok ok but ok",
    "Today only kinda sux! But I'll get by, lol", "Not bad at all", "not bad at ALL", "Isn't it great",
    "Catch utf-8 emoji such as 💘 and 💋 and 😁", "😁abc", "abc😁", "😁😁", " 😁 ", "\n😁", "😁\n😁",
    "🔛 is on", "ON! arrow 🔛🔛", "🆙???", "👍🏽", "❤️", "❤️❤️", "I ❤ it", "😀😀🔥",
    "Make sure you :) or :D today!", "HAPPY", "happy HAPPY happy", "VERY good", "very GOOD", "VERY GOOD stuff",
    "It is VERY BAD", "not VERY good", "NOT very good", "hardly good", "HARDLY GOOD at all", "barely bad",
    "sort of good", "it is sort of bad", "just enough good", "this is just enough good", "a just enough bad",
    "i don't love it", "i DON'T love it", "he wouldn'T like it", "uh-uh good", "despite good reviews",
    "nothing good", "none good", "seldom great",
    "İstanbul is great", "ΣΊΣΥΦΟΣ LOVES it", "\u212aind of good", "ﬁne day", "café GOOD", "x\u0301 good",
    "!!!!! good ?????", "good?", "good??", "good???", "good????", "good!?", "bad!!!!!!",
    "@acme_cloud your support is AWFUL!!! #fail http://t.co/x", "RT @acme: love the new release :)",
]  # fmt: skip


@pytest.mark.parametrize("text", QUIRKS)
def test_named_rules_and_quirks(text: str) -> None:
    assert vader.compound(text) == reference(text), text


# -- properties -------------------------------------------------------------------------------

_ALPHABET = st.one_of(
    st.characters(codec="utf-8"),
    st.sampled_from(EMOJI_CHARS),
    st.sampled_from(list(string.punctuation + string.whitespace + "\u00a0\u2003\u200d\ufe0f")),
    st.sampled_from(list("abcdefghijklmnoptuvwxyzABCDEFGHIJKLMNOPTUVWXYZ'")),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=_ALPHABET, max_size=120))
def test_arbitrary_text_scores_identically(text: str) -> None:
    assert vader.compound(text) == reference(text)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=60))
def test_any_unicode_text_scores_identically(text: str) -> None:
    assert vader.compound(text) == reference(text)


_TOKEN = st.one_of(
    st.sampled_from(LEX_WORDS),
    st.sampled_from(SINGLE_BOOSTERS),
    st.sampled_from(NEGATIONS),
    st.sampled_from(IDIOMS),
    st.sampled_from(EMOTICONS),
    st.sampled_from(EMOJI_CHARS),
    st.sampled_from(FILLER),
)


@st.composite
def sentences(draw: Any) -> str:
    words: list[str] = draw(st.lists(_TOKEN, min_size=1, max_size=18))
    shaped = []
    for word in words:
        shape = draw(st.sampled_from(("same", "same", "same", "upper", "title", "punct", "glued")))
        if shape == "upper":
            word = word.upper()
        elif shape == "title":
            word = word.title()
        elif shape == "punct":
            word += draw(st.sampled_from(PUNCT_TAILS))
        elif shape == "glued":
            word += draw(st.sampled_from(EMOJI_CHARS))
        shaped.append(word)
    separator: str = draw(st.sampled_from((" ", " ", "  ", "\n", "\t")))
    tail: str = draw(st.sampled_from(PUNCT_TAILS))
    return separator.join(shaped) + tail


@pytest.mark.slow
@settings(max_examples=600, deadline=None)
@given(sentences())
def test_structured_sentences_score_identically(text: str) -> None:
    assert vader.compound(text) == reference(text)


def test_token_cache_can_be_emptied_and_refilled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vader, "_TOKENS", {})
    monkeypatch.setattr(vader, "_TOKEN_CACHE_MAX", 5)
    texts = ["I love this so much", "this is not good at all", "VERY BAD but ok"]
    assert [vader.compound(t) for t in texts * 3] == [reference(t) for t in texts * 3]
    assert len(vader._TOKENS) <= 5


# -- score_many ---------------------------------------------------------------------------------


def test_score_many_equals_score_pair_by_pair() -> None:
    texts = ["I love this!", "I love this!", "Ich liebe das", "", "   ", "awful", "awful", "great :)", "ok"]
    langs: list[str | None] = ["en", "en-US", "de", "en", "en", "en_GB", None, "EN", "fr"]
    assert sentiment.score_many(texts, langs) == [
        sentiment.score(t, lang) for t, lang in zip(texts, langs, strict=True)
    ]
    assert sentiment.score_many(texts, langs)[:3] == [pytest.approx(0.6696, abs=1e-4)] * 2 + [None]
    assert sentiment.score_many([], []) == []


def test_score_many_rejects_unequal_lengths() -> None:
    with pytest.raises(ValueError, match="2 texts but 1 languages"):
        sentiment.score_many(["a", "b"], ["en"])


def test_score_many_scores_each_distinct_text_once(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []
    real = vader.compound_many

    def spy(texts: list[str]) -> list[float]:
        seen.append(list(texts))
        return real(texts)

    monkeypatch.setattr(vader, "compound_many", spy)
    texts = ["good", "bad", "good", "good", "meh"]
    assert sentiment.score_many(texts, ["en"] * 5) == [reference(t) for t in texts]
    assert seen == [["good", "bad", "meh"]]


def _batch(count: int) -> tuple[list[str], list[str | None]]:
    texts = list(varied_corpus(count, seed=99))
    langs: list[str | None] = [("en", "en-GB", None, "de")[i % 4] for i in range(count)]
    return texts, langs


def _expected(texts: Sequence[str], langs: Sequence[str | None]) -> list[float | None]:
    return [
        reference(t) if sentiment.is_english(lang) and t.strip() else None
        for t, lang in zip(texts, langs, strict=True)
    ]


def test_score_many_uses_worker_processes_for_a_large_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sentiment, "POOL_MIN", 500)
    monkeypatch.setattr(sentiment, "CHUNK", 300)
    monkeypatch.setattr(sentiment, "_cpu_count", lambda: 2)
    used: list[int] = []
    real = sentiment._in_pool

    def spy(work: Any, texts: list[str]) -> Any:
        found = real(work, texts)
        used.append(len(texts) if found is not None else -1)
        return found

    monkeypatch.setattr(sentiment, "_in_pool", spy)
    texts, langs = _batch(2_000)
    assert sentiment.score_many(texts, langs) == _expected(texts, langs)
    assert used and used[0] > 500  # the pool did the work (and the order was kept)


def test_score_many_falls_back_in_process_when_no_pool_can_start(monkeypatch: pytest.MonkeyPatch) -> None:
    class NoPool:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            raise OSError("no processes here")

    monkeypatch.setattr(sentiment, "POOL_MIN", 100)
    monkeypatch.setattr(sentiment, "_cpu_count", lambda: 4)
    monkeypatch.setattr(sentiment, "ProcessPoolExecutor", NoPool)
    texts, langs = _batch(600)
    assert sentiment.score_many(texts, langs) == _expected(texts, langs)


# -- language detection -----------------------------------------------------------------------


def test_detect_languages_equals_detect_language() -> None:
    texts = ground_truth("tweets_GroundTruth.txt")[:1500]
    texts += [line for line in Path("examples/sample-mentions.jsonl").read_text("utf-8").splitlines()][:50]
    texts += ["Ce produit est vraiment génial", "Das neue Update ist leider wirklich schlecht", "😀😀🔥", "",
              "https://x.y/z 123", "#### 42", "ok", "日本語のテキストです", "Это очень хорошо", "x" * 5_000,
              "ACME CLOUD IS DOWN AGAIN", "Acme cloud is down again, so annoying"] * 2  # fmt: skip
    texts += list(varied_corpus(500, seed=5))
    assert sentiment.detect_languages(texts) == [sentiment.detect_language(t) for t in texts]
    assert sentiment._batch_identifier() is not None  # the fast path was the one compared
    assert sentiment.detect_languages([]) == []


def test_detect_languages_in_worker_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sentiment, "POOL_MIN", 100)
    monkeypatch.setattr(sentiment, "CHUNK", 80)
    monkeypatch.setattr(sentiment, "_cpu_count", lambda: 2)
    texts = ground_truth("tweets_GroundTruth.txt")[2000:2300] + ["Ce produit est vraiment génial"] * 3
    assert sentiment.detect_languages(texts) == [sentiment.detect_language(t) for t in texts]


# -- languages and scores for a batch, in the background --------------------------------------


@pytest.fixture
def background() -> Iterator[None]:
    sentiment.shutdown_background()
    yield
    sentiment.shutdown_background()
    sentiment._background_failed = False


MIXED = ["I love this!", "Ich liebe das wirklich sehr", "awful service, never again", "", "😀😀🔥",
         "Ce produit est vraiment génial", "awful service, never again", "not bad at ALL"]  # fmt: skip
MIXED_LANGS: list[str | None] = [None, None, "en", None, None, "", None, "en-GB"]


def _one_by_one(
    texts: Sequence[str], langs: Sequence[str | None]
) -> tuple[list[str | None], list[float | None]]:
    found = [lang or sentiment.detect_language(text) for text, lang in zip(texts, langs, strict=True)]
    return found, [sentiment.score(text, lang) for text, lang in zip(texts, found, strict=True)]


def test_languages_and_scores_equals_ingest_item_by_item() -> None:
    assert sentiment.languages_and_scores(MIXED, MIXED_LANGS) == _one_by_one(MIXED, MIXED_LANGS)
    langs, scores = sentiment.languages_and_scores(MIXED, MIXED_LANGS)
    assert langs[:3] == ["en", "de", "en"] and scores[1] is None and scores[0] == reference("I love this!")
    with pytest.raises(ValueError, match="languages"):
        sentiment.languages_and_scores(["a"], [])


@pytest.mark.usefixtures("background")
def test_background_batches_give_the_same_results(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sentiment, "_cpu_count", lambda: 2)
    texts, langs = _batch(1_500)
    jobs = [
        sentiment.submit_languages_and_scores(texts[i : i + 500], langs[i : i + 500]) for i in (0, 500, 1000)
    ]
    jobs.append(sentiment.submit_languages_and_scores(MIXED, MIXED_LANGS))
    assert sentiment._background is not None  # a worker did the work
    got = [job.result() for job in jobs]
    assert got[3] == _one_by_one(MIXED, MIXED_LANGS)
    assert [s for _, scores in got[:3] for s in scores] == [
        reference(t) if sentiment.is_english(lang or sentiment.detect_language(t)) and t.strip() else None
        for t, lang in zip(texts, langs, strict=True)
    ]


@pytest.mark.usefixtures("background")
def test_background_falls_back_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    class NoPool:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            raise OSError("no processes here")

    monkeypatch.setattr(sentiment, "ProcessPoolExecutor", NoPool)
    monkeypatch.setattr(sentiment, "_cpu_count", lambda: 2)
    job = sentiment.submit_languages_and_scores(MIXED, MIXED_LANGS)
    assert sentiment._background is None and sentiment._background_failed
    assert job.result() == _one_by_one(MIXED, MIXED_LANGS)


@pytest.mark.usefixtures("background")
def test_a_dead_worker_means_the_batch_is_done_here(monkeypatch: pytest.MonkeyPatch) -> None:
    from concurrent.futures import Future
    from concurrent.futures.process import BrokenProcessPool

    class DeadPool:
        def submit(self, *args: Any) -> Future[Any]:
            future: Future[Any] = Future()
            future.set_exception(BrokenProcessPool("a worker was killed"))
            return future

        def shutdown(self, **kwargs: Any) -> None:
            pass

    monkeypatch.setattr(sentiment, "_background", DeadPool())
    job = sentiment.submit_languages_and_scores(MIXED, MIXED_LANGS)
    assert job.result() == _one_by_one(MIXED, MIXED_LANGS)
    assert sentiment._background is None


@pytest.mark.usefixtures("background")
def test_one_cpu_means_no_background_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sentiment, "_cpu_count", lambda: 1)
    job = sentiment.submit_languages_and_scores(MIXED, MIXED_LANGS)
    assert sentiment._background is None
    assert job.result() == _one_by_one(MIXED, MIXED_LANGS)
