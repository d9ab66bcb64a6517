"""Focus on the real PBX: undisturbed, yet reachable for the calls that matter."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from pbx_support import StartEngine, queue_members, stored_keys

from telephony.port import PbxPort
from telephony.testing.phones import PhoneKit

pytestmark = pytest.mark.pbx

ON_DUTY = datetime.fromisoformat("2026-11-23T09:00:00+01:00")  # Åsa on intake


async def test_focus_turns_a_normal_caller_away_to_the_fallback(
    start_engine: StartEngine, phones: PhoneKit
) -> None:
    engine, _ = await start_engine(ON_DUTY)
    await engine.set_focus("asa", None)
    asa = await phones.register("asa-soft", on_call="answer")
    bjorn = await phones.register("bjorn-soft", on_call="answer")

    call = await phones.call("+46855501001", caller_id="+46709990001")

    await bjorn.wait_rang()
    await call.wait_answered()
    assert asa.rang_count == 0


async def test_focus_lets_an_allowlisted_caller_through(
    start_engine: StartEngine, phones: PhoneKit
) -> None:
    engine, _ = await start_engine(ON_DUTY)
    await engine.set_focus("asa", None)
    asa = await phones.register("asa-soft", on_call="answer")

    call = await phones.call("+46855501001", caller_id="+46701234567")

    await asa.wait_rang()
    await call.wait_answered()


async def test_focus_lets_a_caller_linked_to_the_agents_case_through(
    start_engine: StartEngine, phones: PhoneKit
) -> None:
    engine, _ = await start_engine(ON_DUTY)
    await engine.set_focus("asa", None)
    await engine.link_case("+46705550001", "asa")
    asa = await phones.register("asa-soft", on_call="answer")

    call = await phones.call("+46855501001", caller_id="+46705550001")

    await asa.wait_rang()
    await call.wait_answered()


async def test_focus_lets_a_colleagues_urgent_call_through(
    start_engine: StartEngine, phones: PhoneKit
) -> None:
    engine, _ = await start_engine(ON_DUTY)
    await engine.set_focus("asa", None)
    asa = await phones.register("asa-soft", on_call="answer")

    call = await phones.call("*91001", from_device="bjorn-soft")

    await asa.wait_rang()
    await call.wait_answered()


async def test_focus_takes_the_agent_out_of_every_hunt_group(
    start_engine: StartEngine, port: PbxPort
) -> None:
    engine, _ = await start_engine(ON_DUTY)
    assert await queue_members(port, "intake") == ["asa"]
    await engine.set_focus("asa", None)
    assert await queue_members(port, "intake") == []


async def test_focus_ends_by_itself_at_its_end_time_even_with_the_engine_stopped(
    start_engine: StartEngine, phones: PhoneKit, port: PbxPort
) -> None:
    now = datetime.now(UTC)
    engine, _ = await start_engine(now)
    until = now + timedelta(seconds=2)
    await engine.set_focus("asa", until)
    await engine.stop()
    asa = await phones.register("asa-soft", on_call="answer")

    # Waiting for the wall clock itself: the dialplan compares the end time with ${EPOCH}.
    await asyncio.sleep((until - datetime.now(UTC)).total_seconds() + 1.0)
    call = await phones.call("+46855501001", caller_id="+46709990002")

    await asa.wait_rang()
    await call.wait_answered()


async def test_a_restarted_engine_catches_up_after_focus_ran_out(
    start_engine: StartEngine, port: PbxPort
) -> None:
    engine, _clock = await start_engine(ON_DUTY)
    await engine.set_focus("asa", ON_DUTY + timedelta(minutes=30))
    await engine.stop()
    assert await queue_members(port, "intake") == []

    await start_engine(ON_DUTY + timedelta(minutes=31))  # a new engine, after the focus ended

    assert await queue_members(port, "intake") == ["asa"]
    assert not any(key.startswith("focus/") for key in await stored_keys(port))
