"""The Alerts page and the overview's alert banner in a real browser (issue 20): an episode of days
ago is shown as ended (when it fired, when it ended), one whose checks stopped is not "active", and
one ongoing now is. Screenshots go to $TRACKER_SCREENSHOTS (else the test's tmp dir)."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support import DEADLINE, wait_until
from tests.test_alerts import Receiver, World, _settings, receiver  # noqa: F401  (the webhook receiver fixture)
from tests.web.test_browser import ARGS, CHROMIUM
from tracker.alerts import check

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
]


def test_an_old_alert_is_shown_ended_and_a_new_one_active(tmp_path: Path, receiver: Receiver) -> None:  # noqa: F811
    import uvicorn

    from tracker.web.app import LOOPBACK_HOSTS, create_app

    sync_api = pytest.importorskip("playwright.sync_api")
    settings = _settings(tmp_path, f'[[alerts]]\nname = "acme-spike"\nkind = "spike"\nwebhook = "{receiver.url}"\n')
    now = datetime.now(UTC).replace(microsecond=0)
    world = World(settings, now=now)
    old = now - timedelta(days=3)
    world.burst(old)
    assert check(settings, world.store, now=old)[0].state == "fired"
    assert check(settings, world.store, now=old + timedelta(hours=2))[0].state == "cleared"
    app = create_app(settings, world.store, require_login=False, allowed_hosts=LOOPBACK_HOSTS)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, "the web server", alive=thread.is_alive)
    base = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    shots = Path(os.environ.get("TRACKER_SCREENSHOTS") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    try:
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
                page.on("pageerror", lambda e: problems.append(str(e)))
                page.goto(f"{base}/")
                banner = page.locator(".alerts-ended")
                sync_api.expect(banner).to_contain_text("Last alert: Spike on acme-rss")
                sync_api.expect(banner).to_contain_text("No alert is active")
                assert page.locator(".alerts-active").count() == 0
                page.screenshot(path=str(shots / "overview-alert-ended.png"))
                page.goto(f"{base}/alerts")
                sync_api.expect(page.locator("table.alerts")).to_contain_text("quiet; last fired")
                sync_api.expect(page.locator("article.firing").first).to_contain_text("Ended: fired")
                page.screenshot(path=str(shots / "alerts-ended.png"), full_page=True)
                world.burst(now)
                assert check(settings, world.store, now=now)[0].state == "fired"
                page.goto(f"{base}/")
                sync_api.expect(page.locator(".alerts-active")).to_contain_text("1 alert active: Spike on acme-rss")
                page.get_by_role("link", name="See the alerts").click()
                sync_api.expect(page.locator("tr.alert-active")).to_contain_text("Active since")
                page.screenshot(path=str(shots / "alerts-active.png"), full_page=True)
            finally:
                browser.close()
    finally:
        server.should_exit = True
        thread.join(timeout=DEADLINE)
        world.store.close()
    assert not problems, problems
