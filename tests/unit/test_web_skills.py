"""Skills and the expert finder over HTTP and the command line (in-memory PBX)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from telephony import cli
from telephony.config import demo_site_path, load_site
from telephony.engine.engine import Engine
from telephony.port import MemberState
from telephony.port.memory import MemoryPort
from telephony.routing.clock import ManualClock
from telephony.web.api import make_app

MONDAY_9 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # asa and chen on duty in intake
Client = TestClient[object, object]


@pytest.fixture
def port() -> MemoryPort:
    return MemoryPort()


@pytest.fixture
async def client(port: MemoryPort) -> AsyncIterator[Client]:
    engine = Engine(load_site(demo_site_path(), {}), port, ManualClock(MONDAY_9))
    await engine.start()
    async with TestClient(TestServer(make_app(engine), host="127.0.0.1")) as test_client:
        yield test_client
    await engine.stop()


def pension(port: MemoryPort) -> dict[str, int]:
    return {m.agent: m.level for m in port.members.values() if m.queue == "pension"}


async def test_put_skill_changes_membership_at_once(client: Client, port: MemoryPort) -> None:
    response = await client.put("/api/agents/asa/skills/pension", json={"level": 4})
    assert response.status == 200
    assert (await response.json())["skills"] == {"unemployment": 5, "pension": 4}
    assert pension(port) == {"chen": 1, "asa": 2}


async def test_delete_skill_takes_the_agent_out(client: Client, port: MemoryPort) -> None:
    response = await client.delete("/api/agents/chen/skills/pension", json={})
    assert response.status == 200
    assert pension(port) == {}
    assert (await (await client.get("/api/agents/chen/skills")).json())["skills"] == {}


@pytest.mark.parametrize(
    ("body", "field"),
    [({"level": 9}, "level"), ({}, "level"), ({"level": "3"}, "level"),
     ({"level": 3, "until": 1}, "until")],
)
async def test_a_bad_skill_edit_is_a_400_naming_the_field(
    client: Client, port: MemoryPort, body: dict[str, Any], field: str
) -> None:
    response = await client.put("/api/agents/asa/skills/pension", json=body)
    assert response.status == 400
    assert (await response.json())["field"] == field
    assert pension(port) == {"chen": 1}


async def test_an_unknown_agent_is_a_404(client: Client) -> None:
    response = await client.put("/api/agents/nobody/skills/pension", json={"level": 3})
    assert response.status == 404
    assert (await response.json())["field"] == "agent"


async def test_experts_are_listed_available_first_then_most_skilled(
    client: Client, port: MemoryPort
) -> None:
    port.set_state("chen", MemberState.ON_CALL)
    body = await (await client.get("/api/experts", params={"skill": "pension"})).json()
    assert [(e["agent"], e["level"], e["state"], e["available"]) for e in body["experts"]] == [
        ("asa", 2, "available", True), ("chen", 5, "busy", False),
    ]
    assert body["experts"][0]["on_duty"] == ["intake"]


async def test_experts_need_a_skill_and_a_whole_min_level(client: Client) -> None:
    for params, field in (({}, "skill"), ({"skill": "pension", "min_level": "x"}, "min_level"),
                          ({"skill": "pension", "min_level": "9"}, "min_level")):
        response = await client.get("/api/experts", params=params)
        assert response.status == 400
        assert (await response.json())["field"] == field


def test_the_experts_command_prints_a_table(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: list[tuple[str, str]] = []

    def fake_request(
        base: str, method: str, path: str, body: object = None, token: str | None = None
    ) -> dict[str, Any]:
        seen.append((method, path))
        return {"skill": "pension", "min_level": 3, "experts": [
            {"agent": "chen", "name": "Chen Wei", "level": 5, "state": "available",
             "available": True, "on_duty": ["intake"]},
        ]}

    monkeypatch.setattr("telephony.engine.client.request", fake_request)
    assert cli.main(["experts", "pension", "--min-level", "3"]) == 0
    assert seen == [("GET", "/api/experts?skill=pension&min_level=3")]
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["agent", "name", "level", "state", "on", "duty"]
    assert out[1].split() == ["chen", "Chen", "Wei", "5", "available", "intake"]


def test_the_skill_command_puts_the_level(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[str, str, object]] = []

    def fake_request(
        base: str, method: str, path: str, body: object = None, token: str | None = None
    ) -> dict[str, Any]:
        seen.append((method, path, body))
        return {"agent": "asa", "skills": {"pension": 4}}

    monkeypatch.setattr("telephony.engine.client.request", fake_request)
    assert cli.main(["agent", "skill", "asa", "pension", "4"]) == 0
    assert seen == [("PUT", "/api/agents/asa/skills/pension", {"level": 4})]


async def test_status_lists_skill_queue_members_by_ring_level(
    client: Client, port: MemoryPort
) -> None:
    await client.put("/api/agents/bjorn/skills/pension", json={"level": 3})
    status = await (await client.get("/api/status")).json()
    [pension] = status["queues"]
    assert [(m["agent"], m["level"]) for m in pension["members"]] == [("chen", 1), ("bjorn", 2)]
    bjorn = next(a for a in status["agents"] if a["id"] == "bjorn")
    assert bjorn["skills"] == {"unemployment": 4, "pension": 3}
