"""The message: MIME structure, the chart inline by Content-ID, escaping, and how it renders."""

from __future__ import annotations

import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from tests.digest.conftest import Env, mail_config, parse
from tests.digest.world import HOSTILE, WEEK
from tracker.store.db import open_store
from tracker.store.models import Mention


class Tags(HTMLParser):
    """Every start tag with its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags_of(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Tags()
    parser.feed(html)
    return parser.tags


def eml(env: Env, cli: Any, extra: str = "") -> Any:
    out = env.dir / "digest.eml"
    result = cli("--config", env.configure(extra), "digest", "--week", WEEK, "--out", out)
    assert result.code == 0, result.err
    return parse(out.read_bytes())


def test_mime_structure_with_the_chart_inline_by_content_id(env: Env, cli: Any) -> None:
    message = eml(env, cli, mail_config(25, to=("ana@acme.example", "ben@acme.example")))
    assert (
        message["Subject"]
        == "Test Org weekly digest, 2026-W40 (28 Sep \u2013 4 Oct 2026): 127 mentions (+51.2 %)"
    )
    assert message["To"] == "ana@acme.example, ben@acme.example" and message["Message-ID"]
    assert message["Auto-Submitted"] == "auto-generated"
    assert message.get_content_type() == "multipart/alternative"
    plain, related = message.get_payload()  # type: ignore[misc]
    assert plain.get_content_type() == "text/plain" and plain.get_content_charset() == "utf-8"
    assert related.get_content_type() == "multipart/related"
    html_part, image = related.get_payload()
    assert html_part.get_content_type() == "text/html"
    assert image.get_content_type() == "image/png" and image.get_content_disposition() == "inline"
    png = image.get_payload(decode=True)
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000
    cid = image["Content-ID"].strip("<>")
    html = html_part.get_content()
    images = [attrs["src"] for tag, attrs in tags_of(html) if tag == "img"]
    assert images == [f"cid:{cid}"], "the HTML shows the chart from the message itself"
    text = plain.get_content()
    assert "WHAT MOVED" in text and "<" not in text.split("TOP MENTIONS")[0], "plain text, not markup"
    assert all(len(line) <= 998 for line in message.as_string().splitlines()), "SMTP line limit"
    assert message.as_bytes().isascii(), "7-bit clean: no 8BITMIME needed"


def test_without_digest_config_the_eml_still_builds(env: Env, cli: Any) -> None:
    message = eml(env, cli)
    assert message["To"] is None and message["From"] == "Test Org tracker <tracker@localhost>"


def test_html_preview_embeds_the_chart(env: Env, cli: Any) -> None:
    out = env.dir / "preview.html"
    assert cli("--config", env.dir / "tracker.toml", "digest", "--week", WEEK, "--out", out).code == 0
    html = out.read_text(encoding="utf-8")
    (src,) = [attrs["src"] for tag, attrs in tags_of(html) if tag == "img"]
    assert src is not None and src.startswith("data:image/png;base64,iVBOR") and "cid:" not in html


def test_collected_text_and_links_are_escaped(env: Env, cli: Any) -> None:
    store = open_store(env.db_url)
    try:
        with store.write() as session:  # a connector could store any link: only http(s) is ever linked
            session.execute(
                update(Mention).where(Mention.external_id == "top-3").values(url="javascript:alert(3)")
            )
    finally:
        store.close()
    message = eml(env, cli)
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    tags = tags_of(html)
    assert not [t for t, _ in tags if t in ("script", "iframe", "object", "embed", "form")]
    assert not [(t, a) for t, attrs in tags for a in attrs if a.startswith("on")], "no event handler got in"
    assert "<b>" not in html and "&lt;b&gt;mallory&lt;/b&gt;" in html
    assert (
        "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt; Acme &lt;b&gt;rocks&lt;/b&gt; &amp; &#34;friends&#34;"
        in html
    )
    links = [attrs["href"] or "" for tag, attrs in tags if tag == "a"]
    assert len(links) == 5 + 3 - 2, "the hostile and the javascript: link are shown as text without a link"
    assert all(link.startswith("https://social.example/") for link in links)
    assert "javascript:" not in html and "evil.example" not in html.replace("&#34;", "")
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert HOSTILE["text"].split("<img")[0].strip() in text, "the text part shows the text as written"


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")
def test_the_preview_renders_in_headless_chromium(env: Env, cli: Any, tmp_path: Path) -> None:
    from PIL import Image

    out = tmp_path / "digest.html"
    assert cli("--config", env.dir / "tracker.toml", "digest", "--week", WEEK, "--out", out).code == 0
    shot = tmp_path / "digest.png"
    subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--hide-scrollbars", f"--screenshot={shot}", "--window-size=900,2400", out.as_uri()],
        check=True, capture_output=True, timeout=60, env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    with Image.open(shot) as image:
        pixels = image.convert("RGB").resize((90, 240))
        colours = pixels.getcolors(maxcolors=90 * 240) or []
        header = pixels.getpixel((45, 5))
    assert len(colours) > 200, "text, cards and the chart, not a blank page"
    dominant = max(count for count, _ in colours)
    assert dominant < 0.8 * 90 * 240
    assert isinstance(header, tuple) and sum(header[:3]) < 200, "the dark header band is at the top"


def test_write_digest_files_writes_the_preview_and_the_message(env: Env) -> None:
    from tracker.digest.service import write_digest_files
    from tracker.store.db import open_store

    settings = env.settings()
    store = open_store(settings.database_url)
    try:
        files = write_digest_files(settings, store, env.dir, week=WEEK)
    finally:
        store.close()
    assert files == {"html": env.dir / "digest.html", "eml": env.dir / "digest.eml"}
    assert "data:image/png;base64," in files["html"].read_text(encoding="utf-8")
    assert parse(files["eml"].read_bytes()).get_content_type() == "multipart/alternative"


def test_compiled_templates_are_kept_for_the_next_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Compiling the two templates was ~80 ms of every digest (issue 22): a process loads what an
    earlier one compiled, from jinja2's per-user temporary directory; where that directory cannot
    be used, each process compiles, and the digest renders all the same."""
    import tempfile

    from tracker.digest import render

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    render.environment.cache_clear()
    try:
        render.environment().get_template("digest.txt")
        assert len(list(tmp_path.glob("_jinja2-cache-*/tracker-digest-*.cache"))) == 1
        render.environment.cache_clear()
        env = render.environment()
        monkeypatch.setattr(env, "compile", lambda *a, **k: pytest.fail("compiled again"))
        env.get_template("digest.txt")  # loaded, not compiled

        unusable = tmp_path / "unusable"
        unusable.mkdir()
        (unusable / f"_jinja2-cache-{os.getuid()}").write_text("a file, not a directory")
        monkeypatch.setattr(tempfile, "tempdir", str(unusable))
        render.environment.cache_clear()
        assert render.environment().bytecode_cache is None
        assert render.environment().get_template("digest.txt") is not None
    finally:
        render.environment.cache_clear()


def _week_data(env: Env) -> Any:
    from datetime import UTC, datetime

    from tracker.digest.data import build_digest
    from tracker.digest.weeks import parse_week
    from tracker.maturity import load_model

    settings = env.settings()
    store = open_store(env.db_url)
    try:
        return build_digest(store, settings, parse_week(WEEK), model=load_model(settings), now=datetime.now(UTC))
    finally:
        store.close()


def test_the_chart_drawn_aside_is_the_chart_drawn_here(env: Env) -> None:
    """The CLI draws the chart in a worker process that imported matplotlib while the data were
    read: the same PNG, byte for byte, as drawing it in this process."""
    from tracker.digest import chart

    data = _week_data(env)
    with chart.drawn_aside() as draw:
        assert draw is not chart.chart_png, "two CPUs and fork here: the worker is used"
        aside = draw(data)
        cells = dict(zip(draw.__code__.co_freevars, draw.__closure__ or (), strict=True))
        pool = cells["pool"].cell_contents
        loaded = pool.submit(_loaded_in_worker).result()
        workers = list(pool._processes.values())
    # The worker is joined on the way out: one left to the pool's atexit hook raced it at exit.
    assert workers and not any(w.is_alive() for w in workers)
    assert aside == chart.chart_png(data) and aside.startswith(b"\x89PNG\r\n\x1a\n")
    assert "matplotlib.figure" in loaded and "matplotlib.pyplot" not in loaded  # the object API only


def _loaded_in_worker() -> set[str]:
    import sys

    return set(sys.modules)


def test_the_chart_is_drawn_here_when_the_worker_dies_or_one_cpu(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker killed before it draws (or a machine with one CPU) costs time, not the chart."""
    import signal

    from tracker.digest import chart

    data = _week_data(env)
    expected = chart.chart_png(data)
    with chart.drawn_aside() as draw:
        cells = dict(zip(draw.__code__.co_freevars, draw.__closure__ or (), strict=True))
        pool = cells["pool"].cell_contents  # the worker pool `draw` submits to
        pool.submit(int).result()  # the worker is up
        for pid in list(pool._processes):
            os.kill(pid, signal.SIGKILL)
        assert draw(data) == expected
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0})
    with chart.drawn_aside() as draw:
        assert draw is chart.chart_png
