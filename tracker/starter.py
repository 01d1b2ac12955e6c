"""`tracker init`: a commented starter configuration, copied from the shipped example."""

from __future__ import annotations

import re
from functools import partial
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
        text = rename_brand(text, name)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror}") from None


# A word starting with the brand is renamed too (#acmecloud -> #newcocloud); "acmeville" does not occur.
_BRAND = re.compile(r"(?<![A-Za-z0-9])(acme|Acme)")


def brand_slug(name: str) -> str:
    """`NewCo` -> `newco`, `Café Müller` -> `cafe-muller`: the start of its stream names."""
    import unicodedata

    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", plain).strip("-")[:40].strip("-") or "brand"


def _brand_word(match: re.Match[str], *, name: str, word: str) -> str:
    return name if match.group(1) == "Acme" else word


def rename_brand(text: str, name: str) -> str:
    """The example's streams, queries and addresses named after the organisation, not Acme."""
    slug = brand_slug(name)
    lines = []
    for line in text.splitlines(keepends=True):
        if line.startswith("name = ") and '"' + name + '"' in line:
            lines.append(line)  # the organisation's own name, already set
            continue
        compact = slug.replace("-", "")  # a hashtag or account has no hyphen
        key = line.lstrip("# ")
        word = (
            compact
            if key.startswith(("hashtag", "account", "identifier"))
            else " ".join(name.lower().split())
            if key.startswith(("query", "include", "exclude"))
            else slug
        )
        lines.append(_BRAND.sub(partial(_brand_word, name=name, word=word), line))
    return "".join(lines)
