"""Fixtures for tests against the real local Asterisk: a clean PBX state and engines."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

import pytest
from pbx_support import StartEngine

from telephony.ami import AmiClient
from telephony.ami.events import QueueMember
from telephony.config import Site
from telephony.engine.engine import Engine
from telephony.routing.clock import ManualClock


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
async def start_engine(clean_pbx: AmiClient, pbx_site: Site) -> AsyncIterator[StartEngine]:
    """Start an in-process engine on the shared AMI client with a clock set by the test."""
    engines: list[Engine] = []

    async def start(when: datetime) -> tuple[Engine, ManualClock]:
        clock = ManualClock(when)
        engine = Engine(pbx_site, clean_pbx, clock)
        await engine.start()
        engines.append(engine)
        return engine, clock

    yield start
    for engine in engines:
        await engine.stop()
