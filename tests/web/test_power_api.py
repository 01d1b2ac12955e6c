"""Power up front through the API and the web form: `mde` and the warnings of `experiment add`."""

from __future__ import annotations

import httpx
import pytest

from tests.web.test_api import GOOD

pytestmark = pytest.mark.anyio


async def test_the_api_reports_the_detectable_effect(local_client: httpx.AsyncClient) -> None:
    created = await local_client.post("/api/v1/experiments", json={**GOOD, "min_effect": 0.001})
    assert created.status_code == 201, created.text
    record = created.json()
    assert record["mde"] is not None and 0 < record["mde"] < 1  # absolute, for sentiment
    assert [w for w in record["warnings"] if "--min-effect" in w and "smaller than" in w]
    shown = (await local_client.get(f"/api/v1/experiments/{record['id']}")).json()
    assert shown["mde"] == record["mde"] and shown["post_hoc"] is False
    page = await local_client.get(f"/experiments/{record['id']}")
    assert "Detectable" in page.text
