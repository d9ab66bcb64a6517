"""Waiting callback requests over HTTP and the command line (in-memory PBX)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from aiohttp.test_utils import TestClient, TestServer
from callback_sites import site

from telephony import cli
from telephony.engine.engine import Engine
from telephony.port.memory import MemoryPort
from telephony.routing.clock import ManualClock
from telephony.routing.state import callback_key
from telephony.web.api import make_app

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
STAMP = int(NOW.timestamp())
Client = TestClient[object, object]


@pytest.fixture
def port() -> MemoryPort:
    port = MemoryPort()
    # Stored as the dialplan stores them: nobody is in the queues, so they wait.
    # The pension caller was called back once; the try rests until two minutes on.
    port.keys[callback_key("pension", "+46702222222")] = f"{STAMP - 60};1;{STAMP + 120}"
    port.keys[callback_key("tax", "+46701111111")] = str(STAMP - 300)
    return port


@pytest.fixture
async def client(port: MemoryPort) -> AsyncIterator[Client]:
    engine = Engine(site(), port, ManualClock(NOW))
    async with TestClient(TestServer(make_app(engine), host="127.0.0.1")) as test_client:
        yield test_client


async def test_get_callbacks_lists_waiting_callers_oldest_first(client: Client) -> None:
    response = await client.get("/api/callbacks")
    assert response.status == 200
    assert await response.json() == {"callbacks": [
        {"queue": "tax", "caller": "+46701111111", "joined": "2026-11-23T07:55:00+00:00",
         "waiting_seconds": 300, "tries": 0, "next_try": None},
        {"queue": "pension", "caller": "+46702222222", "joined": "2026-11-23T07:59:00+00:00",
         "waiting_seconds": 60, "tries": 1, "next_try": "2026-11-23T08:02:00+00:00"},
    ]}


async def test_get_callbacks_is_empty_when_nobody_waits(client: Client, port: MemoryPort) -> None:
    port.keys.clear()
    assert await (await client.get("/api/callbacks")).json() == {"callbacks": []}


async def test_a_pbx_that_does_not_answer_is_a_503(client: Client, port: MemoryPort) -> None:
    port.unavailable_for(1)
    response = await client.get("/api/callbacks")
    assert response.status == 503
    assert (await response.json())["field"] == "pbx"


async def test_the_callbacks_command_prints_the_waiting_callers(
    client: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    base = str(client.make_url("/")).rstrip("/")
    assert await asyncio.to_thread(cli.main, ["callbacks", "--api", base]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split() for line in out] == [
        ["queue", "caller", "joined", "waiting", "tries", "next", "try"],
        ["tax", "+46701111111", "2026-11-23T07:55:00+00:00", "300", "s", "0", "-"],
        ["pension", "+46702222222", "2026-11-23T07:59:00+00:00", "60", "s", "1",
         "2026-11-23T08:02:00+00:00"],
    ]


async def test_the_callbacks_command_says_when_nobody_waits(
    client: Client, port: MemoryPort, capsys: pytest.CaptureFixture[str]
) -> None:
    port.keys.clear()
    base = str(client.make_url("/")).rstrip("/")
    assert await asyncio.to_thread(cli.main, ["callbacks", "--api", base]) == 0
    assert capsys.readouterr().out.strip() == "nobody is waiting to be called back"
