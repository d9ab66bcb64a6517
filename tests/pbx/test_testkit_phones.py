"""The SIP test kit against the real Asterisk: phones register, ring, answer, reject, watch."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from telephony.config import Agent, Site
from telephony.config.models import ColleagueStep, HuntGroupStep, QueueStep
from telephony.testing import PhoneKit, SipTestError
from telephony.testing.plugin import PbxHandle

# The PBX is shared by the whole session: start every test without focus or queue state.
pytestmark = [pytest.mark.pbx, pytest.mark.usefixtures("clean_pbx")]


def lone_agent(site: Site) -> Agent:
    """An agent with one device whose busy/no-answer outcome goes to no other person."""
    for agent in site.agents:
        onward = (ColleagueStep, HuntGroupStep, QueueStep)
        if len(agent.devices) == 1 and not any(isinstance(s, onward) for s in agent.fallback):
            return agent
    raise AssertionError(f"site {site.site} has no agent with one device and no onward fallback")


def other_agent(site: Site, agent: Agent) -> Agent:
    return next(a for a in site.agents if a.id != agent.id)


async def test_a_phone_registers_with_its_device_credentials(
    phones: PhoneKit, pbx: PbxHandle, pbx_site: Site
) -> None:
    device = lone_agent(pbx_site).devices[0]

    phone = await phones.register(device.id)

    assert phone.registered
    assert pbx.contact(device.id) == f"sip:{device.id}@127.0.0.1:{phone.port}"


async def test_a_phone_is_unregistered_when_the_test_ends(
    pbx: PbxHandle, pbx_site: Site, tmp_path: Path
) -> None:
    device = lone_agent(pbx_site).devices[0]
    async with PhoneKit(pbx_site, tmp_path, sip_port=pbx.info.sip_port) as kit:
        await kit.register(device.id)

    assert pbx.contact(device.id) is None


async def test_a_wrong_password_fails_registration_naming_device_and_status(
    pbx: PbxHandle, pbx_site: Site, tmp_path: Path
) -> None:
    agent = lone_agent(pbx_site)
    device = agent.devices[0]
    wrong = device.model_copy(update={"password": SecretStr("not-the-password")})
    site = pbx_site.model_copy(
        update={"agents": [agent.model_copy(update={"devices": [wrong]})]}
    )

    async with PhoneKit(site, tmp_path, sip_port=pbx.info.sip_port) as kit:
        # Asterisk challenges again (401); FreeSWITCH refuses the wrong answer (403).
        with pytest.raises(SipTestError, match=rf"device {device.id} could not register.*40[13]"):
            await kit.register(device.id)


async def test_a_trunk_call_to_an_extension_rings_the_agents_phone_and_is_answered(
    phones: PhoneKit, pbx_site: Site
) -> None:
    agent = lone_agent(pbx_site)
    phone = await phones.register(agent.devices[0].id, on_call="answer")

    call = await phones.call(agent.extension, caller_id="+46701234567", hold_seconds=0.5)

    incoming = await phone.wait_rang()
    await call.wait_answered()
    await phone.wait_answered(incoming)
    await call.wait_ended()
    await phone.wait_call_ended(incoming)
    assert incoming.caller == "+46701234567"
    assert call.status == 200


async def test_a_phone_takes_calls_one_after_another(
    phones: PhoneKit, pbx_site: Site
) -> None:
    agent = lone_agent(pbx_site)
    phone = await phones.register(agent.devices[0].id, on_call="answer", hold_seconds=0.2)

    for caller in ("+46701230011", "+46701230012"):
        call = await phones.call(agent.extension, caller_id=caller, hold_seconds=None)
        incoming = await phone.wait_rang()
        await call.wait_ended()
        assert incoming.caller == caller

    assert phone.rang_count == 2


async def test_the_phone_can_hang_up_an_answered_call_on_demand(
    phones: PhoneKit, pbx_site: Site
) -> None:
    agent = lone_agent(pbx_site)
    phone = await phones.register(agent.devices[0].id, on_call="answer")
    call = await phones.call(agent.extension, hold_seconds=None)
    await call.wait_answered()

    await phone.hangup()

    await call.wait_ended()


async def test_the_caller_can_hang_up_on_demand(phones: PhoneKit, pbx_site: Site) -> None:
    agent = lone_agent(pbx_site)
    phone = await phones.register(agent.devices[0].id, on_call="answer")
    call = await phones.call(agent.extension, hold_seconds=None)

    await call.hangup()

    await phone.wait_call_ended()


async def test_a_device_calls_with_digest_auth_and_shows_its_agents_number(
    phones: PhoneKit, pbx_site: Site
) -> None:
    agent = lone_agent(pbx_site)
    caller = other_agent(pbx_site, agent)
    phone = await phones.register(agent.devices[0].id, on_call="answer")

    call = await phones.call(agent.extension, from_device=caller.devices[0].id, hold_seconds=0.2)

    incoming = await phone.wait_rang()
    await call.wait_answered()
    assert incoming.caller == caller.extension


async def test_a_rejected_call_gives_the_caller_busy_here(
    phones: PhoneKit, pbx_site: Site
) -> None:
    agent = lone_agent(pbx_site)
    phone = await phones.register(agent.devices[0].id, on_call="reject")

    call = await phones.call(agent.extension)

    await phone.wait_rang()
    assert await call.wait_failed() == 486


async def test_an_ignored_call_rings_until_the_pbx_gives_up_and_cancels(
    phones: PhoneKit, pbx_site: Site
) -> None:
    agent = lone_agent(pbx_site)
    phone = await phones.register(agent.devices[0].id, on_call="ignore")

    call = await phones.call(agent.extension)

    incoming = await phone.wait_rang()
    await phone.wait_cancelled(incoming, timeout=agent.ring_timeout + 5)
    await call.wait_ended(timeout=10)
    assert call.status is not None and call.status >= 400


async def test_a_presence_subscription_gets_a_notify(phones: PhoneKit, pbx_site: Site) -> None:
    agent = lone_agent(pbx_site)
    watcher = other_agent(pbx_site, agent).devices[0]

    sub = await phones.subscribe(watcher.id, agent.extension)

    body = await sub.wait_notify(lambda b: "<presence" in b)
    assert f"sip:{agent.extension}@" in body


async def test_a_dialog_subscription_sees_the_call_confirmed(
    phones: PhoneKit, pbx_site: Site
) -> None:
    agent = lone_agent(pbx_site)
    watcher = other_agent(pbx_site, agent).devices[0]
    await phones.register(agent.devices[0].id, on_call="answer")
    sub = await phones.subscribe(watcher.id, agent.extension, event="dialog")

    await phones.call(agent.extension, hold_seconds=None)

    await sub.wait_notify(lambda b: "<state>confirmed</state>" in b)
