"""Sentiment taught by the team (issue 23): labels in and out, a model per language measured by
cross-validation before it is trusted, scorers recorded and history re-scored.

The corpus is tracker.label_corpus: a known signal in German and French (a model must beat
the floor) and pure noise (it must not, and the language stays unscored). Sockets to
anything but loopback are refused for every test here: training never touches the network.
"""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import write_config
from tracker import labels
from tracker.config import load_settings
from tracker.label_corpus import generate
from tracker.store.db import open_store, upgrade
from tracker.store.models import Mention, SentimentModel

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    real = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else address
        if (
            isinstance(host, str)
            and host not in ("127.0.0.1", "::1", "localhost")
            and self.family != socket.AF_UNIX
        ):
            raise OSError(f"test refused a connection to {host}")
        return real(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)


@pytest.fixture
def workspace(tmp_path: Path) -> Any:
    path = write_config(tmp_path, db_url=f"sqlite:///{tmp_path / 'tracker.db'}")
    settings = load_settings(path)
    store = open_store(settings.database_url)
    upgrade(store)
    yield path, settings, store
    store.close()


def _mentions(store: Any, rows: list[dict[str, str]], prefix: str) -> None:
    with store.write() as session:
        for i, row in enumerate(rows):
            session.add(
                Mention(
                    platform="mastodon",
                    external_id=f"{prefix}{i}",
                    text=row["text"],
                    lang=row["lang"],
                    created_at=NOW - timedelta(minutes=i),
                    first_seen_at=NOW,
                    updated_at=NOW,
                )
            )


def _write_jsonl(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


# -- import / export ----------------------------------------------------------------------------


def test_import_csv_and_jsonl_then_export(workspace: Any, tmp_path: Path, cli: Any) -> None:
    path, _, store = workspace
    _mentions(store, [{"text": "Die App ist super", "lang": "de"}], "m")
    csv_file = tmp_path / "l.csv"
    csv_file.write_text(
        "external_id,text,label,lang\nm0,,positive,\n,Das ist schlecht,negative,de\n", encoding="utf-8"
    )
    got = cli("label", "import", csv_file, "--config", path)
    assert got.code == 0, got.err
    assert "2 added" in got.out
    jsonl = _write_jsonl(
        tmp_path / "l.jsonl", [{"text": "Das ist schlecht", "label": "neutral", "lang": "de"}]
    )
    assert "1 changed" in cli("label", "import", jsonl, "--config", path).out
    out = cli("label", "export", "--config", path).out.splitlines()
    exported = [json.loads(line) for line in out]
    assert [(r["label"], r["lang"]) for r in exported] == [("positive", "de"), ("neutral", "de")]
    assert exported[0]["external_id"] == "m0" and exported[0]["text"] == "Die App ist super"
    assert "external_id,text,label" in cli("label", "export", "--format", "csv", "--config", path).out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("text,label,lang\nhallo,great,de\n", "line 3: label must be one of"),
        ("text,label,lang\n,positive,de\n", "line 3: needs a text or the external_id"),
        ("external_id,label\nnope,positive\n", "no mention with external_id 'nope'"),
        ("foo,bar\n1,2\n", "needs a header with label"),
    ],
)
def test_bad_import_is_one_line_and_imports_nothing(
    workspace: Any, tmp_path: Path, cli: Any, content: str, message: str
) -> None:
    path, _, store = workspace
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "text,label,lang\nfine text here,positive,de\n" + content.split("\n", 1)[1]
        if content.startswith("text,label,lang")
        else content,
        encoding="utf-8",
    )
    got = cli("label", "import", bad, "--config", path)
    assert got.code == 2
    assert message in got.err and len(got.err.strip().splitlines()) == 1 and "Traceback" not in got.err
    assert labels.export_labels(store) == []


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("a.jsonl", '{"text": ["x"], "label": "positive", "lang": "de"}\n', "line 1: text: expected text, got a list"),
        ("b.jsonl", '{"text": "gut", "label": 5, "lang": "de"}\n', "line 1: label: expected text, got a number"),
        ("c.jsonl", '{"text": "gut", "label": "positive", "lang": 7}\n', "lang: expected text, got a number"),
        ("d.jsonl", '{"text": "a\\u0000b", "label": "positive", "lang": "de"}\n', "text contains a NUL"),
        ("e.jsonl", '{"text": "gut", "label": "positive", "lang": "!!"}\n', "lang must be a language code"),
        ("f.jsonl", "[1, 2]\n", "line 1 is not a JSON object"),
        ("g.csv", "text,label,lang\nok,positive,de,extra\n", "line 2: 4 cells, the header has 3"),
        ("h.csv", "text,label,lang\nok,Sehr gut,de\n", "line 2: label must be one of"),
    ],
)
def test_hostile_label_files_are_one_line_each(
    workspace: Any, tmp_path: Path, cli: Any, name: str, content: str, message: str
) -> None:
    path, _, store = workspace
    bad = tmp_path / name
    bad.write_text(content, encoding="utf-8")
    got = cli("label", "import", bad, "--config", path)
    assert got.code == 2, got.out
    assert message in got.err and len(got.err.strip().splitlines()) == 1 and "Traceback" not in got.err
    assert labels.export_labels(store) == []


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_a_50_mb_line_is_refused_without_being_held(workspace: Any, tmp_path: Path, cli: Any, suffix: str) -> None:
    path, _, store = workspace
    big = tmp_path / f"big{suffix}"
    with big.open("w", encoding="utf-8") as handle:
        handle.write("text,label,lang\n\"" if suffix == ".csv" else '{"text": "')
        for _ in range(50):
            handle.write("gut " * 250_000)  # 1 MB at a time: 50 MB on one line
        handle.write('",positive,de\n' if suffix == ".csv" else '", "label": "positive", "lang": "de"}\n')
    got = cli("label", "import", big, "--config", path)
    assert got.code == 2
    assert ("line 1 is longer than" in got.err) if suffix == ".jsonl" else ("line 2: not valid CSV" in got.err)
    assert "Traceback" not in got.err and labels.export_labels(store) == []


def test_label_options_refuse_what_is_not_a_language(workspace: Any, cli: Any) -> None:
    path, _, _ = workspace
    for args in (("queue", "--lang", ""), ("queue", "--lang", "!!"), ("train", "--lang", "12")):
        got = cli("label", *args, "--config", path)
        assert got.code == 2 and "--lang must be a language code" in got.err, args
    empty = cli("label", "queue", "--lang", "de-AT", "--config", path)
    assert empty.code == 0 and "nothing left to label in de" in empty.out


# -- the model, measured ------------------------------------------------------------------------


def test_stored_model_predicts_what_the_fitted_one_does() -> None:
    rows = generate("de", 240, seed=3)
    trained = labels.fit([r["text"] for r in rows], [r["label"] for r in rows], curve=False)
    blob = labels.pack(trained.weights)
    assert b"sklearn" not in blob  # JSON weights, not a pickle
    model = labels.Model(labels.unpack(blob))
    fitted = labels._pipeline().fit([r["text"] for r in rows], [r["label"] for r in rows])
    probe = [r["text"] for r in generate("de", 30, seed=9)]
    assert [s[1] for s in model.score(probe)] == [str(p) for p in fitted.predict(probe)]
    assert model.proba(probe) == pytest.approx(fitted.predict_proba(probe), abs=1e-9)


@pytest.mark.slow
def test_signal_in_two_languages_beats_the_floor_and_is_adopted(
    workspace: Any, tmp_path: Path, cli: Any
) -> None:
    path, settings, store = workspace
    rows = generate("de", 360, seed=1) + generate("fr", 360, seed=1)
    _write_jsonl(tmp_path / "train.jsonl", rows)
    held = generate("de", 90, seed=2)
    _mentions(store, held, "de")
    assert cli("label", "import", tmp_path / "train.jsonl", "--config", path).code == 0
    got = cli("label", "train", "--json", "--config", path)
    assert got.code == 0, got.err
    result = {r["lang"]: r for r in json.loads(got.out)["languages"]}
    for lang in ("de", "fr"):
        assert result[lang]["status"] == "adopted"
        assert result[lang]["macro_f1"] >= settings.sentiment.min_macro_f1
    assert result["de"]["rescored"] == 90
    status = json.loads(cli("label", "status", "--json", "--config", path).out)
    de = next(item for item in status["languages"] if item["lang"] == "de")
    assert de["scorer"] == "model:de:1" and de["model"]["adopted"]
    assert set(de["model"]["per_class_f1"]) == {"positive", "neutral", "negative"}
    assert de["share_of_mentions"] == 1.0 and len(de["model"]["curve"]) == 3
    with store.read() as session:
        scored = session.execute(
            select(Mention.external_id, Mention.sentiment_label, Mention.sentiment_scorer)
        ).all()
    assert {s for _, _, s in scored} == {"model:de:1"}
    # the stored model labels held-out mentions well (known truth: the generator's labels)
    truth = {f"de{i}": r["label"] for i, r in enumerate(held)}
    right = sum(lab == truth[ext] for ext, lab, _ in scored)
    assert right / len(held) > 0.6
    # unchanged labels: nothing retrained
    again = json.loads(cli("label", "train", "--json", "--config", path).out)["languages"]
    assert {r["status"] for r in again} == {"unchanged"}


@pytest.mark.slow
def test_noise_does_not_beat_the_floor_and_stays_unscored(workspace: Any, tmp_path: Path, cli: Any) -> None:
    path, settings, store = workspace
    rows = generate("de", 450, seed=4, signal=False)
    _write_jsonl(tmp_path / "noise.jsonl", rows)
    _mentions(store, generate("de", 20, seed=5), "n")
    with store.write() as session:  # a stale score that must go
        session.execute(Mention.__table__.update().values(sentiment=0.5, sentiment_label="positive"))
    cli("label", "import", tmp_path / "noise.jsonl", "--config", path)
    result = json.loads(cli("label", "train", "--json", "--config", path).out)["languages"][0]
    assert result["status"] == "not trusted" and result["scorer"] is None
    assert result["macro_f1"] < settings.sentiment.min_macro_f1
    with store.read() as session:
        assert set(session.scalars(select(Mention.sentiment)).all()) == {None}
        assert session.scalar(select(SentimentModel.adopted)) is False
    text = cli("label", "status", "--config", path).out
    assert "scored by: nothing (unscored)" in text and "more labels needed" in text


@pytest.mark.slow
def test_too_few_labels_stay_unscored_with_an_estimate(workspace: Any, tmp_path: Path, cli: Any) -> None:
    path, _, _ = workspace
    _write_jsonl(tmp_path / "few.jsonl", generate("fr", 120, seed=6))
    cli("label", "import", tmp_path / "few.jsonl", "--config", path)
    result = json.loads(cli("label", "train", "--json", "--config", path).out)["languages"][0]
    assert result["status"] == "not trusted"
    status = json.loads(cli("label", "status", "--json", "--config", path).out)
    need = status["languages"][0]["model"]["labels_needed"]
    assert need is not None and need >= 300 - 120


def test_floor_is_configurable(tmp_path: Path, cli: Any) -> None:
    path = write_config(
        tmp_path,
        db_url=f"sqlite:///{tmp_path / 'x.db'}",
        extra="[sentiment]\nmin_macro_f1 = 0.99\nmin_labels = 100\n",
    )
    settings = load_settings(path)
    assert (settings.sentiment.min_macro_f1, settings.sentiment.min_labels) == (0.99, 100)
    bad = write_config(tmp_path, extra="[sentiment]\nmin_macro_f1 = 3\n")
    got = cli("status", "--config", bad)
    assert got.code == 2 and "sentiment.min_macro_f1" in got.err


@pytest.mark.slow
def test_english_keeps_vader_unless_the_model_measurably_beats_it(workspace: Any) -> None:
    _, settings, store = workspace
    # English texts VADER reads correctly (clear lexicon words): a model cannot beat it measurably
    words = {"positive": "good great love", "negative": "bad awful hate", "neutral": "the a of"}
    rows = [
        {"text": f"{words[c]} item {i}", "label": c, "lang": "en"}
        for i in range(330)
        for c in [("positive", "negative", "neutral")[i % 3]]
    ]
    _mentions(store, rows[:10], "e")
    with store.write() as session:
        for r in rows:
            labels._put(session, None, None, r["text"], "en", r["label"], source="import", now=NOW)
    result = labels.train(store, settings)[0]
    assert result["scorer"] == "vader" and result["status"] == "not trusted"
    with store.read() as session:
        model = session.scalar(select(SentimentModel))
        assert model is not None and model.figures["vader_macro_f1"] > 0.9


@pytest.mark.slow
def test_queue_picks_the_least_certain_unlabelled(workspace: Any, tmp_path: Path, cli: Any) -> None:
    path, _, store = workspace
    _write_jsonl(tmp_path / "t.jsonl", generate("de", 300, seed=7))
    cli("label", "import", tmp_path / "t.jsonl", "--config", path)
    cli("label", "train", "--config", path)
    _mentions(store, generate("de", 60, seed=8), "q")
    got = json.loads(cli("label", "queue", "--lang", "de", "--json", "--config", path).out)["mentions"]
    assert len(got) == 20
    sure = [m["confidence"] for m in got]
    assert sure == sorted(sure)
    everyone = labels.queue(store, "de", 60)
    assert len(everyone) == 60 and max(sure) <= min(m["confidence"] for m in everyone[20:])


@pytest.mark.slow
def test_maintain_retrains_after_enough_new_labels(workspace: Any) -> None:
    _, settings, store = workspace
    with store.write() as session:
        for r in generate("de", 330, seed=10):
            labels._put(session, None, None, r["text"], "de", r["label"], source="import", now=NOW)
    first = labels.maintain(store, settings)
    assert [r["version"] for r in first] == [1]
    assert labels.maintain(store, settings) == []  # nothing new
    with store.write() as session:
        for r in generate("de", 60, seed=11):
            labels._put(session, None, None, r["text"] + " neu", "de", r["label"], source="web", now=NOW)
    assert [r["version"] for r in labels.maintain(store, settings)] == [2]


@pytest.mark.slow  # a long test (TLS handshakes, a simulation, a model fit): the slow tier
def test_adopting_a_model_rescores_history_and_results_name_one_scorer(tmp_path: Path) -> None:
    from tests.web.support import build
    from tracker.experiments import measure
    from tracker.store.models import Experiment

    world = build(tmp_path, f"sqlite:///{tmp_path / 'tracker.db'}")
    store, settings = world.store, world.settings
    with store.read() as session:
        exp_id = session.scalar(select(Experiment.id).where(Experiment.metric == "sentiment"))
    before = measure(store, settings, [exp_id])[0]
    assert before["scorers"] == {"baseline": ["vader"], "treatment": ["vader"]}
    # an English model the team adopted (weights from the generated corpus; what matters is the scorer)
    rows = generate("de", 150, seed=12)
    trained = labels.fit([r["text"] for r in rows], [r["label"] for r in rows], curve=False)
    with store.write() as session:
        session.add(SentimentModel(lang="en", version=1, trained_at=NOW, training_hash="x", labels=150, macro_f1=0.9,
                                   figures={}, weights=labels.pack(trained.weights), adopted=True))
    english = next(i for i in labels.status(store, settings)["languages"] if i["lang"] == "en")
    assert english["scorer"] == "model:en:1" and english["rescore_pending"] == english["mentions"] > 0
    steps: list[tuple[int, int]] = []
    done = labels.rescore(store, "en", progress=lambda a, b: steps.append((a, b)))
    assert done > 0 and steps[-1] == (done, done)
    after_status = labels.status(store, settings)["languages"]
    assert next(i for i in after_status if i["lang"] == "en")["rescore_pending"] == 0, "progress: all done"
    after = measure(store, settings, [exp_id])[0]
    assert after["scorers"] == {"baseline": ["model:en:1"], "treatment": ["model:en:1"]}
    # dropping it goes back to VADER for English, again for the whole history
    with store.write() as session:
        session.execute(SentimentModel.__table__.update().values(adopted=False))
    labels.rescore(store, "en")
    assert measure(store, settings, [exp_id])[0]["scorers"] == {"baseline": ["vader"], "treatment": ["vader"]}
    store.close()
