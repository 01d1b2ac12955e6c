"""One-click labels on the web (issue 23): CSRF-protected, stored, shown on the Sentiment page."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import select

from tests.web.conftest import csrf_of
from tests.web.support import World
from tracker.store.models import Label

pytestmark = pytest.mark.anyio


async def test_one_click_label_from_the_mention_list(local_client: httpx.AsyncClient, local: World) -> None:
    page = await local_client.get("/mentions")
    assert page.status_code == 200
    found = re.search(r'action="/mentions/(\d+)/label"', page.text)
    assert found, "each mention has its label buttons"
    mention = int(found.group(1))
    refused = await local_client.post(f"/mentions/{mention}/label", data={"label": "negative"})
    assert refused.status_code == 403, "no CSRF token: refused"
    token = csrf_of(page.text)
    done = await local_client.post(
        f"/mentions/{mention}/label", data={"label": "negative", "back": "/mentions", "csrf_token": token}
    )
    assert done.status_code == 303 and done.headers["location"] == "/mentions"
    away = await local_client.post(
        f"/mentions/{mention}/label",
        data={"label": "positive", "back": "//evil.example/", "csrf_token": token},
    )
    assert away.headers["location"] == "/mentions", "never redirected off the site"
    with local.store.read() as session:
        assert session.execute(select(Label.mention_id, Label.label, Label.source)).all() == [
            (mention, "positive", "web")
        ]
    sentiment = await local_client.get("/sentiment")
    assert sentiment.status_code == 200 and "Label 20 more" in sentiment.text
    lang = re.search(r'href="/sentiment\?lang=([a-z]+)#queue"', sentiment.text)
    assert lang
    queue = await local_client.get(f"/sentiment?lang={lang.group(1)}")
    assert queue.status_code == 200 and 'name="label" value="irrelevant"' in queue.text


async def test_a_wrong_label_is_one_message(local_client: httpx.AsyncClient) -> None:
    page = await local_client.get("/mentions")
    mention = int(re.search(r'action="/mentions/(\d+)/label"', page.text).group(1))  # type: ignore[union-attr]
    token = csrf_of(page.text)
    bad = await local_client.post(f"/mentions/{mention}/label", data={"label": "great", "csrf_token": token})
    assert bad.status_code == 303
    after = await local_client.get("/mentions")
    assert "label must be one of" in after.text
    missing = await local_client.post(
        "/mentions/999999/label", data={"label": "neutral", "csrf_token": token}
    )
    assert missing.status_code == 404
