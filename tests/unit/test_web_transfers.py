"""Transfers over HTTP and the command line, with the engine on an in-memory PBX.

The in-memory PBX records transfers (it moves nobody): these tests are about which
transfer the engine asks for and what the API answers. That a PBX carries it out is
tests/pbx/test_transfers.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from transfer_site import SITE

from telephony import cli
from telephony.engine.client import ApiError
from telephony.engine.engine import Engine
from telephony.port import LiveCall
from telephony.port.memory import MemoryPort
from telephony.routing.clock import ManualClock
from telephony.web.api import make_app

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
Client = TestClient[object, object]
CALLER = "+46701234567"
DIRECT = LiveCall("memory/caller-1", "asa", CALLER)
FROM_PENSION = LiveCall("memory/caller-1", "asa", CALLER, queue="pension")


@pytest.fixture
def port() -> MemoryPort:
    return MemoryPort()


@pytest.fixture
async def client(port: MemoryPort) -> AsyncIterator[Client]:
    engine = Engine(SITE, port, ManualClock(NOW))
    await engine.start()
    async with TestClient(TestServer(make_app(engine), host="127.0.0.1")) as test_client:
        yield test_client
    await engine.stop()


async def post(client: Client, agent: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = await client.post(f"/api/agents/{agent}/transfer", json=body)
    answer: dict[str, Any] = await response.json()
    return response.status, answer


async def test_a_blind_transfer_to_a_free_agent_moves_the_caller_to_their_extension(
    client: Client, port: MemoryPort
) -> None:
    port.live.append(DIRECT)
    status, body = await post(client, "asa", {"to": "agent:bjorn"})
    assert status == 200
    assert port.transfers == [(DIRECT, "1002", False)]
    assert body == {
        "agent": "asa", "to": "agent:bjorn", "mode": "blind", "urgent": False,
        "number": "1002", "peer": CALLER, "queue": None, "needs": None,
    }


async def test_an_attended_transfer_asks_the_pbx_for_one(
    client: Client, port: MemoryPort
) -> None:
    port.live.append(DIRECT)
    status, body = await post(client, "asa", {"to": "agent:bjorn", "mode": "attended"})
    assert status == 200
    assert port.transfers == [(DIRECT, "1002", True)]
    assert body["mode"] == "attended"


async def test_an_urgent_transfer_dials_the_urgent_prefix(
    client: Client, port: MemoryPort
) -> None:
    port.live.append(DIRECT)
    status, _ = await post(client, "asa", {"to": "agent:bjorn", "urgent": True})
    assert status == 200
    assert port.transfers == [(DIRECT, "*91002", False)]


async def test_a_transfer_to_an_agent_on_a_call_is_a_409_and_the_call_stays(
    client: Client, port: MemoryPort
) -> None:
    port.live += [DIRECT, LiveCall("memory/caller-2", "bjorn", "+46701230000")]
    status, body = await post(client, "asa", {"to": "agent:bjorn"})
    assert status == 409
    assert body == {"field": "to", "error": "bjorn is on a call"}
    assert port.transfers == []
    assert DIRECT in port.live


async def test_a_transfer_to_an_agent_without_a_registered_phone_is_a_409(
    client: Client, port: MemoryPort
) -> None:
    port.live.append(DIRECT)
    port.register("asa")
    port.register("chen")  # Björn has nothing registered
    status, body = await post(client, "asa", {"to": "agent:bjorn"})
    assert status == 409
    assert body["error"] == "bjorn has no phone registered"


async def test_a_transfer_to_an_agent_in_focus_is_a_409_unless_urgent(
    client: Client, port: MemoryPort
) -> None:
    port.live.append(DIRECT)
    assert (await client.put("/api/agents/bjorn/focus", json={"minutes": 30})).status == 200
    status, body = await post(client, "asa", {"to": "agent:bjorn"})
    assert status == 409
    assert "in focus" in body["error"]
    status, _ = await post(client, "asa", {"to": "agent:bjorn", "urgent": True})
    assert status == 200
    assert port.transfers == [(DIRECT, "*91002", False)]


async def test_a_caller_from_a_skill_queue_is_not_moved_to_an_agent_below_its_level(
    client: Client, port: MemoryPort
) -> None:
    port.live.append(FROM_PENSION)
    status, body = await post(client, "asa", {"to": "agent:bjorn"})
    assert status == 409
    assert body["error"] == (
        "bjorn lacks the skill the caller needs: pension at level 3 or above (has level 2)"
    )


async def test_a_skill_raised_at_runtime_counts(client: Client, port: MemoryPort) -> None:
    port.live.append(FROM_PENSION)
    assert (await client.put("/api/agents/bjorn/skills/pension", json={"level": 3})).status == 200
    status, body = await post(client, "asa", {"to": "agent:bjorn"})
    assert status == 200
    assert body["needs"] == "pension at level 3 or above"


async def test_a_transfer_to_a_skill_queue_with_members_is_dialled_at_its_number(
    client: Client, port: MemoryPort
) -> None:
    port.live.append(DIRECT)
    assert port.entries("pension-wide")  # the engine put the skilled agents in
    status, _ = await post(client, "asa", {"to": "queue:pension-wide"})
    assert status == 200
    assert port.transfers == [(DIRECT, "3002", False)]


async def test_a_transfer_to_an_empty_hunt_group_is_a_409_saying_so(
    client: Client, port: MemoryPort
) -> None:
    port.live.append(DIRECT)
    status, body = await post(client, "asa", {"to": "hunt_group:intake"})
    assert status == 409
    assert body == {"field": "to", "error": "nobody is in hunt group intake now"}


async def test_an_agent_on_no_call_has_nothing_to_transfer(client: Client) -> None:
    status, body = await post(client, "asa", {"to": "agent:bjorn"})
    assert status == 409
    assert body == {"field": "agent", "error": "asa is not on a call"}


@pytest.mark.parametrize(
    ("agent", "body", "field"),
    [("nobody", {"to": "agent:bjorn"}, "agent"),
     ("asa", {"to": "agent:nobody"}, "to"),
     ("asa", {"to": "queue:nope"}, "to"),
     ("asa", {"to": "hunt_group:nope"}, "to"),
     ("asa", {"to": "agent:bjorn", "skill": "astrology"}, "skill")],
)
async def test_unknown_names_are_a_404_naming_the_field(
    client: Client, port: MemoryPort, agent: str, body: dict[str, Any], field: str
) -> None:
    port.live.append(DIRECT)
    status, answer = await post(client, agent, body)
    assert (status, answer["field"]) == (404, field)


@pytest.mark.parametrize(
    ("body", "field"),
    [({}, "to"), ({"to": "bjorn"}, "to"), ({"to": 1002}, "to"),
     ({"to": "agent:bjorn", "mode": "later"}, "mode"),
     ({"to": "agent:bjorn", "urgent": "yes"}, "urgent"),
     ({"to": "agent:bjorn", "skill": 3}, "skill"),
     ({"to": "agent:bjorn", "after": 3}, "after"),
     ({"to": "hunt_group:intake", "urgent": True}, "urgent")],
)
async def test_a_malformed_request_is_a_400_naming_the_field(
    client: Client, port: MemoryPort, body: dict[str, Any], field: str
) -> None:
    port.live.append(DIRECT)
    status, answer = await post(client, "asa", body)
    assert (status, answer["field"]) == (400, field)
    assert port.transfers == []


async def test_a_pbx_that_does_not_answer_is_a_503(client: Client, port: MemoryPort) -> None:
    port.live.append(DIRECT)
    port.unavailable_for(1)
    status, answer = await post(client, "asa", {"to": "agent:bjorn"})
    assert (status, answer["field"]) == (503, "pbx")


def test_the_transfer_command_posts_the_request(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[str, str, object]] = []

    def fake_request(
        base: str, method: str, path: str, body: object = None, token: str | None = None
    ) -> dict[str, Any]:
        seen.append((method, path, body))
        return {"agent": "asa", "to": "agent:bjorn", "number": "*91002"}

    monkeypatch.setattr("telephony.engine.client.request", fake_request)
    assert cli.main(["transfer", "asa", "agent:bjorn", "--attended", "--urgent",
                     "--skill", "pension"]) == 0
    assert seen == [("POST", "/api/agents/asa/transfer", {
        "to": "agent:bjorn", "mode": "attended", "urgent": True, "skill": "pension"})]


def test_the_transfer_command_is_blind_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[object] = []

    def fake_request(
        base: str, method: str, path: str, body: object = None, token: str | None = None
    ) -> dict[str, Any]:
        seen.append(body)
        return {}

    monkeypatch.setattr("telephony.engine.client.request", fake_request)
    assert cli.main(["transfer", "asa", "queue:pension"]) == 0
    assert seen == [{"to": "queue:pension", "mode": "blind", "urgent": False}]


def test_a_refused_transfer_prints_the_field_and_reason_and_fails(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def fake_request(
        base: str, method: str, path: str, body: object = None, token: str | None = None
    ) -> dict[str, Any]:
        raise ApiError("to: bjorn is on a call")

    monkeypatch.setattr("telephony.engine.client.request", fake_request)
    assert cli.main(["transfer", "asa", "agent:bjorn"]) == 1
    assert capsys.readouterr().err.strip() == "to: bjorn is on a call"
