"""Packaging: every package directory is listed (tracker.defaults is mapped by hand)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_directory_is_listed_in_pyproject() -> None:
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in ("tracker", "connectors")
        for init in (ROOT / top).rglob("__init__.py")
    }
    assert on_disk <= listed, f"add to [tool.setuptools] packages: {sorted(on_disk - listed)}"
    assert "tracker.defaults" in listed


def test_shipped_defaults_are_found() -> None:
    from tracker.starter import defaults_dir

    assert (defaults_dir() / "tracker.example.toml").is_file()
