"""ARCHITECTURE.md stays true: every module, package and file it names exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEXT = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
# `tracker/x.py`, `connectors/mastodon/`, and the short names of a listed package (`world.py`)
PATH = re.compile(r"`((?:tracker|connectors|tests|bench|config)/[\w/.]*)`")


def named_paths() -> list[str]:
    return sorted(set(PATH.findall(TEXT)))


def test_every_path_it_names_exists() -> None:
    missing = [p for p in named_paths() if not (ROOT / p).exists()]
    assert not missing, f"ARCHITECTURE.md names what does not exist: {missing}"


def test_the_short_names_under_a_package_exist() -> None:
    """In a bullet about a package (`tracker/web/`), a bare `name.py` or `name/` is in that package
    (`connectors/`: in one of its platform packages)."""
    missing, checked = [], 0
    for bullet in re.split(r"\n- ", TEXT):
        package = re.match(r"\*\*`((?:tracker|connectors)/(?:\w+/)*)`", bullet)
        if not package:
            continue
        for short in re.findall(r"`(\w+(?:\.py|/))`", bullet[package.end() :]):
            checked += 1
            if not any((ROOT / package.group(1)).rglob(short.rstrip("/"))):
                missing.append(f"{package.group(1)}{short}")
    assert not missing, f"ARCHITECTURE.md names what does not exist: {missing}"
    assert checked > 20


def test_it_names_every_package_and_the_checker_sees_them() -> None:
    paths = named_paths()
    assert len(paths) > 40, paths  # the pattern still matches what the map names
    for package in ("tracker/store/", "tracker/digest/", "tracker/web/", "tracker/sandbox/", "connectors/"):
        assert any(p.startswith(package) for p in paths), package
