"""The AMI client's server-side event filter (`wanted_events`) on the real Asterisk.

What Asterisk sends is read from `events_received` (every event frame that crossed the
wire), not from what subscribers get: the client also drops unwanted names itself, so
only the wire count shows that Asterisk did the filtering.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from telephony.asterisk.ami import AmiClient, Reconnected
from telephony.asterisk.ami.events import DBGetTreeResponse, Event, QueueMember
from telephony.config import Site
from telephony.testing.plugin import PbxHandle

pytestmark = [pytest.mark.pbx, pytest.mark.pbx_kinds("asterisk")]

WANTED = frozenset({"QueueMemberAdded", "QueueMemberRemoved"})


def client_for(pbx: PbxHandle, site: Site, wanted: frozenset[str] | None) -> AmiClient:
    return AmiClient(
        pbx.info.control_host, pbx.info.control_port, site.pbx.control_username,
        site.pbx.control_secret, wanted_events=wanted, min_backoff=0.2,
    )


@pytest.fixture
async def filtered(pbx: PbxHandle, pbx_site: Site) -> AsyncIterator[AmiClient]:
    client = client_for(pbx, pbx_site, WANTED)
    await client.connect()
    try:
        yield client
    finally:
        await client.close()


async def wire_count_after(client: AmiClient, raiser: AmiClient, flips: int) -> int:
    """Event frames `client` received while `raiser` (unfiltered) changed a device state
    `flips` times: each change is a DeviceStateChange event for every session that wants it."""
    before = client.events_received
    seen = raiser.wait_event(names=["DeviceStateChange"], timeout=5)
    for i in range(flips):
        state = "BUSY" if i % 2 == 0 else "NOT_INUSE"
        await raiser.send("Setvar", Variable="DEVICE_STATE(Custom:tel-filter-test)", Value=state)
    await seen  # the unfiltered session heard them: Asterisk did raise the events
    await client.send("Ping")  # whatever was raised before this answer has arrived
    return client.events_received - before


async def test_only_wanted_events_cross_the_wire_while_other_sessions_hear_everything(
    filtered: AmiClient, ami: AmiClient, clean_pbx: object
) -> None:
    seen: asyncio.Queue[Event] = asyncio.Queue()
    filtered.subscribe(seen.put_nowait)
    assert await wire_count_after(filtered, ami, 20) == 0

    added_elsewhere = ami.wait_event(names=["QueueMemberAdded"], timeout=5)
    await filtered.send("QueueAdd", Queue="rota", Interface="PJSIP/chen-soft", MemberName="chen")
    await filtered.send("QueueRemove", Queue="rota", Interface="PJSIP/chen-soft")
    added, removed = await seen.get(), await seen.get()

    assert (added.name, removed.name) == ("QueueMemberAdded", "QueueMemberRemoved")
    assert (await added_elsewhere).name == "QueueMemberAdded"  # same user, own session


async def test_list_answers_arrive_under_the_filter(
    filtered: AmiClient, ami: AmiClient, clean_pbx: object
) -> None:
    await ami.send("QueueAdd", Queue="rota", Interface="PJSIP/chen-soft", MemberName="chen")
    await ami.send("DBPut", Family="telephony", Key="filter-test", Val="1")

    status = (await filtered.send_list("QueueStatus", Queue="rota")).check()
    listing = (await filtered.send_list("DBGetTree", Family="telephony")).check()

    assert [e.member_name for e in status.events if isinstance(e, QueueMember)] == ["chen"]
    assert [(e.key, e.val) for e in listing.events if isinstance(e, DBGetTreeResponse)] == [
        ("/telephony/filter-test", "1")
    ]


async def test_the_filter_is_back_before_reconnected_after_asterisk_restarts(
    filtered: AmiClient, pbx: PbxHandle, pbx_site: Site
) -> None:
    reconnected: asyncio.Queue[Event] = asyncio.Queue()
    filtered.subscribe(reconnected.put_nowait, ["Reconnected"])
    await asyncio.to_thread(pbx.kill)
    await asyncio.to_thread(pbx.start_again)
    assert isinstance(await asyncio.wait_for(reconnected.get(), 30), Reconnected)

    async with client_for(pbx, pbx_site, None) as raiser:
        assert await wire_count_after(filtered, raiser, 20) == 0
