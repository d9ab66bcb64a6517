"""Presence in the engine over an in-memory port: away holds, the cheap phone path, the
feed, publication (refused or not), republishing after a RESYNC, wrap-up."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from telephony.config import load_site
from telephony.engine.engine import Engine, EngineError, StateChange
from telephony.port import (
    Hold,
    MemberState,
    PbxRefused,
    PbxUnavailable,
    Presence,
    Publish,
    PutKey,
    SetHold,
)
from telephony.port.memory import MemoryPort
from telephony.routing.clock import ManualClock

DEMO = Path(__file__).resolve().parents[2] / "telephony" / "examples" / "demo-site.yaml"
SITE = load_site(DEMO, {})
# Monday 2026-11-23 09:00 in Stockholm: asa and chen on duty in intake (wrap-up 30 s);
# chen (pension 5) is the pension queue's only member.
MONDAY_9 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.005)


@pytest.fixture
def port() -> MemoryPort:
    port = MemoryPort()
    port.registered = {"asa", "bjorn", "chen"}
    port.phones = {"asa": MemberState.IDLE, "bjorn": MemberState.IDLE, "chen": MemberState.IDLE}
    return port


@pytest.fixture
async def engine(port: MemoryPort) -> AsyncIterator[Engine]:
    engine = Engine(SITE, port, ManualClock(MONDAY_9))
    await engine.start()
    await engine.publications_done()
    yield engine
    await engine.stop()


def clock(engine: Engine) -> ManualClock:
    assert isinstance(engine.clock, ManualClock)
    return engine.clock


def holds(port: MemoryPort, agent: str) -> dict[str, Hold | None]:
    return {m.queue: m.hold for m in port.members.values() if m.agent == agent}


def presence(engine: Engine, agent: str) -> Presence:
    return engine.agent_view(agent).presence.presence


async def test_every_agent_is_derived_and_published_after_the_first_read(
    engine: Engine, port: MemoryPort
) -> None:
    assert {a: presence(engine, a) for a in ("asa", "bjorn", "chen")} == {
        "asa": Presence.ON_DUTY, "bjorn": Presence.AVAILABLE, "chen": Presence.ON_DUTY}
    assert port.published["asa"] == Publish(
        "asa", Presence.ON_DUTY, "On duty until 10:00", "state changed")
    assert set(port.published) == {"asa", "bjorn", "chen"}
    assert engine.agent_view("chen").queues == ("pension",)
    assert engine.agent_view("chen").groups == ("intake",)
    assert dict(engine.agent_view("asa").skills) == {"pension": 2, "unemployment": 5}


async def test_away_holds_every_hunt_group_and_skill_queue_entry_and_back_releases_them(
    engine: Engine, port: MemoryPort
) -> None:
    assert holds(port, "chen") == {"intake": None, "pension": None}
    port.applied.clear()
    await engine.set_away("chen", "lunch")
    assert holds(port, "chen") == {"intake": Hold.MANUAL, "pension": Hold.MANUAL}
    pauses = [c for c in port.applied if isinstance(c, SetHold)]
    assert {(c.queue, c.why) for c in pauses} == {("intake", "away: lunch"),
                                                  ("pension", "away: lunch")}
    view = engine.agent_view("chen").presence
    assert (view.presence, view.reason, view.note) == (Presence.AWAY, "lunch", "Away: lunch")
    assert engine.agent_view("chen").queues == ("pension",)  # still a member, held
    await engine.clear_away("chen")
    assert holds(port, "chen") == {"intake": None, "pension": None}
    assert presence(engine, "chen") is Presence.ON_DUTY


async def test_an_away_agent_rings_at_no_skill_level_and_the_next_best_ring_at_once(
    port: MemoryPort,
) -> None:
    site = SITE.model_copy(update={"queues": [SITE.queues[0].model_copy(
        update={"min_level": 1})]})
    engine = Engine(site, port, ManualClock(MONDAY_9))
    await engine.start()
    try:
        levels = {m.agent: m.level for m in port.members.values() if m.queue == "pension"}
        assert levels == {"chen": 1, "asa": 2}
        await engine.set_away("chen", "lunch")
        levels = {m.agent: m.level for m in port.members.values() if m.queue == "pension"}
        assert levels["asa"] == 1
        assert holds(port, "chen")["pension"] is Hold.MANUAL
    finally:
        await engine.stop()


async def test_away_stays_stored_and_a_new_engine_holds_the_agent_again(
    engine: Engine, port: MemoryPort
) -> None:
    await engine.set_away("asa", "course")
    await engine.stop()
    for key, m in list(port.members.items()):  # as if the PBX had lost the holds
        port.members[key] = m.__class__(m.queue, m.agent, m.ref, level=m.level)
    again = Engine(SITE, port, ManualClock(MONDAY_9))
    await again.start()
    try:
        assert holds(port, "asa") == {"intake": Hold.MANUAL}
        assert again.agent_view("asa").presence.note == "Away: course"
    finally:
        await again.stop()


async def test_set_state_moves_between_away_focus_and_available(engine: Engine) -> None:
    view = await engine.set_state("asa", StateChange.AWAY, reason="lunch")
    assert view.presence.presence is Presence.AWAY
    until = MONDAY_9 + timedelta(hours=5)  # 14:00 in Stockholm
    view = await engine.set_state("asa", StateChange.FOCUS, until=until)
    assert (view.presence.presence, view.presence.note, view.presence.until) == (
        Presence.FOCUS, "Focus until 14:00", until)
    assert "asa" not in engine._stored.away  # focus ends away
    view = await engine.set_state("asa", StateChange.AWAY, reason="lunch")
    assert "asa" not in engine._stored.focus  # and away ends focus
    view = await engine.set_state("asa", StateChange.BACK)
    assert view.presence.presence is Presence.ON_DUTY
    await engine.set_state("asa", StateChange.FOCUS)
    view = await engine.set_state("asa", StateChange.AVAILABLE)
    assert view.presence.presence is Presence.ON_DUTY


@pytest.mark.parametrize("reason", ["", "a/b", "x" * 65, None])
async def test_a_bad_reason_is_refused_naming_the_field(
    engine: Engine, reason: str | None
) -> None:
    with pytest.raises(EngineError) as caught:
        await engine.set_state("asa", StateChange.AWAY, reason=reason)
    assert caught.value.field == "reason"


async def test_a_phone_event_updates_presence_without_reading_the_pbx(
    engine: Engine, port: MemoryPort
) -> None:
    reads = len(port.snapshots)
    last = engine.feed.last_id
    port.set_phone("bjorn", MemberState.RINGING)
    assert presence(engine, "bjorn") is Presence.RINGING
    [event] = engine.feed.since(last) or []
    assert event.item.presence.presence is Presence.RINGING
    assert event.item.presence.since == MONDAY_9
    await engine.publications_done()
    assert port.published["bjorn"].note == "Ringing"
    port.set_phone("bjorn", MemberState.ON_CALL)
    port.set_phone("bjorn", MemberState.IDLE)  # bjorn is in no group: no wrap-up
    assert presence(engine, "bjorn") is Presence.AVAILABLE
    await asyncio.sleep(0.02)
    assert len(port.snapshots) == reads


async def test_after_a_group_call_the_agent_wraps_up_for_the_groups_wrapup_time(
    engine: Engine, port: MemoryPort
) -> None:
    port.set_phone("asa", MemberState.ON_CALL)
    assert presence(engine, "asa") is Presence.ON_CALL
    port.set_phone("asa", MemberState.IDLE)
    view = engine.agent_view("asa").presence
    assert (view.presence, view.until) == (Presence.WRAP_UP, MONDAY_9 + timedelta(seconds=30))
    clock(engine).advance(31)
    await until(lambda: presence(engine, "asa") is Presence.ON_DUTY)


async def test_a_refused_publication_is_a_warning_never_a_sync_failure(
    engine: Engine, port: MemoryPort, caplog: pytest.LogCaptureFixture
) -> None:
    port.refuse_next(Publish)
    with caplog.at_level(logging.WARNING, "telephony.engine"):
        await engine.set_away("bjorn", "lunch")
        await engine.publications_done()
    assert presence(engine, "bjorn") is Presence.AWAY
    assert any("Publish refused" in r.getMessage() for r in caplog.records)
    assert "bjorn" not in port.published or port.published["bjorn"].presence is not (
        Presence.AWAY)
    port.set_phone("bjorn", MemberState.RINGING)  # the next change goes out again
    await engine.publications_done()
    assert port.published["bjorn"].presence is Presence.RINGING


async def test_a_resync_publishes_every_agent_again(engine: Engine, port: MemoryPort) -> None:
    port.published.clear()
    port.resync()
    await until(lambda: len(port.published) == 3)
    assert {p.why for p in port.published.values()} == {"republish"}


async def test_a_registration_shows_offline(engine: Engine, port: MemoryPort) -> None:
    port.register("bjorn", False)
    await until(lambda: presence(engine, "bjorn") is Presence.OFFLINE)
    await engine.publications_done()
    assert port.published["bjorn"].note == "Offline"


async def test_a_skill_edit_is_a_feed_event(engine: Engine) -> None:
    last = engine.feed.last_id
    await engine.set_skill("bjorn", "pension", 4)
    [event] = engine.feed.since(last) or []
    assert dict(event.item.skills)["pension"] == 4
    assert event.item.queues == ("pension",)


async def test_a_state_set_over_the_engine_is_published_before_the_full_read(
    engine: Engine, port: MemoryPort, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The full read after the change fails here: phones and the stream must not wait
    # for it (the benchmark's engine path is this one).
    async def gone(queues: object = None) -> object:
        raise PbxUnavailable("the read after the change")

    monkeypatch.setattr(port, "snapshot", gone)
    await engine.set_state("bjorn", StateChange.FOCUS)
    await engine.publications_done()
    assert port.published["bjorn"].presence is Presence.FOCUS
    assert presence(engine, "bjorn") is Presence.FOCUS


async def test_a_state_set_reads_only_the_agents_own_queues(
    engine: Engine, port: MemoryPort
) -> None:
    port.snapshots.clear()
    await engine.set_state("chen", StateChange.AWAY, reason="lunch")
    # chen: rostered in intake, skilled for pension; not a read of the whole site.
    assert port.snapshots == [frozenset({"intake", "pension"})]
    assert holds(port, "chen") == {"intake": Hold.MANUAL, "pension": Hold.MANUAL}


async def test_a_refused_store_shows_the_state_stored_before(
    engine: Engine, port: MemoryPort
) -> None:
    port.refuse_next(PutKey)
    with pytest.raises(PbxRefused):
        await engine.set_state("bjorn", StateChange.FOCUS)
    await engine.publications_done()
    assert presence(engine, "bjorn") is Presence.AVAILABLE
    assert port.published["bjorn"].presence is Presence.AVAILABLE


async def test_a_focus_until_a_time_ends_on_time_without_an_outside_read(
    engine: Engine, port: MemoryPort
) -> None:
    await engine.set_state("bjorn", StateChange.FOCUS,
                           until=MONDAY_9 + timedelta(minutes=20))
    assert presence(engine, "bjorn") is Presence.FOCUS
    port.snapshots.clear()
    clock(engine).advance(20 * 60)
    await until(lambda: presence(engine, "bjorn") is Presence.AVAILABLE)
    assert None in port.snapshots  # the loop woke for the focus's end and read everything
