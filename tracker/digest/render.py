"""The digest's data -> subject, text/plain and HTML (Jinja2 templates in templates/).

HTML templates are autoescaped (every collected text, author, link and title goes
through it); links are only made of http(s) URLs (`safe_url`). The HTML is written
for mail clients: table layout, inline styles, no scripts, no external resources;
the chart is an <img> whose `src` is `cid:` in the email and a data: URI in the
browser preview.
"""

from __future__ import annotations

import contextlib
import hashlib
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from tracker.digest import fmt

if TYPE_CHECKING:
    from tracker.digest.activity import DigestExperiment
    from tracker.digest.data import DigestRecord

NEWS_FIRST = ("ended", "measured", "concluded", "started", "running")
MAX_EXPERIMENTS = 15  # the email lists this many; --json and `tracker experiment list` have them all


@lru_cache(maxsize=1)
def environment() -> Any:
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=PackageLoader("tracker.digest", "templates"),
        autoescape=select_autoescape(
            enabled_extensions=("html",), disabled_extensions=("txt",), default=True
        ),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        bytecode_cache=_compiled_templates(),
    )
    env.filters.update(
        count=fmt.count,
        value=fmt.value,
        previous=fmt.previous,
        change=fmt.change,
        arrow=fmt.arrow,
        direction=fmt.direction,
        day=fmt.day_iso,
        verdict=fmt.verdict,
        safe_url=fmt.safe_url,
        plain=fmt.plain,
        usual=fmt.usual,
    )
    env.globals.update(
        labels=fmt.LABELS, stream_metrics=("mentions", "sentiment", "positive_share", "engagement")
    )
    return env


def _compiled_templates() -> Any:
    """The templates compiled by an earlier process, in jinja2's per-user temporary directory
    (made 0700, and refused unless it is the user's): compiling the two is ~80 ms of a digest,
    loading them ~2 ms. An entry is looked up by its template's checksum and the Python version
    (jinja2) and by this file and jinja2's version (the name), so a changed template, option or
    jinja2 compiles again. Without such a directory (or room in it) each process compiles."""
    import jinja2
    from jinja2.bccache import Bucket

    class Cache(jinja2.FileSystemBytecodeCache):
        def dump_bytecode(self, bucket: Bucket) -> None:
            with contextlib.suppress(OSError):  # a full or read-only disk: the next process compiles
                super().dump_bytecode(bucket)

    stamp = hashlib.sha256(Path(__file__).read_bytes() + jinja2.__version__.encode()).hexdigest()[:16]
    try:
        return Cache(pattern=f"tracker-digest-{stamp}-%s.cache")
    except (OSError, RuntimeError):  # RuntimeError: the directory is not safely the user's
        return None


def subject(data: DigestRecord) -> str:
    """Names the organisation and the week, with the headline number; one line, whatever the names hold."""
    mentions = data["summary"]["mentions"]
    moved = fmt.change(mentions, "mentions")
    tail = f": {fmt.count(mentions['value'])} mentions" + (
        f" ({moved})" if moved not in ("\u2013", "n/a") else ""
    )
    text = f"{data['organisation']} weekly digest, {data['week']['label']} ({data['week']['title']}){tail}"
    return " ".join(text.split())


def render_text(data: DigestRecord) -> str:
    return str(environment().get_template("digest.txt").render(d=data, subject=subject(data), **_views(data)))


def render_html(data: DigestRecord, chart_src: str) -> str:
    template = environment().get_template("digest.html")
    return str(template.render(d=data, subject=subject(data), chart_src=chart_src, **_views(data)))


class DigestViews(TypedDict):
    """Arrangements of the data that both templates use (_views)."""

    experiments: list[DigestExperiment]  # the first MAX_EXPERIMENTS, news first
    more_experiments: int  # how many are left out


def _views(data: DigestRecord) -> DigestViews:
    """Arrangements of the data that both templates use."""
    unique: dict[int, DigestExperiment] = {}
    for tag in NEWS_FIRST:  # what ended or got a verdict comes before what merely goes on
        for entry in sorted(data["experiments"][tag], key=lambda e: e["id"]):
            unique.setdefault(entry["id"], entry)
    shown = list(unique.values())
    return {"experiments": shown[:MAX_EXPERIMENTS], "more_experiments": len(shown[MAX_EXPERIMENTS:])}
