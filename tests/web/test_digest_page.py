"""`/digest`: the latest week's digest (or ?week=YYYY-Www) with its PDF and CSV, behind the login."""

from __future__ import annotations

import csv
import io
import re
import shutil
from pathlib import Path

import httpx
import pytest

from tests.web.support import World
from tracker.digest.weeks import last_complete_week
from tracker.timeutil import utcnow
from tracker.web.security import CSP, DIGEST_CSP

pytestmark = pytest.mark.anyio


async def test_the_digest_page_shows_the_latest_week_with_download_links(local_client: httpx.AsyncClient,
                                                                         local: World) -> None:  # fmt: skip
    latest = last_complete_week(utcnow(), local.settings.organisation.zone)
    page = await local_client.get("/digest")
    assert page.status_code == 200
    assert f"Digest {latest.label}" in page.text and latest.title() in page.text
    assert f'href="/digest.pdf?week={latest.label}"' in page.text and "Download PDF" in page.text
    assert f'href="/digest.csv?week={latest.label}"' in page.text
    assert page.headers["content-security-policy"] == DIGEST_CSP and "script-src 'self'" in DIGEST_CSP
    assert "<script" not in page.text
    earlier = await local_client.get(f"/digest?week={latest.previous.label}")
    assert earlier.status_code == 200 and f"Digest {latest.previous.label}" in earlier.text
    assert (await local_client.get("/")).headers["content-security-policy"] == CSP, "only /digest is relaxed"
    for wrong in ("2026-W99", "soon", "2999-W01"):
        assert (await local_client.get(f"/digest?week={wrong}")).status_code == 404, wrong


async def test_the_digest_csv_link(local_client: httpx.AsyncClient) -> None:
    answer = await local_client.get("/digest.csv")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert rows and {"acme-mastodon", "acme-bluesky"} <= {r["stream"] for r in rows}


@pytest.mark.slow
@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="needs Debian's chromium")
@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="needs pdftoppm (poppler-utils)")
async def test_the_download_pdf_link(local_client: httpx.AsyncClient) -> None:
    pytest.importorskip("playwright.sync_api")
    page = (await local_client.get("/digest")).text
    link = re.search(r'href="(/digest\.pdf\?week=[^"]+)"', page)
    assert link is not None
    answer = await local_client.get(link.group(1), timeout=120)
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/pdf"
    assert answer.content.startswith(b"%PDF-")


async def test_the_menu_links_the_digest(local_client: httpx.AsyncClient) -> None:
    assert 'href="/digest"' in (await local_client.get("/")).text
