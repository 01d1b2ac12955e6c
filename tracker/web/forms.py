"""Experiment fields from a web form or a JSON body, checked exactly as `experiment add` checks them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from tracker.config import Settings
from tracker.experiments import ExperimentInput, ValidationError, known_searches, parse_day, validate
from tracker.maturity import Model
from tracker.store.db import Store
from tracker.web.queries import stream_names

DAY_FIELDS = ("start", "end", "baseline_start", "baseline_end")
FIELD_NAMES = tuple(f.name for f in fields(ExperimentInput))


def experiment_input(values: Mapping[str, Any]) -> tuple[ExperimentInput, list[tuple[str, str]]]:
    """Raw values (strings from a form, or JSON values) -> input and the problems of parsing them.

    Empty strings mean "not given", as an option left out of the command line does.
    """
    problems: list[tuple[str, str]] = []
    given: dict[str, Any] = {}
    for name in FIELD_NAMES:
        value = values.get(name)
        if isinstance(value, str):
            value = value.strip()
        if value is None or value == "" or value == []:
            continue
        if name in DAY_FIELDS:
            given[name] = parse_day(str(value), name, problems)
        elif name == "min_effect":
            given[name] = _number(value, problems)
        elif name in ("streams", "control_streams"):
            names = [value] if isinstance(value, str) else list(value)
            given[name] = [n.strip() for n in names if isinstance(n, str) and n.strip()]
        elif name == "competitors":  # a list (API) or "a, b" (the form's text field)
            names = value.split(",") if isinstance(value, str) else list(value)
            given[name] = [n.strip() for n in names if isinstance(n, str) and n.strip()]
        else:
            given[name] = value
    return ExperimentInput(**{k: v for k, v in given.items() if v is not None}), problems


def _number(value: Any, problems: list[tuple[str, str]]) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        problems.append(("min_effect", f"expected a number like 0.05, got {value!r}"))
        return None


def check(data: ExperimentInput, parse_problems: list[tuple[str, str]], *, store: Store,
          settings: Settings, model: Model) -> None:  # fmt: skip
    """Raise ValidationError with every problem at once: those of parsing, then the registry's
    rules for the fields that parsed (so one form submission shows everything to fix)."""
    if not parse_problems:
        return
    with store.read() as session:
        known = set(stream_names(session)) | {s.name for s in settings.streams}
        searches = known_searches(session)
    named = {name for name, _ in parse_problems}
    found = validate(data, model=model, streams=known, searches=searches)
    rest = [(n, m) for n, m in found if n not in named]
    raise ValidationError(parse_problems + rest)


def problems_by_field(problems: list[tuple[str, str]]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for name, message in problems:
        found.setdefault(name, []).append(message)
    return found
