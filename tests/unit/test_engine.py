"""The engine over an in-memory port: what it asks of a PBX, and when (no PBX here)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from telephony.config import Site, load_site
from telephony.engine.engine import Engine, EngineError, UnknownName
from telephony.port import Hold, Join, Leave, Member, MemberState, PbxRefused, SetHold
from telephony.port.memory import MemoryPort
from telephony.routing.clock import ManualClock
from telephony.routing.state import OverrideAction

DEMO = Path(__file__).resolve().parents[2] / "telephony" / "examples" / "demo-site.yaml"
SITE = load_site(DEMO, {})
# Monday 2026-11-23 09:00 in Stockholm: asa and chen are on duty in intake.
MONDAY_9 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
# 10:00: asa's shift ends, bjorn's starts.
MONDAY_10 = MONDAY_9 + timedelta(hours=1)


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait (bounded) for the engine's background loop to reach a state."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.005)


@pytest.fixture
def site() -> Site:
    return SITE


@pytest.fixture
def port() -> MemoryPort:
    return MemoryPort()


@pytest.fixture
async def engine(port: MemoryPort, site: Site) -> AsyncIterator[Engine]:
    engine = Engine(site, port, ManualClock(MONDAY_9))
    yield engine
    await engine.stop()


def clock(engine: Engine) -> ManualClock:
    assert isinstance(engine.clock, ManualClock)
    return engine.clock


async def test_start_puts_the_agents_on_duty_in_their_hunt_group(
    engine: Engine, port: MemoryPort
) -> None:
    await engine.start()
    assert port.entries("intake") == ["asa", "chen"]


async def test_a_pbx_not_answering_at_start_is_tried_again_by_the_loop(
    engine: Engine, port: MemoryPort
) -> None:
    port.unavailable_for(1)  # as AMI before app_queue has loaded
    await engine.start()  # does not raise
    assert port.entries("intake") == []
    clock(engine).advance(6)  # past the retry delay
    await until(lambda: port.entries("intake") == ["asa", "chen"])


async def test_at_a_shift_boundary_the_next_agent_takes_over(
    engine: Engine, port: MemoryPort
) -> None:
    await engine.start()
    clock(engine).set(MONDAY_10)
    await until(lambda: port.entries("intake") == ["bjorn", "chen"])


async def test_an_agent_on_a_call_at_the_boundary_leaves_only_when_the_call_ends(
    engine: Engine, port: MemoryPort
) -> None:
    await engine.start()
    port.set_state("asa", MemberState.ON_CALL)
    clock(engine).set(MONDAY_10)
    await until(lambda: any(isinstance(c, SetHold) and c.agent == "asa" for c in port.applied))
    held = [m for m in port.members.values() if m.agent == "asa"]
    assert [m.hold for m in held] == [Hold.LEAVING]

    port.set_state("asa", MemberState.IDLE)  # the call ended: the port says so
    await until(lambda: port.entries("intake") == ["bjorn", "chen"])


async def test_a_hold_made_elsewhere_is_left_alone(engine: Engine, port: MemoryPort) -> None:
    await engine.start()
    port.hold_elsewhere("intake", "asa", "lunch")
    await engine.sync()
    [asa] = [m for m in port.members.values() if m.agent == "asa"]
    assert (asa.hold, asa.hold_reason) == (Hold.EXTERNAL, "lunch")


async def test_a_refused_command_is_tried_again_on_the_next_sync(
    engine: Engine, port: MemoryPort
) -> None:
    port.refuse_next(Join)
    await engine.start()  # the refusal is logged, not raised
    assert len(port.entries("intake")) == 1
    await engine.sync()
    assert port.entries("intake") == ["asa", "chen"]


async def test_after_a_reconnect_the_engine_reads_everything_again(
    engine: Engine, port: MemoryPort
) -> None:
    await engine.start()
    # Someone removed Chen while the connection was down: no event reached the engine.
    port.members = {k: m for k, m in port.members.items() if m.agent != "chen"}
    port.resync()
    await until(lambda: port.entries("intake") == ["asa", "chen"])


async def test_an_entry_added_by_someone_else_is_reconciled(
    engine: Engine, port: MemoryPort
) -> None:
    await engine.start()
    port.add_entry(Member("intake", "bjorn", "PJSIP/bjorn-soft"))  # off duty at 09:00
    await until(lambda: port.entries("intake") == ["asa", "chen"])


async def test_focus_takes_the_agent_out_and_stores_the_end_for_the_dialplan(
    engine: Engine, port: MemoryPort
) -> None:
    await engine.start()
    await engine.set_focus("asa", MONDAY_9 + timedelta(minutes=30))
    assert port.entries("intake") == ["chen"]
    assert {str(k): v for k, v in port.keys.items()} == {
        "focus/asa": str(int((MONDAY_9 + timedelta(minutes=30)).timestamp()))
    }


async def test_focus_ends_on_time_and_the_agent_rejoins(engine: Engine, port: MemoryPort) -> None:
    await engine.start()
    await engine.set_focus("asa", MONDAY_9 + timedelta(minutes=30))
    clock(engine).advance(31 * 60)
    await until(lambda: port.entries("intake") == ["asa", "chen"] and not port.keys)


async def test_focus_in_the_past_is_refused_naming_the_field(engine: Engine) -> None:
    await engine.start()
    with pytest.raises(EngineError) as caught:
        await engine.set_focus("asa", MONDAY_9 - timedelta(minutes=1))
    assert caught.value.field == "until"


async def test_a_manual_leave_lasts_until_the_next_shift_boundary(
    engine: Engine, port: MemoryPort
) -> None:
    await engine.start()
    entry = await engine.override("intake", "asa", OverrideAction.LEAVE)
    assert port.entries("intake") == ["chen"]
    assert entry.until == int(MONDAY_10.timestamp())


async def test_a_manual_pause_holds_the_member_and_unpause_releases_it(
    engine: Engine, port: MemoryPort
) -> None:
    await engine.start()
    await engine.override("intake", "asa", OverrideAction.PAUSE)
    assert [m.hold for m in port.members.values() if m.agent == "asa"] == [Hold.MANUAL]
    await engine.override("intake", "asa", OverrideAction.UNPAUSE)
    assert [m.hold for m in port.members.values() if m.agent == "asa"] == [None]


async def test_a_case_link_is_stored_and_unknown_ones_are_named(
    engine: Engine, port: MemoryPort
) -> None:
    await engine.start()
    await engine.link_case("+46701234567", "asa")
    assert [str(k) for k in port.keys] == ["case/+46701234567"]
    await engine.unlink_case("+46701234567")
    assert port.keys == {}
    with pytest.raises(UnknownName) as caught:
        await engine.unlink_case("+46701234567")
    assert caught.value.field == "number"


async def test_unknown_agents_and_groups_are_named(engine: Engine) -> None:
    await engine.start()
    with pytest.raises(UnknownName) as caught:
        await engine.override("nope", "asa", OverrideAction.JOIN)
    assert caught.value.field == "group"
    with pytest.raises(UnknownName) as caught:
        await engine.set_focus("zed", None)
    assert caught.value.field == "agent"


async def test_a_store_the_pbx_refuses_reaches_the_caller(
    engine: Engine, port: MemoryPort
) -> None:
    await engine.start()
    port.refuse_next()
    with pytest.raises(PbxRefused):
        await engine.link_case("+46701234567", "asa")


async def test_a_leave_of_an_agent_already_gone_is_no_harm(
    engine: Engine, port: MemoryPort
) -> None:
    await engine.start()
    port.refuse_next(Leave)
    clock(engine).set(MONDAY_10)
    await until(lambda: "bjorn" in port.entries("intake"))
    await engine.sync()
    assert port.entries("intake") == ["bjorn", "chen"]
