"""Sentiment taught by the team: labels, a model per language, measured before it is trusted.

Labels (positive | neutral | negative | irrelevant) come from `tracker label import`, the
CLI and the web; each is kept once per (language, text). `train` fits, per language, TF-IDF
on words (1-2 grams) and on character n-grams (2-5, within words) with a logistic
regression (scikit-learn), and measures it by stratified 5-fold cross-validation:
macro-F1 and per-class F1 over positive/neutral/negative ("irrelevant" is not a sentiment
and is left out), plus a learning curve from which the labels still needed are estimated.

A language is scored by its model only when the newest model reaches the floor of
[sentiment] (macro-F1 >= min_macro_f1 with >= min_labels labels); otherwise its mentions
stay unscored. English keeps VADER unless its model also beats VADER on the same labels
measurably (a paired bootstrap of the macro-F1 difference whose 2.5 % quantile is above 0).

A model is stored in `sentiment_models` with the hash of its training set and its fitted
vocabularies, idf weights and coefficients as zlib-compressed JSON: nothing executable is
stored or loaded (no pickle), and nothing is ever fetched from the network. Adopting or
dropping a model re-scores that language's mentions; every score names its scorer in
`mentions.sentiment_scorer` ("vader" or "model:<lang>:<version>"; a score written before
this column existed, or by ingest, is VADER's).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import IO, Any, TypedDict, cast

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from tracker import aggregates, sentiment
from tracker.config import SentimentConfig, Settings
from tracker.errors import UserError
from tracker.store.db import Store
from tracker.store.models import Label, Mention, SentimentModel

LABELS = ("positive", "neutral", "negative", "irrelevant")
CLASSES = ("positive", "neutral", "negative")
VADER = "vader"
FOLDS = 5
CURVE = (0.25, 0.5)  # fractions of a fold's training part; the full one is the cross-validation itself
BOOTSTRAP = 400
BATCH = 2_000
_SPACE = re.compile(r"\s+")
ProgressFn = Callable[[int, int], None]


def primary(lang: str | None) -> str | None:
    """The primary subtag, lower case (`de-AT` -> `de`); None when there is none."""
    if not lang or not lang.strip():
        return None
    return re.split(r"[-_]", lang.strip(), maxsplit=1)[0].lower() or None


def text_hash(text: str) -> str:
    return hashlib.sha256(_SPACE.sub(" ", text.strip()).encode("utf-8")).hexdigest()


def scorer_name(model: SentimentModel | None) -> str:
    return VADER if model is None else f"model:{model.lang}:{model.version}"


# -- labels in and out --------------------------------------------------------------------------


MAX_TEXT = 100_000  # characters of a label's text, as of an imported mention's (tracker/mentions.py)
MAX_LINE = MAX_TEXT * 4 + 10_000  # bytes of one JSONL line or CSV field: the longest text, UTF-8, and room
LANG = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*")
FIELDS = ("external_id", "text", "label", "lang")


def _rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line, row) of a CSV or JSONL file, read as a stream: a line over MAX_LINE is refused
    after reading MAX_LINE bytes of it, never held whole."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        raise UserError(f"no file at {path}") from None
    except IsADirectoryError:
        raise UserError(f"{path} is a directory, not a file") from None
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
    with handle:
        try:
            head = handle.read(4096)
            handle.seek(0)
            first = head.removeprefix(b"\xef\xbb\xbf").lstrip()[:1]
            if path.suffix.lower() in (".jsonl", ".ndjson", ".json") or first == b"{":
                yield from _jsonl_rows(path, handle)
            else:
                yield from _csv_rows(path, handle)
        except UnicodeDecodeError:
            raise UserError(f"{path} is not a text file (not UTF-8)") from None
        except OSError as exc:
            raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None


def _jsonl_rows(path: Path, handle: IO[bytes]) -> Iterator[tuple[int, dict[str, Any]]]:
    number = 0
    while True:
        line = handle.readline(MAX_LINE + 1)
        if not line:
            return
        number += 1
        if len(line) > MAX_LINE:
            raise UserError(f"{path}: line {number} is longer than {MAX_LINE:,} bytes")
        text = line.decode("utf-8-sig" if number == 1 else "utf-8")
        if not text.strip():
            continue
        try:
            value = json.loads(text)
        except (json.JSONDecodeError, RecursionError):
            raise UserError(f"{path}: line {number} is not JSON") from None
        if not isinstance(value, dict):
            raise UserError(f"{path}: line {number} is not a JSON object")
        yield number, value


def _csv_rows(path: Path, handle: IO[bytes]) -> Iterator[tuple[int, dict[str, Any]]]:
    text = io.TextIOWrapper(handle, encoding="utf-8-sig", newline="")
    csv.field_size_limit(MAX_LINE)
    reader = csv.reader(text)
    start = 1
    try:
        header = [(name or "").strip().lower() for name in next(reader, [])]
        if "label" not in header or not set(header) & {"text", "external_id"}:
            raise UserError(f"{path}: a CSV needs a header with label and text or external_id columns")
        while True:
            start = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            if not any(cell.strip() for cell in row):
                continue
            if len(row) > len(header):
                raise UserError(f"{path}: line {start}: {len(row)} cells, the header has {len(header)}")
            yield start, dict(zip(header, row, strict=False))
    except csv.Error as exc:
        message = str(exc)
        if "field larger than field limit" in message:
            message = f"a cell is longer than {MAX_LINE:,} characters"
        raise UserError(f"{path}: line {start}: not valid CSV: {message}") from None
    finally:
        text.detach()  # the caller closes the file


def _field(path: Path, number: int, row: dict[str, Any], name: str) -> str:
    """A row's text field ("" when absent or null); one line of error for any other kind."""
    value = row.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        kinds = ((bool, "true or false"), (int | float, "a number"), (list, "a list"), (dict, "an object"))
        kind = next((k for t, k in kinds if isinstance(value, t)), "not text")
        raise UserError(f"{path}: line {number}: {name}: expected text, got {kind}")
    if "\x00" in value:
        raise UserError(f"{path}: line {number}: {name} contains a NUL character")
    limit = MAX_TEXT if name == "text" else 1_000
    if len(value) > limit:
        raise UserError(f"{path}: line {number}: {name} is longer than {limit:,} characters")
    return value


def import_labels(store: Store, path: Path, *, now: datetime | None = None) -> dict[str, int]:
    """Read a CSV or JSONL file of labels (external_id or text, label, lang) into the store.

    Every row is checked before anything is written: one bad row names its line and
    nothing is imported. A row with an external_id labels that mention (its text and
    language are the mention's); a row with a text needs its lang or a detectable one.
    """
    now = now or datetime.now(UTC)
    rows = list(_rows(path))  # every row read and its shape checked before the write starts
    with store.write() as session:
        ready: list[tuple[int | None, str | None, str, str, str]] = []
        for number, row in rows:
            label = _field(path, number, row, "label").strip().lower()
            if label not in LABELS:
                shown = label if len(label) <= 40 else label[:40] + "…"
                raise UserError(
                    f"{path}: line {number}: label must be one of {', '.join(LABELS)}, got {shown!r}"
                )
            external = _field(path, number, row, "external_id").strip() or None
            text = _field(path, number, row, "text")
            given = _field(path, number, row, "lang").strip()
            if given and not LANG.fullmatch(given):
                raise UserError(
                    f"{path}: line {number}: lang must be a language code such as de or de-AT, "
                    f"got {given[:40]!r}"
                )
            lang = primary(given)
            mention_id = None
            if external:
                found = session.execute(
                    select(Mention.id, Mention.text, Mention.lang).where(Mention.external_id == external)
                ).first()
                if found is None and not text.strip():
                    raise UserError(f"{path}: line {number}: no mention with external_id {external!r}")
                if found is not None:
                    mention_id, text, lang = found[0], found[1], lang or primary(found[2])
            if not text.strip():
                raise UserError(f"{path}: line {number}: needs a text or the external_id of a stored mention")
            lang = lang or primary(sentiment.detect_language(text))
            if lang is None:
                raise UserError(f"{path}: line {number}: no lang given and the language cannot be told")
            ready.append((mention_id, external, text, lang, label))
        counts = Counter(_put(session, *item, source="import", now=now) for item in ready)
    return {"added": counts["added"], "changed": counts["changed"], "unchanged": counts["unchanged"]}


def _put(
    session: Session,
    mention_id: int | None,
    external: str | None,
    text: str,
    lang: str,
    label: str,
    *,
    source: str,
    now: datetime,
) -> str:
    digest = text_hash(text)
    old = session.scalar(select(Label).where(Label.lang == lang, Label.text_hash == digest))
    if old is None:
        session.add(
            Label(
                mention_id=mention_id,
                external_id=external,
                text=text,
                text_hash=digest,
                lang=lang,
                label=label,
                source=source,
                created_at=now,
            )
        )
        session.flush()
        return "added"
    if old.label == label:
        return "unchanged"
    old.label, old.source, old.created_at = label, source, now
    old.mention_id = old.mention_id or mention_id
    return "changed"


def label_mention(
    store: Store, mention_id: int, label: str, *, source: str = "web", now: datetime | None = None
) -> str:
    """Label one stored mention (the web's one click); returns added | changed | unchanged."""
    if label not in LABELS:
        raise UserError(f"label must be one of {', '.join(LABELS)}, got {label!r}")
    with store.write() as session:
        mention = session.get(Mention, mention_id)
        if mention is None:
            raise UserError(f"no mention {mention_id}")
        lang = primary(mention.lang) or primary(sentiment.detect_language(mention.text))
        if lang is None:
            raise UserError(f"mention {mention_id} has no language to learn it for")
        return _put(
            session,
            mention.id,
            mention.external_id,
            mention.text,
            lang,
            label,
            source=source,
            now=now or datetime.now(UTC),
        )


def export_labels(store: Store) -> list[dict[str, Any]]:
    with store.read() as session:
        found = session.scalars(select(Label).order_by(Label.id)).all()
        return [
            {
                "external_id": r.external_id,
                "text": r.text,
                "label": r.label,
                "lang": r.lang,
                "source": r.source,
                "created_at": r.created_at.isoformat(),
            }
            for r in found
        ]


# -- the model ----------------------------------------------------------------------------------


def _pipeline() -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, Pipeline

    return Pipeline(
        [
            (
                "features",
                FeatureUnion(
                    [
                        ("word", TfidfVectorizer(**WORD)),
                        ("char", TfidfVectorizer(**CHAR)),
                    ]
                ),
            ),
            ("clf", LogisticRegression(C=4.0, max_iter=2000, class_weight="balanced")),
        ]
    )


WORD: dict[str, Any] = {
    "analyzer": "word",
    "ngram_range": (1, 2),
    "sublinear_tf": True,
    "min_df": 1,
    "max_features": 30_000,
    "lowercase": True,
}
CHAR: dict[str, Any] = {
    "analyzer": "char_wb",
    "ngram_range": (2, 5),
    "sublinear_tf": True,
    "min_df": 2,
    "max_features": 60_000,
    "lowercase": True,
}


class Model:
    """A fitted model rebuilt from its stored JSON: probabilities of CLASSES for texts."""

    def __init__(self, weights: ModelWeights) -> None:
        import numpy as np
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.np = np
        self.parts = []
        for part, params in ((weights["word"], WORD), (weights["char"], CHAR)):
            kwargs = {k: v for k, v in params.items() if k not in ("max_features", "min_df")}
            kwargs["ngram_range"] = tuple(kwargs["ngram_range"])
            vec = TfidfVectorizer(vocabulary=part["vocabulary"], **kwargs)
            vec.idf_ = np.asarray(part["idf"], dtype=np.float64)
            self.parts.append(vec)
        self.classes = list(weights["classes"])
        self.coef = np.asarray(weights["coef"], dtype=np.float64)
        self.intercept = np.asarray(weights["intercept"], dtype=np.float64)

    def proba(self, texts: Sequence[str]) -> Any:
        from scipy.sparse import hstack  # type: ignore[import-untyped]  # no stubs installed

        np = self.np
        x = hstack([vec.transform(list(texts)) for vec in self.parts]).tocsr()
        z = x @ self.coef.T + self.intercept
        if len(self.classes) == 2:  # scikit-learn's binary form: one column for classes[1]
            p1 = 1.0 / (1.0 + np.exp(-z[:, 0]))
            return np.column_stack([1.0 - p1, p1])
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def score(self, texts: Sequence[str]) -> list[tuple[float, str, float]]:
        """(sentiment in [-1, 1] = P(positive) - P(negative), label, confidence) per text."""
        if not texts:
            return []
        p = self.proba(texts)
        pos = self.classes.index("positive") if "positive" in self.classes else None
        neg = self.classes.index("negative") if "negative" in self.classes else None
        out = []
        for row in p:
            value = (float(row[pos]) if pos is not None else 0.0) - (
                float(row[neg]) if neg is not None else 0.0
            )
            best = int(row.argmax())
            out.append((value, self.classes[best], float(row[best])))
        return out


class VectorizerWeights(TypedDict):
    """One fitted TF-IDF vectorizer: term -> column, and each column's idf."""

    vocabulary: dict[str, int]
    idf: list[float]


class ModelWeights(TypedDict):
    """A fitted model as it is stored (`pack`): its word and character vectorizers and the classifier."""

    word: VectorizerWeights
    char: VectorizerWeights
    classes: list[str]
    coef: list[list[float]]  # one row per class (one row only for two classes: scikit-learn's binary form)
    intercept: list[float]


def _vectorizer(vec: Any) -> VectorizerWeights:
    return {
        "vocabulary": {k: int(v) for k, v in vec.vocabulary_.items()},
        "idf": [float(x) for x in vec.idf_],
    }


def _weights(fitted: Any) -> ModelWeights:
    vectors = dict(fitted.named_steps["features"].transformer_list)
    clf = fitted.named_steps["clf"]
    return {
        "word": _vectorizer(vectors["word"]),
        "char": _vectorizer(vectors["char"]),
        "classes": [str(c) for c in clf.classes_],
        "coef": [[float(x) for x in row] for row in clf.coef_],
        "intercept": [float(x) for x in clf.intercept_],
    }


def pack(weights: ModelWeights) -> bytes:
    return zlib.compress(json.dumps(weights, separators=(",", ":")).encode("utf-8"), 6)


def unpack(blob: bytes) -> ModelWeights:
    """The weights `pack` stored; ValueError when the blob is not a JSON object."""
    value = json.loads(zlib.decompress(blob).decode("utf-8"))
    if not isinstance(value, dict):
        raise ValueError("stored model weights are not an object")
    return cast(ModelWeights, value)  # written by pack: its shape is ModelWeights'


@dataclass
class Trained:
    weights: ModelWeights
    figures: dict[str, Any]
    macro_f1: float
    predictions: list[str]
    seconds: float


def _f1s(truth: Sequence[str], guess: Sequence[str]) -> tuple[float, dict[str, float]]:
    from sklearn.metrics import f1_score

    present = [c for c in CLASSES if c in set(truth)]
    per = f1_score(truth, guess, labels=present, average=None, zero_division=0)
    per_class = {c: round(float(v), 4) for c, v in zip(present, per, strict=True)}
    return float(sum(per_class.values()) / len(per_class)), per_class


def fit(texts: Sequence[str], labels: Sequence[str], *, seed: int = 0, curve: bool = True) -> Trained:
    """Fit on all of them; measure by stratified cross-validation and a learning curve."""
    from sklearn.model_selection import StratifiedKFold, cross_val_predict, learning_curve

    started = time.perf_counter()
    counts = Counter(labels)
    if len(counts) < 2:
        raise UserError("a model needs labels of at least two of positive, neutral, negative")
    folds = max(2, min(FOLDS, min(counts.values())))
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    predictions = [str(p) for p in cross_val_predict(_pipeline(), list(texts), list(labels), cv=cv)]
    macro, per_class = _f1s(labels, predictions)
    points: list[dict[str, float]] = []
    if curve and len(labels) >= 50:
        sizes, _, test = learning_curve(
            _pipeline(),
            list(texts),
            list(labels),
            cv=cv,
            train_sizes=list(CURVE),
            scoring="f1_macro",
            shuffle=True,
            random_state=seed,
        )
        points = [
            {"labels": int(s), "macro_f1": round(float(t.mean()), 4)}
            for s, t in zip(sizes, test, strict=True)
        ]
        points.append({"labels": len(labels) * (folds - 1) // folds, "macro_f1": round(macro, 4)})
    fitted = _pipeline().fit(list(texts), list(labels))
    return Trained(
        weights=_weights(fitted),
        figures={
            "macro_f1": round(macro, 4),
            "per_class_f1": per_class,
            "folds": folds,
            "counts": dict(counts),
            "curve": points,
        },
        macro_f1=macro,
        predictions=predictions,
        seconds=time.perf_counter() - started,
    )


def labels_needed(points: Sequence[dict[str, float]], have: int, conf: SentimentConfig) -> int | None:
    """More labels likely needed to reach the floor, from the learning curve (0: none).

    Fits macro-F1 = a + b ln(training labels) to the curve; a curve that does not rise
    (b <= 0.01 per e-fold) gives None: more labels of this kind are not expected to help.
    The curve's training sizes are (folds - 1) / folds of the labels, hence the scale.
    """
    if len(points) < 3:
        return max(0, conf.min_labels - have) or None
    xs = [math.log(p["labels"]) for p in points]
    ys = [p["macro_f1"] for p in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)
    a = my - b * mx
    top = points[-1]["labels"]
    if a + b * math.log(top) >= conf.min_macro_f1:
        return max(0, conf.min_labels - have)
    if b <= 0.01:
        return None
    need = math.exp((conf.min_macro_f1 - a) / b) * have / top
    if need > 1_000_000:
        return None
    return max(conf.min_labels - have, math.ceil(need) - have, 0)


def _bootstrap_lower(
    truth: Sequence[str], ours: Sequence[str], theirs: Sequence[str], seed: int = 0
) -> float:
    """2.5 % quantile of macro-F1(ours) - macro-F1(theirs) over paired bootstrap resamples."""
    import numpy as np

    rng = np.random.default_rng(seed)
    t, a, b = np.asarray(truth), np.asarray(ours), np.asarray(theirs)
    diffs = []
    for _ in range(BOOTSTRAP):
        idx = rng.integers(0, len(t), len(t))
        diffs.append(_f1s(list(t[idx]), list(a[idx]))[0] - _f1s(list(t[idx]), list(b[idx]))[0])
    return float(np.quantile(diffs, 0.025))


# -- training, adopting, scoring ----------------------------------------------------------------


def _training_set(session: Session, lang: str) -> list[tuple[str, str, str]]:
    found = session.execute(
        select(Label.text_hash, Label.text, Label.label)
        .where(Label.lang == lang, Label.label.in_(CLASSES))
        .order_by(Label.text_hash)
    ).all()
    return [(h, t, lab) for h, t, lab in found]


def training_hash(rows: Iterable[tuple[str, str, str]]) -> str:
    digest = hashlib.sha256()
    for h, _, lab in rows:
        digest.update(f"{h}:{lab}\n".encode())
    return digest.hexdigest()


def latest(session: Session, lang: str) -> SentimentModel | None:
    return session.scalar(
        select(SentimentModel)
        .where(SentimentModel.lang == lang)
        .order_by(SentimentModel.version.desc())
        .limit(1)
    )


def adopted(session: Session, lang: str) -> SentimentModel | None:
    return session.scalar(select(SentimentModel).where(SentimentModel.lang == lang, SentimentModel.adopted))


def languages(session: Session) -> list[str]:
    return sorted(session.scalars(select(Label.lang).distinct()).all())


def train(
    store: Store,
    settings: Settings,
    *,
    lang: str | None = None,
    force: bool = False,
    progress: ProgressFn | None = None,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Train each language's model (or one); adopt or drop it by the floor; re-score its mentions.

    A language whose training set is unchanged since its newest model is skipped
    unless `force`. Returns one summary per language.
    """
    conf = settings.sentiment
    with store.read() as session:
        langs = [lang] if lang else languages(session)
    out: list[dict[str, Any]] = []
    for code in langs:
        with store.read() as session:
            rows = _training_set(session, code)
            newest = latest(session, code)
        digest = training_hash(rows)
        if not rows:
            out.append({"lang": code, "status": "no labels"})
            continue
        if newest is not None and newest.training_hash == digest and not force:
            out.append({"lang": code, "status": "unchanged", "version": newest.version})
            continue
        try:
            trained = fit([t for _, t, _ in rows], [lab for _, _, lab in rows])
        except UserError as exc:
            out.append({"lang": code, "status": f"not trained: {exc}"})
            continue
        figures = dict(trained.figures)
        baseline = None
        beats_baseline = True
        if code == "en":
            truth = [lab for _, _, lab in rows]
            vader_guess = [sentiment.label(sentiment.score(t, "en")) or "neutral" for _, t, _ in rows]
            baseline = _f1s(truth, vader_guess)[0]
            lower = _bootstrap_lower(truth, trained.predictions, vader_guess)
            beats_baseline = lower > 0
            figures["vader_macro_f1"] = round(baseline, 4)
            figures["beats_vader_lower_bound"] = round(lower, 4)
        passes = trained.macro_f1 >= conf.min_macro_f1 and len(rows) >= conf.min_labels
        trusted = passes and beats_baseline
        figures["floor"] = {"min_macro_f1": conf.min_macro_f1, "min_labels": conf.min_labels}
        figures["labels_needed"] = None if passes else labels_needed(figures["curve"], len(rows), conf)
        figures["training_seconds"] = round(trained.seconds, 3)
        with store.write() as session:
            version = (
                session.scalar(select(func.max(SentimentModel.version)).where(SentimentModel.lang == code))
                or 0
            ) + 1
            session.execute(update(SentimentModel).where(SentimentModel.lang == code).values(adopted=False))
            model = SentimentModel(
                lang=code,
                version=version,
                trained_at=now or datetime.now(UTC),
                training_hash=digest,
                labels=len(rows),
                macro_f1=trained.macro_f1,
                baseline_f1=baseline,
                figures=figures,
                weights=pack(trained.weights),
                adopted=trusted,
            )
            session.add(model)
        rescored = rescore(store, code, progress=progress)
        out.append(
            {
                "lang": code,
                "status": "adopted" if trusted else "not trusted",
                "version": version,
                "labels": len(rows),
                "macro_f1": round(trained.macro_f1, 4),
                "scorer": scorer_for(code, model if trusted else None),
                "rescored": rescored,
            }
        )
    return out


def scorer_for(lang: str, model: SentimentModel | None) -> str | None:
    """The scorer of a language's mentions: its adopted model, else VADER for English, else none."""
    if model is not None:
        return scorer_name(model)
    return VADER if lang == "en" else None


def _of_language(lang: str) -> Any:
    lower = func.lower(Mention.lang)
    return or_(lower == lang, lower.like(f"{lang}-%"), lower.like(f"{lang}\\_%", escape="\\"))


def _stale(lang: str, target: str | None) -> Any:
    """The mentions of `lang` not (yet) scored by `target`, the language's scorer."""
    if target is None:  # unscored: anything still carrying a score
        return _of_language(lang) & Mention.sentiment.is_not(None)
    if target == VADER:  # back from a model (a score without a scorer is VADER's already)
        return _of_language(lang) & Mention.sentiment_scorer.like("model:%")
    return _of_language(lang) & Mention.sentiment_scorer.is_distinct_from(target)


def rescore(store: Store, lang: str, *, progress: ProgressFn | None = None) -> int:
    """Score every mention of `lang` not yet scored by the language's current scorer.

    Runs in batches (each its own transaction), so it can run beside collection and
    resumes where it stopped; `progress(done, total)` after each batch.
    """
    with store.read() as session:
        model_row = adopted(session, lang)
        target = scorer_for(lang, model_row)
        model = Model(unpack(model_row.weights)) if model_row is not None else None
        ids = list(session.scalars(select(Mention.id).where(_stale(lang, target)).order_by(Mention.id)).all())
    done = 0
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        with store.write() as session:
            texts = session.execute(select(Mention.id, Mention.text).where(Mention.id.in_(chunk))).all()
            values: list[tuple[int, float | None, str | None, str | None]]
            if model is not None:
                scored = model.score([t for _, t in texts])
                values = [
                    (mid, round(v, 4), lab, target)
                    for (mid, _), (v, lab, _) in zip(texts, scored, strict=True)
                ]
            elif target == VADER:
                values = []
                for mid, t in texts:
                    s = sentiment.score(t, "en")
                    values.append((mid, s, sentiment.label(s), VADER if s is not None else None))
            else:
                values = [(mid, None, None, None) for mid, _ in texts]
            change = aggregates.Change(session)  # new scores move the daily aggregates too
            change.before(chunk)
            for mid, value, lab, scorer in values:
                session.execute(
                    update(Mention)
                    .where(Mention.id == mid)
                    .values(sentiment=value, sentiment_label=lab, sentiment_scorer=scorer)
                )
            change.after()
        done += len(chunk)
        if progress is not None:
            progress(done, len(ids))
    return done


# -- status, queue, upkeep ----------------------------------------------------------------------


class ModelFigures(TypedDict):
    """A language's newest model as `label status` shows it."""

    version: int
    trained_at: str
    training_hash: str
    labels: int
    macro_f1: float
    per_class_f1: dict[str, float]
    vader_macro_f1: float | None
    adopted: bool
    labels_needed: int | None
    curve: list[Any]
    new_labels_since: int


class LanguageStatus(TypedDict):
    lang: str
    labels: dict[str, int]
    sentiment_labels: int
    mentions: int
    share_of_mentions: float
    scorer: str | None
    rescore_pending: int
    model: ModelFigures | None


class AdoptionFloor(TypedDict):
    min_macro_f1: float
    min_labels: int


class LabelStatus(TypedDict):
    """`tracker label status --json` and the web's labels page: per language, labels, the newest
    model's figures, the scorer in use and its reach."""

    floor: AdoptionFloor
    mentions: int
    languages: list[LanguageStatus]


def status(store: Store, settings: Settings) -> LabelStatus:
    """Per language: labels, the newest model's figures, the scorer in use and its reach."""
    conf = settings.sentiment
    with store.read() as session:
        total = session.scalar(select(func.count(Mention.id))) or 0
        by_lang: Counter[str] = Counter()
        for lang, n in session.execute(
            select(Mention.lang, func.count(Mention.id)).group_by(Mention.lang)
        ).all():
            code = primary(lang)
            if code:
                by_lang[code] += int(n)
        label_counts: dict[str, Counter[str]] = {}
        for lang, lab, n in session.execute(
            select(Label.lang, Label.label, func.count(Label.id)).group_by(Label.lang, Label.label)
        ).all():
            label_counts.setdefault(lang, Counter())[lab] = int(n)
        langs = sorted(set(label_counts) | ({"en"} if by_lang.get("en") else set()))
        out: list[LanguageStatus] = []
        for code in langs:
            newest = latest(session, code)
            using = adopted(session, code)
            counts = label_counts.get(code, Counter())
            sentiment_labels = sum(counts[c] for c in CLASSES)
            item: LanguageStatus = {
                "lang": code,
                "labels": {c: counts[c] for c in LABELS},
                "sentiment_labels": sentiment_labels,
                "mentions": by_lang.get(code, 0),
                "share_of_mentions": round(by_lang.get(code, 0) / total, 4) if total else 0.0,
                "scorer": scorer_for(code, using),
                # Mentions still waiting to be re-scored by that scorer (`tracker run` or
                # `tracker label train` works through them in batches): the re-scoring's progress.
                "rescore_pending": session.scalar(
                    select(func.count(Mention.id)).where(_stale(code, scorer_for(code, using)))
                )
                or 0,
                "model": None,
            }
            if newest is not None:
                figures = newest.figures
                item["model"] = {
                    "version": newest.version,
                    "trained_at": newest.trained_at.isoformat(),
                    "training_hash": newest.training_hash,
                    "labels": newest.labels,
                    "macro_f1": round(newest.macro_f1, 4),
                    "per_class_f1": figures.get("per_class_f1", {}),
                    "vader_macro_f1": figures.get("vader_macro_f1"),
                    "adopted": newest.adopted,
                    "labels_needed": figures.get("labels_needed"),
                    "curve": figures.get("curve", []),
                    "new_labels_since": max(0, sentiment_labels - newest.labels),
                }
            out.append(item)
    return {
        "floor": {"min_macro_f1": conf.min_macro_f1, "min_labels": conf.min_labels},
        "mentions": total,
        "languages": out,
    }


def queue(store: Store, lang: str, n: int = 20) -> list[dict[str, Any]]:
    """The `n` unlabelled mentions of `lang` the newest model is least sure of (newest first without one)."""
    with store.read() as session:
        labelled = select(Label.mention_id).where(Label.mention_id.is_not(None))
        rows = session.execute(
            select(Mention.id, Mention.external_id, Mention.text, Mention.created_at)
            .where(_of_language(lang), Mention.id.not_in(labelled), Mention.deleted_at.is_(None))
            .order_by(Mention.created_at.desc())
            .limit(5_000)
        ).all()
        newest = latest(session, lang)
        model = Model(unpack(newest.weights)) if newest is not None else None
    chosen: list[tuple[Any, float | None]]
    if model is None:
        chosen = [(r, None) for r in rows[:n]]
    else:
        scored = model.score([r[2] for r in rows])
        ranked = sorted(zip(rows, scored, strict=True), key=lambda pair: pair[1][2])
        chosen = [(r, s[2]) for r, s in ranked[:n]]
    return [
        {"id": r[0], "external_id": r[1], "text": r[2], "confidence": None if c is None else round(c, 4)}
        for r, c in chosen
    ]


def maintain(store: Store, settings: Settings, *, now: datetime | None = None) -> list[dict[str, Any]]:
    """What `tracker run` does: retrain a language when enough new labels arrived, then catch up scores."""
    conf = settings.sentiment
    out = []
    with store.read() as session:
        langs = languages(session)
        due = []
        for code in langs:
            n = len(_training_set(session, code))
            newest = latest(session, code)
            changed = n - (newest.labels if newest else 0)
            if (newest is None and n >= conf.min_labels) or (
                newest is not None and changed >= conf.retrain_after
            ):
                due.append(code)
    for code in due:
        out.extend(train(store, settings, lang=code, now=now))
    for code in langs:
        if code not in due:
            rescore(store, code)  # mentions collected since: scored by the language's scorer
    return out


def scorers_between(
    session: Session, stream_ids: Sequence[int], first: date, last: date, zone: Any
) -> list[str]:
    """The scorers behind the sentiment of the streams' mentions of first..last (local days).

    A score without a recorded scorer is VADER's (written before scorers were recorded, or
    by ingest, which scores English only). `sentiment` and `positive_share` results carry
    these for each window: windows scored alike list the same scorers.
    """
    from tracker import aggregates
    from tracker.metrics import _linked
    from tracker.timeutil import day_start

    if last < first or not stream_ids:
        return []
    if aggregates.usable(session, zone):  # the daily aggregates keep the scored mentions per scorer
        return aggregates.scorers(session, stream_ids, first, last)
    linked = _linked(stream_ids, day_start(first, zone), day_start(last + timedelta(days=1), zone))
    found = session.scalars(
        select(func.coalesce(Mention.sentiment_scorer, VADER))
        .select_from(linked)
        .join(Mention, Mention.id == linked.c.mention_id)
        .where(Mention.sentiment.is_not(None))
        .distinct()
    ).all()
    return sorted(str(s) for s in found)
