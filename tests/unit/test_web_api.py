"""The HTTP API over an in-memory PBX: neutral words out, PBX trouble as 503."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from aiohttp.test_utils import TestClient, TestServer

from telephony.config import demo_site_path, load_site
from telephony.engine.engine import Engine
from telephony.port import MemberState, PutKey
from telephony.port.memory import MemoryPort
from telephony.routing.clock import ManualClock
from telephony.web.api import make_app

MONDAY_9 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # asa and chen on duty in intake


@pytest.fixture
def port() -> MemoryPort:
    return MemoryPort()


@pytest.fixture
async def client(port: MemoryPort) -> AsyncIterator[TestClient[object, object]]:
    engine = Engine(load_site(demo_site_path(), {}), port, ManualClock(MONDAY_9))
    await engine.start()
    async with TestClient(TestServer(make_app(engine), host="127.0.0.1")) as test_client:
        yield test_client
    await engine.stop()


async def test_status_shows_members_in_neutral_words(
    client: TestClient[object, object], port: MemoryPort
) -> None:
    port.set_state("asa", MemberState.ON_CALL)
    port.hold_elsewhere("intake", "chen", "lunch")
    status = await (await client.get("/api/status")).json()
    [intake] = status["hunt_groups"]
    assert intake["members"] == [
        {"agent": "asa", "paused": False, "hold": None, "hold_reason": "", "state": "on_call"},
        {"agent": "chen", "paused": True, "hold": "external", "hold_reason": "lunch",
         "state": "idle"},
    ]


async def test_a_pbx_that_does_not_answer_is_a_503(
    client: TestClient[object, object], port: MemoryPort
) -> None:
    port.unavailable_for(1)
    response = await client.put("/api/cases/+46701234567", json={"agent": "asa"})
    assert response.status == 503
    assert (await response.json())["field"] == "pbx"


async def test_a_change_the_pbx_refuses_is_a_503(
    client: TestClient[object, object], port: MemoryPort
) -> None:
    port.refuse_next(PutKey)  # the focus key
    response = await client.put("/api/agents/asa/focus", json={"minutes": 30})
    assert response.status == 503


async def test_health_says_starting_until_the_engines_first_sync(port: MemoryPort) -> None:
    engine = Engine(load_site(demo_site_path(), {}), port, ManualClock(MONDAY_9))
    async with TestClient(TestServer(make_app(engine), host="127.0.0.1")) as client:
        before = await client.get("/api/health")
        assert (before.status, await before.json()) == (503, {"ok": False, "error": "starting"})
        await engine.start()
        after = await client.get("/api/health")
        assert (after.status, await after.json()) == (200, {"ok": True})
    await engine.stop()
