"""A post the platform has deleted stays listed in the web view, marked as deleted."""

from __future__ import annotations

import re

import httpx
import pytest
from markupsafe import escape
from sqlalchemy import select, update

from tests.web.support import World
from tracker.store.models import Mention
from tracker.timeutil import utcnow

pytestmark = pytest.mark.anyio


async def test_a_deleted_mention_is_shown_as_deleted(local_client: httpx.AsyncClient, local: World) -> None:
    with local.store.write() as session:
        newest = session.scalars(select(Mention).order_by(Mention.created_at.desc()).limit(1)).one()
        session.execute(update(Mention).where(Mention.id == newest.id).values(deleted_at=utcnow()))
        text = newest.text
    page = (await local_client.get("/mentions", params={"sort": "newest"})).text
    cards = re.findall(r'<article class="mention[^"]*">.*?</article>', page, flags=re.S)
    marked = [c for c in cards if 'class="badge deleted"' in c]
    assert len(marked) == 1 and 'class="mention deleted"' in marked[0]
    # the deleted post itself, kept in the list (as the page writes it: HTML-escaped, "Acme&#39;s")
    assert str(escape(text.split()[0])) in marked[0]
    assert sum(1 for c in cards if "badge deleted" in c) == 1
