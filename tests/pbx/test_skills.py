"""Skill queues kept by the engine, on the real PBX: who rings first, who not at all,
live skill edits, and reconciliation after a restart.

The test site's `benefits` queue (3002) wants unemployment at level 3 or more: Åsa has
5, Björn 4, so Åsa rings first and Björn joins the ringing after its level_wait (3 s).
It rings all members it may (ringall), so the order is the levels' alone.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta

import pytest
from pbx_support import StartEngine, until_members

from telephony.port import Member, PbxPort
from telephony.testing.phones import PhoneKit
from telephony.testing.sipp import SipTestError

pytestmark = pytest.mark.pbx

MONDAY = datetime.fromisoformat("2026-11-23T09:00:00+01:00")
QUEUE, NUMBER, LEVEL_WAIT = "benefits", "3002", 3.0


async def members(port: PbxPort) -> list[Member]:
    snapshot = await port.snapshot()
    return sorted((m for m in snapshot.members if m.queue == QUEUE), key=lambda m: m.agent)


async def until_levels(port: PbxPort, expected: dict[str, int], timeout: float = 15.0) -> None:
    """Wait (bounded) until the queue's members and their ring levels are `expected`."""
    found: dict[str, int] = {}
    try:
        async with asyncio.timeout(timeout):
            while (found := {m.agent: m.level for m in await members(port)}) != expected:
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"{QUEUE} held {found}, not {expected}, after {timeout} s") from None


async def test_the_most_skilled_ring_first_and_the_next_level_only_after_the_wait(
    start_engine: StartEngine, phones: PhoneKit, port: PbxPort
) -> None:
    asa = await phones.register("asa-soft", on_call="ignore")  # rings on, never answers
    bjorn = await phones.register("bjorn-soft", on_call="ignore")
    await start_engine(MONDAY)
    await until_levels(port, {"asa": 1, "bjorn": 2})

    call = await phones.call(NUMBER, caller_id="+46701231001", hold_seconds=None)
    started = time.monotonic()
    await asa.wait_rang(timeout=5)
    asa_after = time.monotonic() - started
    await bjorn.wait_rang(timeout=LEVEL_WAIT + 5)
    bjorn_after = time.monotonic() - started
    await call.hangup()

    assert asa_after < LEVEL_WAIT - 1
    assert bjorn_after >= LEVEL_WAIT - 0.5  # not before the wait (give or take a tick)


async def test_an_agent_in_focus_is_not_rung_and_the_next_best_rings_at_once(
    start_engine: StartEngine, phones: PhoneKit, port: PbxPort
) -> None:
    asa = await phones.register("asa-soft", on_call="answer")
    bjorn = await phones.register("bjorn-soft", on_call="answer")
    engine, _ = await start_engine(MONDAY)
    await engine.set_focus("asa", MONDAY + timedelta(hours=1))
    await until_levels(port, {"bjorn": 1})

    call = await phones.call(NUMBER, caller_id="+46701231002", hold_seconds=None)
    started = time.monotonic()
    await bjorn.wait_rang(timeout=5)
    assert time.monotonic() - started < LEVEL_WAIT - 1
    await call.hangup()
    assert asa.rang_count == 0


async def test_an_agent_with_no_device_registered_is_not_a_member(
    start_engine: StartEngine, phones: PhoneKit, port: PbxPort
) -> None:
    await phones.register("bjorn-soft", on_call="answer")  # Åsa has no phone up
    await start_engine(MONDAY)
    await until_levels(port, {"bjorn": 1})


async def test_an_agent_who_registers_joins_and_one_who_goes_away_leaves(
    start_engine: StartEngine, phones: PhoneKit, port: PbxPort
) -> None:
    bjorn = await phones.register("bjorn-soft", on_call="answer")
    await start_engine(MONDAY)
    await until_levels(port, {"bjorn": 1})
    asa = await phones.register("asa-soft", on_call="answer")
    await until_levels(port, {"asa": 1, "bjorn": 2})
    await asa.unregister()
    await until_levels(port, {"bjorn": 1})
    assert bjorn.rang_count == 0


async def test_a_skill_edit_counts_only_the_devices_registered_at_that_moment(
    start_engine: StartEngine, phones: PhoneKit, port: PbxPort
) -> None:
    # A skill edit reads one queue; the registrations it weighs are the ones the port
    # keeps from the PBX's events, and they must match the PBX's.
    asa = await phones.register("asa-soft", on_call="answer")
    await phones.register("bjorn-soft", on_call="answer")
    engine, _ = await start_engine(MONDAY)
    await until_levels(port, {"asa": 1, "bjorn": 2})
    await asa.unregister()
    await until_levels(port, {"bjorn": 1})

    await engine.set_skill("asa", "unemployment", 5)
    assert {m.agent: m.level for m in await members(port)} == {"bjorn": 1}
    await phones.register("asa-soft", on_call="answer")
    await until_levels(port, {"asa": 1, "bjorn": 2})
    await engine.set_skill("bjorn", "unemployment", 5)
    assert {m.agent: m.level for m in await members(port)} == {"asa": 1, "bjorn": 1}


async def test_a_skill_edited_at_runtime_changes_who_rings_next_but_not_the_call_in_progress(
    start_engine: StartEngine, phones: PhoneKit, port: PbxPort
) -> None:
    asa = await phones.register("asa-soft", on_call="answer")
    bjorn = await phones.register("bjorn-soft", on_call="answer")
    engine, _ = await start_engine(MONDAY)
    await until_levels(port, {"asa": 1, "bjorn": 2})
    first = await phones.call(NUMBER, caller_id="+46701231003", hold_seconds=None)
    await asa.wait_rang(timeout=5)
    await asa.wait_answered()

    await engine.delete_skill("asa", "unemployment")  # mid-call
    await engine.set_skill("bjorn", "unemployment", 5)
    await until_levels(port, {"asa": 1, "bjorn": 1})  # Åsa held until her call ends
    with pytest.raises(SipTestError):
        await first.wait_ended(timeout=1.0)  # the call in progress goes on

    await first.hangup()
    await asa.wait_call_ended()
    await until_levels(port, {"bjorn": 1})
    second = await phones.call(NUMBER, caller_id="+46701231004", hold_seconds=None)
    started = time.monotonic()
    await bjorn.wait_rang(timeout=5)
    assert time.monotonic() - started < LEVEL_WAIT - 1
    await second.hangup()
    assert asa.rang_count == 1


async def test_a_restarted_engine_keeps_the_members_without_duplicates(
    start_engine: StartEngine, phones: PhoneKit, port: PbxPort
) -> None:
    await phones.register("asa-soft", on_call="answer")
    await phones.register("bjorn-soft", on_call="answer")
    engine, _ = await start_engine(MONDAY)
    await until_levels(port, {"asa": 1, "bjorn": 2})
    await engine.stop()
    await start_engine(MONDAY)
    await until_members(port, QUEUE, ["asa", "bjorn"])
    await until_levels(port, {"asa": 1, "bjorn": 2})
