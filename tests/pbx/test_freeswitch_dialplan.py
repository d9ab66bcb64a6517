"""The rendered FreeSWITCH config on a real FreeSWITCH, with SIPp phones: registration,
direct lines, the fallback chain, voicemail, the focus gate and hunt groups.

These tests put stored state and tiers in place through FreeSWITCH's own console
(`db insert/...`, `callcenter_config tier add ...`), as the engine does, to pin the
rendered config down apart from the engine; the suite's clean-up (through the port)
starts each from nothing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from telephony.config import Site
from telephony.freeswitch import names
from telephony.testing.phones import PhoneKit
from telephony.testing.plugin import PbxHandle
from telephony.testing.sipp import SipTestError

pytestmark = [pytest.mark.pbx, pytest.mark.pbx_kinds("freeswitch")]

# The shared test site (tests/pbx/site.yaml): Åsa has two devices, an allow-listed
# caller and Björn as her fallback; Chen falls back to voicemail; Dana has no fallback;
# line (2002) falls back to Björn; the trunk pstn calls from 127.0.0.2.
ASA_LINE = "+46855501001"
ASA_ALLOWED = "+46701234567"


class Console:
    """Stored state and tiers through FreeSWITCH's console, undone after the test."""

    def __init__(self, pbx: PbxHandle) -> None:
        self.pbx = pbx
        self._keys: list[tuple[str, str]] = []
        self._tiers: list[tuple[str, str]] = []

    def store(self, realm: str, key: str, value: str) -> None:
        self._keys.append((realm, key))
        assert self.pbx.cli(f"db insert/{realm}/{key}/{value}").strip() == "+OK"

    def focus(self, agent: str, until: int = 0) -> None:
        self.store(names.FOCUS_REALM, agent, str(until))

    def link_case(self, number: str, agent: str) -> None:
        self.store(names.CASE_REALM, number, agent)

    def add_tier(self, queue: str, agent: str) -> None:
        self._tiers.append((queue, agent))
        assert self.pbx.cli(f"callcenter_config tier add {queue} {agent} 1 1").strip() == "+OK"

    def undo(self) -> None:
        for realm, key in self._keys:
            self.pbx.cli(f"db delete/{realm}/{key}")
        for queue, agent in self._tiers:
            self.pbx.cli(f"callcenter_config tier del {queue} {agent}")


@pytest.fixture
def console(pbx: PbxHandle) -> Iterator[Console]:
    state = Console(pbx)
    try:
        yield state
    finally:
        state.undo()


@pytest.fixture
async def idle_agents(pbx: PbxHandle) -> AsyncIterator[None]:
    """mod_callcenter offers an agent at most one queue call per wall-clock second
    (whole seconds since the last call ended): let the second turn over first."""
    await asyncio.sleep(1.0 - time.time() % 1.0)
    yield


# -- devices


async def test_a_device_registers_with_its_own_credentials(
    phones: PhoneKit, pbx: PbxHandle, pbx_site: Site
) -> None:
    phone = await phones.register("asa-soft")

    contact = pbx.cli(f"sofia_contact {names.PROFILE}/asa-soft@{names.domain(pbx_site)}")
    assert contact.strip().endswith(f"sip:asa-soft@127.0.0.1:{phone.port}")


async def test_a_wrong_password_is_refused(
    pbx: PbxHandle, pbx_site: Site, tmp_path: Path
) -> None:
    agent = pbx_site.agent("dana")
    wrong = agent.devices[0].model_copy(update={"password": SecretStr("not-the-password")})
    site = pbx_site.model_copy(update={"agents": [agent.model_copy(update={"devices": [wrong]})]})
    async with PhoneKit(site, tmp_path, sip_port=pbx.info.sip_port) as kit:
        with pytest.raises(SipTestError, match="dana-soft could not register"):
            await kit.register("dana-soft")


async def test_a_caller_neither_device_nor_trunk_must_authenticate(phones: PhoneKit) -> None:
    call = await phones.call(ASA_LINE, trunk_header="", caller_id="+46709990009")
    assert await call.wait_failed() in (401, 407)


# -- direct lines and the fallback chain


async def test_a_direct_line_rings_every_device_and_the_answer_cancels_the_others(
    phones: PhoneKit,
) -> None:
    soft = await phones.register("asa-soft", on_call="answer", answer_after=0.5)
    desk = await phones.register("asa-desk", on_call="ignore")

    call = await phones.call(ASA_LINE, caller_id="+46701239999")

    await soft.wait_rang()
    desk_call = await desk.wait_rang()
    await call.wait_answered()
    await desk.wait_cancelled(desk_call)


async def test_a_colleagues_call_reaches_the_agent_with_the_colleagues_name(
    phones: PhoneKit,
) -> None:
    asa = await phones.register("asa-soft", on_call="answer")
    call = await phones.call("1001", from_device="bjorn-soft")
    incoming = await asa.wait_rang()
    await call.wait_answered()
    assert (incoming.caller, incoming.caller_name) == ("1002", "Björn Lind")


async def test_busy_falls_back_to_the_colleague_with_the_callers_number(
    phones: PhoneKit,
) -> None:
    await phones.register("asa-soft", on_call="reject")  # busy; the desk phone is not up
    bjorn = await phones.register("bjorn-soft", on_call="answer")

    call = await phones.call(ASA_LINE, caller_id="+46701239997")

    incoming = await bjorn.wait_rang(timeout=10)
    await call.wait_answered()
    assert incoming.caller == "+46701239997"


async def test_no_answer_falls_back_after_the_ring_timeout_with_the_callers_number(
    phones: PhoneKit, pbx_site: Site
) -> None:
    asa = await phones.register("asa-soft", on_call="ignore")
    bjorn = await phones.register("bjorn-soft", on_call="answer")

    call = await phones.call(ASA_LINE, caller_id="+46701239992")

    rung = await asa.wait_rang()
    timeout = pbx_site.agent("asa").ring_timeout
    await asa.wait_cancelled(rung, timeout=timeout + 5)
    incoming = await bjorn.wait_rang()
    await call.wait_answered()
    assert incoming.caller == "+46701239992"


async def test_an_agent_with_no_registered_device_falls_back_at_once(phones: PhoneKit) -> None:
    bjorn = await phones.register("bjorn-soft", on_call="answer")
    call = await phones.call("1001", caller_id="+46701239996")
    await bjorn.wait_rang(timeout=3)
    await call.wait_answered()


async def test_the_end_of_the_chain_is_unavailable(phones: PhoneKit) -> None:
    call = await phones.call("+46855501004", caller_id="+46701239995")  # Dana: no phone
    assert await call.wait_failed() == 480


async def test_the_end_of_the_chain_after_a_busy_answer_is_busy(phones: PhoneKit) -> None:
    await phones.register("dana-soft", on_call="reject")
    call = await phones.call("+46855501004", caller_id="+46701239993")
    assert await call.wait_failed() == 486


async def test_voicemail_answers_at_the_end_of_the_chain(phones: PhoneKit) -> None:
    call = await phones.call("+46855501003", caller_id="+46701239994")  # Chen: no phone
    await call.wait_answered()


# -- focus


async def test_focus_turns_an_unlisted_caller_to_the_fallback(
    phones: PhoneKit, console: Console
) -> None:
    console.focus("asa")
    asa = await phones.register("asa-soft", on_call="answer")
    bjorn = await phones.register("bjorn-soft", on_call="answer")

    call = await phones.call(ASA_LINE, caller_id="+46709990001")

    await bjorn.wait_rang()
    await call.wait_answered()
    assert asa.rang_count == 0


async def test_focus_lets_an_allowlisted_caller_through(
    phones: PhoneKit, console: Console
) -> None:
    console.focus("asa")
    asa = await phones.register("asa-soft", on_call="answer")

    call = await phones.call(ASA_LINE, caller_id=ASA_ALLOWED)

    await asa.wait_rang()
    await call.wait_answered()


async def test_focus_lets_a_caller_linked_to_the_agents_case_through(
    phones: PhoneKit, console: Console
) -> None:
    console.focus("asa")
    console.link_case("+46705550001", "asa")
    asa = await phones.register("asa-soft", on_call="answer")

    call = await phones.call(ASA_LINE, caller_id="+46705550001")

    await asa.wait_rang()
    await call.wait_answered()


async def test_focus_turns_away_a_caller_linked_to_someone_elses_case(
    phones: PhoneKit, console: Console
) -> None:
    console.focus("asa")
    console.link_case("+46705550002", "bjorn")
    asa = await phones.register("asa-soft", on_call="answer")
    bjorn = await phones.register("bjorn-soft", on_call="answer")

    call = await phones.call(ASA_LINE, caller_id="+46705550002")

    await bjorn.wait_rang()
    await call.wait_answered()
    assert asa.rang_count == 0


async def test_focus_lets_a_colleagues_urgent_call_through(
    phones: PhoneKit, console: Console
) -> None:
    console.focus("asa")
    asa = await phones.register("asa-soft", on_call="answer")

    call = await phones.call("*91001", from_device="bjorn-soft")

    await asa.wait_rang()
    await call.wait_answered()


async def test_the_urgent_prefix_does_not_exist_for_a_trunk(
    phones: PhoneKit, console: Console
) -> None:
    console.focus("asa")
    asa = await phones.register("asa-soft", on_call="answer")

    call = await phones.call("*91001", caller_id="+46709990004")

    assert await call.wait_failed() == 404
    assert asa.rang_count == 0


async def test_focus_whose_end_time_has_passed_rings_normally(
    phones: PhoneKit, console: Console
) -> None:
    console.focus("asa", until=int(time.time()) - 5)  # with no engine to end it
    asa = await phones.register("asa-soft", on_call="answer")

    call = await phones.call(ASA_LINE, caller_id="+46709990002")

    await asa.wait_rang()
    await call.wait_answered()


async def test_focus_with_an_end_time_to_come_still_turns_callers_away(
    phones: PhoneKit, console: Console
) -> None:
    console.focus("asa", until=int(time.time()) + 600)
    asa = await phones.register("asa-soft", on_call="answer")
    bjorn = await phones.register("bjorn-soft", on_call="answer")

    call = await phones.call(ASA_LINE, caller_id="+46709990003")

    await bjorn.wait_rang()
    await call.wait_answered()
    assert asa.rang_count == 0


async def test_a_colleague_in_focus_is_skipped_as_a_fallback_step(
    phones: PhoneKit, console: Console
) -> None:
    console.focus("bjorn")
    await phones.register("asa-soft", on_call="reject")
    bjorn = await phones.register("bjorn-soft", on_call="answer")

    call = await phones.call(ASA_LINE, caller_id="+46709990005")

    assert await call.wait_failed() == 480  # Åsa busy, Björn in focus, nothing after
    assert bjorn.rang_count == 0


# -- hunt groups (mod_callcenter queues; the engine will add the tiers)


@pytest.mark.usefixtures("idle_agents")
async def test_a_hunt_group_call_reaches_an_agent_whose_tier_was_added(
    phones: PhoneKit, console: Console
) -> None:
    console.add_tier("intake", "asa")
    asa = await phones.register("asa-soft", on_call="answer")
    bjorn = await phones.register("bjorn-soft", on_call="answer")

    call = await phones.call("2000", caller_id="+46701230001", hold_seconds=None)

    incoming = await asa.wait_rang(timeout=5)
    await asa.wait_answered(incoming)
    await call.wait_answered()
    assert incoming.caller == "+46701230001"
    assert bjorn.rang_count == 0


async def test_a_hunt_group_with_nobody_in_it_takes_the_groups_fallback(
    phones: PhoneKit,
) -> None:
    bjorn = await phones.register("bjorn-soft", on_call="answer")

    call = await phones.call("2002", caller_id="+46701230004", hold_seconds=None)

    incoming = await bjorn.wait_rang(timeout=5)
    assert incoming.caller == "+46701230004"
    await call.wait_answered()


@pytest.mark.usefixtures("idle_agents")
async def test_an_answered_hunt_group_call_does_not_go_on_to_the_fallback(
    phones: PhoneKit, console: Console
) -> None:
    console.add_tier("line", "chen")
    chen = await phones.register("chen-soft", on_call="answer", hold_seconds=0.5)
    bjorn = await phones.register("bjorn-soft", on_call="answer")

    call = await phones.call("2002", caller_id="+46701230003", hold_seconds=None)

    await chen.wait_rang(timeout=5)
    await call.wait_ended(timeout=5)  # Chen hung up: the caller is hung up too
    assert bjorn.rang_count == 0


@pytest.mark.usefixtures("idle_agents")
async def test_a_hunt_group_rings_an_agent_for_its_ring_timeout_then_again(
    phones: PhoneKit, console: Console, pbx_site: Site
) -> None:
    console.add_tier("line", "chen")
    chen = await phones.register("chen-soft", on_call="ignore")

    await phones.call("2002", caller_id="+46701230005", hold_seconds=None)

    first = await chen.wait_rang(timeout=5)
    started = time.monotonic()
    timeout = pbx_site.hunt_group("line").ring_timeout
    await chen.wait_cancelled(first, timeout=timeout + 3)
    assert time.monotonic() - started > timeout - 1.5
    await chen.wait_rang(timeout=5)  # the caller is still waiting: a second attempt


@pytest.mark.usefixtures("idle_agents")
async def test_a_hunt_group_caller_takes_the_fallback_when_max_wait_is_up(
    phones: PhoneKit, console: Console, pbx_site: Site
) -> None:
    console.add_tier("line", "chen")
    chen = await phones.register("chen-soft", on_call="ignore")
    bjorn = await phones.register("bjorn-soft", on_call="answer")
    max_wait = pbx_site.hunt_group("line").max_wait

    started = time.monotonic()
    await phones.call("2002", caller_id="+46701230006", hold_seconds=None)

    await chen.wait_rang(timeout=5)
    incoming = await bjorn.wait_rang(timeout=max_wait + 5)
    assert time.monotonic() - started > max_wait - 1.5
    assert incoming.caller == "+46701230006"
