"""Fixtures for tests against the real local PBX: a clean PBX state and engines."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime

import pytest
from pbx_support import StartEngine

from telephony.config import Site
from telephony.engine.engine import Engine
from telephony.engine.run import open_port
from telephony.port import DeleteKey, Leave, PbxPort
from telephony.routing.clock import ManualClock
from telephony.testing.plugin import PbxHandle


@pytest.fixture(autouse=True)
async def clean_pbx(pbx: PbxHandle, port: PbxPort, pbx_site: Site) -> PbxPort:
    """No calls, no members in the site's queues and no stored keys: each test starts
    from nothing, on whichever PBX it runs."""
    await asyncio.to_thread(pbx.hangup_all)
    queues = {g.id for g in pbx_site.hunt_groups} | {q.id for q in pbx_site.queues}
    snapshot = await port.snapshot()
    for member in snapshot.members:
        if member.queue in queues:
            await port.apply(Leave(member.queue, member.agent, member.ref, "test clean-up"))
    for key in snapshot.keys:
        await port.apply(DeleteKey(key, "test clean-up"))
    return port


@pytest.fixture
async def start_engine(clean_pbx: PbxPort, pbx_site: Site) -> AsyncIterator[StartEngine]:
    """Start an in-process engine with a clock set by the test, on its own connection
    opened as `telephony run` opens it (on Asterisk: filtered to the engine's events),
    so the tests see what the engine sees in production."""
    engines: list[tuple[Engine, PbxPort]] = []

    async def start(when: datetime) -> tuple[Engine, ManualClock]:
        clock = ManualClock(when)
        port = await open_port(pbx_site)
        engine = Engine(pbx_site, port, clock)
        engines.append((engine, port))
        await engine.start()
        return engine, clock

    yield start
    for engine, port in engines:
        await engine.stop()
        await port.close()
