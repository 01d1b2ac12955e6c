"""`tracker init`: a commented starter configuration, copied from the shipped example."""

from __future__ import annotations

import re
from pathlib import Path

from tracker.errors import UserError


def defaults_dir() -> Path:
    """Where the shipped defaults (`config/` in the source tree) are.

    A wheel installs them as `tracker/defaults/`; a source checkout or an editable
    install reads them from `config/` beside the package.
    """
    here = Path(__file__).resolve().parent
    for candidate in (here / "defaults", here.parent / "config"):
        if (candidate / "tracker.example.toml").is_file():
            return candidate
    raise UserError("the shipped defaults are missing from this installation: reinstall tracker")


def example_text() -> str:
    """The shipped `config/tracker.example.toml`."""
    return (defaults_dir() / "tracker.example.toml").read_text("utf-8")


def write_starter(path: Path, *, name: str | None = None, force: bool = False) -> None:
    """Write the starter config; refuse to overwrite an existing file unless forced."""
    if path.exists() and not force:
        raise UserError(f"{path} already exists: edit it, or pass --force to overwrite it")
    text = example_text()
    if name is not None:
        if not name.strip() or '"' in name or "\\" in name or "\n" in name:
            raise UserError("--name: expected a plain name without quotes or backslashes")
        text = re.sub(r'^name = "Acme"', f'name = "{name}"', text, count=1, flags=re.MULTILINE)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror}") from None
