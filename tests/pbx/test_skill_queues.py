"""Skill queues on the real PBX, driven through the port as the engine drives them:
ring levels, holds, registrations, overflow after max_wait and the callback key.

The test site's `benefits` queue rings all at once, with ring_timeout 5, level_wait 3,
max_wait 8, callback key 5, and overflows to the hunt group `rota`. Both PBXs count
waits in whole seconds, so a level may join up to a second early; and a rule applies
between ring attempts, so it may also join later (Asterisk: once the level before it
stopped ringing).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from pbx_support import between_queue_calls, first_to_ring, stored_keys

from telephony.config import Site
from telephony.config.models import PbxKind, SkillQueue
from telephony.port import (
    Change,
    ChangeKind,
    DeleteKey,
    Hold,
    Join,
    Member,
    PbxPort,
    SetHold,
    SetLevel,
)
from telephony.routing.state import callback_key
from telephony.testing.keypad import KeypadCall, call_pressing
from telephony.testing.phones import PhoneKit
from telephony.testing.plugin import PbxHandle

pytestmark = pytest.mark.pbx

QUEUE = "benefits"
NUMBER = "3002"
CALLER = "+46701239301"

# (number, key, caller number) -> a placed trunk call that can press the key.
PlaceCall = Callable[[str, str, str], Awaitable[KeypadCall]]


@pytest.fixture
def queue(pbx_site: Site) -> SkillQueue:
    [found] = [q for q in pbx_site.queues if q.id == QUEUE]
    assert found.callback_key is not None and found.level_wait > 0
    return found


@pytest.fixture
async def keypad_calls(
    pbx: PbxHandle, pbx_site: Site, tmp_path: Path
) -> AsyncIterator[PlaceCall]:
    """Place trunk calls that can press a key; each is stopped after the test."""
    calls: list[KeypadCall] = []

    async def place(number: str, key: str, caller_id: str) -> KeypadCall:
        call = await call_pressing(
            pbx_site, tmp_path / "keypad", number, key, caller_id=caller_id,
            sip_host=pbx.info.sip_host, sip_port=pbx.info.sip_port,
        )
        calls.append(call)
        return call

    yield place
    for call in calls:
        await call.close()


async def member(port: PbxPort, agent: str) -> Member:
    [found] = [m for m in (await port.snapshot()).members if m.queue == QUEUE and m.agent == agent]
    return found


async def until_registered(
    port: PbxPort, wanted: Callable[[frozenset[str]], bool], timeout: float = 10.0
) -> frozenset[str]:
    """Poll the snapshot until its registered agents satisfy `wanted`, bounded."""
    registered: frozenset[str] | None = None
    try:
        async with asyncio.timeout(timeout):
            while True:
                registered = (await port.snapshot()).registered
                assert registered is not None, f"{port.name} cannot tell who is registered"
                if wanted(registered):
                    return registered
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise AssertionError(f"registered agents stayed {registered} for {timeout} s") from None


async def next_registration(changes: asyncio.Queue[Change], agent: str, timeout: float) -> None:
    async with asyncio.timeout(timeout):
        while True:
            change = await changes.get()
            if change.kind is ChangeKind.REGISTRATION and change.agent == agent:
                return


async def test_level_1_rings_first_and_level_2_only_after_level_wait(
    port: PbxPort, phones: PhoneKit, queue: SkillQueue
) -> None:
    first = await phones.register("bjorn-soft", on_call="ignore")
    second = await phones.register("chen-soft", on_call="answer")
    await port.apply(Join(QUEUE, "bjorn", "test: most skilled", level=1))
    await port.apply(Join(QUEUE, "chen", "test: next level", level=2))

    await phones.call(NUMBER, caller_id="+46701239302", hold_seconds=None)
    await first.wait_rang(timeout=5)
    first_rang = time.monotonic()
    await second.wait_rang(timeout=queue.level_wait + queue.ring_timeout + 5)
    waited = time.monotonic() - first_rang

    assert waited >= queue.level_wait - 1  # not before level_wait (whole seconds)
    await second.wait_answered()


async def test_a_rotating_queue_rings_level_1_at_once_after_a_level_2_member_took_a_call(
    port: PbxPort, phones: PhoneKit, pbx_site: Site, pbx_kind: PbxKind
) -> None:
    # `pension` rotates (rrmemory) with level_wait 2. mod_callcenter's round-robin looks
    # first at the agents after the one last offered a call, on that agent's level.
    [rotating] = [q for q in pbx_site.queues if q.id == "pension"]
    expert = await phones.register("asa-soft", on_call="answer")
    others = [await phones.register(d, on_call="answer") for d in ("bjorn-soft", "chen-soft")]
    await port.apply(Join("pension", "bjorn", "test: level 2", level=2))
    await port.apply(Join("pension", "chen", "test: level 2", level=2))
    first_call = await phones.call("3001", caller_id="+46701239306", hold_seconds=None)
    took = await first_to_ring(others, timeout=rotating.level_wait + rotating.ring_timeout + 5)
    await took.wait_answered()
    await first_call.hangup()
    await took.wait_call_ended()

    await port.apply(Join("pension", "asa", "test: the expert is back", level=1))
    await between_queue_calls(pbx_kind)
    started = time.monotonic()
    await phones.call("3001", caller_id="+46701239307", hold_seconds=None)

    assert await first_to_ring([expert, *others], timeout=rotating.level_wait + 5) is expert
    assert time.monotonic() - started < rotating.level_wait  # at once, not after a wait


async def test_set_level_moves_a_member_and_the_snapshot_reports_it(port: PbxPort) -> None:
    await port.apply(Join(QUEUE, "chen", "test", level=1))
    assert (await member(port, "chen")).level == 1

    chen = await member(port, "chen")
    await port.apply(SetLevel(QUEUE, "chen", chen.ref, 3, "test: less skilled"))

    assert (await member(port, "chen")).level == 3


async def test_a_held_member_keeps_its_level_and_gets_it_back_when_released(
    port: PbxPort
) -> None:
    await port.apply(Join(QUEUE, "chen", "test", level=2))
    chen = await member(port, "chen")
    await port.apply(SetHold(QUEUE, "chen", chen.ref, Hold.MANUAL, "test: paused"))
    held = await member(port, "chen")
    assert (held.hold, held.level) == (Hold.MANUAL, 2)

    await port.apply(SetLevel(QUEUE, "chen", held.ref, 4, "test: moved while held"))
    await port.apply(SetHold(QUEUE, "chen", (await member(port, "chen")).ref, None, "test"))

    back = await member(port, "chen")
    assert (back.hold, back.level) == (None, 4)


async def test_a_held_member_is_not_rung(port: PbxPort, phones: PhoneKit) -> None:
    held = await phones.register("asa-soft", on_call="answer")
    free = await phones.register("bjorn-soft", on_call="answer")
    await port.apply(Join(QUEUE, "asa", "test: paused", hold=Hold.MANUAL, level=1))
    await port.apply(Join(QUEUE, "bjorn", "test", level=1))

    await phones.call(NUMBER, caller_id="+46701239303", hold_seconds=None)

    await free.wait_rang(timeout=5)
    await free.wait_answered()
    assert held.rang_count == 0


async def test_a_member_whose_phone_unregistered_is_not_rung(
    port: PbxPort, phones: PhoneKit
) -> None:
    gone = await phones.register("dana-soft", on_call="answer")
    there = await phones.register("chen-soft", on_call="answer")
    await gone.unregister()  # its SIPp still listens: a call sent there would show
    await until_registered(port, lambda agents: "dana" not in agents)
    await port.apply(Join(QUEUE, "dana", "test", level=1))
    await port.apply(Join(QUEUE, "chen", "test", level=1))

    await phones.call(NUMBER, caller_id="+46701239304", hold_seconds=None)

    await there.wait_rang(timeout=5)
    await there.wait_answered()
    assert gone.rang_count == 0


async def test_after_max_wait_the_caller_overflows_to_the_hunt_group(
    port: PbxPort, phones: PhoneKit, queue: SkillQueue
) -> None:
    nobody = await phones.register("bjorn-soft", on_call="ignore")
    overflow = await phones.register("chen-soft", on_call="answer")
    await port.apply(Join(QUEUE, "bjorn", "test: rings, never answers", level=1))
    await port.apply(Join("rota", "chen", "test: the fallback's member"))

    started = time.monotonic()
    await phones.call(NUMBER, caller_id="+46701239305", hold_seconds=None)
    await nobody.wait_rang(timeout=5)
    await overflow.wait_rang(timeout=queue.max_wait + queue.ring_timeout + 5)

    assert time.monotonic() - started >= queue.max_wait - 1
    await overflow.wait_answered()


async def test_the_callback_key_stores_the_callers_number_with_the_time_they_joined(
    port: PbxPort, phones: PhoneKit, queue: SkillQueue,
    keypad_calls: PlaceCall,
) -> None:
    ringing = await phones.register("bjorn-soft", on_call="ignore")
    await port.apply(Join(QUEUE, "bjorn", "test: keeps the caller waiting", level=1))
    assert queue.callback_key is not None

    before = int(time.time())
    call = await keypad_calls(NUMBER, queue.callback_key, CALLER)
    await call.wait_answered()  # a queue with a callback key answers on both PBXs
    await ringing.wait_rang(timeout=5)  # the caller is waiting in the queue
    await call.press()
    assert await call.wait_key_taken() == 200
    await call.wait_ended(timeout=10)  # a short tone, then the PBX hangs up

    keys = await stored_keys(port)
    joined = int(keys[str(callback_key(QUEUE, CALLER))])
    assert before <= joined <= int(time.time())


async def test_a_caller_without_a_plain_number_gets_no_callback_and_overflows(
    port: PbxPort, phones: PhoneKit, queue: SkillQueue,
    keypad_calls: PlaceCall,
) -> None:
    ringing = await phones.register("bjorn-soft", on_call="ignore")
    overflow = await phones.register("chen-soft", on_call="answer")
    await port.apply(Join(QUEUE, "bjorn", "test", level=1))
    await port.apply(Join("rota", "chen", "test: the fallback's member"))
    assert queue.callback_key is not None

    call = await keypad_calls(NUMBER, queue.callback_key, "anonymous")
    await ringing.wait_rang(timeout=5)
    started = time.monotonic()
    await call.press()

    await overflow.wait_rang(timeout=5)
    assert time.monotonic() - started < queue.max_wait - 2  # at once, not after max_wait
    await overflow.wait_answered()
    assert not [k for k in await stored_keys(port) if k.startswith("callback/")]


async def test_a_callback_request_can_be_deleted(
    port: PbxPort, phones: PhoneKit, queue: SkillQueue,
    keypad_calls: PlaceCall,
) -> None:
    await phones.register("bjorn-soft", on_call="ignore")
    await port.apply(Join(QUEUE, "bjorn", "test", level=1))
    assert queue.callback_key is not None
    call = await keypad_calls(NUMBER, queue.callback_key, CALLER)
    await call.wait_answered()
    await call.press()
    await call.wait_ended(timeout=10)
    key = callback_key(QUEUE, CALLER)
    assert key in (await port.snapshot()).keys

    await port.apply(DeleteKey(key, "test: called back"))

    assert key not in (await port.snapshot()).keys


@pytest.mark.pbx_kinds("freeswitch")
async def test_deleting_a_callback_request_also_drops_it_from_the_freeswitch_index(
    port: PbxPort, pbx: PbxHandle
) -> None:
    key = callback_key(QUEUE, CALLER)
    await port.apply(DeleteKey(key, "test: a clean start"))
    # As the dialplan writes a request: the index first, then the request.
    await asyncio.to_thread(pbx.cli, f"group insert:telephony_callback.{QUEUE}:{CALLER}")
    await asyncio.to_thread(pbx.cli, f"db insert/telephony_callback/{QUEUE}.{CALLER}/1796000000")
    await asyncio.to_thread(pbx.cli, "db insert/telephony_meta/version/test")
    assert (await port.snapshot()).keys[key] == "1796000000"

    await port.apply(DeleteKey(key, "test: called back"))

    assert CALLER not in await asyncio.to_thread(pbx.cli, f"group call:telephony_callback.{QUEUE}")
    assert key not in (await port.snapshot()).keys


async def test_a_registration_shows_in_the_snapshot_and_raises_a_change(
    port: PbxPort, phones: PhoneKit
) -> None:
    changes: asyncio.Queue[Change] = asyncio.Queue()
    watch = port.watch(changes.put_nowait)
    try:
        dana = await phones.register("dana-soft")
        await next_registration(changes, "dana", timeout=5)
        assert "dana" in await until_registered(port, lambda agents: "dana" in agents)

        await dana.unregister()
        await next_registration(changes, "dana", timeout=5)
        assert "dana" not in await until_registered(port, lambda agents: "dana" not in agents)
    finally:
        watch.close()
