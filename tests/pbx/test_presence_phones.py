"""Presence on phones, on the real PBX: SIPp watchers subscribe to agents' extensions as
desk phones (dialog-info, BLF lamps) and softphones (PIDF) do, and see what the port
publishes and what the agents' phones do, across a PBX restart too."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta

import pytest
from pbx_support import StartEngine, stored_keys, until_members

from telephony.config import Site
from telephony.config.models import PbxKind
from telephony.port import (
    Change,
    ChangeKind,
    Join,
    MemberState,
    PbxPort,
    PbxPortError,
    Presence,
    Publish,
)
from telephony.testing.phones import PhoneKit
from telephony.testing.plugin import PbxHandle
from telephony.testing.subscriber import Notify, SubscriberKit

pytestmark = pytest.mark.pbx

# Asterisk commits AstDB (where it keeps subscriptions and Custom device states) from a
# thread at most once a second: a PBX killed at once may lose the last second.
_COMMIT = 2.0
NOTIFY_WAIT = 10.0


async def _publish_everyone(port: PbxPort, site: Site) -> None:
    for agent in site.agents:
        await port.apply(Publish(agent.id, Presence.AVAILABLE, "Available", "test clean-up"))


@pytest.fixture(autouse=True)
async def plain_presence(clean_pbx: PbxPort, pbx_site: Site) -> AsyncIterator[None]:
    """Every agent published available before and after: the PBX keeps what a port
    published (Asterisk in AstDB) across tests and restarts."""
    await _publish_everyone(clean_pbx, pbx_site)
    yield
    with contextlib.suppress(PbxPortError):
        await _publish_everyone(clean_pbx, pbx_site)


def busy(n: Notify) -> bool:
    return n.dialog is not None and n.dialog.busy


def idle(n: Notify) -> bool:
    return n.dialog is not None and n.dialog.idle


def ringing(n: Notify) -> bool:
    return n.dialog is not None and n.dialog.ringing


def shows(note: str, kind: PbxKind) -> Callable[[Notify], bool]:
    """A PIDF NOTIFY showing a busy agent as a softphone would. FreeSWITCH's note is the
    state in words; Asterisk's is fixed text from the hint's state ("On the phone")."""

    def check(n: Notify) -> bool:
        pidf = n.presence
        if pidf is None:
            return False
        if kind is PbxKind.FREESWITCH:
            return pidf.note == note
        return pidf.note == "On the phone"

    return check


async def test_focus_and_away_read_busy_on_a_lamp_and_in_presence(
    port: PbxPort, phones: PhoneKit, subscribers: SubscriberKit, pbx: PbxHandle
) -> None:
    await phones.register("asa-soft", on_call="answer")
    blf = await subscribers.subscribe("bjorn-soft", "1001", event="dialog")
    pidf = await subscribers.subscribe("bjorn-soft", "1001", event="presence")
    await blf.wait_notify(idle, NOTIFY_WAIT)
    await pidf.wait_notify(lambda n: n.presence is not None and n.presence.open, NOTIFY_WAIT)

    mark = blf.mark()
    await port.apply(Publish("asa", Presence.FOCUS, "Focus until 14:00", "test"))
    await blf.wait_notify(busy, NOTIFY_WAIT, after=mark)
    await pidf.wait_notify(shows("Focus until 14:00", pbx.kind), NOTIFY_WAIT)

    mark = blf.mark()
    await port.apply(Publish("asa", Presence.AVAILABLE, "Available", "test"))
    await blf.wait_notify(idle, NOTIFY_WAIT, after=mark)

    mark = blf.mark()
    await port.apply(Publish("asa", Presence.AWAY, "Away: lunch", "test"))
    await blf.wait_notify(busy, NOTIFY_WAIT, after=mark)


@pytest.mark.pbx_kinds("asterisk")  # Digium/Sangoma phones' own PIDF element
async def test_a_digium_phone_gets_the_state_in_words(
    port: PbxPort, phones: PhoneKit, subscribers: SubscriberKit
) -> None:
    await phones.register("asa-soft", on_call="answer")
    pidf = await subscribers.subscribe(
        "bjorn-soft", "1001", event="presence", user_agent="Digium D65 2.9.14")

    await port.apply(Publish("asa", Presence.FOCUS, "Focus until 14:00", "test"))

    found = await pidf.wait_notify(
        lambda n: n.presence is not None
        and n.presence.extras.get("digium_presence") == "Focus until 14:00", NOTIFY_WAIT)
    assert found.presence is not None
    assert found.presence.extras.get("digium_presence.type") == "dnd"


async def test_a_lamp_follows_the_agents_phone_ringing_answering_and_hanging_up(
    port: PbxPort, phones: PhoneKit, subscribers: SubscriberKit
) -> None:
    heard: asyncio.Queue[Change] = asyncio.Queue()
    watch = port.watch(heard.put_nowait)
    try:
        asa = await phones.register("asa-soft", on_call="answer", answer_after=1.5)
        blf = await subscribers.subscribe("bjorn-soft", "1001", event="dialog")
        await blf.wait_notify(idle, NOTIFY_WAIT)

        mark = blf.mark()
        call = await phones.call("1001", hold_seconds=None)
        await blf.wait_notify(ringing, NOTIFY_WAIT, after=mark)
        await asa.wait_answered()
        await blf.wait_notify(busy, NOTIFY_WAIT)
        snapshot = await port.snapshot()
        assert snapshot.phones is not None and snapshot.phones["asa"] is MemberState.ON_CALL
        assert snapshot.phones["bjorn"] is not MemberState.ON_CALL

        mark = blf.mark()
        await call.hangup()
        await blf.wait_notify(idle, NOTIFY_WAIT, after=mark)
        states = await _phone_states(heard, "asa")
        # Registering made Åsa idle first; then the call, in order.
        ringing_at = states.index(MemberState.RINGING)
        assert MemberState.ON_CALL in states[ringing_at:]
    finally:
        watch.close()


async def _phone_states(
    heard: asyncio.Queue[Change], agent: str, timeout: float = 10.0
) -> list[MemberState]:
    """The PHONE_STATE changes of `agent` the port reported, up to idle after a call."""
    states: list[MemberState] = []
    async with asyncio.timeout(timeout):
        while MemberState.ON_CALL not in states or states[-1] is not MemberState.IDLE:
            change = await heard.get()
            if change.kind is ChangeKind.PHONE_STATE and change.agent == agent:
                assert change.state is not None
                states.append(change.state)
    return states


@pytest.mark.pbx_kinds("asterisk")  # FreeSWITCH renders no resource lists
async def test_one_list_subscription_watches_a_whole_team(
    port: PbxPort, phones: PhoneKit, subscribers: SubscriberKit
) -> None:
    await phones.register("asa-soft", on_call="answer")
    await phones.register("bjorn-soft", on_call="answer")
    team = await subscribers.subscribe("chen-soft", "tel-blf-intake", event="dialog", rls=True)

    first = await team.wait_notify(lambda n: n.resources is not None, NOTIFY_WAIT)
    assert first.resources is not None and first.resources.full
    assert sorted(first.resources.resources) == ["1001", "1002"]  # intake's roster
    assert all(r.dialog is not None and r.dialog.idle for r in first.resources.resources.values())

    await port.apply(Publish("bjorn", Presence.FOCUS, "Focus", "test"))

    def bjorn_busy(_: Notify) -> bool:
        now = team.resource_states()
        lamp = now["1002"].dialog if "1002" in now else None
        return lamp is not None and lamp.busy

    await team.wait_notify(bjorn_busy, NOTIFY_WAIT)
    asa = team.resource_states()["1001"].dialog
    assert asa is not None and asa.idle

    everyone = await subscribers.subscribe(
        "chen-soft", "tel-presence", event="presence", rls=True)
    listed = await everyone.wait_notify(lambda n: n.resources is not None, NOTIFY_WAIT)
    assert listed.resources is not None
    assert sorted(listed.resources.resources) == ["1001", "1002", "1003", "1004"]


async def test_after_a_pbx_restart_subscribers_see_the_current_state_and_no_stale_lamp(
    port: PbxPort, phones: PhoneKit, subscribers: SubscriberKit, pbx: PbxHandle
) -> None:
    await phones.register("asa-soft", on_call="answer")
    blf = await subscribers.subscribe("bjorn-soft", "1001", event="dialog")
    lamp_b = await subscribers.subscribe("asa-soft", "1002", event="dialog")
    await port.apply(Publish("bjorn", Presence.FOCUS, "Focus", "test"))
    await lamp_b.wait_notify(busy, NOTIFY_WAIT)
    await phones.call("1001", hold_seconds=None)
    await blf.wait_notify(busy, NOTIFY_WAIT)  # Åsa on a call
    await asyncio.sleep(_COMMIT)
    marks = blf.mark(), lamp_b.mark()

    await asyncio.to_thread(pbx.kill)  # the call dies with the PBX
    await asyncio.to_thread(pbx.start_again)

    # No new SUBSCRIBE: the PBX kept the dialogs and tells each watcher the state now.
    await blf.wait_notify(idle, 30, after=marks[0])
    await lamp_b.wait_notify(busy, 30, after=marks[1])


SHIFT = datetime.fromisoformat("2026-11-23T09:00:00+01:00")  # Monday: Åsa on intake


async def test_the_engine_publishes_again_what_changed_while_the_pbx_was_down(
    start_engine: StartEngine, phones: PhoneKit, subscribers: SubscriberKit, pbx: PbxHandle
) -> None:
    engine, clock = await start_engine(SHIFT)
    await phones.register("bjorn-soft", on_call="answer")
    blf = await subscribers.subscribe("asa-soft", "1002", event="dialog")
    await engine.set_focus("bjorn", SHIFT + timedelta(minutes=30))
    await blf.wait_notify(busy, NOTIFY_WAIT)
    await asyncio.sleep(_COMMIT)
    mark = blf.mark()

    await asyncio.to_thread(pbx.kill)
    clock.set(SHIFT + timedelta(minutes=31))  # the focus ran out while the PBX was down
    await asyncio.to_thread(pbx.start_again)
    await phones.register("bjorn-soft", on_call="answer")

    await blf.wait_notify(idle, 30, after=mark)


async def test_a_phone_key_toggles_focus_with_a_lamp_and_the_engine_hears_it(
    port: PbxPort, phones: PhoneKit, subscribers: SubscriberKit, pbx_site: Site
) -> None:
    heard: asyncio.Queue[Change] = asyncio.Queue()
    watch = port.watch(heard.put_nowait)
    try:
        code = f"{pbx_site.pbx.focus_code}1001"
        await phones.register("asa-soft", on_call="answer")
        lamp = await subscribers.subscribe("asa-desk", code, event="dialog")
        agent_lamp = await subscribers.subscribe("bjorn-soft", "1001", event="dialog")
        await lamp.wait_notify(idle, NOTIFY_WAIT)

        mark = lamp.mark()
        await (await phones.call(code, from_device="asa-soft", hold_seconds=None)).wait_ended()
        await lamp.wait_notify(busy, NOTIFY_WAIT, after=mark)
        await agent_lamp.wait_notify(busy, NOTIFY_WAIT)
        assert (await stored_keys(port)).get("focus/asa") == "0"
        await _heard_key(heard, "asa")

        marks = lamp.mark(), agent_lamp.mark()
        await (await phones.call(code, from_device="asa-soft", hold_seconds=None)).wait_ended()
        await lamp.wait_notify(idle, NOTIFY_WAIT, after=marks[0])
        assert "focus/asa" not in await stored_keys(port)
        await agent_lamp.wait_notify(idle, NOTIFY_WAIT, after=marks[1])
    finally:
        watch.close()


async def _heard_key(heard: asyncio.Queue[Change], agent: str) -> None:
    async with asyncio.timeout(5):
        while True:
            change = await heard.get()
            if change.kind is ChangeKind.KEY and change.agent == agent:
                return


async def test_a_phone_key_toggles_hunt_group_duty_with_a_lamp(
    port: PbxPort, phones: PhoneKit, subscribers: SubscriberKit, pbx_site: Site
) -> None:
    code = f"{pbx_site.pbx.duty_code}1003"  # Chen: rostered in rota and line
    lamp = await subscribers.subscribe("chen-soft", code, event="dialog")
    await lamp.wait_notify(idle, NOTIFY_WAIT)

    mark = lamp.mark()
    await (await phones.call(code, from_device="chen-soft", hold_seconds=None)).wait_ended()

    await lamp.wait_notify(busy, NOTIFY_WAIT, after=mark)
    keys = await stored_keys(port)
    for group in ("rota", "line"):
        action, _, until = keys[f"override/{group}/chen/member"].partition(":")
        assert action == "join" and int(until) > datetime.now().timestamp()

    # On duty (a member of one of the groups, as an engine would have made Chen): the
    # key takes Chen off duty in every group.
    await port.apply(Join("line", "chen", "test"))
    mark = lamp.mark()
    await (await phones.call(code, from_device="chen-soft", hold_seconds=None)).wait_ended()

    await lamp.wait_notify(idle, NOTIFY_WAIT, after=mark)
    keys = await stored_keys(port)
    assert {keys[f"override/{g}/chen/member"].partition(":")[0] for g in ("rota", "line")} == {
        "leave"}


async def test_another_agents_key_does_nothing(
    port: PbxPort, phones: PhoneKit, pbx_site: Site
) -> None:
    call = await phones.call(f"{pbx_site.pbx.focus_code}1001", from_device="bjorn-soft")
    assert await call.wait_failed() >= 400
    assert "focus/asa" not in await stored_keys(port)


async def test_a_watcher_unsubscribes_and_the_pbx_says_so(subscribers: SubscriberKit) -> None:
    """The kit unsubscribes at the end, so the PBX keeps no dialog for a dead watcher
    (Asterisk would restore it after a restart and NOTIFY nobody)."""
    sub = await subscribers.subscribe("bjorn-soft", "1001", event="dialog")
    await sub.wait_notify(None, NOTIFY_WAIT)
    await sub.unsubscribe()
    assert sub.notifies[-1].terminated


async def test_the_engine_follows_a_duty_key_at_once(
    start_engine: StartEngine, port: PbxPort, phones: PhoneKit, pbx_site: Site
) -> None:
    await start_engine(SHIFT)
    await until_members(port, "rota", ["chen", "dana"])  # rostered around the clock

    code = f"{pbx_site.pbx.duty_code}1003"
    await (await phones.call(code, from_device="chen-soft", hold_seconds=None)).wait_ended()

    # Well within the engine's periodic re-read: the key's event made it sync.
    await until_members(port, "rota", ["dana"], timeout=5)
    await until_members(port, "line", ["dana"], timeout=5)
