"""Transfers of live calls on the real PBX: listed, moved blind or attended, or refused.

A trunk caller talks to Åsa (her direct line; only her softphone is up); the port lists
the call and moves the caller where the neutral words say. Refusals go through the
engine's transfer logic with the engine's own view of who can take a call.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest
from pbx_support import StartEngine, until_members

from telephony.engine.transfers import transfer_call
from telephony.port import Join, LiveCall, PbxPort, PbxRefused, PutKey
from telephony.routing.state import focus_key
from telephony.routing.transfer import Request, Target, TransferRefused
from telephony.testing.phones import OutboundCall, Phone, PhoneKit

pytestmark = pytest.mark.pbx

ASA_DIRECT = "+46855501001"
ON_DUTY = datetime.fromisoformat("2026-11-23T09:00:00+01:00")


async def on_call(port: PbxPort, agent: str, peer: str, timeout: float = 10.0) -> LiveCall:
    """The agent's call with `peer` once the PBX lists it (bounded)."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                for call in await port.calls():
                    if call.agent == agent and call.peer == peer:
                        return call
                await asyncio.sleep(0.05)
    except TimeoutError:
        listed = await port.calls()
        raise AssertionError(f"no call of {agent} with {peer} after {timeout} s: {listed}") from None


def still_up(call: OutboundCall) -> bool:
    """No BYE either way yet on the caller's call."""
    return not any(m.method == "BYE" for m in call.messages)


async def asa_talking_to(phones: PhoneKit, port: PbxPort, caller: str) -> tuple[
    Phone, OutboundCall, LiveCall
]:
    """A trunk caller on Åsa's direct line, answered: her phone, the call, the live call."""
    asa = await phones.register("asa-soft", on_call="answer")
    call = await phones.call(ASA_DIRECT, caller_id=caller, hold_seconds=None)
    await asa.wait_rang()
    await call.wait_answered()
    return asa, call, await on_call(port, "asa", caller)


async def test_a_live_call_is_listed_with_the_agent_and_the_callers_number(
    phones: PhoneKit, port: PbxPort
) -> None:
    _, _, live = await asa_talking_to(phones, port, "+46701238001")
    assert (live.agent, live.peer, live.queue) == ("asa", "+46701238001", "")


async def test_a_hunt_group_call_is_listed_with_the_group_that_put_it_through(
    phones: PhoneKit, port: PbxPort
) -> None:
    await port.apply(Join("rota", "dana", "test"))
    dana = await phones.register("dana-soft", on_call="answer")
    call = await phones.call("2001", caller_id="+46701238002", hold_seconds=None)
    await dana.wait_rang(timeout=10)
    await call.wait_answered()
    live = await on_call(port, "dana", "+46701238002")
    assert live.queue == "rota"


async def test_a_call_between_two_agents_is_listed_for_each_with_the_others_extension(
    phones: PhoneKit, port: PbxPort
) -> None:
    asa = await phones.register("asa-soft", on_call="answer")
    await phones.register("bjorn-soft", on_call="answer")
    call = await phones.call("1001", from_device="bjorn-soft", hold_seconds=None)
    await asa.wait_rang()
    await call.wait_answered()
    await on_call(port, "asa", "1002")
    await on_call(port, "bjorn", "1001")


async def test_a_blind_transfer_to_an_agent_rings_their_phone_with_the_callers_number(
    phones: PhoneKit, port: PbxPort
) -> None:
    asa, _, live = await asa_talking_to(phones, port, "+46701238003")
    bjorn = await phones.register("bjorn-soft", on_call="answer")

    await port.transfer(live, "1002", attended=False)

    incoming = await bjorn.wait_rang(timeout=10)
    assert incoming.caller == "+46701238003"
    await asa.wait_call_ended(timeout=5)
    await bjorn.wait_answered(incoming)
    await on_call(port, "bjorn", "+46701238003")


async def test_a_blind_transfer_to_a_hunt_group_rings_an_agent_in_it(
    phones: PhoneKit, port: PbxPort
) -> None:
    await port.apply(Join("rota", "dana", "test"))
    dana = await phones.register("dana-soft", on_call="answer")
    asa, _, live = await asa_talking_to(phones, port, "+46701238004")

    await port.transfer(live, "2001", attended=False)

    incoming = await dana.wait_rang(timeout=10)
    assert incoming.caller == "+46701238004"
    await asa.wait_call_ended(timeout=5)
    assert (await on_call(port, "dana", "+46701238004")).queue == "rota"


async def test_an_urgent_transfer_of_a_trunk_caller_reaches_an_agent_in_focus(
    phones: PhoneKit, port: PbxPort
) -> None:
    # The moved caller dials as our own phones do: the urgent prefix works for them
    # too, though a trunk caller could never dial it.
    await port.apply(PutKey(focus_key("bjorn"), "0", "test: in focus until turned off"))
    _, _, live = await asa_talking_to(phones, port, "+46701238005")
    bjorn = await phones.register("bjorn-soft", on_call="answer")

    await port.transfer(live, "*91002", attended=False)

    incoming = await bjorn.wait_rang(timeout=10)
    assert incoming.caller == "+46701238005"


async def test_an_attended_transfer_rings_the_target_first_and_completes_when_the_agent_hangs_up(
    phones: PhoneKit, port: PbxPort
) -> None:
    asa, call, live = await asa_talking_to(phones, port, "+46701238006")
    bjorn = await phones.register("bjorn-soft", on_call="answer")

    await port.transfer(live, "1002", attended=True)

    consulted = await bjorn.wait_rang(timeout=10)
    await bjorn.wait_answered(consulted)
    await on_call(port, "asa", "1002")  # Åsa talks to Björn; the caller waits
    assert still_up(call)

    await asa.hangup()

    await on_call(port, "bjorn", "+46701238006")  # the caller and Björn, together
    await call.hangup()
    await bjorn.wait_call_ended(consulted, timeout=5)


async def test_the_agent_gets_the_caller_back_when_the_target_hangs_up_during_an_attended_transfer(
    phones: PhoneKit, port: PbxPort
) -> None:
    _, call, live = await asa_talking_to(phones, port, "+46701238011")
    bjorn = await phones.register("bjorn-soft", on_call="answer")
    await port.transfer(live, "1002", attended=True)
    consulted = await bjorn.wait_rang(timeout=10)
    await bjorn.wait_answered(consulted)
    await on_call(port, "asa", "1002")

    await bjorn.hangup(consulted)

    await on_call(port, "asa", "+46701238011")
    assert still_up(call)


async def test_transferring_a_call_that_has_ended_is_refused_by_the_port(
    phones: PhoneKit, port: PbxPort
) -> None:
    asa, call, live = await asa_talking_to(phones, port, "+46701238012")
    await call.hangup()
    await asa.wait_call_ended(timeout=5)

    with pytest.raises(PbxRefused, match="no longer on a call"):
        await port.transfer(live, "1002", attended=False)


async def test_a_hunt_group_call_to_an_agent_with_two_devices_is_transferred_attended_too(
    phones: PhoneKit, port: PbxPort
) -> None:
    # Åsa rings through one queue member for both her devices (on Asterisk a Local
    # channel pair between the caller and her phone).
    await port.apply(Join("rota", "asa", "test"))
    asa = await phones.register("asa-soft", on_call="answer")
    await phones.register("asa-desk", on_call="ignore")
    bjorn = await phones.register("bjorn-soft", on_call="answer")
    call = await phones.call("2001", caller_id="+46701238010", hold_seconds=None)
    await asa.wait_rang(timeout=10)
    await call.wait_answered()
    live = await on_call(port, "asa", "+46701238010")
    assert live.queue == "rota"

    await port.transfer(live, "1002", attended=True)
    consulted = await bjorn.wait_rang(timeout=10)
    await bjorn.wait_answered(consulted)
    await on_call(port, "asa", "1002")
    await asa.hangup()

    await on_call(port, "bjorn", "+46701238010")
    await call.hangup()
    await bjorn.wait_call_ended(consulted, timeout=5)


async def test_a_transfer_to_an_agent_on_a_call_is_refused_and_the_call_stays_up(
    start_engine: StartEngine, phones: PhoneKit, port: PbxPort
) -> None:
    engine, _ = await start_engine(ON_DUTY)
    bjorn = await phones.register("bjorn-soft", on_call="answer")
    other = await phones.call("+46855501002", caller_id="+46701238007", hold_seconds=None)
    await bjorn.wait_rang()
    await other.wait_answered()
    _, call, live = await asa_talking_to(phones, port, "+46701238008")

    with pytest.raises(TransferRefused, match="bjorn is on a call"):
        await transfer_call(engine.site, port, engine, Request("asa", Target.parse("agent:bjorn")))

    assert await on_call(port, "asa", "+46701238008") == live
    assert still_up(call) and bjorn.rang_count == 1


async def test_a_transfer_to_an_agent_without_a_registered_phone_is_refused_and_the_call_stays_up(
    start_engine: StartEngine, phones: PhoneKit, port: PbxPort
) -> None:
    engine, _ = await start_engine(ON_DUTY)
    _, call, live = await asa_talking_to(phones, port, "+46701238009")  # Björn: no phone

    with pytest.raises(TransferRefused, match="bjorn has no phone registered"):
        await transfer_call(engine.site, port, engine, Request("asa", Target.parse("agent:bjorn")))

    assert await on_call(port, "asa", "+46701238009") == live
    assert still_up(call)


async def test_a_transfer_to_a_skill_queue_reaches_an_expert(
    start_engine: StartEngine, phones: PhoneKit, port: PbxPort
) -> None:
    # Dana has no unemployment skill; benefits (3002) wants it at 3 or more, and Åsa
    # (5) is its most skilled member, so she rings first, Björn (4) after the wait.
    asa = await phones.register("asa-soft", on_call="answer")
    await phones.register("bjorn-soft", on_call="ignore")
    dana = await phones.register("dana-soft", on_call="answer")
    engine, _ = await start_engine(ON_DUTY)
    await until_members(port, "benefits", ["asa", "bjorn"])
    call = await phones.call("+46855501004", caller_id="+46701238011", hold_seconds=None)
    await dana.wait_rang()
    await call.wait_answered()
    await on_call(port, "dana", "+46701238011")

    await transfer_call(engine.site, port, engine, Request("dana", Target.parse("queue:benefits")))

    incoming = await asa.wait_rang(timeout=10)
    assert incoming.caller == "+46701238011"
    await dana.wait_call_ended(timeout=5)
    assert (await on_call(port, "asa", "+46701238011")).queue == "benefits"
