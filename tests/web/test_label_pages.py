"""One-click labels on the web (issue 23): CSRF-protected, stored, shown on the Sentiment page."""

from __future__ import annotations

import re

import httpx
import pytest
from markupsafe import escape
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


async def test_a_mention_has_its_own_page_with_label_buttons(
    local_client: httpx.AsyncClient, local: World
) -> None:
    listing = await local_client.get("/mentions")
    found = re.search(r'href="/mentions/(\d+)">Mention #\d+</a>', listing.text)
    assert found, "each mention in the list links to its page"
    mention = int(found.group(1))
    page = await local_client.get(f"/mentions/{mention}")
    assert page.status_code == 200
    with local.store.read() as session:
        from tracker.store.models import Mention

        m = session.get(Mention, mention)
        assert m is not None
        text, author = m.text, m.author or "unknown author"
    # the page writes text HTML-escaped ("Acme&#39;s"): compare with what it must show
    assert f"Mention #{mention}" in page.text and str(escape(author)) in page.text
    assert "(Europe/Vienna)" in page.text, "the time is in the organisation's zone"
    assert "scored by vader" in page.text or "unscored" in page.text
    assert "engagement" in page.text.lower() and "not labelled yet" in page.text
    token = csrf_of(page.text)
    assert (
        await local_client.post(f"/mentions/{mention}/label", data={"label": "irrelevant"})
    ).status_code == 403
    done = await local_client.post(
        f"/mentions/{mention}/label",
        data={"label": "irrelevant", "back": f"/mentions/{mention}", "csrf_token": token},
    )
    assert done.status_code == 303 and done.headers["location"] == f"/mentions/{mention}"
    after = await local_client.get(f"/mentions/{mention}")
    assert "Labelled irrelevant." in after.text and "teaches the stream" in after.text
    assert 'value="irrelevant" aria-pressed="true"' in after.text
    assert "What &#34;irrelevant&#34; teaches" in after.text or 'What "irrelevant" teaches' in after.text
    assert str(escape(text.split()[0])) in after.text
    sentiment = await local_client.get("/sentiment")
    stream = re.search(r'href="/sentiment/exclusions\?stream=([^"]+)"', sentiment.text)
    assert stream, "the Sentiment page lists the streams whose filters the label teaches"
    proposal = await local_client.get(f"/sentiment/exclusions?stream={stream.group(1)}")
    assert proposal.status_code == 200 and "no exclusions proposed yet: needs" in proposal.text.lower()
    queue = await local_client.get("/sentiment?lang=en")
    assert re.search(r'href="/mentions/\d+">Mention #\d+</a>', queue.text), "the queue links to each mention"


async def test_an_unknown_mention_or_stream_is_a_404_in_words(local_client: httpx.AsyncClient) -> None:
    missing = await local_client.get("/mentions/987654")
    assert missing.status_code == 404
    assert "There is no mention #987654" in missing.text and "Traceback" not in missing.text
    assert (await local_client.get("/mentions/abc")).status_code == 404
    assert (await local_client.get("/mentions/export.csv")).status_code == 200, "the download still works"
    nope = await local_client.get("/sentiment/exclusions?stream=%3Cscript%3E")
    assert nope.status_code == 404 and "<script>" not in nope.text and "no stream named" in nope.text


async def test_a_mention_page_shows_markup_as_text(hostile: World) -> None:
    from sqlalchemy import select as sel

    from tests.web.conftest import client_for
    from tests.web.support import HOSTILE_TEXT
    from tracker.store.models import Mention
    from tracker.web.app import create_app

    with hostile.store.read() as session:
        mention = session.scalar(sel(Mention.id).where(Mention.text.contains("<script>")))
    assert mention is not None
    async with client_for(create_app(hostile.settings, hostile.store, require_login=False)) as c:
        page = await c.get(f"/mentions/{mention}")
    assert page.status_code == 200
    assert "<script>alert" not in page.text and "<svg onload" not in page.text
    assert "&lt;script&gt;" in page.text and HOSTILE_TEXT not in page.text


async def test_the_exclusions_page_proposes_the_line_and_leaves_the_config(
    local_client: httpx.AsyncClient, local: World
) -> None:
    import random

    from tests.test_label_filters import _collect, _world

    _collect(local.store, _world(random.Random(3), relevant=80, irrelevant=30, unlabelled=40))
    before = local.config.read_bytes()
    page = await local_client.get("/sentiment/exclusions?stream=acme-mastodon")
    assert page.status_code == 200
    assert "<code>coyote</code>" in page.text and "<code>anvil</code>" in page.text
    assert "exclude = [&#34;" in page.text and "coyote" in page.text.split("config-line")[1]
    assert "put this line under the stream" in page.text and "held out" in page.text
    assert local.config.read_bytes() == before, "the config file is never changed"
    sentiment = await local_client.get("/sentiment")
    assert 'href="/sentiment/exclusions?stream=acme-mastodon"' in sentiment.text
