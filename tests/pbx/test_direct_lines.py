"""Direct lines on the real Asterisk: every device rings, first answer wins, then fallback."""

from __future__ import annotations

import pytest

from telephony.testing.phones import PhoneKit

pytestmark = pytest.mark.pbx


async def test_direct_line_rings_both_devices_and_the_second_stops_when_the_first_answers(
    phones: PhoneKit,
) -> None:
    soft = await phones.register("asa-soft", on_call="answer", answer_after=0.5)
    desk = await phones.register("asa-desk", on_call="ignore")

    call = await phones.call("+46855501001", caller_id="+46701239999")

    await soft.wait_rang()
    desk_call = await desk.wait_rang()
    await call.wait_answered()
    await desk.wait_cancelled(desk_call)


async def test_direct_line_keeps_the_callers_number(phones: PhoneKit) -> None:
    soft = await phones.register("asa-soft", on_call="answer")
    await phones.call("+46855501001", caller_id="+46701239998")
    incoming = await soft.wait_rang()
    assert incoming.caller == "+46701239998"


async def test_busy_agent_falls_back_to_the_colleague_with_caller_id_kept(
    phones: PhoneKit,
) -> None:
    await phones.register("asa-soft", on_call="reject")  # busy; the desk phone is not up
    bjorn = await phones.register("bjorn-soft", on_call="answer")

    call = await phones.call("+46855501001", caller_id="+46701239997")

    incoming = await bjorn.wait_rang(timeout=10)
    await call.wait_answered()
    assert incoming.caller == "+46701239997"


async def test_agent_with_no_registered_device_falls_back_at_once(phones: PhoneKit) -> None:
    bjorn = await phones.register("bjorn-soft", on_call="answer")
    call = await phones.call("1001", caller_id="+46701239996")
    await bjorn.wait_rang(timeout=5)
    await call.wait_answered()


async def test_end_of_the_fallback_chain_is_unavailable(phones: PhoneKit) -> None:
    call = await phones.call("+46855501004", caller_id="+46701239995")  # Dana: no phone, no fallback
    assert await call.wait_failed() == 480


async def test_voicemail_fallback_answers_the_call(phones: PhoneKit) -> None:
    call = await phones.call("+46855501003", caller_id="+46701239994")  # Chen: no phone up
    await call.wait_answered()
