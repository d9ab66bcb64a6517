"""The engine keeps skill queues staffed over an in-memory port (no PBX here: the PBX
behaviour is in tests/pbx/test_skills.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from telephony.config import load_site
from telephony.engine.engine import AgentState, Engine, EngineError, UnknownName
from telephony.port import Hold, Member, MemberState, SetHold, SetLevel
from telephony.port.memory import MemoryPort
from telephony.routing.clock import ManualClock
from telephony.routing.state import OverrideAction, callback_key

DEMO = Path(__file__).resolve().parents[2] / "telephony" / "examples" / "demo-site.yaml"
SITE = load_site(DEMO, {})
# Monday 09:00 in Stockholm. Skills in the demo: asa pension 2, chen pension 5; the
# pension queue wants level 3 or more.
MONDAY_9 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.005)


@pytest.fixture
def port() -> MemoryPort:
    return MemoryPort()


@pytest.fixture
async def engine(port: MemoryPort) -> AsyncIterator[Engine]:
    engine = Engine(SITE, port, ManualClock(MONDAY_9))
    yield engine
    await engine.stop()


def levels(port: MemoryPort, queue: str = "pension") -> dict[str, int]:
    return {m.agent: m.level for m in port.members.values() if m.queue == queue}


async def test_start_puts_agents_with_the_skill_at_the_minimum_level_in_the_queue(
    engine: Engine, port: MemoryPort
) -> None:
    await engine.start()
    assert levels(port) == {"chen": 1}


async def test_a_skill_given_at_runtime_joins_the_agent_at_once(
    engine: Engine, port: MemoryPort
) -> None:
    await engine.start()
    await engine.set_skill("asa", "pension", 3)
    assert levels(port) == {"chen": 1, "asa": 2}
    assert engine.skills_of("asa") == {"unemployment": 5, "pension": 3}


async def test_a_raised_skill_moves_the_member_up_without_leaving(
    engine: Engine, port: MemoryPort
) -> None:
    await engine.start()
    await engine.set_skill("asa", "pension", 3)
    port.applied.clear()
    await engine.set_skill("asa", "pension", 5)
    assert levels(port) == {"chen": 1, "asa": 1}
    assert [type(c) for c in port.applied] == [SetLevel]


async def test_a_skill_taken_away_mid_call_leaves_after_the_call(
    engine: Engine, port: MemoryPort
) -> None:
    await engine.start()
    port.set_state("chen", MemberState.ON_CALL)
    await engine.delete_skill("chen", "pension")
    [held] = [m for m in port.members.values() if m.queue == "pension"]
    assert (held.agent, held.hold) == ("chen", Hold.LEAVING)
    port.set_state("chen", MemberState.IDLE)
    await until(lambda: levels(port) == {})


async def test_the_site_file_is_the_truth_at_start(port: MemoryPort) -> None:
    first = Engine(SITE, port, ManualClock(MONDAY_9))
    await first.start()
    await first.set_skill("asa", "pension", 4)
    await first.stop()
    second = Engine(SITE, port, ManualClock(MONDAY_9))
    await second.start()
    try:
        assert levels(port) == {"chen": 1}
    finally:
        await second.stop()


async def test_an_agent_in_focus_leaves_the_skill_queue_and_comes_back_after(
    engine: Engine, port: MemoryPort
) -> None:
    await engine.start()
    await engine.set_focus("chen", MONDAY_9 + timedelta(minutes=30))
    assert levels(port) == {}
    await engine.clear_focus("chen")
    assert levels(port) == {"chen": 1}


async def test_an_agent_whose_devices_all_went_away_leaves_and_rejoins_on_registering(
    engine: Engine, port: MemoryPort
) -> None:
    port.register("chen")
    await engine.start()
    assert levels(port) == {"chen": 1}
    port.register("chen", registered=False)
    await until(lambda: levels(port) == {})
    port.register("chen")
    await until(lambda: levels(port) == {"chen": 1})


async def test_a_hold_from_the_phone_in_a_skill_queue_is_left_alone(
    engine: Engine, port: MemoryPort
) -> None:
    await engine.start()
    port.hold_elsewhere("pension", "chen", "lunch")
    port.applied.clear()
    await engine.sync()
    assert not [c for c in port.applied if isinstance(c, SetHold)]


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda e: e.set_skill("asa", "pension", 6), "level"),
        (lambda e: e.set_skill("asa", "Pension!", 3), "skill"),
        (lambda e: e.set_skill("nobody", "pension", 3), "agent"),
        (lambda e: e.delete_skill("bjorn", "pension"), "skill"),
    ],
)
async def test_bad_skill_edits_name_the_field_and_change_nothing(
    engine: Engine, port: MemoryPort,
    call: Callable[[Engine], object], field: str,
) -> None:
    await engine.start()
    before = dict(port.members)
    with pytest.raises(EngineError) as caught:
        await call(engine)  # type: ignore[misc]
    assert caught.value.field == field
    assert port.members == before
    assert engine.skills_of("asa") == {"unemployment": 5, "pension": 2}


async def test_unknown_agent_is_an_unknown_name(engine: Engine) -> None:
    with pytest.raises(UnknownName):
        engine.skills_of("nobody")


async def test_experts_list_available_agents_first_then_the_most_skilled(
    engine: Engine, port: MemoryPort
) -> None:
    await engine.start()
    await engine.set_skill("bjorn", "pension", 4)
    port.set_state("chen", MemberState.ON_CALL)
    experts = await engine.experts("pension")
    assert [(e.agent, e.level, e.availability.state) for e in experts] == [
        ("bjorn", 4, AgentState.AVAILABLE),
        ("asa", 2, AgentState.AVAILABLE),
        ("chen", 5, AgentState.BUSY),
    ]
    assert experts[1].availability.on_duty == ("intake",)


async def test_experts_above_a_minimum_level(engine: Engine, port: MemoryPort) -> None:
    await engine.start()
    assert [e.agent for e in await engine.experts("pension", min_level=3)] == ["chen"]
    assert await engine.experts("carpentry") == []


async def test_an_unregistered_expert_is_listed_last(engine: Engine, port: MemoryPort) -> None:
    port.register("asa")
    await engine.start()
    experts = await engine.experts("pension")
    assert [(e.agent, e.availability.state) for e in experts] == [
        ("asa", AgentState.AVAILABLE), ("chen", AgentState.UNREGISTERED),
    ]
    assert levels(port) == {}  # chen has no device registered: not rung


async def test_members_of_hunt_groups_keep_their_skill_queue_membership(
    engine: Engine, port: MemoryPort
) -> None:
    await engine.start()
    assert "chen" in port.entries("intake")
    assert levels(port) == {"chen": 1}
    assert isinstance(next(iter(port.members.values())), Member)


async def test_a_skill_edit_reads_and_puts_right_only_the_queues_of_that_skill(
    engine: Engine, port: MemoryPort
) -> None:
    await engine.start()
    port.snapshots.clear()
    await engine.set_skill("asa", "pension", 4)
    assert port.snapshots == [frozenset({"pension"})]
    await engine.set_skill("asa", "carpentry", 4)  # no queue wants it: nothing to read
    assert port.snapshots == [frozenset({"pension"})]


async def test_a_restricted_sync_keeps_members_leaving_elsewhere_in_mind(
    engine: Engine, port: MemoryPort
) -> None:
    await engine.start()
    port.set_state("asa", MemberState.ON_CALL)
    await engine.override("intake", "asa", OverrideAction.LEAVE)
    await engine.set_skill("bjorn", "pension", 4)
    port.set_state("asa", MemberState.IDLE)
    await until(lambda: "asa" not in port.entries("intake"))



@pytest.fixture
async def dialling(port: MemoryPort) -> AsyncIterator[Engine]:
    """An engine on the demo site with a trunk to call out through."""
    trunk = SITE.trunks[0].model_copy(update={"dial_host": "127.0.0.2"})
    engine = Engine(SITE.model_copy(update={"trunks": [trunk]}), port, ManualClock(MONDAY_9))
    yield engine
    await engine.stop()


async def test_a_callback_request_is_dialled_through_a_free_member_and_marked_tried(
    dialling: Engine, port: MemoryPort
) -> None:
    joined = int(MONDAY_9.timestamp()) - 60
    port.keys[callback_key("pension", "+46701239999")] = str(joined)
    await dialling.start()
    await dialling.sync()  # the first sync made chen a member
    assert port.callbacks == [("chen", "+46701239999", "pension")]
    # Kept until the PBX reports the caller answered (it deletes the request then).
    assert port.keys[callback_key("pension", "+46701239999")].startswith(f"{joined};1;")


async def test_a_callback_waits_while_every_member_is_on_a_call(
    dialling: Engine, port: MemoryPort
) -> None:
    await dialling.start()
    port.set_state("chen", MemberState.ON_CALL)
    port.keys[callback_key("pension", "+46701239998")] = str(int(MONDAY_9.timestamp()))
    await dialling.sync()
    assert port.callbacks == []
    port.set_state("chen", MemberState.IDLE)
    await dialling.sync()
    assert port.callbacks == [("chen", "+46701239998", "pension")]
