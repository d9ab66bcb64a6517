"""`GET /api/callbacks`: the callers waiting to be called back, oldest first.

A request stays listed from the moment the caller pressed the skill queue's callback
key until the caller answered a callback (the PBX then deletes it), or until it was
given up after `MAX_TRIES` callbacks that did not reach the caller.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from telephony.engine.engine import Engine
from telephony.routing.callback import requests


async def listing(engine: Engine) -> web.Response:
    """Each request: queue, caller, when they joined (ISO 8601, UTC) and how long ago,
    how many callbacks were placed, and until when the last is under way or resting
    (null when none was placed or it is due again)."""
    state = await engine.read_state()
    now = engine.clock.now().timestamp()
    return web.json_response({
        "callbacks": [
            {
                "queue": r.queue,
                "caller": r.caller,
                "joined": datetime.fromtimestamp(r.joined, UTC).isoformat(),
                "waiting_seconds": max(0, int(now) - r.joined),
                "tries": r.tries,
                "next_try": (
                    datetime.fromtimestamp(r.rest_until, UTC).isoformat()
                    if r.rest_until > now else None
                ),
            }
            for r in requests(state.stored.callbacks)
        ],
    })
