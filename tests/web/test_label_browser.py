"""Labelling in a real browser (issue 23): one click under a mention, then the Sentiment page's queue."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.web.support import World
from tests.web.test_browser import ARGS, CHROMIUM, live  # noqa: F401  (the live server fixture)
from tracker.store.models import Label

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
]


def test_label_from_the_list_and_the_queue_in_a_real_browser(live: tuple[str, World], tmp_path: Path) -> None:  # noqa: F811
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
            page.goto(f"{base}/mentions")
            page.locator("form.label-form").first.get_by_role("button", name="negative").click()
            sync_api.expect(page.get_by_text("Labelled negative.")).to_be_visible()
            page.screenshot(path=str(shots / "mentions-labelled.png"), full_page=True)
            page.get_by_role("link", name="Sentiment").first.click()
            page.get_by_role("link", name="Label 20 more").first.click()
            page.locator("#queue form").first.get_by_role("button", name="positive").click()
            sync_api.expect(page.get_by_text("Labelled positive.")).to_be_visible()
            page.screenshot(path=str(shots / "sentiment-queue.png"), full_page=True)
        finally:
            browser.close()
    with world.store.read() as session:
        assert sorted(session.scalars(select(Label.label)).all()) == ["negative", "positive"]
    assert not problems, problems
