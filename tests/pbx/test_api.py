"""The engine's HTTP API over a real engine and PBX: changes land, bad requests are named."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

import pytest
from aiohttp.test_utils import TestClient, TestServer
from pbx_support import StartEngine, queue_members

from telephony.port import PbxPort
from telephony.web.api import make_app

pytestmark = pytest.mark.pbx

ON_DUTY = datetime.fromisoformat("2026-11-23T09:00:00+01:00")


@pytest.fixture
async def client(start_engine: StartEngine) -> AsyncIterator[TestClient[object, object]]:
    engine, _ = await start_engine(ON_DUTY)
    async with TestClient(TestServer(make_app(engine), host="127.0.0.1")) as test_client:
        yield test_client


async def test_join_over_the_api_adds_the_member(client: TestClient[object, object], port: PbxPort) -> None:
    response = await client.post("/api/hunt-groups/intake/agents/bjorn/join", json={})
    assert response.status == 200
    # In the site's zone (Stockholm, +01:00), to the second.
    assert (await response.json())["until"] == "2026-11-23T10:00:00+01:00"
    assert await queue_members(port, "intake") == ["asa", "bjorn"]


async def test_unknown_agent_is_a_404_naming_the_field(client: TestClient[object, object]) -> None:
    response = await client.post("/api/hunt-groups/intake/agents/zed/join", json={})
    assert response.status == 404
    assert await response.json() == {"error": "unknown agent 'zed'", "field": "agent"}


async def test_unknown_action_is_a_400(client: TestClient[object, object]) -> None:
    response = await client.post("/api/hunt-groups/intake/agents/asa/dance", json={})
    assert response.status == 400
    assert (await response.json())["field"] == "action"


async def test_focus_with_a_bad_time_is_refused_and_nothing_changes(
    client: TestClient[object, object], port: PbxPort
) -> None:
    response = await client.put("/api/agents/asa/focus", json={"until": "tomorrow"})
    assert response.status == 400
    assert (await response.json())["field"] == "until"
    assert await queue_members(port, "intake") == ["asa"]


async def test_focus_for_some_minutes_over_the_api(client: TestClient[object, object], port: PbxPort) -> None:
    response = await client.put("/api/agents/asa/focus", json={"minutes": 30})
    assert response.status == 200
    assert (await response.json())["until"] == "2026-11-23T09:30:00+01:00"
    assert await queue_members(port, "intake") == []


async def test_case_link_for_a_bad_number_is_refused(client: TestClient[object, object]) -> None:
    response = await client.put("/api/cases/07-123", json={"agent": "asa"})
    assert response.status == 400
    assert (await response.json())["field"] == "number"


async def test_status_lists_members_and_focus(client: TestClient[object, object]) -> None:
    await client.put("/api/agents/bjorn/focus", json={})
    body = await (await client.get("/api/status")).json()
    intake = next(g for g in body["hunt_groups"] if g["id"] == "intake")
    assert [m["agent"] for m in intake["members"]] == ["asa"]
    assert next(a for a in body["agents"] if a["id"] == "bjorn")["focus"] == {"until": None}


async def test_a_change_that_is_not_json_is_refused(client: TestClient[object, object], port: PbxPort) -> None:
    # What a cross-site HTML form can send without a CORS preflight.
    response = await client.post(
        "/api/hunt-groups/intake/agents/bjorn/join", data="x", headers={"Content-Type": "text/plain"}
    )
    assert response.status == 415
    assert await queue_members(port, "intake") == ["asa"]


async def test_a_request_for_another_host_name_is_refused(client: TestClient[object, object]) -> None:
    # DNS rebinding: a page on evil.example resolving to 127.0.0.1.
    response = await client.get("/api/status", headers={"Host": "evil.example:8080"})
    assert response.status == 403
