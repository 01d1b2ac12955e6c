"""Sentiment behind one function: VADER compound and label, English only.

Other languages give None (not 0, not neutral): VADER's lexicon is English and a
neutral score for a German post would be a claim we cannot make. Where an item has
no language, it is detected from the text with py3langid, whose model ships inside
the package (nothing is downloaded at run time).

Scores come from tracker.vader, a faster re-implementation of vaderSentiment 3.3.2
whose compound is identical to the reference's (vaderSentiment stays the reference and
the source of the lexicon; tests/test_vader.py holds the two together). `score_many`
scores a batch: each distinct text once, and a large batch in worker processes;
`detect_languages` does the same for languages, and `submit_languages_and_scores`
does both for a batch in a background process while the caller stores the last one.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import re
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import CancelledError, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import lru_cache
from typing import Any, Generic, TypeVar

from tracker import vader
from tracker.polarity import NEGATIVE, POSITIVE
from tracker.processes import cpu_count as _cpu_count
from tracker.processes import die_with_parent

# Below this normalised probability a detection is a guess; we say "unknown" instead.
MIN_LANG_CONFIDENCE = 0.25
_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)
_SUBTAG = re.compile(r"[-_]")

# A batch with at least this many distinct English texts is scored in worker processes
# (one per CPU), in chunks of CHUNK texts; smaller ones are not worth starting a pool.
POOL_MIN = 20_000
CHUNK = 4_000
_T = TypeVar("_T")


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
    return bool(lang) and _is_english(lang or "")


@lru_cache(maxsize=4096)
def _is_english(lang: str) -> bool:
    return _SUBTAG.split(lang, maxsplit=1)[0].lower() == "en"


def _scorable(text: str, lang: str | None) -> bool:
    # `text.isspace()` is true exactly when `text.strip()` is empty (for a non-empty text)
    return bool(text) and not text.isspace() and is_english(lang)


def score(text: str, lang: str | None) -> float | None:
    """VADER compound in [-1, 1] for English text; None for other languages or empty text."""
    if not _scorable(text, lang):
        return None
    return vader.compound(text) if _FAST else _reference(text)


# tracker.vader reproduces one version of vaderSentiment; with any other, the reference scores.
_FAST = vader.reference_version() == vader.REFERENCE_VERSION


def _reference(text: str) -> float:
    return float(_analyzer().polarity_scores(text)["compound"])


def _compound_many(texts: list[str]) -> list[float]:
    return vader.compound_many(texts) if _FAST else [_reference(text) for text in texts]


@lru_cache(maxsize=1)
def _analyzer() -> Any:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def score_many(texts: Sequence[str], langs: Sequence[str | None]) -> list[float | None]:
    """`score(text, lang)` for each pair, as a batch.

    The language is the caller's (None is not detected here: see `detect_languages`).
    Each distinct English text is scored once (retweets and duplicates are common), and
    a batch of at least POOL_MIN distinct texts is spread over worker processes, one per
    CPU; when no pool can be started it is scored in this process.
    """
    return _score_many(texts, langs, pool=True)


def _score_many(texts: Sequence[str], langs: Sequence[str | None], *, pool: bool) -> list[float | None]:
    if len(texts) != len(langs):
        raise ValueError(f"score_many: {len(texts)} texts but {len(langs)} languages")
    out: list[float | None] = [None] * len(texts)
    where: dict[str, list[int]] = {}
    for i, (text, lang) in enumerate(zip(texts, langs, strict=True)):
        if _scorable(text, lang):
            where.setdefault(text, []).append(i)
    unique = list(where)
    found = _in_pool(_compound_many, unique) if pool and len(unique) >= POOL_MIN else None
    if found is None:
        found = _compound_many(unique)
    for text, value in zip(unique, found, strict=True):
        for i in where[text]:
            out[i] = value
    return out


def _in_pool(work: Callable[[list[str]], list[_T]], texts: list[str]) -> list[_T] | None:
    """`work(texts)` spread over all CPUs; None when no worker process can be used.

    This process does its share (1/CPUs, the tail) while CPUs - 1 worker processes do
    the rest in chunks. 'fork' starts a worker in milliseconds with everything already
    loaded (the lexicon, the language model); elsewhere (spawn) workers import it.
    """
    workers = _cpu_count()
    if workers < 2:
        return None
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else None)
    split = len(texts) - len(texts) // workers
    chunks = [texts[i : min(i + CHUNK, split)] for i in range(0, split, CHUNK)]
    results: list[_T] = []
    try:
        with ProcessPoolExecutor(
            max_workers=min(workers - 1, len(chunks)),
            mp_context=context,
            initializer=die_with_parent,
            initargs=(os.getpid(),),
        ) as pool:
            futures = [pool.submit(work, chunk) for chunk in chunks]
            own = work(texts[split:])
            for future in futures:
                results.extend(future.result())
    except Exception:
        # No processes here (sandbox, no sem_open, a killed worker, fork refused): the caller
        # does the work in-process, where a genuine error in `work` would show again.
        return None
    results.extend(own)
    return results


# -- language ---------------------------------------------------------------------------------


def detect_language(text: str) -> str | None:
    """ISO 639-1 code of the text's language, or None when it cannot be told."""
    if not _LETTER.search(text):
        return None
    lang, confidence = _identifier().classify(text)
    return str(lang) if confidence >= MIN_LANG_CONFIDENCE else None


def detect_languages(texts: Sequence[str]) -> list[str | None]:
    """`detect_language` of each text, with the same results, faster for a batch.

    Each distinct text is classified once (a batch of at least POOL_MIN distinct texts in
    worker processes, as in `score_many`), and the byte automaton of py3langid walks all
    texts of similar length together (numpy, one step per byte position) instead of one
    Python step per byte and text; the scoring of each text is then py3langid's own.
    """
    return _detect_languages(texts, pool=True)


def _detect_languages(texts: Sequence[str], *, pool: bool) -> list[str | None]:
    out: list[str | None] = [None] * len(texts)
    where: dict[str, list[int]] = {}
    for i, text in enumerate(texts):
        if _LETTER.search(text):
            where.setdefault(text, []).append(i)
    if not where:
        return out
    unique = list(where)
    found = None
    if pool and len(unique) >= POOL_MIN:
        _batch_identifier()  # load the model before the workers fork
        found = _in_pool(_detect_chunk, unique)
    if found is None:
        found = _detect_chunk(unique)
    for text, lang in zip(unique, found, strict=True):
        for i in where[text]:
            out[i] = lang
    return out


def _detect_chunk(texts: list[str]) -> list[str | None]:
    """Languages of texts that contain a letter (one worker's share of detect_languages)."""
    batch = _batch_identifier()
    found = batch.classify_many(texts) if batch else [_identifier().classify(text) for text in texts]
    return [str(lang) if confidence >= MIN_LANG_CONFIDENCE else None for lang, confidence in found]


# -- both, for a batch, optionally in the background ------------------------------------------

LangsAndScores = tuple[list[str | None], list[float | None]]


def languages_and_scores(texts: Sequence[str], langs: Sequence[str | None]) -> LangsAndScores:
    """What storing new items needs: each missing language detected, then English scored.

    `langs[i]` None or "" is detected from `texts[i]` (as `lang or detect_language(text)`);
    returns the languages and `score_many(texts, languages)`.
    """
    return _languages_and_scores(texts, langs, pool=True)


def _languages_and_scores(texts: Sequence[str], langs: Sequence[str | None], *, pool: bool) -> LangsAndScores:
    if len(texts) != len(langs):
        raise ValueError(f"languages_and_scores: {len(texts)} texts but {len(langs)} languages")
    found = list(langs)
    missing = [i for i, lang in enumerate(found) if not lang]
    if missing:
        detected = _detect_languages([texts[i] for i in missing], pool=pool)
        for i, lang in zip(missing, detected, strict=True):
            found[i] = lang
    return found, _score_many(texts, found, pool=pool)


def _background_work(texts: list[str], langs: list[str | None]) -> LangsAndScores:
    return _languages_and_scores(texts, langs, pool=False)  # a worker does not start its own pool


class Deferred(Generic[_T]):
    """A call running in the background worker; `result()` waits for it, or makes the call here
    when no worker could take it (one CPU, a worker that died, no process could start)."""

    def __init__(self, call: Callable[..., _T], args: tuple[Any, ...], future: Future[_T] | None) -> None:
        self._call, self._args, self._future = call, args, future

    def result(self) -> _T:
        if self._future is not None:
            try:
                return self._future.result()
            except (BrokenProcessPool, OSError, CancelledError):
                shutdown_background()  # the worker died: do this one here, and the next ones too
        return self._call(*self._args)


Pending = Deferred[LangsAndScores]

_background: ProcessPoolExecutor | None = None
_background_failed = False


def run_in_background(call: Callable[..., _T], *args: Any) -> Deferred[_T]:
    """`call(*args)` in a background worker process, while the caller goes on.

    Meant for pipelines: submit batch N+1, work on batch N (whose result is ready by then).
    The worker pool (CPUs - 1 processes; 'fork' where available) starts on first use and
    lives until `shutdown_background()` or exit. `call` must be a module-level function.
    """
    global _background, _background_failed
    if _background is None and not _background_failed and _cpu_count() > 1:
        try:
            methods = multiprocessing.get_all_start_methods()
            context = multiprocessing.get_context("fork" if "fork" in methods else None)
            _background = ProcessPoolExecutor(
                max_workers=_cpu_count() - 1,
                mp_context=context,
                initializer=die_with_parent,
                initargs=(os.getpid(),),
            )
        except Exception:
            _background_failed = True
    if _background is not None:
        try:
            return Deferred(call, args, _background.submit(call, *args))
        except Exception:  # broken or shut down: no more background work in this process
            shutdown_background()
            _background_failed = True
    return Deferred(call, args, None)


def submit_languages_and_scores(texts: Sequence[str], langs: Sequence[str | None]) -> Pending:
    """languages_and_scores of one batch in the background worker (see run_in_background)."""
    return run_in_background(_background_work, list(texts), list(langs))


def shutdown_background() -> None:
    """Stop the background workers (they stop at exit anyway)."""
    global _background
    pool, _background = _background, None
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)


@lru_cache(maxsize=1)
def _identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


@lru_cache(maxsize=1)
def _batch_identifier() -> _BatchIdentifier | None:
    """The batch walker, or None when py3langid's internals are not the ones it knows."""
    try:
        batch = _BatchIdentifier(_identifier())
    except (AttributeError, TypeError, ValueError, KeyError):
        return None
    probes = ["Acme cloud is down again, so annoying", "Ce produit est vraiment génial", "ok", "ÄÖÜ 😀"]
    if batch.classify_many(probes) != [_identifier().classify(p) for p in probes]:
        return None  # a py3langid that scores differently: use its own classify
    return batch


class _BatchIdentifier:
    """py3langid's classify for many texts at once, with identical results.

    Relies on py3langid 0.4's LanguageIdentifier internals (checked on construction and
    against `classify` on probe texts; see `_batch_identifier`).
    """

    GROUP = 512  # texts walked together (sorted by length, so little padding)
    LONGEST = 4_096  # longer texts go through classify itself: the walk would be mostly padding

    def __init__(self, ident: Any) -> None:
        import numpy as np

        self.np = np
        self.ident = ident
        codes = {"H": np.uint16, "I": np.uint32, "L": np.uint64}
        self.nextmove = np.frombuffer(ident.tk_nextmove, dtype=codes[ident.tk_nextmove.typecode])
        self.rowbase = np.asarray(ident._rowbase, dtype=np.int64)
        self.output = np.asarray(ident.tk_output, dtype=np.int64)
        self.encode = ident._encode
        self.sparse_score = ident._sparse_score
        if not callable(self.encode) or not callable(self.sparse_score):
            raise TypeError("py3langid internals changed")

    def classify_many(self, texts: list[str]) -> list[tuple[str, float]]:
        encoded: list[bytes] = [self.encode(text) for text in texts]
        result: list[tuple[str, float]] = [("", 0.0)] * len(texts)
        order = sorted(range(len(texts)), key=lambda i: len(encoded[i]))
        short = [i for i in order if len(encoded[i]) <= self.LONGEST]
        for i in order[len(short) :]:
            result[i] = self.ident.classify(texts[i])
        for start in range(0, len(short), self.GROUP):
            group = short[start : start + self.GROUP]
            for i, visits in zip(group, self._visits([encoded[i] for i in group]), strict=True):
                result[i] = self._decide(encoded[i], visits)
        return result

    def _visits(self, data: list[bytes]) -> list[Counter[int] | None]:
        """py3langid.langid.visit_counts of each text (ascending lengths), walked together."""
        np = self.np
        n = len(data)
        width = len(data[-1])
        # Column-major bytes, longest text first, so the texts still going at position j are a prefix.
        grid = np.zeros((width, n), dtype=np.int64)
        lengths = np.empty(n, dtype=np.int64)
        for col, raw in enumerate(reversed(data)):
            grid[: len(raw), col] = np.frombuffer(raw, dtype=np.uint8)
            lengths[col] = len(raw)
        going = np.searchsorted(-lengths, -np.arange(width), side="left")  # texts longer than j
        state = np.zeros(n, dtype=np.int64)
        cols: list[Any] = []
        feats: list[Any] = []
        nextmove, rowbase, output = self.nextmove, self.rowbase, self.output
        for j in range(width):
            k = int(going[j])
            now = nextmove[rowbase[state[:k]] + grid[j, :k]].astype(np.int64)
            state[:k] = now
            feat = output[now]
            hit = np.flatnonzero(feat >= 0)
            if hit.size:
                cols.append(hit)
                feats.append(feat[hit])
        visits: list[Counter[int] | None] = [None] * n
        if cols:
            col_all = np.concatenate(cols)
            feat_all = np.concatenate(feats)
            by_text = np.argsort(col_all, kind="stable")  # keeps byte order within a text
            col_sorted = col_all[by_text]
            feat_sorted = feat_all[by_text].tolist()
            bounds = np.searchsorted(col_sorted, np.arange(n + 1)).tolist()
            for col in range(n):
                lo, hi = bounds[col], bounds[col + 1]
                if hi > lo:
                    visits[col] = Counter(feat_sorted[lo:hi])
        visits.reverse()  # back to ascending lengths, the order of `data`
        return visits

    def _decide(self, text: bytes, visits: Counter[int] | None) -> tuple[str, float]:
        """LanguageIdentifier._decide + classify, from the visits."""
        np, ident = self.np, self.ident
        if visits:
            scores = self.sparse_score(visits, ident.nb_ptc)
        else:
            fill = 0.0 if ident._norm_probs else float(np.finfo(np.float32).min)
            scores = np.full(len(ident.nb_classes), fill, dtype=np.float32)
        if ident._norm_probs:
            scores *= 1.0 / math.sqrt(len(text) or 1)
            np.exp(scores - scores.max(), out=scores)
            scores /= scores.sum()
        for i, j in ident._alias_pairs:
            if ident._norm_probs:
                scores[i] += scores[j]
                scores[j] = 0.0
            else:
                scores[i] = max(scores[i], scores[j])
                scores[j] = float(np.finfo(np.float32).min)
        best = int(scores.argmax())
        confidence = float(scores[best])
        if ident.min_confidence is not None and confidence < ident.min_confidence:
            return "und", confidence
        return str(ident.nb_classes[best]), confidence
