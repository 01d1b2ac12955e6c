"""The pages through httpx's ASGITransport: content, filters, the registration form, detail actions."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from tests.web.conftest import client_for, csrf_of
from tests.web.support import World
from tracker import saved_searches
from tracker.web.app import create_app

pytestmark = pytest.mark.anyio


async def test_every_page_renders_with_its_content(client: httpx.AsyncClient, world: World) -> None:
    overview = await client.get("/")
    assert overview.status_code == 200 and overview.headers["content-type"].startswith("text/html")
    for text in ("Overview", "Testing", "acme-mastodon", "globex-reddit", "<svg", "Spikes", "Most engaging"):
        assert text in overview.text, text
    assert "What happened?" in overview.text, "the launch-day spike is listed"

    mentions = await client.get("/mentions")
    assert re.search(r"Showing 1\u201325 of [\d,]+ mentions", mentions.text)
    assert "Open original" in mentions.text

    listing = await client.get("/experiments")
    for text in ("Daily behind-the-scenes posts", "status-concluded", "verdict-success", "status-planned",
                 "status-cancelled", "Register an experiment"):  # fmt: skip
        assert text in listing.text, text

    detail = await client.get("/experiments/1")
    for text in ("Showing how we work", "lift +", "95 % CI", "band-baseline", "band-treatment",
                 "Week 2: replies doubled", "Behind-the-scenes posts work", "adopted"):  # fmt: skip
        assert text in detail.text, text

    maturity = await client.get("/maturity")
    for text in ("Testing", "People", "Objectives", "Strategy", "Technology", "What to try next",
                 "What moved us", "Shared content calendar"):  # fmt: skip
        assert text in maturity.text, text

    sources = await client.get("/sources")
    assert "bluesky search needs identifier" in sources.text and "healthy" in sources.text
    assert (await client.get("/experiments/99")).status_code == 404
    assert (await client.get("/experiments/abc")).status_code == 404
    assert (await client.get("/nowhere")).status_code == 404


async def test_mention_search_filters_and_pages(client: httpx.AsyncClient, world: World) -> None:
    def count(html: str) -> int:
        found = re.search(r"of ([\d,]+)\+? mentions", html)
        return int(found.group(1).replace(",", "")) if found else 0

    everything = count((await client.get("/mentions")).text)
    assert everything > 500
    slow = (await client.get("/mentions", params={"q": "DASHBOARD so SLOW"})).text
    assert 0 < count(slow) < everything and "so slow today" in slow
    assert count((await client.get("/mentions", params={"q": "%"})).text) == 0, "wildcards are literal"
    rival = (await client.get("/mentions", params={"stream": "globex-reddit"})).text
    assert 0 < count(rival) < everything and "acme-mastodon</a>" not in rival
    negatives = (await client.get("/mentions", params={"sentiment": "negative", "platform": "mastodon"})).text
    assert "sentiment-negative" in negatives and "sentiment-positive" not in negatives
    day = (world.today - timedelta(days=12)).isoformat()
    spike = (
        await client.get("/mentions", params={"stream": "acme-mastodon", "since": day, "until": day})
    ).text
    assert count(spike) >= 25
    top = (await client.get("/mentions", params={"sort": "engagement", "per_page": "5"})).text
    figures = [int(n) for n in re.findall(r"engagement (\d+)</span>", top)]
    assert figures == sorted(figures, reverse=True) and len(figures) == 5
    second = (await client.get("/mentions", params={"page": "2"})).text
    assert "Showing 26\u201350" in second and 'rel="prev"' in second and 'rel="next"' in second
    bad = await client.get("/mentions", params={"sentiment": "angry", "since": "yesterday"})
    assert bad.status_code == 200
    assert 'id="sentiment-error"' in bad.text and "expected one of positive" in bad.text
    assert 'id="since-error"' in bad.text and "expected a day like" in bad.text


async def test_a_bad_sort_or_page_and_a_page_past_the_last_say_so(client: httpx.AsyncClient, world: World) -> None:
    """Values the page falls back from are named with what is shown instead, and a page past the
    last one says how many mentions match there, not that none does."""
    total = int(re.search(r"of ([\d,]+) mentions", (await client.get("/mentions")).text)[1].replace(",", ""))
    bogus = (await client.get("/mentions", params={"sort": "bogus"})).text
    assert re.search(r'id="sort-error">expected one of newest, oldest, engagement, got &#39;bogus&#39;', bogus)
    huge = (await client.get("/mentions", params={"page": "999999", "per_page": "0", "kind": "ad"})).text
    assert "page: expected a whole number from 1 to 100000, got &#39;999999&#39;; showing the first page" in huge
    assert "per_page: expected a whole number from 1 to 200, got &#39;0&#39;; showing 25 per page" in huge
    assert "kind: expected one of mention, own, got &#39;ad&#39;; showing posts of every kind" in huge
    assert re.search(r"Showing 1\u201325 of", huge)
    pages = -(-total // 25)
    past = (await client.get("/mentions", params={"page": str(pages + 3)})).text
    assert "No mentions match" not in past
    assert f"Page {pages + 3:,} is past the last one: {total:,} mentions match, on {pages:,} pages." in past
    assert f'href="/mentions?page={pages}">Go to the last page</a>' in past
    assert 'rel="prev"' not in past, "no pager to pages as empty as this one"
    last = (await client.get("/mentions", params={"page": str(pages)})).text
    assert f"of {total:,} mentions" in last and 'rel="next"' not in last
    nothing = (await client.get("/mentions", params={"q": "zzqx-never-said", "page": "4"})).text
    assert "No mentions match." in nothing and "past the last" not in nothing


async def test_register_through_the_form_with_errors_beside_the_fields(client: httpx.AsyncClient) -> None:
    form = await client.get("/experiments/new")
    token = csrf_of(form.text)
    assert 'name="streams" value="acme-mastodon"' in form.text and "Shared content calendar" in form.text
    bad = await client.post("/experiments", data={
        "csrf_token": token, "title": " ", "hypothesis": "Replies lift the tone", "practice": "astrology",
        "metric": "vibes", "start": "2026-07-26", "end": "2026-06-29", "min_effect": "lots",
        "control_stream": "acme-mastodon", "streams": ["acme-mastodon"],
    })  # fmt: skip
    assert bad.status_code == 400
    expected = {
        "title": "must not be empty",
        "practice": "unknown practice &#39;astrology&#39;",
        "metric": "unknown metric &#39;vibes&#39;",
        "end": "2026-06-29 is before start 2026-07-26",
        "min_effect": "expected a number like 0.05",
        "control_stream": "must not be one of the experiment&#39;s streams",
        "streams": None,
    }
    for name, message in expected.items():
        if message is None:
            assert f'id="{name}-error"' not in bad.text, name
        else:
            assert re.search(rf'id="{name}-error">[^<]*{re.escape(message)}', bad.text), name
    assert "Replies lift the tone" in bad.text, "what was typed is kept"
    missing = await client.post("/experiments", data={"csrf_token": token})
    assert 'id="streams-error">name at least one stream' in missing.text
    assert 'id="start-error">required' in missing.text

    good = await client.post("/experiments", data={
        "csrf_token": token, "title": "Reply to every mention", "hypothesis": "Replies lift the tone",
        "practice": "public-customer-answers", "metric": "sentiment", "streams": ["acme-mastodon", "acme-news"],
        "start": "2026-06-29", "end": "2026-07-26", "expect": "increase", "min_effect": "0.1", "owner": "Ana",
    })  # fmt: skip
    assert good.status_code == 303
    location = good.headers["location"]
    assert re.fullmatch(r"/experiments/\d+", location)
    page = await client.get(location)
    assert "Reply to every mention" in page.text and "Experiment #6 registered." in page.text
    assert "Experiment #6 registered." not in (await client.get(location)).text, "messages show once"
    listing = await client.get("/experiments", params={"status": "ended"})
    assert "Reply to every mention" in listing.text


async def test_note_measure_conclude_and_cancel_from_the_detail_page(client: httpx.AsyncClient) -> None:
    page = await client.get("/experiments/3")
    token = csrf_of(page.text)
    empty = await client.post("/experiments/3/notes", data={"csrf_token": token, "text": "  "})
    assert empty.status_code == 303
    assert 'id="text-error">must not be empty' in (await client.get("/experiments/3")).text
    await client.post("/experiments/3/notes", data={"csrf_token": token, "text": "AMA #2 had 40 questions"})
    measured = await client.post("/experiments/3/measure", data={"csrf_token": token}, follow_redirects=True)
    assert "Measured: running" in measured.text and "AMA #2 had 40 questions" in measured.text
    no_learning = await client.post("/experiments/3/conclude", data={"csrf_token": token, "learning": ""},
                                    follow_redirects=True)  # fmt: skip
    assert 'id="learning-error">must not be empty' in no_learning.text
    # Experiment 3 is running: concluding needs "stop it early" with a reason, then a confirmation.
    learning = {"csrf_token": token, "learning": "Experts draw questions, not new people.", "decision": "reject"}
    too_soon = await client.post("/experiments/3/conclude", data=learning, follow_redirects=True)
    assert "the window runs until" in too_soon.text and "status-running" in too_soon.text
    no_reason = await client.post("/experiments/3/conclude", data={**learning, "early": "yes"},
                                  follow_redirects=True)  # fmt: skip
    assert 'id="reason-error">needed with --early' in no_reason.text
    early = {**learning, "early": "yes", "reason": "the expert left the company"}
    asked = await client.post("/experiments/3/conclude", data=early)
    assert asked.status_code == 200 and "Yes, conclude it" in asked.text and "Stopped early" in asked.text
    assert "status-running" in (await client.get("/experiments/3")).text, "asking changes nothing"
    done = await client.post("/experiments/3/conclude", data={**early, "confirm": "yes"}, follow_redirects=True)
    assert "status-concluded" in done.text and "The practice was not adopted." in done.text
    assert "Concluded early" in done.text and "the expert left the company" in done.text
    assert "Conclude the experiment" not in done.text
    again = await client.post("/experiments/3/cancel", data={"csrf_token": token}, follow_redirects=True)
    assert "is concluded: it cannot be cancelled" in again.text
    # --adopt on a result that is still running is refused, naming the judgement instead.
    adopt = await client.post("/experiments/4/conclude", data={"csrf_token": token, "learning": learning["learning"],
                                                               "decision": "adopt", "early": "yes",
                                                               "reason": "we know enough now"},
                              follow_redirects=True)  # fmt: skip
    assert "adopt on the team&#39;s judgement" in adopt.text or "team's judgement" in adopt.text
    ask = await client.post("/experiments/2/cancel", data={"csrf_token": token})
    assert ask.status_code == 200 and "Yes, cancel it" in ask.text
    assert "status-cancelled" not in (await client.get("/experiments/2")).text
    cancelled = await client.post("/experiments/2/cancel", data={"csrf_token": token, "confirm": "yes",
                                                                 "reason": "budget moved"},
                                  follow_redirects=True)  # fmt: skip
    assert "status-cancelled" in cancelled.text and "not counted in the reflection" in cancelled.text
    assert "budget moved" in cancelled.text
    no_why = await client.post("/experiments/2/reopen", data={"csrf_token": token, "reason": ""},
                               follow_redirects=True)  # fmt: skip
    assert "say why it is reopened" in no_why.text and "status-cancelled" in no_why.text
    reopened = await client.post("/experiments/2/reopen", data={"csrf_token": token, "reason": "budget is back"},
                                 follow_redirects=True)  # fmt: skip
    assert "status-ended" in reopened.text and "status-cancelled" not in reopened.text
    assert "Reopened" in reopened.text and "budget is back" in reopened.text
    assert (
        await client.post("/experiments/42/notes", data={"csrf_token": token, "text": "x"})
    ).status_code == 404


async def test_maturity_as_of_and_its_validation(client: httpx.AsyncClient, world: World) -> None:
    before = await client.get("/maturity", params={"as_of": (world.today - timedelta(days=60)).isoformat()})
    assert before.status_code == 200 and "Dormant" in before.text
    bad = await client.get("/maturity", params={"as_of": "soon"})
    assert 'id="as_of-error">expected a day like' in bad.text


async def test_a_fresh_installation_shows_what_to_do(tmp_path: Path) -> None:
    from tests.conftest import write_config
    from tracker.config import load_settings
    from tracker.store.db import open_store

    settings = load_settings(write_config(tmp_path))
    store = open_store(settings.database_url)
    async with client_for(create_app(settings, store, require_login=False)) as client:
        for path, hint in (("/", "No streams yet"), ("/mentions", "No mentions match"),
                           ("/experiments", "No experiments yet"), ("/experiments/new", "No streams yet"),
                           ("/maturity", "No moves yet"), ("/sources", "No streams yet")):  # fmt: skip
            response = await client.get(path)
            assert response.status_code == 200 and hint in response.text, path
    store.close()


async def test_the_form_registers_an_experiment_on_a_saved_search(
    client: httpx.AsyncClient, world: World
) -> None:
    empty = await client.get("/experiments/new")
    assert '<select id="search" name="search"' in empty.text and "None saved yet" in empty.text
    saved_searches.add(world.store, "outages", '"dashboard" slow')
    form = await client.get("/experiments/new")
    token = csrf_of(form.text)
    assert '<option value="outages" >outages</option>' in form.text.replace("  ", " ")
    fields = {
        "csrf_token": token, "title": "Answer outage reports fast", "hypothesis": "Fewer complaints",
        "practice": "public-customer-answers", "metric": "mentions", "start": "2026-06-29",
        "end": "2026-07-26", "expect": "decrease", "min_effect": "0.1",
    }  # fmt: skip
    listed = await client.get("/experiments")
    unknown = await client.post(
        "/experiments", data={**fields, "search": "outagez", "streams": ["acme-mastodon"]}
    )
    assert unknown.status_code == 400
    assert re.search(
        r'id="search-error">[^<]*no saved search &#39;outagez&#39; \(saved: outages\)', unknown.text
    )
    assert (await client.get("/experiments")).text.count("/experiments/") == listed.text.count(
        "/experiments/"
    )
    both = await client.post("/experiments", data={**fields, "search": "nope", "min_effect": "lots"})
    assert 'id="search-error">no saved search' in both.text and 'id="min_effect-error"' in both.text, (
        "an unknown search is said with the other problems of the same submission"
    )
    good = await client.post(
        "/experiments", data={**fields, "search": "outages"}
    )  # no stream: all but rivals
    assert good.status_code == 303, good.text
    page = await client.get(good.headers["location"])
    assert "Saved search" in page.text and ">outages</a>" in page.text
    assert "in every stream but the competitors" in page.text.replace("&#39;", "'")


async def test_registering_a_before_after_comparison_without_history_warns_on_the_page(
    client: httpx.AsyncClient, world: World
) -> None:
    """The web shows what `experiment add` warns: no verdict without 49 days before the baseline."""
    form = await client.get("/experiments/new")
    start = world.today - timedelta(days=100)  # its baseline starts before the first mention
    fields = {
        "csrf_token": csrf_of(form.text), "title": "Early test", "hypothesis": "More mentions",
        "practice": "content-calendar", "metric": "mentions", "streams": ["acme-mastodon"],
        "start": start.isoformat(), "end": (start + timedelta(days=20)).isoformat(),
        "expect": "increase", "min_effect": "0.1",
    }  # fmt: skip
    added = await client.post("/experiments", data=fields)
    assert added.status_code == 303, added.text
    page = (await client.get(added.headers["location"])).text.replace("&#39;", "'")
    assert "will get no verdict" in page and "--control-stream" in page
