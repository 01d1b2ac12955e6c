"""Every page in a real browser (Debian's chromium) at 400 px and at 1400 px wide.

At either width no page may scroll sideways (the page's scroll width must not exceed
the viewport: wide tables scroll inside their card, charts inside their frame), the
menu collapses behind a button on a phone, a chart's frame opens at its newest end,
and the overview's spike marks fall only on days that spiked in the streams it shows.
Screenshots go to $TRACKER_SCREENSHOTS when set, else the test's temporary directory.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import wait_until
from tests.web.support import World, build
from tracker.web.app import LOOPBACK_HOSTS, create_app

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]  # fmt: skip
PAGES = ("/", "/?competitors=1", "/mentions", "/mentions?q=slow&sort=engagement", "/experiments",
         "/experiments/new", "/experiments/1", "/experiments/2", "/experiments/3", "/maturity", "/sources",
         "/docs", "/digest", "/no-such-page")  # fmt: skip

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, World]]:
    """The app served by uvicorn on a free loopback port, as `tracker serve` runs it."""
    import uvicorn

    tmp_path = tmp_path_factory.mktemp("mobile")
    world = build(tmp_path, f"sqlite:///{tmp_path / 'tracker.db'}")
    app = create_app(world.settings, world.store, require_login=False, allowed_hosts=LOOPBACK_HOSTS)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, "the web server", alive=thread.is_alive)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", world
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        world.store.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield launched
        finally:
            launched.close()


def shots_dir(tmp_path: Path) -> Path:
    shots = Path(os.environ.get("TRACKER_SCREENSHOTS") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    return shots


@pytest.mark.parametrize("width", [400, 1400])
def test_no_page_scrolls_sideways(width: int, live: tuple[str, World], browser: Any, tmp_path: Path) -> None:
    base, world = live
    shots = shots_dir(tmp_path)
    page = browser.new_page(viewport={"width": width, "height": 900})
    problems: list[str] = []
    page.on(
        "console", lambda m: problems.append(m.text) if m.type == "error" and "404" not in m.text else None
    )
    page.on("pageerror", lambda e: problems.append(str(e)))
    overflowing = {}
    try:
        for path in PAGES:
            response = page.goto(base + path)
            assert response is not None and response.status in (200, 404), path
            page.wait_for_load_state("load")
            if path == "/docs":
                page.wait_for_selector(".swagger-ui .info", timeout=30_000)
            if path == "/":
                _spike_marks_name_shown_streams(page, world)
            scroll, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
            if scroll > inner:
                overflowing[path] = (scroll, inner, _widest(page, inner))
            name = path.strip("/").replace("/", "-").replace("?", "-").replace("&", "-") or "overview"
            page.screenshot(path=str(shots / f"{name}-{width}.png"), full_page=True)
    finally:
        page.close()
    assert not overflowing, overflowing
    assert not problems, problems


def _spike_marks_name_shown_streams(page: Any, world: World) -> None:
    from tracker.web import queries

    with world.store.read() as session:
        shown = queries.chart_streams(session, world.settings)
    titles = page.eval_on_selector_all("svg.chart rect.bar.spike", "rs => rs.map(r => r.textContent)")
    for title in titles:
        named = re.findall(r"(?:spike in |, )([a-z0-9-]+) \(", title)
        assert named and set(named) <= shown, (title, shown)


def _widest(page: Any, inner: int) -> list[str]:
    """The elements that stick out of the viewport, to say what overflows."""
    return list(page.evaluate(
        """(inner) => [...document.querySelectorAll('body *')]
             .filter(e => e.getBoundingClientRect().right > inner + 1)
             .filter(e => !e.closest('.table-scroll, .chart-wrap'))
             .slice(0, 5).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))""",
        inner,
    ))  # fmt: skip


def test_the_menu_collapses_on_a_phone(live: tuple[str, World], browser: Any) -> None:
    base, _ = live
    phone = browser.new_page(viewport={"width": 400, "height": 800})
    wide = browser.new_page(viewport={"width": 1400, "height": 800})
    try:
        for page in (phone, wide):
            page.goto(base + "/")
        assert not phone.locator("nav[aria-label=Main] a").first.is_visible(), (
            "hidden until the menu is opened"
        )
        phone.locator(".menu-button").click()
        assert phone.locator("nav[aria-label=Main] a", has_text="Experiments").is_visible()
        assert wide.locator("nav[aria-label=Main] a", has_text="Experiments").is_visible()
        assert not wide.locator(".menu-button").is_visible()
    finally:
        phone.close()
        wide.close()


def test_charts_fit_and_open_at_their_newest_end(live: tuple[str, World], browser: Any) -> None:
    base, _ = live
    page = browser.new_page(viewport={"width": 400, "height": 800})
    try:
        for path in ("/", "/experiments/2"):
            page.goto(base + path)
            frame = page.locator(".chart-wrap").first
            box = frame.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 400, (path, box)
            scroll_left, scroll_width, client_width = frame.evaluate(
                "e => [Math.abs(e.scrollLeft), e.scrollWidth, e.clientWidth]"
            )
            if scroll_width > client_width:  # it scrolls: the newest days (right end) are in view
                newest = frame.locator("svg.chart").evaluate(
                    "s => { const r = s.getBoundingClientRect(), f = s.parentElement.getBoundingClientRect();"
                    " return r.right - f.right; }"
                )
                assert abs(newest) <= 2, (path, newest, scroll_left)
    finally:
        page.close()
