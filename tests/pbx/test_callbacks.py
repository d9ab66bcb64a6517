"""Callbacks on the real PBX: `port.call_back` rings the agent's devices, and once one
answers, calls the waiting caller out through the trunk and connects the two.

The caller's side is a SIPp UAS at the trunk's `dial_host:dial_port`
(`telephony.testing.trunk`), as the public network would deliver the call.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from telephony.config import Site
from telephony.engine.run import open_port
from telephony.port import Family, Join, Key, MemberState, PbxPort, PbxRefused, PutKey
from telephony.routing.state import callback_key
from telephony.testing.phones import PhoneKit
from telephony.testing.trunk import TrunkEnd, listen

pytestmark = pytest.mark.pbx

CALLER = "+46701239001"


@pytest.fixture
async def far_end(pbx_site: Site, tmp_path: Path) -> AsyncIterator[TrunkEnd]:
    """The called-back caller's phone, behind the trunk: answers every call."""
    end = await listen(pbx_site, tmp_path / "trunk", answer_after=0.2)
    yield end
    await end.close()


async def test_a_callback_rings_the_agent_with_the_callers_number(
    port: PbxPort, phones: PhoneKit, far_end: TrunkEnd
) -> None:
    bjorn = await phones.register("bjorn-soft", on_call="ignore")
    await port.call_back("bjorn", CALLER, "pension")
    incoming = await bjorn.wait_rang(timeout=5)
    assert incoming.caller == CALLER


async def test_every_device_of_the_agent_rings_at_once(
    port: PbxPort, phones: PhoneKit, far_end: TrunkEnd
) -> None:
    soft = await phones.register("asa-soft", on_call="ignore")
    desk = await phones.register("asa-desk", on_call="ignore")
    await port.call_back("asa", CALLER, "pension")
    await asyncio.gather(soft.wait_rang(timeout=5), desk.wait_rang(timeout=5))


async def test_the_caller_is_dialled_through_the_trunk_once_the_agent_answers(
    port: PbxPort, phones: PhoneKit, far_end: TrunkEnd
) -> None:
    bjorn = await phones.register("bjorn-soft", on_call="answer", answer_after=1.0)
    await port.call_back("bjorn", CALLER, "pension")

    agent_call = await bjorn.wait_rang(timeout=5)
    assert far_end.rang_count == 0  # nobody calls the caller before an agent is there
    await bjorn.wait_answered(agent_call, timeout=5)
    out = await far_end.wait_rang(timeout=10)

    assert out.request_uri.startswith(f"sip:{CALLER}@")
    assert out.caller == "3001"  # the skill queue's number, not the agent's


async def test_the_agent_and_the_caller_are_connected(
    port: PbxPort, phones: PhoneKit, far_end: TrunkEnd
) -> None:
    bjorn = await phones.register("bjorn-soft", on_call="answer")
    await port.call_back("bjorn", CALLER, "pension")
    agent_call = await bjorn.wait_rang(timeout=5)
    out = await far_end.wait_rang(timeout=10)
    await far_end.wait_answered(out, timeout=5)

    # One call: the caller hanging up ends the agent's side too.
    await far_end.hangup()
    await bjorn.wait_call_ended(agent_call, timeout=10)


async def stored_requests(port: PbxPort) -> dict[Key, str]:
    return {k: v for k, v in (await port.snapshot()).keys.items() if k.family is Family.CALLBACK}


async def test_a_caller_who_answers_the_callback_has_their_request_deleted_by_the_pbx(
    port: PbxPort, phones: PhoneKit, far_end: TrunkEnd
) -> None:
    request = callback_key("pension", CALLER)
    await port.apply(PutKey(request, "1700000000;1;1700000100", "a try under way"))
    bjorn = await phones.register("bjorn-soft", on_call="answer")
    await port.call_back("bjorn", CALLER, "pension")
    await bjorn.wait_rang(timeout=5)
    out = await far_end.wait_rang(timeout=10)
    await far_end.wait_answered(out, timeout=5)

    try:
        async with asyncio.timeout(5):
            while request in await stored_requests(port):
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise AssertionError("the request was still stored 5 s after the caller answered") from None


async def test_a_caller_who_does_not_answer_keeps_their_request(
    port: PbxPort, phones: PhoneKit, pbx_site: Site, tmp_path: Path
) -> None:
    silent = await listen(pbx_site, tmp_path / "silent", on_call="ignore")
    try:
        request = callback_key("pension", CALLER)
        await port.apply(PutKey(request, "1700000000;1;1700000100", "a try under way"))
        bjorn = await phones.register("bjorn-soft", on_call="answer")
        await port.call_back("bjorn", CALLER, "pension")
        agent_call = await bjorn.wait_rang(timeout=5)
        await silent.wait_rang(timeout=10)
        await bjorn.hangup()  # the agent gives up before the caller answers
        await bjorn.wait_call_ended(agent_call, timeout=10)
        await silent.wait_cancelled(timeout=10)
    finally:
        await silent.close()
    assert (await stored_requests(port)).get(request) == "1700000000;1;1700000100"


async def test_an_agent_who_does_not_answer_gets_no_caller(
    port: PbxPort, phones: PhoneKit, far_end: TrunkEnd, pbx_site: Site
) -> None:
    bjorn = await phones.register("bjorn-soft", on_call="ignore")
    await port.call_back("bjorn", CALLER, "pension")
    agent_call = await bjorn.wait_rang(timeout=5)

    ring = next(a.ring_timeout for a in pbx_site.agents if a.id == "bjorn")
    await bjorn.wait_cancelled(agent_call, timeout=ring + 5)
    assert far_end.rang_count == 0


async def test_a_callback_through_an_agent_with_nothing_registered_is_refused(
    port: PbxPort, far_end: TrunkEnd
) -> None:
    with pytest.raises(PbxRefused):
        await port.call_back("bjorn", CALLER, "pension")
    await asyncio.sleep(0.5)  # a refused callback must not reach the trunk late either
    assert far_end.rang_count == 0


async def test_an_agent_on_a_callback_reads_busy_until_it_ends(
    port: PbxPort, phones: PhoneKit, far_end: TrunkEnd
) -> None:
    bjorn = await phones.register("bjorn-soft", on_call="answer")
    await port.apply(Join("pension", "bjorn", "test: a member to read the state of"))
    await until_state(port, "bjorn", {MemberState.IDLE})

    await port.call_back("bjorn", CALLER, "pension")
    agent_call = await bjorn.wait_rang(timeout=5)
    await far_end.wait_answered(await far_end.wait_rang(timeout=10), timeout=5)
    await until_state(port, "bjorn", {MemberState.RINGING, MemberState.ON_CALL})

    await far_end.hangup()
    await bjorn.wait_call_ended(agent_call, timeout=10)
    await until_state(port, "bjorn", {MemberState.IDLE})


async def test_an_agent_with_several_devices_reads_busy_until_the_callback_ends(
    port: PbxPort, phones: PhoneKit, far_end: TrunkEnd
) -> None:
    soft = await phones.register("asa-soft", on_call="answer", answer_after=0.3)
    desk = await phones.register("asa-desk", on_call="ignore")
    await port.apply(Join("pension", "asa", "test: a member to read the state of"))
    await until_state(port, "asa", {MemberState.IDLE})

    await port.call_back("asa", CALLER, "pension")
    agent_call = await soft.wait_rang(timeout=5)
    await desk.wait_cancelled(await desk.wait_rang(timeout=5), timeout=5)  # lost the race
    await far_end.wait_answered(await far_end.wait_rang(timeout=10), timeout=5)
    await until_state(port, "asa", {MemberState.RINGING, MemberState.ON_CALL})

    await far_end.hangup()
    await soft.wait_call_ended(agent_call, timeout=10)
    await until_state(port, "asa", {MemberState.IDLE})


async def test_an_agent_who_does_not_answer_a_callback_reads_idle_again(
    port: PbxPort, phones: PhoneKit, far_end: TrunkEnd, pbx_site: Site
) -> None:
    bjorn = await phones.register("bjorn-soft", on_call="ignore")
    await port.apply(Join("pension", "bjorn", "test: a member to read the state of"))
    await until_state(port, "bjorn", {MemberState.IDLE})

    await port.call_back("bjorn", CALLER, "pension")
    agent_call = await bjorn.wait_rang(timeout=5)
    await until_state(port, "bjorn", {MemberState.RINGING, MemberState.ON_CALL})

    ring = next(a.ring_timeout for a in pbx_site.agents if a.id == "bjorn")
    await bjorn.wait_cancelled(agent_call, timeout=ring + 5)
    await until_state(port, "bjorn", {MemberState.IDLE})


async def test_an_agent_whose_callback_rang_when_the_engine_died_is_free_after_the_ring(
    port: PbxPort, phones: PhoneKit, far_end: TrunkEnd, pbx_site: Site
) -> None:
    bjorn = await phones.register("bjorn-soft", on_call="ignore")
    await port.apply(Join("pension", "bjorn", "test: a member to read the state of"))
    await until_state(port, "bjorn", {MemberState.IDLE})
    dying = await open_port(pbx_site)  # the connection of an engine about to be killed
    await dying.call_back("bjorn", CALLER, "pension")
    agent_call = await bjorn.wait_rang(timeout=5)
    # Killed: its connection is gone before the callback ends, so it frees nobody.
    await dying.client.close()  # type: ignore[attr-defined]
    await dying.close()

    ring = next(a.ring_timeout for a in pbx_site.agents if a.id == "bjorn")
    await bjorn.wait_cancelled(agent_call, timeout=ring + 5)
    await until_state(port, "bjorn", {MemberState.IDLE})


async def until_state(
    port: PbxPort, agent: str, states: set[MemberState], timeout: float = 10.0
) -> None:
    """Wait (bounded, polled: not every PBX reports it) until the agent's pension entry
    is in one of `states`."""
    seen: list[MemberState] = []
    try:
        async with asyncio.timeout(timeout):
            while True:
                snapshot = await port.snapshot()
                seen = [m.state for m in snapshot.members
                        if m.queue == "pension" and m.agent == agent]
                if seen and seen[0] in states:
                    return
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise AssertionError(f"{agent} in pension read {seen}, not one of {states}") from None
