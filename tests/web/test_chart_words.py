"""Charts say what the text says: spike marks only for the streams shown, named in the tooltip;
experiment windows on the overview; the control stream drawn on its experiment; DiD in words."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta

import httpx
import pytest

from tests.web.support import World
from tracker.explain import diff_in_diff_text
from tracker.mentions import import_file
from tracker.web import queries

pytestmark = pytest.mark.anyio


def spike_marks(html: str) -> dict[str, str]:
    """Each spike bar's tooltip, keyed by its day label."""
    marks = re.findall(r'<rect class="bar spike"[^>]*><title>([^<]*)</title>', html)
    return {m.split(":")[0]: m for m in marks}


async def test_spike_marks_only_for_the_streams_the_chart_shows(local_client: httpx.AsyncClient,
                                                                local: World) -> None:  # fmt: skip
    today = queries.today(local.settings)
    burst = local.settings.path.parent / "burst.jsonl"
    day = today - timedelta(days=10)  # a competitor's burst the overview must not mark as ours
    burst.write_text("".join(json.dumps({"platform": "reddit", "external_id": f"t3_burst{i}", "text": "Globex!",
                                         "created_at": f"{day}T12:00:00Z", "stream": "globex-reddit"}) + "\n"
                             for i in range(80)))  # fmt: skip
    assert not import_file(store=local.store, settings=local.settings, path=burst, fmt="jsonl").rejected
    html = (await local_client.get("/")).text
    with local.store.read() as session:
        shown = queries.chart_streams(session, local.settings)
        found = queries.spikes(session, local.settings, date.fromordinal(today.toordinal() - 55), today)
    competitor = [s for s in found if s.stream not in shown]
    own = [s for s in found if s.stream in shown]
    assert competitor, "the world has competitor spikes, which the chart must not mark"
    marks = spike_marks(html)
    assert {f"{s.day:%a %d %b}" for s in own} == set(marks), (marks, own, competitor)
    for s in own:
        assert f"spike in {s.stream}" in marks[f"{s.day:%a %d %b}"]
    for s in competitor:
        label = f"{s.day:%a %d %b}"
        assert label not in marks or s.stream not in marks[label]


async def test_the_overview_marks_experiment_windows(local_client: httpx.AsyncClient) -> None:
    html = (await local_client.get("/")).text
    windows = re.findall(r'<rect class="window"[^>]*><title>([^<]*)</title>', html)
    assert any(w.startswith("Experiment #3 Weekly expert AMA on Bluesky:") for w in windows), windows
    assert not any("Paid boost" in w for w in windows), "a cancelled experiment is not drawn"


async def test_an_experiment_with_a_control_draws_it_and_explains_itself(
    local_client: httpx.AsyncClient,
) -> None:
    html = (await local_client.get("/experiments/3")).text
    assert 'class="line-control"' in html and "acme-news, " in html, "the control's series, named in tooltips"
    explained = re.search(r'<p class="explained">([^<]*)</p>', html)
    assert explained is not None
    text = explained.group(1).replace("&#39;", "'")
    assert re.fullmatch(r"acme-bluesky (rose|fell) \d+ %, the control \(acme-news\) (rose|fell|stayed level)[^:]*: "
                        r"the practice's share is [+-]\d+ %\.", text), text  # fmt: skip
    plain = (await local_client.get("/experiments/2")).text
    assert 'class="explained"' not in plain and 'class="line-control"' not in plain


def test_diff_in_diff_sentence() -> None:
    result = {"method": "diff_in_diff", "metric": "mentions", "lift_rel": 0.26,
              "baseline": {"value": 3.0}, "treatment": {"value": 5.0},
              "control": {"stream": "globex", "baseline": 3.0, "treatment": 4.0}}  # fmt: skip
    assert diff_in_diff_text(result, "Acme") == (
        "Acme rose 67 %, the control (globex) rose 33 %: the practice's share is +26 %."
    )
    shares = {**result, "metric": "positive_share", "lift_abs": 0.05, "baseline": {"value": 0.40},
              "treatment": {"value": 0.50}, "control": {"stream": None, "baseline": 0.40, "treatment": 0.45}}  # fmt: skip
    assert diff_in_diff_text(shares, "Acme") == (
        "Acme rose 10.0 percentage points, the control stream rose 5.0 percentage points: "
        "the practice's share is +5.0 percentage points."
    )
    assert diff_in_diff_text({**result, "method": "pre_post"}) is None
