"""A callback from the key to the call, on the real PBX with the engine running: a
caller waiting in a skill queue presses the callback key, the request is listed by the
API, and once an agent with the skill is free the engine rings them and the PBX calls
the caller back through the trunk.

The test site's `benefits` queue (skill unemployment, callback key 5) has Åsa
(level 5, two devices) as its one member who can be rung: her desk phone rings and is
not answered while the caller waits; her softphone comes up afterwards and answers
the callback.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from pbx_support import StartEngine, until_members

from telephony.config import Site
from telephony.port import PbxPort
from telephony.testing.keypad import call_pressing
from telephony.testing.phones import PhoneKit
from telephony.testing.plugin import PbxHandle
from telephony.testing.trunk import TrunkEnd, listen
from telephony.web.api import make_app

pytestmark = pytest.mark.pbx

QUEUE = "benefits"
CALLER = "+46701239401"


@pytest.fixture
async def far_end(pbx_site: Site, tmp_path: Path) -> AsyncIterator[TrunkEnd]:
    """The caller's phone as the trunk reaches it: answers the callback."""
    end = await listen(pbx_site, tmp_path / "trunk", answer_after=0.2)
    yield end
    await end.close()


async def waiting(client: TestClient[Any, Any]) -> list[dict[str, Any]]:
    response = await client.get("/api/callbacks")
    assert response.status == 200
    listed: list[dict[str, Any]] = (await response.json())["callbacks"]
    return listed


async def test_a_caller_who_pressed_the_key_is_called_back_once_an_agent_is_free(
    start_engine: StartEngine, port: PbxPort, phones: PhoneKit, far_end: TrunkEnd,
    pbx: PbxHandle, pbx_site: Site, tmp_path: Path,
) -> None:
    [queue] = [q for q in pbx_site.queues if q.id == QUEUE]
    assert queue.callback_key is not None
    desk = await phones.register("asa-desk", on_call="ignore")
    engine, _ = await start_engine(datetime.now(UTC))
    await until_members(port, QUEUE, ["asa"])  # the one with the skill who can be rung

    # The caller waits (Åsa's desk phone rings unanswered) and presses the key.
    caller = await call_pressing(
        pbx_site, tmp_path / "keypad", queue.number, queue.callback_key,
        caller_id=CALLER, sip_host=pbx.info.sip_host, sip_port=pbx.info.sip_port,
    )
    try:
        queue_call = await desk.wait_rang(timeout=10)
        await caller.press()
        await caller.wait_ended(timeout=10)
        await desk.wait_cancelled(queue_call, timeout=10)

        async with TestClient(TestServer(make_app(engine), host="127.0.0.1")) as client:
            [request] = await waiting(client)
            assert (request["queue"], request["caller"]) == (QUEUE, CALLER)

            # Åsa's softphone comes up: at the engine's next round she is called first.
            # (A running engine looks every few seconds; this one's clock is the test's.)
            soft = await phones.register("asa-soft", on_call="answer", answer_after=0.5)
            await engine.sync()
            agent_call = await soft.wait_rang(timeout=10)
            assert agent_call.caller == CALLER
            assert far_end.rang_count == 0  # the caller only once the agent is there
            await soft.wait_answered(agent_call, timeout=5)

            out = await far_end.wait_rang(timeout=10)
            assert out.request_uri.startswith(f"sip:{CALLER}@")
            assert out.caller == queue.number
            await far_end.wait_answered(out, timeout=5)
            # Served: the PBX deleted the request once the caller answered.
            async with asyncio.timeout(5):
                while await waiting(client):
                    await asyncio.sleep(0.1)
    finally:
        await asyncio.shield(caller.close())
