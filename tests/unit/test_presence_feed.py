"""The feed of presence changes: ids, resuming, starting over, waiting."""

from __future__ import annotations

import asyncio

import pytest

from telephony.presence.feed import Feed


def test_ids_increase_by_one_from_the_first_id() -> None:
    feed: Feed[str] = Feed(first_id=1000)
    assert feed.last_id == 999
    assert [feed.append(x).id for x in "abc"] == [1000, 1001, 1002]
    assert feed.last_id == 1002


def test_a_reader_resumes_after_the_last_event_it_saw() -> None:
    feed: Feed[str] = Feed(first_id=1)
    for x in "abcd":
        feed.append(x)
    assert [(e.id, e.item) for e in feed.since(2) or []] == [(3, "c"), (4, "d")]
    assert feed.since(4) == []
    assert [e.item for e in feed.since(0) or []] == ["a", "b", "c", "d"]


def test_a_resume_point_the_ring_no_longer_covers_means_start_over() -> None:
    feed: Feed[str] = Feed(first_id=1, size=3)
    for x in "abcde":  # a and b fall out
        feed.append(x)
    assert [e.item for e in feed.since(2) or []] == ["c", "d", "e"]
    assert feed.since(1) is None
    assert feed.since(0) is None


def test_an_id_the_feed_never_gave_out_means_start_over() -> None:
    feed: Feed[str] = Feed(first_id=100)
    feed.append("a")
    assert feed.since(101) is None  # from the future (another engine's)
    assert feed.since(50) is None  # from before this engine started
    assert feed.since(99) is not None


def test_an_empty_feed_resumes_from_just_before_its_first_id() -> None:
    feed: Feed[str] = Feed(first_id=100)
    assert feed.since(99) == []
    assert feed.since(98) is None


async def test_waiters_wake_on_the_next_event_and_time_out_without_one() -> None:
    feed: Feed[str] = Feed(first_id=1)
    assert await feed.wait(0, timeout=0.01) is False
    waiting = asyncio.gather(feed.wait(0, timeout=5), feed.wait(0, timeout=5))
    await asyncio.sleep(0)
    feed.append("a")
    assert await asyncio.wait_for(waiting, 1) == [True, True]
    assert await feed.wait(0, timeout=0) is True  # already there: no wait


def test_a_feed_keeps_at_least_one_event() -> None:
    with pytest.raises(ValueError):
        Feed(size=0)
