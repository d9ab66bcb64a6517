"""The engine starts even when the PBX is not ready for it yet."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from telephony.ami.events import ListResponse, Message, parse_response
from telephony.config import demo_site_path, load_site
from telephony.engine.engine import Engine
from telephony.routing.clock import ManualClock


class _Subscription:
    def close(self) -> None:
        pass


class _BootingAmi:
    """Refuses QueueStatus once, as Asterisk does while app_queue is still loading."""

    def __init__(self) -> None:
        self.queue_status_calls = 0
        self.read_again = asyncio.Event()

    def subscribe(self, callback: Callable[..., Any], names: object = None) -> _Subscription:
        return _Subscription()

    async def send_list(self, action: str, *args: object, **kw: object) -> ListResponse:
        self.queue_status_calls += 1
        if self.queue_status_calls == 2:
            self.read_again.set()
        status = "Error" if self.queue_status_calls == 1 else "Success"
        response = parse_response(
            Message.from_headers(("Response", status), ("Message", "Invalid/unknown command"))
        )
        return ListResponse(response, (), None)

    async def db_get_tree(self, family: str) -> dict[str, str]:
        return {}


async def test_a_refused_first_read_is_retried_instead_of_stopping_the_engine() -> None:
    ami = _BootingAmi()
    clock = ManualClock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))
    engine = Engine(load_site(demo_site_path()), ami, clock)  # type: ignore[arg-type]

    await engine.start()  # the refused QueueStatus does not escape
    clock.advance(6)  # past the retry delay
    async with asyncio.timeout(5):
        await ami.read_again.wait()
    await engine.stop()
