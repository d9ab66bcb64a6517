"""The engine's callback dialler over an in-memory port: what it asks of the PBX, and
when (the PBX side of a callback is in tests/pbx/test_callbacks.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from callback_sites import site, without_dial_out

from telephony.engine.callbacks import (
    LISTEN,
    POLL,
    SETTLE_SECONDS,
    CallbackDialler,
    CallbackRound,
    earliest,
)
from telephony.port import Member, MemberState, PbxRefused
from telephony.port.memory import MemoryPort
from telephony.routing.callback import CALLER_RING_SECONDS, MAX_TRIES
from telephony.routing.state import StoredCallback, callback_key, parse_keys

SITE = site()
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
JOINED = int(NOW.timestamp()) - 120


@pytest.fixture
def port() -> MemoryPort:
    port = MemoryPort()
    port.add_entry(Member("pension", "asa", "ref-asa", level=1))
    port.add_entry(Member("pension", "bjorn", "ref-bjorn", level=2))
    return port


@pytest.fixture
def dialler(port: MemoryPort) -> CallbackDialler:
    return CallbackDialler(SITE, port)


def ask(port: MemoryPort, caller: str, queue: str = "pension", joined: int = JOINED) -> None:
    """A caller pressed the callback key (what the dialplan stores)."""
    port.keys[callback_key(queue, caller)] = str(joined)


async def round_at(dialler: CallbackDialler, port: MemoryPort, now: datetime) -> CallbackRound:
    """One round as the engine runs it: on a fresh read of the PBX."""
    snapshot = await port.snapshot()
    return await dialler.run(snapshot.members, parse_keys(snapshot.keys), now)


def set_state(port: MemoryPort, agent: str, state: MemberState) -> None:
    port.set_state(agent, state)


async def test_a_waiting_caller_is_called_back_by_the_most_skilled_free_agent(
    dialler: CallbackDialler, port: MemoryPort
) -> None:
    ask(port, "+46701111111")
    done = await round_at(dialler, port, NOW)
    assert port.callbacks == [("asa", "+46701111111", "pension")]
    assert [(d.agent, d.caller) for d in done.placed] == [("asa", "+46701111111")]


def stored(port: MemoryPort, caller: str, queue: str = "pension") -> StoredCallback | None:
    return parse_keys(port.keys).callbacks.get((queue, caller))


def served(port: MemoryPort, caller: str, queue: str = "pension") -> None:
    """The caller answered the callback: the PBX deletes the request."""
    del port.keys[callback_key(queue, caller)]


async def test_the_request_is_marked_tried_before_the_callback_is_placed(
    dialler: CallbackDialler, port: MemoryPort
) -> None:
    ask(port, "+46701111111")
    order: list[str] = []
    placed = port.call_back

    async def record(agent: str, caller: str, queue: str) -> None:
        order.append(f"call_back, tries {stored(port, caller).tries}")  # type: ignore[union-attr]
        await placed(agent, caller, queue)

    port.call_back = record  # type: ignore[method-assign]
    await round_at(dialler, port, NOW)
    assert order == ["call_back, tries 1"]
    mark = stored(port, "+46701111111")
    assert mark is not None and mark.joined == JOINED


async def test_a_request_under_way_is_not_dialled_again_even_by_a_restarted_engine(
    port: MemoryPort,
) -> None:
    ask(port, "+46701111111")
    await round_at(CallbackDialler(SITE, port), port, NOW)
    later = NOW + timedelta(seconds=SITE.agents[0].ring_timeout + CALLER_RING_SECONDS)
    await round_at(CallbackDialler(SITE, port), port, later)  # a new engine, no memory
    assert port.callbacks == [("asa", "+46701111111", "pension")]


async def test_a_served_request_is_gone_and_never_dialled_again(
    dialler: CallbackDialler, port: MemoryPort
) -> None:
    ask(port, "+46701111111")
    await round_at(dialler, port, NOW)
    served(port, "+46701111111")
    await round_at(dialler, port, NOW + timedelta(hours=1))
    assert port.callbacks == [("asa", "+46701111111", "pension")]


async def test_a_request_still_stored_after_its_rest_is_tried_again(
    dialler: CallbackDialler, port: MemoryPort
) -> None:
    ask(port, "+46701111111")
    await round_at(dialler, port, NOW)
    rest = stored(port, "+46701111111").rest_until  # type: ignore[union-attr]
    resting = await round_at(dialler, port, NOW + timedelta(minutes=1))
    assert len(port.callbacks) == 1
    # Asks to be woken when the rest is over, not only at the next LISTEN.
    assert resting.next_check is not None
    assert resting.next_check <= datetime.fromtimestamp(rest, UTC)

    await round_at(dialler, port, datetime.fromtimestamp(rest, UTC))
    assert port.callbacks == [("asa", "+46701111111", "pension")] * 2
    assert stored(port, "+46701111111").tries == 2  # type: ignore[union-attr]


async def test_a_request_not_served_in_max_tries_is_dropped(
    dialler: CallbackDialler, port: MemoryPort
) -> None:
    ask(port, "+46701111111")
    now = NOW
    for _ in range(MAX_TRIES):
        await round_at(dialler, port, now)
        now = datetime.fromtimestamp(stored(port, "+46701111111").rest_until, UTC)  # type: ignore[union-attr]
    await round_at(dialler, port, now)
    assert len(port.callbacks) == MAX_TRIES
    assert callback_key("pension", "+46701111111") not in port.keys


async def test_a_refused_callback_gets_its_request_back_and_is_tried_again(
    dialler: CallbackDialler, port: MemoryPort, monkeypatch: pytest.MonkeyPatch
) -> None:
    ask(port, "+46701111111")
    refusals = [PbxRefused("the agent's phone went away")]

    async def refuse_once(agent: str, caller: str, queue: str) -> None:
        if refusals:
            raise refusals.pop()
        port.callbacks.append((agent, caller, queue))

    monkeypatch.setattr(port, "call_back", refuse_once)
    first = await round_at(dialler, port, NOW)
    assert first.placed == () and port.keys[callback_key("pension", "+46701111111")] == str(JOINED)
    assert first.next_check == NOW + POLL

    await round_at(dialler, port, NOW + POLL)
    assert port.callbacks == [("asa", "+46701111111", "pension")]


async def test_a_pbx_that_does_not_answer_leaves_the_request_as_it_was(
    dialler: CallbackDialler, port: MemoryPort
) -> None:
    ask(port, "+46701111111")
    snapshot = await port.snapshot()
    port.unavailable_for(1)
    done = await dialler.run(snapshot.members, parse_keys(snapshot.keys), NOW)
    assert done.placed == () and done.next_check == NOW + POLL
    assert port.keys[callback_key("pension", "+46701111111")] == str(JOINED)
    assert port.callbacks == []


async def test_the_same_caller_asking_again_later_is_a_new_request(
    dialler: CallbackDialler, port: MemoryPort
) -> None:
    ask(port, "+46701111111")
    await round_at(dialler, port, NOW)
    set_state(port, "asa", MemberState.ON_CALL)
    await round_at(dialler, port, NOW + POLL)
    set_state(port, "asa", MemberState.IDLE)
    ask(port, "+46701111111", joined=JOINED + 600)  # the dialplan writes it anew
    await round_at(dialler, port, NOW + 2 * POLL)
    assert port.callbacks == [("asa", "+46701111111", "pension")] * 2


async def test_an_agent_on_a_callback_is_not_offered_another_until_it_ends(
    dialler: CallbackDialler, port: MemoryPort
) -> None:
    ask(port, "+46701111111", joined=JOINED)
    ask(port, "+46702222222", joined=JOINED + 1)
    port.members.pop(("pension", "ref-bjorn"))
    await round_at(dialler, port, NOW)
    assert port.callbacks == [("asa", "+46701111111", "pension")]

    # The PBX has not shown asa ringing yet: still spoken for.
    await round_at(dialler, port, NOW + POLL)
    set_state(port, "asa", MemberState.ON_CALL)
    await round_at(dialler, port, NOW + 2 * POLL)
    assert len(port.callbacks) == 1

    served(port, "+46701111111")
    set_state(port, "asa", MemberState.IDLE)  # the callback ended
    await round_at(dialler, port, NOW + timedelta(minutes=10))
    assert port.callbacks[1] == ("asa", "+46702222222", "pension")


async def test_an_agent_the_pbx_never_showed_ringing_is_free_after_the_ring_timeout(
    dialler: CallbackDialler, port: MemoryPort
) -> None:
    ask(port, "+46701111111", joined=JOINED)
    ask(port, "+46702222222", joined=JOINED + 1)
    port.members.pop(("pension", "ref-bjorn"))
    await round_at(dialler, port, NOW)
    ring = SITE.agents[0].ring_timeout

    await round_at(dialler, port, NOW + timedelta(seconds=ring + SETTLE_SECONDS - 1))
    assert len(port.callbacks) == 1
    await round_at(dialler, port, NOW + timedelta(seconds=ring + SETTLE_SECONDS))
    assert port.callbacks[1] == ("asa", "+46702222222", "pension")


async def test_unusable_requests_are_dropped(dialler: CallbackDialler, port: MemoryPort) -> None:
    ask(port, "+46701111111", queue="gone")
    ask(port, "anonymous")
    await round_at(dialler, port, NOW)
    assert port.callbacks == []
    assert port.keys == {}


async def test_with_nothing_waiting_it_looks_again_later_for_new_requests(
    dialler: CallbackDialler, port: MemoryPort
) -> None:
    # Nothing announces a request the dialplan stores: the engine must look.
    assert (await round_at(dialler, port, NOW)).next_check == NOW + LISTEN


async def test_a_site_whose_queues_take_no_callbacks_asks_for_no_next_round(
    port: MemoryPort,
) -> None:
    dialler = CallbackDialler(without_dial_out(), port)
    assert (await round_at(dialler, port, NOW)).next_check is None


async def test_a_request_nobody_can_take_yet_asks_for_another_round_soon(
    dialler: CallbackDialler, port: MemoryPort
) -> None:
    set_state(port, "asa", MemberState.ON_CALL)
    set_state(port, "bjorn", MemberState.ON_CALL)
    ask(port, "+46701111111")
    done = await round_at(dialler, port, NOW)
    assert done.placed == () and done.next_check == NOW + POLL


def test_earliest_of_two_deadlines() -> None:
    assert earliest(None, None) is None
    assert earliest(NOW, None) == NOW == earliest(None, NOW)
    assert earliest(NOW, NOW + POLL) == NOW
