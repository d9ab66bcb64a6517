"""Issue 2 on the real Asterisk: calls reach registered phones; the AMI adapter follows."""

from __future__ import annotations

import asyncio

import pytest

from telephony.asterisk.ami import AmiClient
from telephony.asterisk.ami.events import DialBegin, Event, Reconnected
from telephony.testing.phones import PhoneKit

pytestmark = [pytest.mark.pbx, pytest.mark.pbx_kinds("asterisk")]


async def test_caller_dialling_an_extension_reaches_the_agents_phone(
    phones: PhoneKit, ami: AmiClient
) -> None:
    bjorn = await phones.register("bjorn-soft", on_call="answer")
    dialled = asyncio.create_task(ami.wait_event(
        lambda e: isinstance(e, DialBegin) and e.dest_channel.startswith("PJSIP/bjorn-soft-"),
        timeout=10,
    ))
    call = await phones.call("1002", caller_id="+46701112233")

    incoming = await bjorn.wait_rang()
    await call.wait_answered()
    event = await dialled

    assert incoming.caller == "+46701112233"
    assert isinstance(event, DialBegin) and event.caller_id_num == "+46701112233"


async def test_caller_dialling_an_agents_direct_line_reaches_their_phone(phones: PhoneKit) -> None:
    chen = await phones.register("chen-soft", on_call="answer")
    call = await phones.call("+46855501003", caller_id="+46701112233")
    await chen.wait_rang()
    await call.wait_answered()


async def test_adapter_reconnects_after_asterisk_restarts_and_tells_subscribers(
    ami: AmiClient, pbx: object
) -> None:
    seen: asyncio.Queue[Event] = asyncio.Queue()
    subscription = ami.subscribe(seen.put_nowait)
    try:
        await asyncio.to_thread(pbx.kill)  # type: ignore[attr-defined]
        await asyncio.to_thread(pbx.start_again)  # type: ignore[attr-defined]
        while not isinstance(event := await asyncio.wait_for(seen.get(), 30), Reconnected):
            pass
        response = await ami.send("Ping")
    finally:
        subscription.close()
    assert isinstance(event, Reconnected)
    assert response.success
