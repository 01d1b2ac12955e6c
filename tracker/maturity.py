"""The social maturity model: stages with requirements, and the practices teams can try.

The shipped default is `config/maturity.toml`; `[maturity] model` points at another
file. A model is validated as a whole, like the configuration: an unknown
requirement key, an `adopted` key that is not a practice, duplicate stage numbers
or a practice in an unknown dimension are each reported, naming where they are.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast, get_args

from tracker.config import SLUG, Settings
from tracker.errors import ConfigError, UserError
from tracker.starter import defaults_dir

DIMENSIONS = ("people", "objectives", "strategy", "technology")
CountKey = Literal["experiments", "concluded", "owners", "teams", "platforms", "digest_weeks"]
COUNT_KEYS: tuple[CountKey, ...] = get_args(CountKey)
REQUIREMENT_KEYS = (*COUNT_KEYS, "measured_share", "adopted", "adopted_per_dimension")


@dataclass(frozen=True)
class AtLeast:
    """`experiments = N` and the other counts: at least `needed` of them."""

    key: CountKey
    needed: int


@dataclass(frozen=True)
class MeasuredShare:
    """`measured_share = 0.8`: the share of ended experiments with a usable measured verdict."""

    needed: float  # as the model gives it (an int stays an int in `reflect --json`)
    key: Literal["measured_share"] = "measured_share"


@dataclass(frozen=True)
class Adopted:
    """`adopted = ["key", ...]`: these practices are adopted."""

    needed: list[str]
    key: Literal["adopted"] = "adopted"


@dataclass(frozen=True)
class AdoptedPerDimension:
    """`adopted_per_dimension = { people = 1 }`: at least that many practices adopted in each dimension."""

    needed: dict[str, int]
    key: Literal["adopted_per_dimension"] = "adopted_per_dimension"


Requirement = AtLeast | MeasuredShare | Adopted | AdoptedPerDimension


@dataclass(frozen=True)
class Stage:
    key: str
    number: int
    name: str
    description: str
    requires: tuple[Requirement, ...]  # in the model's order, which moves and next steps keep


@dataclass(frozen=True)
class Practice:
    key: str
    name: str
    dimension: str
    stage: int
    description: str


@dataclass(frozen=True)
class Model:
    stages: tuple[Stage, ...]  # ordered by number
    practices: tuple[Practice, ...]
    source: Path

    def practice(self, key: str) -> Practice | None:
        return next((p for p in self.practices if p.key == key), None)

    @property
    def practice_keys(self) -> tuple[str, ...]:
        return tuple(p.key for p in self.practices)


def model_path(settings: Settings) -> Path:
    return settings.maturity_model or defaults_dir() / "maturity.toml"


def load_model(settings: Settings) -> Model:
    """Read and validate the configured (or shipped) model; UserError/ConfigError when unusable."""
    path = model_path(settings)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UserError(f"maturity.model: cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path.name}: not valid TOML: {exc}"], str(path)) from None
    except UnicodeDecodeError:
        raise UserError(f"maturity.model: {path} is not a text file (not UTF-8): point [maturity] model at "
                        "a TOML model, or remove the key to use the built-in one") from None  # fmt: skip
    except RecursionError:
        raise UserError(
            f"maturity.model: {path} nests arrays or tables too deeply to be read: point "
            "[maturity] model at a TOML model, or remove the key to use the built-in one"
        ) from None
    return parse_model(raw, path)


def parse_model(raw: dict[str, Any], path: Path) -> Model:
    problems: list[str] = []
    for key in raw:
        if key not in ("stages", "practices"):
            problems.append(f"{key}: unknown section (a model has [[stages]] and [[practices]])")
    practices = _practices(raw.get("practices", []), problems)
    keys = {p.key for p in practices}
    stages = _stages(raw.get("stages", []), keys, problems)
    if problems:
        raise ConfigError(problems, str(path))
    return Model(
        stages=tuple(sorted(stages, key=lambda s: s.number)), practices=tuple(practices), source=path
    )


def _text(table: dict[str, Any], key: str, where: str, problems: list[str], *, required: bool = True) -> str:
    value = table.get(key)
    if isinstance(value, str) and value.strip():
        return value.strip()
    if required or value is not None:
        problems.append(f"{where}.{key}: expected a non-empty string")
    return ""


def _practices(raw: Any, problems: list[str]) -> list[Practice]:
    if not isinstance(raw, list):
        problems.append("practices: expected [[practices]] tables")
        return []
    found: list[Practice] = []
    seen: set[str] = set()
    for index, table in enumerate(raw):
        where = f"practices[{index}]"
        if not isinstance(table, dict):
            problems.append(f"{where}: expected a table")
            continue
        for key in table:
            if key not in ("key", "name", "dimension", "stage", "description"):
                problems.append(f"{where}.{key}: unknown key")
        key = _text(table, "key", where, problems)
        if key and not SLUG.match(key):
            problems.append(f"{where}.key: expected a slug of a-z, 0-9 and '-', got {key!r}")
        if key in seen:
            problems.append(f"{where}.key: {key!r} is used by another practice")
        seen.add(key)
        dimension = table.get("dimension")
        if dimension not in DIMENSIONS:
            problems.append(f"{where}.dimension: expected one of {', '.join(DIMENSIONS)}, got {dimension!r}")
        stage = table.get("stage")
        if isinstance(stage, bool) or not isinstance(stage, int):
            problems.append(f"{where}.stage: expected a stage number, got {stage!r}")
            stage = 0
        name = _text(table, "name", where, problems)
        description = _text(table, "description", where, problems, required=False)
        found.append(Practice(key, name, str(dimension), stage, description))
    return found


def _stages(raw: Any, practice_keys: set[str], problems: list[str]) -> list[Stage]:
    if not isinstance(raw, list) or not raw:
        problems.append("stages: expected at least one [[stages]] table")
        return []
    stages: list[Stage] = []
    numbers: dict[int, int] = {}
    for index, table in enumerate(raw):
        where = f"stages[{index}]"
        if not isinstance(table, dict):
            problems.append(f"{where}: expected a table")
            continue
        for key in table:
            if key not in ("key", "number", "name", "description", "requires"):
                problems.append(f"{where}.{key}: unknown key")
        number = table.get("number")
        if isinstance(number, bool) or not isinstance(number, int):
            problems.append(f"{where}.number: expected a whole number, got {number!r}")
            number = -index
        elif number in numbers:
            problems.append(f"{where}.number: {number} is also the number of stages[{numbers[number]}]")
        numbers.setdefault(number, index)
        requires = _requires(table.get("requires", {}), f"{where}.requires", practice_keys, problems)
        key, name = _text(table, "key", where, problems), _text(table, "name", where, problems)
        description = _text(table, "description", where, problems, required=False)
        stages.append(Stage(key, number, name, description, requires))
    return stages


def _requires(raw: Any, where: str, practice_keys: set[str], problems: list[str]) -> tuple[Requirement, ...]:
    """The stage's requirements that are valid, in the model's order; each problem is added to `problems`."""
    if not isinstance(raw, dict):
        problems.append(f"{where}: expected a table")
        return ()
    found: list[Requirement] = []
    for key, value in raw.items():
        at = f"{where}.{key}"
        if key not in REQUIREMENT_KEYS:
            problems.append(f"{at}: unknown requirement key (known: {', '.join(REQUIREMENT_KEYS)})")
        elif key in COUNT_KEYS:
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                problems.append(f"{at}: expected a whole number >= 0, got {value!r}")
            else:
                found.append(AtLeast(cast(CountKey, key), value))  # one of COUNT_KEYS
        elif key == "measured_share":
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
                problems.append(f"{at}: expected a share from 0 to 1, got {value!r}")
            else:
                found.append(MeasuredShare(value))
        elif key == "adopted":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                problems.append(f"{at}: expected a list of practice keys")
                continue
            for practice in value:
                if practice not in practice_keys:
                    problems.append(f"{at}: {practice!r} is not a practice of this model")
            found.append(Adopted(list(value)))
        elif key == "adopted_per_dimension":
            if not isinstance(value, dict):
                problems.append(f"{at}: expected a table like {{ people = 1 }}")
                continue
            for dimension, count in value.items():
                if dimension not in DIMENSIONS:
                    problems.append(f"{at}.{dimension}: not a dimension ({', '.join(DIMENSIONS)})")
                elif isinstance(count, bool) or not isinstance(count, int) or count < 0:
                    problems.append(f"{at}.{dimension}: expected a whole number >= 0, got {count!r}")
            found.append(AdoptedPerDimension(dict(value)))
    return tuple(found)
