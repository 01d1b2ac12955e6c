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


def test_a_mention_page_labels_without_javascript(live: tuple[str, World], tmp_path: Path) -> None:  # noqa: F811
    sync_api = pytest.importorskip("playwright.sync_api")
    base, world = live
    shots = Path(os.environ.get("TRACKER_SCREENSHOTS") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            context = browser.new_context(java_script_enabled=False, viewport={"width": 1280, "height": 900})
            page = context.new_page()
            page.goto(f"{base}/mentions")
            link = page.locator("a.permalink").first
            name = link.inner_text()
            link.click()
            sync_api.expect(page.get_by_role("heading", name=name)).to_be_visible()
            page.get_by_role("button", name="irrelevant").click()
            sync_api.expect(page.get_by_text("Labelled irrelevant.")).to_be_visible()
            sync_api.expect(page.get_by_role("heading", name=name)).to_be_visible()
            sync_api.expect(page.get_by_text("not labelled yet")).to_have_count(0)
            page.screenshot(path=str(shots / "mention-page.png"), full_page=True)
            import random

            from tests.test_label_filters import _collect, _world

            _collect(world.store, _world(random.Random(3), relevant=80, irrelevant=30, unlabelled=40))
            page.goto(f"{base}/sentiment")
            page.get_by_role("link", name="acme-mastodon").click()
            sync_api.expect(page.locator("pre.config-line")).to_contain_text("coyote")
            page.screenshot(path=str(shots / "exclusions.png"), full_page=True)
            page.goto(f"{base}/mentions/999999")
            sync_api.expect(page.get_by_text("There is no mention #999999")).to_be_visible()
            page.screenshot(path=str(shots / "mention-404.png"), full_page=True)
        finally:
            browser.close()
    with world.store.read() as session:
        assert session.scalars(select(Label.label).where(Label.source == "web")).all() == ["irrelevant"]
