"""Presence on the real PBX. Away: held in the hunt groups (not rung for their calls)
until back, reachable on the direct line meanwhile, and kept in the PBX across an
engine restart. The event stream follows what an agent's phone does."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer
from pbx_support import StartEngine, between_queue_calls, first_to_ring, stored_keys

from telephony.config.models import PbxKind
from telephony.engine.engine import StateChange
from telephony.port import Hold, PbxPort, Presence
from telephony.testing.phones import Phone, PhoneKit
from telephony.web.api import make_app

pytestmark = pytest.mark.pbx

# Monday 2026-11-23 09:00 in Stockholm: Åsa on intake; Chen and Dana on rota (rrmemory).
ON_DUTY = datetime.fromisoformat("2026-11-23T09:00:00+01:00")


async def holds(port: PbxPort, agent: str) -> dict[str, Hold | None]:
    snapshot = await port.snapshot()
    return {m.queue: m.hold for m in snapshot.members if m.agent == agent}


async def take_call(phones: PhoneKit, number: str, caller: str, agents: list[Phone]) -> Phone:
    """Call `number` and return whichever of `agents` the PBX rang, once the call ended."""
    call = await phones.call(number, caller_id=caller, hold_seconds=None)
    rung = await first_to_ring(agents)
    await rung.wait_answered()
    await call.hangup()
    await rung.wait_call_ended()
    return rung


async def test_an_away_agent_is_held_in_the_hunt_group_and_not_rung_until_back(
    start_engine: StartEngine, phones: PhoneKit, port: PbxPort, pbx_kind: PbxKind
) -> None:
    engine, _ = await start_engine(ON_DUTY)
    chen = await phones.register("chen-soft", on_call="answer")
    dana = await phones.register("dana-soft", on_call="answer")

    await engine.set_state("chen", StateChange.AWAY, reason="lunch break")
    assert (await holds(port, "chen"))["rota"] is Hold.MANUAL
    assert engine.agent_view("chen").presence.note == "Away: lunch break"
    for n in range(3):
        await between_queue_calls(pbx_kind)
        assert await take_call(phones, "2001", f"+4670124000{n}", [chen, dana]) is dana
    assert chen.rang_count == 0

    await engine.set_state("chen", StateChange.BACK)
    assert (await holds(port, "chen"))["rota"] is None
    assert engine.agent_view("chen").presence.presence is Presence.ON_DUTY
    answered = set()
    for n in range(3):  # rrmemory takes turns: Chen's comes within three calls
        await between_queue_calls(pbx_kind)
        answered.add((await take_call(phones, "2001", f"+4670124010{n}", [chen, dana])).device_id)
    assert "chen-soft" in answered


async def test_an_away_agents_direct_line_still_rings(
    start_engine: StartEngine, phones: PhoneKit
) -> None:
    engine, _ = await start_engine(ON_DUTY)
    chen = await phones.register("chen-soft", on_call="answer")
    await engine.set_away("chen", "lunch")

    call = await phones.call("+46855501003", caller_id="+46709990003")

    await chen.wait_rang()
    await call.wait_answered()


async def test_the_away_reason_is_stored_in_the_pbx_and_a_new_engine_holds_the_agent(
    start_engine: StartEngine, port: PbxPort, phones: PhoneKit
) -> None:
    await phones.register("asa-soft", on_call="answer")  # offline would hide away
    engine, _ = await start_engine(ON_DUTY)
    await engine.set_away("asa", "course, back 14:00")
    await engine.stop()
    assert (await stored_keys(port))["away/asa"] == "course, back 14:00"

    again, _ = await start_engine(ON_DUTY)

    assert (await holds(port, "asa"))["intake"] is Hold.MANUAL
    view = again.agent_view("asa").presence
    assert (view.presence, view.reason) == (Presence.AWAY, "course, back 14:00")
    await again.clear_away("asa")
    assert "away/asa" not in await stored_keys(port)
    assert (await holds(port, "asa"))["intake"] is None


async def presences(response: ClientResponse, agent: str, until: str, timeout: float = 15.0
                    ) -> list[str]:
    """The presences the stream sends for `agent` until `until` (bounded)."""
    seen: list[str] = []
    async with asyncio.timeout(timeout):
        while not seen or seen[-1] != until:
            line = (await response.content.readline()).decode()
            if line.startswith("data: "):
                data = json.loads(line.removeprefix("data: "))
                if data.get("id") == agent:
                    seen.append(data["presence"])
    return seen


async def test_the_event_stream_follows_the_agents_phone_without_polling(
    start_engine: StartEngine, phones: PhoneKit
) -> None:
    chen = await phones.register("chen-soft", on_call="answer")
    engine, _ = await start_engine(ON_DUTY)
    assert engine.agent_view("chen").presence.presence is Presence.ON_DUTY
    async with TestClient(TestServer(make_app(engine), host="127.0.0.1")) as client:
        after = {"after": str(engine.feed.last_id)}
        async with client.get("/api/events", params=after) as response:
            call = await phones.call("+46855501003", caller_id="+46709990004", hold_seconds=None)
            await chen.wait_answered()
            seen = await presences(response, "chen", "on_call")
            assert set(seen) <= {"ringing", "on_call"}
            await call.hangup()
            await chen.wait_call_ended()
            assert await presences(response, "chen", "on_duty") == ["on_duty"]
        assert (await (await client.get("/api/agents/chen")).json())["presence"] == "on_duty"


async def test_an_away_expert_rings_at_no_level_and_the_next_best_ring_at_once(
    start_engine: StartEngine, phones: PhoneKit, port: PbxPort, pbx_kind: PbxKind
) -> None:
    # benefits (ringall, level_wait 3 s): Åsa (unemployment 5) rings first, Björn (4)
    # one level later.
    asa = await phones.register("asa-soft", on_call="answer")
    bjorn = await phones.register("bjorn-soft", on_call="answer")
    engine, _ = await start_engine(ON_DUTY)
    await engine.set_away("asa", "lunch")
    assert (await holds(port, "asa"))["benefits"] is Hold.MANUAL
    levels = {m.agent: m.level for m in (await port.snapshot()).members
              if m.queue == "benefits"}
    assert levels["bjorn"] == 1

    assert await take_call(phones, "3002", "+46701240200", [asa, bjorn]) is bjorn
    assert asa.rang_count == 0

    await engine.clear_away("asa")
    assert (await holds(port, "asa"))["benefits"] is None
    await between_queue_calls(pbx_kind)
    assert await take_call(phones, "3002", "+46701240201", [asa, bjorn]) is asa
