"""Helpers shared by the PBX tests (imported as `pbx_support`: pytest puts this
directory on sys.path, and the suite must also run from outside the checkout)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from telephony.asterisk.ami import AmiClient
from telephony.asterisk.ami.events import QueueMember
from telephony.engine.engine import Engine
from telephony.routing.clock import ManualClock

StartEngine = Callable[[datetime], Awaitable[tuple[Engine, ManualClock]]]


async def queue_members(ami: AmiClient, queue: str) -> list[str]:
    """Member names of a queue, as app_queue reports them (duplicates kept)."""
    listing = await ami.send_list("QueueStatus", Queue=queue)
    return sorted(e.member_name for e in listing.events if isinstance(e, QueueMember))
