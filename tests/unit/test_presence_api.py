"""Agents and presence over HTTP (in-memory PBX): the JSON shapes, setting a state, bad
input named, the server-sent event stream with resume and reset, the OpenAPI document."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import ClientResponse, ClientSession, web
from aiohttp.test_utils import TestClient, TestServer

from telephony import cli
from telephony.config import demo_site_path, load_site
from telephony.engine.engine import Engine
from telephony.port import MemberState
from telephony.port.memory import MemoryPort
from telephony.routing.clock import ManualClock
from telephony.web.agents import KEEPALIVE
from telephony.web.api import make_app
from telephony.web.openapi import document

MONDAY_9 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # 09:00 in Stockholm
Client = TestClient[Any, Any]


@pytest.fixture
def port() -> MemoryPort:
    port = MemoryPort()
    port.registered = {"asa", "bjorn", "chen"}
    port.phones = {"asa": MemberState.IDLE, "bjorn": MemberState.IDLE, "chen": MemberState.IDLE}
    return port


@pytest.fixture
async def engine(port: MemoryPort) -> AsyncIterator[Engine]:
    engine = Engine(load_site(demo_site_path(), {}), port, ManualClock(MONDAY_9))
    await engine.start()
    yield engine
    await engine.stop()


@pytest.fixture
async def client(engine: Engine) -> AsyncIterator[Client]:
    app = make_app(engine)
    app[KEEPALIVE] = 0.05
    async with TestClient(TestServer(app, host="127.0.0.1")) as test_client:
        yield test_client


async def test_agents_are_listed_with_presence_groups_queues_and_skills(client: Client) -> None:
    body = await (await client.get("/api/agents")).json()
    assert body["timezone"] == "Europe/Stockholm"
    assert [a["id"] for a in body["agents"]] == ["asa", "bjorn", "chen"]
    assert body["agents"][2] == {
        "id": "chen", "name": "Chen Wei", "extension": "1003", "presence": "on_duty",
        "note": "On duty until 12:00", "reason": None, "until": "2026-11-23T12:00:00+01:00",
        "since": None, "on_duty": ["intake"], "groups": ["intake"], "queues": ["pension"],
        "skills": {"pension": 5},
    }


async def test_one_agent_and_an_unknown_one(client: Client) -> None:
    asa = await client.get("/api/agents/asa")
    assert (await asa.json())["note"] == "On duty until 10:00"
    missing = await client.get("/api/agents/nobody")
    assert (missing.status, (await missing.json())["field"]) == (404, "agent")


async def test_away_focus_and_back_over_http(client: Client, port: MemoryPort) -> None:
    away = await client.put("/api/agents/chen/state", json={"state": "away", "reason": "lunch"})
    assert away.status == 200
    body = await away.json()
    assert (body["presence"], body["reason"], body["note"]) == ("away", "lunch", "Away: lunch")
    assert body["since"] == "2026-11-23T09:00:00+01:00"
    focus = await client.put("/api/agents/chen/state", json={"state": "focus", "until": "14:00"})
    body = await focus.json()
    assert (body["presence"], body["note"], body["until"], body["reason"]) == (
        "focus", "Focus until 14:00", "2026-11-23T14:00:00+01:00", None)
    early = await client.put("/api/agents/chen/state", json={"state": "focus", "until": "08:30"})
    assert (await early.json())["until"] == "2026-11-24T08:30:00+01:00"  # passed: tomorrow
    back = await client.put("/api/agents/chen/state", json={"state": "back"})
    assert (await back.json())["presence"] == "on_duty"


@pytest.mark.parametrize(("body", "field"), [
    ({}, "state"),
    ({"state": "asleep"}, "state"),
    ({"state": "away"}, "reason"),
    ({"state": "away", "reason": ""}, "reason"),
    ({"state": "away", "reason": "x" * 65}, "reason"),
    ({"state": "away", "reason": "a/b"}, "reason"),
    ({"state": "available", "reason": "lunch"}, "reason"),
    ({"state": "away", "reason": "lunch", "until": "14:00"}, "until"),
    ({"state": "focus", "until": "25:00"}, "until"),
    ({"state": "focus", "until": 1400}, "until"),
    ({"state": "focus", "until": "2026-11-23T08:00+01:00"}, "until"),  # in the past
    ({"state": "focus", "colour": "red"}, "colour"),
    ([], "body"),
])
async def test_bad_input_is_a_400_naming_the_field(
    client: Client, body: object, field: str
) -> None:
    response = await client.put("/api/agents/asa/state", json=body)
    assert response.status == 400
    assert (await response.json())["field"] == field


async def read_event(response: ClientResponse, timeout: float = 2.0) -> dict[str, str]:
    """One server-sent event (its fields), skipping comment lines and the retry hint."""
    fields: dict[str, str] = {}
    async with asyncio.timeout(timeout):
        while True:
            line = (await response.content.readline()).decode().rstrip("\n")
            if line == "":
                if fields and set(fields) != {"retry"}:
                    return fields
                fields = {}
            elif line.startswith(":"):
                fields.setdefault(":", line)
            else:
                name, _, value = line.partition(": ")
                fields[name] = value


async def test_the_stream_starts_with_every_agent_then_sends_each_change(
    client: Client, engine: Engine, port: MemoryPort
) -> None:
    async with client.get("/api/events") as response:
        assert response.headers["Content-Type"].startswith("text/event-stream")
        first = [await read_event(response) for _ in range(3)]
        assert [json.loads(e["data"])["id"] for e in first] == ["asa", "bjorn", "chen"]
        assert {e["event"] for e in first} == {"agent"}
        port.set_phone("bjorn", MemberState.RINGING)
        change = await read_event(response)
        assert change["event"] == "agent"
        assert int(change["id"]) == engine.feed.last_id
        assert json.loads(change["data"])["presence"] == "ringing"


async def test_a_reader_resumes_after_the_last_event_it_saw(
    client: Client, engine: Engine, port: MemoryPort
) -> None:
    seen = engine.feed.last_id
    port.set_phone("bjorn", MemberState.RINGING)
    port.set_phone("bjorn", MemberState.ON_CALL)
    for resume in ({"headers": {"Last-Event-ID": str(seen)}}, {"params": {"after": str(seen)}}):
        async with client.get("/api/events", **resume) as response:  # type: ignore[arg-type]
            got = [await read_event(response) for _ in range(2)]
            assert [json.loads(e["data"])["presence"] for e in got] == ["ringing", "on_call"]
            assert [int(e["id"]) for e in got] == [seen + 1, seen + 2]


async def test_a_resume_point_too_old_gets_a_reset_and_every_agent(
    client: Client, engine: Engine
) -> None:
    too_old = engine.feed.last_id - 1000
    async with client.get("/api/events", params={"after": str(too_old)}) as response:
        reset = await read_event(response)
        assert reset["event"] == "reset"
        agents = [await read_event(response) for _ in range(3)]
        assert [json.loads(e["data"])["id"] for e in agents] == ["asa", "bjorn", "chen"]
        assert {int(e["id"]) for e in agents} == {engine.feed.last_id}


async def test_an_idle_stream_gets_keep_alive_comments(client: Client) -> None:
    async with client.get("/api/events", params={"after": "0"}) as response:
        for _ in range(4):
            await read_event(response)  # the reset and the agents
        async with asyncio.timeout(2):
            while (await response.content.readline()).decode() != ": keep-alive\n":
                pass


async def test_a_bad_resume_point_is_a_400(client: Client) -> None:
    response = await client.get("/api/events", params={"after": "soon"})
    assert (response.status, (await response.json())["field"]) == (400, "after")
    response = await client.get("/api/events", headers={"Last-Event-ID": "-1"})
    assert (response.status, (await response.json())["field"]) == (400, "Last-Event-ID")


def served(client: Client) -> set[tuple[str, str]]:
    out = set()
    for route in client.app.router.routes():  # type: ignore[union-attr]
        path = route.resource.canonical if route.resource is not None else ""
        if path.startswith("/api/") and route.method in ("GET", "PUT", "POST", "DELETE", "PATCH"):
            out.add((route.method.lower(), path))
    return out


async def test_the_openapi_document_describes_every_api_route_the_app_serves(
    client: Client,
) -> None:
    doc = await (await client.get("/api/openapi.json")).json()
    assert doc["openapi"].startswith("3.1")
    described = {(method, path) for path, ops in doc["paths"].items() for method in ops
                 if method in ("get", "put", "post", "delete", "patch")}
    assert served(client) == described
    assert doc == json.loads(json.dumps(document()))


def test_every_reference_in_the_openapi_document_resolves() -> None:
    doc = document()
    refs = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "$ref" in node:
                refs.add(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(doc)
    names = {f"#/components/schemas/{n}" for n in doc["components"]["schemas"]}
    assert refs and refs <= names


def test_the_state_command_puts_the_state_in_words(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: list[tuple[str, str, object]] = []

    def fake_request(
        base: str, method: str, path: str, body: object = None, **_: object
    ) -> dict[str, Any]:
        seen.append((method, path, body))
        return {"id": "asa", "note": "Away: lunch break"}

    monkeypatch.setattr("telephony.engine.client.request", fake_request)
    assert cli.main(["agent", "state", "asa", "away", "lunch", "break"]) == 0
    assert capsys.readouterr().out == "asa: Away: lunch break\n"
    assert cli.main(["agent", "state", "asa", "focus", "14:00"]) == 0
    assert cli.main(["agent", "state", "asa", "focus"]) == 0
    assert cli.main(["agent", "state", "asa", "back"]) == 0
    assert seen == [
        ("PUT", "/api/agents/asa/state", {"state": "away", "reason": "lunch break"}),
        ("PUT", "/api/agents/asa/state", {"state": "focus", "until": "14:00"}),
        ("PUT", "/api/agents/asa/state", {"state": "focus"}),
        ("PUT", "/api/agents/asa/state", {"state": "back"}),
    ]


def test_the_agents_command_prints_a_table(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def fake_request(
        base: str, method: str, path: str, body: object = None, **_: object
    ) -> dict[str, Any]:
        assert (method, path) == ("GET", "/api/agents")
        return {"timezone": "Europe/Stockholm", "agents": [
            {"id": "chen", "name": "Chen Wei", "note": "On duty until 12:00",
             "on_duty": ["intake"], "skills": {"pension": 5}},
            {"id": "bjorn", "name": "Björn Lind", "note": "Away: lunch", "on_duty": [],
             "skills": {}},
        ]}

    monkeypatch.setattr("telephony.engine.client.request", fake_request)
    assert cli.main(["agents"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["agent", "name", "state", "on", "duty", "skills"]
    assert out[1].split() == ["chen", "Chen", "Wei", "On", "duty", "until", "12:00", "intake",
                              "pension", "5"]
    assert out[2].split() == ["bjorn", "Björn", "Lind", "Away:", "lunch", "-", "-"]


def test_the_openapi_document_is_valid_openapi_3_1() -> None:
    from openapi_spec_validator import validate

    validate(document())  # raises naming the first problem


async def test_open_streams_end_when_the_engine_shuts_its_api_down(engine: Engine) -> None:
    runner = web.AppRunner(make_app(engine), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    async with ClientSession() as session:
        response = await session.get(f"http://{host}:{port}/api/events")
        await read_event(response)
        async with asyncio.timeout(5):  # not aiohttp's 60 s wait for handlers
            await runner.cleanup()
        response.close()
