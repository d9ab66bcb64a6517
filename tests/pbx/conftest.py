"""Fixtures for tests against the real local Asterisk: a clean PBX state and engines."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

import pytest
from pbx_support import StartEngine

from telephony.asterisk.ami import AmiClient
from telephony.asterisk.ami.events import QueueMember
from telephony.asterisk.port import AsteriskPort
from telephony.config import Site
from telephony.engine.engine import Engine
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
    engines: list[tuple[Engine, AsteriskPort]] = []

    async def start(when: datetime) -> tuple[Engine, ManualClock]:
        clock = ManualClock(when)
        port = await AsteriskPort.connect(pbx_site, pbx.info.control_host)
        engine = Engine(pbx_site, port, clock)
        engines.append((engine, port))
        await engine.start()
        return engine, clock

    yield start
    for engine, port in engines:
        await engine.stop()
        await port.close()
