"""Presence on FreeSWITCH phones beyond what tests/pbx/test_presence_phones.py runs on
both PBXs: the PIDF in words (any text), a watcher that subscribes late, a call from any
of the agent's devices, FreeSWITCH's own answer to a new watcher, and no resource lists."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable

import pytest

from telephony.config import Site
from telephony.port import MemberState, PbxPort, PbxPortError, Presence, Publish
from telephony.testing.phones import PhoneKit
from telephony.testing.subscriber import Notify, SubscriberKit

pytestmark = [pytest.mark.pbx, pytest.mark.pbx_kinds("freeswitch")]

NOTIFY_WAIT = 10.0


async def _publish_everyone(port: PbxPort, site: Site) -> None:
    for agent in site.agents:
        await port.apply(Publish(agent.id, Presence.AVAILABLE, "Available", "test clean-up"))


@pytest.fixture(autouse=True)
async def plain_presence(clean_pbx: PbxPort, pbx_site: Site) -> AsyncIterator[None]:
    await _publish_everyone(clean_pbx, pbx_site)
    yield
    with contextlib.suppress(PbxPortError):
        await _publish_everyone(clean_pbx, pbx_site)


def busy(n: Notify) -> bool:
    return n.dialog is not None and n.dialog.busy


def idle(n: Notify) -> bool:
    return n.dialog is not None and n.dialog.idle


def note(text: str) -> Callable[[Notify], bool]:
    return lambda n: n.presence is not None and n.presence.note == text


async def test_the_note_carries_any_words_and_away_reads_busy(
    port: PbxPort, subscribers: SubscriberKit
) -> None:
    pidf = await subscribers.subscribe("bjorn-soft", "1001", event="presence")
    await pidf.wait_notify(note("Available"), NOTIFY_WAIT)

    mark = pidf.mark()
    await port.apply(Publish("asa", Presence.AWAY, "Away: fika & möte <kl 15>", "test"))

    found = await pidf.wait_notify(note("Away: fika & möte <kl 15>"), NOTIFY_WAIT, after=mark)
    assert found.presence is not None
    assert found.presence.open and "busy" in found.presence.activities

    mark = pidf.mark()
    await port.apply(Publish("asa", Presence.OFFLINE, "Offline", "test"))
    gone = await pidf.wait_notify(
        lambda n: n.presence is not None and not n.presence.open, NOTIFY_WAIT, after=mark)
    assert gone.presence is not None and gone.presence.note == "Unregistered"


async def test_a_watcher_subscribing_later_gets_the_state_now(
    port: PbxPort, subscribers: SubscriberKit
) -> None:
    await port.apply(Publish("asa", Presence.FOCUS, "Focus until 14:00", "test"))

    blf = await subscribers.subscribe("bjorn-soft", "1001", event="dialog")
    pidf = await subscribers.subscribe("chen-soft", "1001", event="presence")

    await blf.wait_notify(busy, NOTIFY_WAIT)
    await pidf.wait_notify(note("Focus until 14:00"), NOTIFY_WAIT)
    # And it stays so: FreeSWITCH's own answer ("Unregistered", nobody registers as
    # 1001) came first, or is followed by ours.
    latest = pidf.latest
    assert latest is not None and latest.presence is not None
    assert latest.presence.note == "Focus until 14:00"


async def test_a_call_the_agent_makes_from_any_device_lights_their_lamp(
    port: PbxPort, phones: PhoneKit, subscribers: SubscriberKit
) -> None:
    await phones.register("bjorn-soft", on_call="answer")
    await phones.register("asa-desk", on_call="answer")
    blf = await subscribers.subscribe("chen-soft", "1001", event="dialog")
    await blf.wait_notify(idle, NOTIFY_WAIT)

    mark = blf.mark()
    call = await phones.call("1002", from_device="asa-desk", hold_seconds=None)
    await call.wait_answered()

    lit = await blf.wait_notify(busy, NOTIFY_WAIT, after=mark)
    assert lit.dialog is not None
    assert [d.direction for d in lit.dialog.dialogs] == ["initiator"]
    snapshot = await port.snapshot()
    assert snapshot.phones is not None
    assert snapshot.phones["asa"] is MemberState.ON_CALL
    assert snapshot.phones["bjorn"] is MemberState.ON_CALL

    mark = blf.mark()
    await call.hangup()
    await blf.wait_notify(idle, NOTIFY_WAIT, after=mark)


async def test_a_watcher_gets_the_ringing_it_subscribed_into(
    phones: PhoneKit, subscribers: SubscriberKit
) -> None:
    asa = await phones.register("asa-soft", on_call="ignore")
    await phones.call("1001", hold_seconds=None)
    await asa.wait_rang()

    blf = await subscribers.subscribe("bjorn-soft", "1001", event="dialog")

    await blf.wait_notify(lambda n: n.dialog is not None and n.dialog.ringing, NOTIFY_WAIT)


async def test_freeswitch_has_no_resource_lists(subscribers: SubscriberKit) -> None:
    # mod_sofia takes a list subscription as one to a user of that name: no RLMI, ever.
    team = await subscribers.subscribe("chen-soft", "tel-blf", event="dialog", rls=True)
    first = await team.wait_notify(lambda n: True, NOTIFY_WAIT)
    # Not unsubscribed here: FreeSWITCH challenges the in-dialog un-SUBSCRIBE and the
    # kit's scenario can lose the 202 that answers it (the kit's close is best effort).
    assert first.resources is None
    assert all(n.resources is None for n in team.notifies)
