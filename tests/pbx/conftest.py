"""Fixtures for tests against the real local Asterisk: a clean PBX state and engines."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

import pytest
from pbx_support import StartEngine

from telephony.ami import AmiClient
from telephony.ami.events import QueueMember
from telephony.config import Site
from telephony.engine.engine import AMI_EVENTS, Engine
from telephony.routing.clock import ManualClock
from telephony.testing.plugin import PbxHandle


@pytest.fixture(autouse=True)
async def clean_pbx(ami: AmiClient) -> AmiClient:
    """No calls, no queue members and no `telephony/` AstDB keys: each test starts from nothing."""
    await ami.command("channel request hangup all")
    await ami.send("DBDelTree", Family="telephony")
    listing = await ami.send_list("QueueStatus")
    for event in listing.events:
        if isinstance(event, QueueMember):
            await ami.send("QueueRemove", Queue=event.queue, Interface=event.interface)
    return ami


@pytest.fixture
async def start_engine(
    clean_pbx: AmiClient, pbx: PbxHandle, pbx_site: Site
) -> AsyncIterator[StartEngine]:
    """Start an in-process engine with a clock set by the test, on its own AMI
    connection filtered as `telephony run`'s is (only AMI_EVENTS cross the wire), so
    the tests see what the engine sees in production."""
    engines: list[tuple[Engine, AmiClient]] = []

    async def start(when: datetime) -> tuple[Engine, ManualClock]:
        clock = ManualClock(when)
        client = AmiClient(
            pbx.info.ami_host, pbx.info.ami_port, pbx_site.pbx.ami_username,
            pbx_site.pbx.ami_secret, wanted_events=AMI_EVENTS,
        )
        await client.connect()
        engine = Engine(pbx_site, client, clock)
        engines.append((engine, client))
        await engine.start()
        return engine, clock

    yield start
    for engine, client in engines:
        await engine.stop()
        await client.close()
