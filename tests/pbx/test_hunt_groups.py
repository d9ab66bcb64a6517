"""Hunt groups on the real PBX: the engine keeps membership equal to the roster."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import datetime

import pytest
from pbx_support import (
    StartEngine,
    between_queue_calls,
    first_to_ring,
    queue_members,
    until_members,
)

from telephony.config.models import PbxKind
from telephony.port import Hold, PbxPort
from telephony.routing.state import OverrideAction
from telephony.testing.phones import PhoneKit

pytestmark = pytest.mark.pbx

# Monday 2026-11-23 in Stockholm: Åsa is on intake 08:00-10:00, Björn 10:00-12:00.
BEFORE_SWAP = datetime.fromisoformat("2026-11-23T09:59:00+01:00")
AFTER_SWAP = datetime.fromisoformat("2026-11-23T10:00:00+01:00")


async def test_rotation_follows_the_roster_across_a_shift_boundary(
    start_engine: StartEngine, port: PbxPort
) -> None:
    engine, clock = await start_engine(BEFORE_SWAP)
    assert await queue_members(port, "intake") == ["asa"]

    clock.set(AFTER_SWAP)
    await engine.sync()

    assert await queue_members(port, "intake") == ["bjorn"]


async def test_the_agent_on_duty_is_rung_for_a_hunt_group_call(
    start_engine: StartEngine, phones: PhoneKit
) -> None:
    await start_engine(BEFORE_SWAP)
    asa = await phones.register("asa-soft", on_call="answer")
    bjorn = await phones.register("bjorn-soft", on_call="answer")

    call = await phones.call("2000", caller_id="+46701230001")

    incoming = await asa.wait_rang()
    await call.wait_answered()
    assert incoming.caller == "+46701230001"
    assert bjorn.rang_count == 0


async def test_an_agent_on_a_call_at_the_boundary_leaves_only_after_the_call(
    start_engine: StartEngine, phones: PhoneKit, port: PbxPort
) -> None:
    engine, clock = await start_engine(BEFORE_SWAP)
    asa = await phones.register("asa-soft", on_call="answer")
    call = await phones.call("2000", caller_id="+46701230002", hold_seconds=None)
    await asa.wait_rang()
    await call.wait_answered()

    clock.set(AFTER_SWAP)
    await engine.sync()
    assert await queue_members(port, "intake") == ["asa", "bjorn"]  # Åsa still there, paused

    await call.hangup()
    await until_members(port, "intake", ["bjorn"])


async def test_rrmemory_takes_turns_over_a_series_of_calls(
    start_engine: StartEngine, phones: PhoneKit, pbx_kind: PbxKind
) -> None:
    await start_engine(BEFORE_SWAP)  # rota: Chen and Dana around the clock
    agents = [await phones.register(d, on_call="answer") for d in ("chen-soft", "dana-soft")]
    order: list[str] = []
    for n in range(6):
        await between_queue_calls(pbx_kind)
        call = await phones.call("2001", caller_id=f"+4670123010{n}", hold_seconds=None)
        rung = await first_to_ring(agents)
        await rung.wait_answered()
        order.append(rung.device_id)
        await call.hangup()
        await rung.wait_call_ended()
    assert Counter(order) == {"chen-soft": 3, "dana-soft": 3}
    assert all(a != b for a, b in itertools.pairwise(order))  # strictly taking turns


async def test_linear_always_rings_the_first_member_while_they_answer(
    start_engine: StartEngine, phones: PhoneKit, pbx_kind: PbxKind
) -> None:
    await start_engine(BEFORE_SWAP)  # line: Chen comes before Dana
    agents = [await phones.register(d, on_call="answer") for d in ("chen-soft", "dana-soft")]
    for n in range(4):
        await between_queue_calls(pbx_kind)
        call = await phones.call("2002", caller_id=f"+4670123030{n}", hold_seconds=None)
        rung = await first_to_ring(agents)
        assert rung.device_id == "chen-soft"
        await rung.wait_answered()
        await call.hangup()
        await rung.wait_call_ended()
    assert agents[1].rang_count == 0


async def test_an_agent_whose_devices_are_all_unregistered_is_not_rung(
    start_engine: StartEngine, phones: PhoneKit, pbx_kind: PbxKind
) -> None:
    await start_engine(BEFORE_SWAP)
    chen = await phones.register("chen-soft", on_call="answer")  # Dana has no phone up
    for n in range(3):
        await between_queue_calls(pbx_kind)
        call = await phones.call("2001", caller_id=f"+4670123020{n}", hold_seconds=None)
        await chen.wait_rang()
        await chen.wait_answered()
        await call.hangup()
        await chen.wait_call_ended()
    assert chen.rang_count == 3


async def test_a_manual_leave_wins_over_the_roster(
    start_engine: StartEngine, port: PbxPort
) -> None:
    engine, _ = await start_engine(BEFORE_SWAP)
    await engine.override("intake", "asa", OverrideAction.LEAVE)
    assert await queue_members(port, "intake") == []


async def test_a_manual_join_lasts_until_the_next_shift_boundary(
    start_engine: StartEngine, port: PbxPort
) -> None:
    engine, _clock = await start_engine(datetime.fromisoformat("2026-11-23T09:00:00+01:00"))
    entry = await engine.override("intake", "bjorn", OverrideAction.JOIN)
    assert await queue_members(port, "intake") == ["asa", "bjorn"]
    assert entry.until == int(AFTER_SWAP.timestamp())  # Björn's own shift starts at 10:00


async def test_a_manual_pause_pauses_the_member(
    start_engine: StartEngine, port: PbxPort
) -> None:
    engine, _ = await start_engine(BEFORE_SWAP)
    await engine.override("intake", "asa", OverrideAction.PAUSE)
    groups, _ = await engine.status()
    [intake] = [g for g in groups if g.group == "intake"]
    assert [(m.agent, m.hold) for m in intake.members] == [("asa", Hold.MANUAL)]
