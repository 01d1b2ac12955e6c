"""`tracker label import|export|train|status|queue|add`: the team's sentiment labels and models.

Registered by tracker/cli.py; the work is in tracker/labels.py.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tracker.cli import ConfigOpt, JsonOpt, app, fail, print_json, settings_for, store_for

if TYPE_CHECKING:
    from tracker.label_filters import FilterSuggestion

label_app = typer.Typer(
    help="Sentiment labels and each language's own model, measured before it is trusted.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(label_app, name="label")


def _lang(value: str) -> str:
    """--lang as the primary subtag, or one line of error."""
    from tracker.labels import LANG, primary

    code = primary(value) if LANG.fullmatch(value.strip()) else None
    if code is None:
        fail(f"--lang must be a language code such as de or de-AT, got {value[:40]!r}")
    return code


@label_app.command("import")
def label_import(
    file: Annotated[Path, typer.Argument(help="CSV (header: external_id or text, label, lang) or JSONL.")],
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Import labels: positive, neutral, negative or irrelevant, per external_id or text."""
    from tracker.labels import import_labels

    with store_for(settings_for(config)) as store:
        counts = import_labels(store, file)
    if as_json:
        print_json(counts)
    else:
        typer.echo(
            f"labels: {counts['added']} added, {counts['changed']} changed, {counts['unchanged']} unchanged"
        )


@label_app.command("export")
def label_export(
    fmt: Annotated[str, typer.Option("--format", help="jsonl or csv.")] = "jsonl",
    config: ConfigOpt = None,
) -> None:
    """Print every label (JSONL by default), ready for `tracker label import`."""
    from tracker.labels import export_labels

    if fmt not in ("jsonl", "csv"):
        fail("--format must be jsonl or csv")
    with store_for(settings_for(config)) as store:
        rows = export_labels(store)
    if fmt == "jsonl":
        for row in rows:
            sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
        return
    writer = csv.DictWriter(
        sys.stdout, fieldnames=["external_id", "text", "label", "lang", "source", "created_at"]
    )
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _safe_cell(v) for k, v in row.items()})


def _safe_cell(value: Any) -> Any:
    """A cell a spreadsheet will not run as a formula."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


@label_app.command("add")
def label_add(
    mention: Annotated[int, typer.Argument(help="The mention's id (as shown by the web and exports).")],
    label: Annotated[str, typer.Argument(help="positive, neutral, negative or irrelevant.")],
    config: ConfigOpt = None,
) -> None:
    """Label one mention."""
    from tracker.labels import label_mention

    with store_for(settings_for(config)) as store:
        result = label_mention(store, mention, label.strip().lower(), source="cli")
    typer.echo(f"mention {mention}: {label} ({result})")


@label_app.command("train")
def label_train(
    lang: Annotated[str | None, typer.Option("--lang", help="Only this language (e.g. de).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Train even when the labels are unchanged.")] = False,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Train each language's model, measure it, adopt it only above the floor, re-score its mentions."""
    from tracker.labels import train

    settings = settings_for(config)
    store = store_for(settings)

    def progress(done: int, total: int) -> None:
        if not as_json:
            typer.echo(f"  re-scored {done}/{total}", err=True)

    with store:
        code = _lang(lang) if lang is not None else None
        found = train(store, settings, lang=code, force=force, progress=progress)
    if as_json:
        print_json({"languages": found})
        return
    if not found:
        typer.echo("no labels yet: `tracker label import FILE` or label mentions on the web")
    for item in found:
        line = f"{item['lang']}: {item['status']}"
        if "macro_f1" in item:
            line += (
                f" (version {item['version']}, {item['labels']} labels, macro-F1 {item['macro_f1']:.2f};"
                f" scored by {item['scorer'] or 'nothing'}, {item['rescored']} mentions re-scored)"
            )
        typer.echo(line)


@label_app.command("status")
def label_status(as_json: JsonOpt = False, config: ConfigOpt = None) -> None:
    """Each language's labels, its model's cross-validated figures, and which scorer is used."""
    from tracker.labels import status

    settings = settings_for(config)
    with store_for(settings) as store:
        found = status(store, settings)
    if as_json:
        print_json(found)
        return
    floor = found["floor"]
    typer.echo(f"floor: macro-F1 >= {floor['min_macro_f1']:.2f} with >= {floor['min_labels']} labels")
    for item in found["languages"]:
        counts = ", ".join(f"{n} {name}" for name, n in item["labels"].items())
        typer.echo(
            f"{item['lang']}: {item['mentions']} mentions ({item['share_of_mentions']:.1%}); labels: {counts}"
        )
        typer.echo(f"  scored by: {item['scorer'] or 'nothing (unscored)'}")
        if item["rescore_pending"]:
            pending, total = item["rescore_pending"], item["mentions"]
            typer.echo(f"  re-scoring: {pending:,} of {total:,} mentions still to do")
        model = item["model"]
        if model is None:
            typer.echo("  no model yet")
            continue
        per = ", ".join(f"{c} {v:.2f}" for c, v in model["per_class_f1"].items())
        typer.echo(
            f"  model {model['version']}: macro-F1 {model['macro_f1']:.2f} ({per}), "
            f"{model['labels']} labels, {'adopted' if model['adopted'] else 'not adopted'}"
        )
        if model["vader_macro_f1"] is not None:
            typer.echo(f"  VADER on the same labels: macro-F1 {model['vader_macro_f1']:.2f}")
        if not model["adopted"]:
            need = model["labels_needed"]
            typer.echo(
                "  more labels needed: "
                + (f"about {need}" if need is not None else "unknown (the learning curve does not rise)")
            )


@label_app.command("queue")
def label_queue(
    lang: Annotated[str, typer.Option("--lang", help="The language to label (e.g. de).")],
    count: Annotated[int, typer.Option("--count", help="How many.", min=1, max=500)] = 20,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """The unlabelled mentions the current model is least sure about ("label 20 more")."""
    from tracker.labels import queue

    code = _lang(lang)
    with store_for(settings_for(config)) as store:
        found = queue(store, code, count)
    if as_json:
        print_json({"lang": code, "mentions": found})
        return
    if not found:
        typer.echo(f"nothing left to label in {code}: all its stored mentions are labelled, or none is")
    for item in found:
        sure = "" if item["confidence"] is None else f" (model {item['confidence']:.0%} sure)"
        typer.echo(f"{item['id']}{sure}: {item['text'][:120]}")


@label_app.command("exclusions")
def label_exclusions(
    stream: Annotated[str | None, typer.Option("--stream", help="Only this stream.")] = None,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """What "irrelevant" labels teach each stream's filter: exclusion terms, measured (config untouched)."""
    from tracker.label_filters import streams_with_irrelevant, suggest

    settings = settings_for(config)
    with store_for(settings) as store:
        if stream is not None:
            known = {s.name for s in settings.streams} | {name for name, _ in streams_with_irrelevant(store)}
            if stream not in known:
                fail(f"--stream: unknown stream {stream!r}")
            names = [stream]
        else:
            names = [name for name, _ in streams_with_irrelevant(store)]
        found = [suggest(store, settings, name) for name in names]
    if as_json:
        print_json({"streams": found})
        return
    if not found:
        typer.echo("no mention of any stream is labelled irrelevant yet")
    for item in found:
        typer.echo(exclusion_text(item))


def exclusion_text(item: FilterSuggestion) -> str:
    """A stream's proposal in words (the CLI's; the web shows the same figures)."""
    lines = [
        f"{item['stream']}: {item['irrelevant_labels']} irrelevant and "
        f"{item['relevant_labels']} relevant labels of its mentions"
    ]
    if item["needs"]:
        lines.append(f"  no exclusions proposed yet: needs {item['needs']}")
        return "\n".join(lines)
    if not item["terms"]:
        lines.append(f"  no exclusions proposed: {item['why_none']}")
        return "\n".join(lines)
    m, h = item["measured"], item["held_out"]
    assert m is not None and h is not None  # terms are proposed only after both were measured
    lines += [
        "  proposed exclusions: " + ", ".join(item["terms"]),
        f"  on these labels: removes {m['irrelevant_removed']} of {m['irrelevant']} irrelevant, "
        f"drops {m['relevant_dropped']} of {m['relevant']} relevant",
        "  held out (terms chosen without the mentions they are tried on): "
        f"removes {h['irrelevant_removed']} of {h['irrelevant']} irrelevant, "
        f"drops {h['relevant_dropped']} of {h['relevant']} relevant",
        f"  of the stream's {'' if item['stored_all'] else 'newest '}{item['stored_checked']:,} "
        "stored mentions it would have dropped "
        f"{item['stored_removed']:,}",
    ]
    if item["configured"]:
        where = (
            "replace the stream's exclude line in the config with"
            if item["present_exclude"]
            else "put this line under the stream's [[streams]] in the config"
        )
        lines += [f"  to adopt it, {where} (the config is not changed for you):", f"    {item['line']}"]
    else:
        lines.append("  the stream is not in the config (imported only): there is no filter to teach")
    return "\n".join(lines)
