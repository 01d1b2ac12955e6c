"""A real browser (Debian's chromium driven by Playwright) against the real server on a loopback port.

A marketer registers an experiment through the form (fixing what the form points
out first), sees it listed, opens it, measures it and concludes it. Every page is
screenshotted on the way (into $TRACKER_SCREENSHOTS when set, else the test's
temporary directory), and no page may log an error: a CSP violation would ("Refused to ...").
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.support import DEADLINE, wait_until
from tests.web.support import World, build
from tracker import saved_searches
from tracker.web.app import LOOPBACK_HOSTS, create_app

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]  # fmt: skip

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
]


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[str, World]]:
    """The app served by uvicorn on a free loopback port, as `tracker serve` runs it."""
    import uvicorn

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
        thread.join(timeout=DEADLINE)
        world.store.close()


def test_register_list_open_and_conclude_in_a_real_browser(live: tuple[str, World], tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    base, world = live
    shots = Path(os.environ.get("TRACKER_SCREENSHOTS") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            _register(page, base, world, shots, sync_api.expect)
            _conclude(page, base, shots, sync_api.expect)
            _on_a_saved_search(page, base, world, shots, sync_api.expect)
            _tour(page, base, shots)
        finally:
            browser.close()
    # The rejected form answers 400 on purpose, which the browser logs; anything else is a problem.
    assert not [p for p in problems if "status of 400" not in p], problems


def _shot(page: Any, shots: Path, name: str) -> None:
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)


def _register(page: Any, base: str, world: World, shots: Path, expect: Any) -> None:
    page.goto(f"{base}/experiments")
    page.get_by_role("link", name="+ Register an experiment").click()
    expect(page).to_have_url(f"{base}/experiments/new")
    _shot(page, shots, "experiment-form")
    start, end = world.today - timedelta(days=27), world.today - timedelta(days=6)
    page.fill("#title", "Reply to every question within the hour")
    page.fill("#hypothesis", "Fast public answers make the conversation friendlier.")
    page.select_option("#practice", "public-customer-answers")
    page.check("input[name=streams][value=acme-mastodon]")
    page.select_option("#metric", "sentiment")
    page.fill("#start", end.isoformat())
    page.fill("#end", start.isoformat())
    page.fill("#owner", "Marco")
    page.get_by_role("button", name="Register the experiment").click()
    expect(page.locator("#end-error")).to_contain_text(f"{start} is before start {end}")
    expect(page.locator("#title")).to_have_value("Reply to every question within the hour")
    _shot(page, shots, "experiment-form-errors")
    page.fill("#start", start.isoformat())
    page.fill("#end", end.isoformat())
    page.get_by_role("button", name="Register the experiment").click()
    expect(page).to_have_url(re.compile(r"/experiments/\d+$"))
    expect(page.locator(".flash-ok")).to_contain_text("registered")
    page.get_by_role("link", name="Experiments", exact=True).first.click()
    expect(page.get_by_role("link", name="Reply to every question within the hour")).to_be_visible()
    _shot(page, shots, "experiments")


def _conclude(page: Any, base: str, shots: Path, expect: Any) -> None:
    page.get_by_role("link", name="Reply to every question within the hour").click()
    expect(page.locator("h1")).to_have_text("Reply to every question within the hour")
    page.get_by_role("button", name="Measure now").click()
    expect(page.locator(".flash-ok")).to_contain_text("Measured:")
    expect(page.locator("svg.chart")).to_be_visible()
    page.fill("#note-text", "Week 1: 30 questions answered, median 40 minutes.")
    page.get_by_role("button", name="Add note").click()
    expect(page.locator(".notes")).to_contain_text("median 40 minutes")
    _shot(page, shots, "experiment-measured")
    page.fill("#learning", "Answering fast is cheap and the tone improved: keep it.")
    # Its window has ended and it was measured: adopt on the evidence, after a confirmation.
    page.check("input[name=decision][value=adopt]")
    page.get_by_role("button", name="Conclude the experiment").click()
    expect(page.locator(".confirm")).to_contain_text("adopted on the evidence")
    _shot(page, shots, "experiment-confirm")
    page.get_by_role("button", name="Yes, conclude it").click()
    expect(page.locator(".learning")).to_contain_text("keep it")
    expect(page.locator(".badges .status-concluded")).to_be_visible()
    expect(page.locator(".badges .decision-adopt")).to_be_visible()
    _shot(page, shots, "experiment-concluded")


def _on_a_saved_search(page: Any, base: str, world: World, shots: Path, expect: Any) -> None:
    saved_searches.add(world.store, "slow-dashboard", "dashboard slow")
    page.goto(f"{base}/experiments/new")
    expect(page.locator("#search option")).to_have_text(["None: every mention of the streams counts",
                                                         "slow-dashboard"])  # fmt: skip
    page.fill("#title", "Answer dashboard complaints first")
    page.fill("#hypothesis", "Fewer people repeat the complaint.")
    page.select_option("#practice", "public-customer-answers")
    page.select_option("#metric", "mentions")
    page.select_option("#search", "slow-dashboard")
    _shot(page, shots, "experiment-form-saved-search")
    page.get_by_role("button", name="Register the experiment").click()
    expect(page).to_have_url(re.compile(r"/experiments/\d+$"))
    expect(page.locator(".facts")).to_contain_text("only the mentions matching slow-dashboard")
    _shot(page, shots, "experiment-saved-search")


def _tour(page: Any, base: str, shots: Path) -> None:
    for name, path in (("overview", "/"), ("mentions", "/mentions"),
                       ("mentions-search", "/mentions?q=slow&sort=engagement"), ("experiment-ended", "/experiments/2"),
                       ("experiment-running", "/experiments/3"), ("maturity", "/maturity"), ("sources", "/sources")):  # fmt: skip
        response = page.goto(base + path)
        assert response is not None and response.status == 200, path
        _shot(page, shots, name)
