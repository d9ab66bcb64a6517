"""Agents with their presence over HTTP: the list, one agent, setting one's state, and
the live stream of changes (server-sent events).

- `GET /api/agents` -> `{"timezone": <site zone>, "agents": [Agent]}`
- `GET /api/agents/{agent}` -> Agent
- `PUT /api/agents/{agent}/state` with `{"state": "available" | "away" | "focus" |
  "back", "reason": <away: why>, "until": <focus: "HH:MM" or ISO 8601, optional>}`
- `GET /api/events`: `id: <n>`, `event: agent`, `data: <Agent>` per change; resumes
  after the `Last-Event-ID` header or `?after=<n>` (the header wins: a reconnecting
  EventSource sends it); a resume point the feed no longer covers gets `event: reset`
  and then every agent, and so does a reader that gives none; a comment line every 15 s
  keeps proxies from closing an idle stream.

An Agent is `{"id", "name", "extension", "presence", "note", "reason", "until",
"since", "on_duty", "groups", "queues", "skills"}`, times ISO 8601 in the site's zone
to the second. Who may do what is `telephony.web.access`'s middleware, not ours.
"""

from __future__ import annotations

import asyncio
import json
import re
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from telephony.engine.engine import Engine, EngineError, StateChange
from telephony.presence.feed import Feed, FeedEvent
from telephony.presence.model import AgentView

_ENGINE = web.AppKey("presence-engine", Engine)
KEEPALIVE = web.AppKey("keepalive-seconds", float)
"""Seconds of silence after which the stream sends a comment line (15 by default)."""
_CLOSING = web.AppKey("closing", asyncio.Event)

_HHMM = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")


def iso(when: datetime | None, engine: Engine) -> str | None:
    """A time for the API: ISO 8601 in the site's zone, to the second."""
    if when is None:
        return None
    return when.astimezone(engine.zone).replace(microsecond=0).isoformat()


def agent_json(engine: Engine, view: AgentView) -> dict[str, Any]:
    p = view.presence
    agent = engine.site.agent(p.agent)
    return {
        "id": agent.id,
        "name": agent.name,
        "extension": agent.extension,
        "presence": p.presence.value,
        "note": p.note,
        "reason": p.reason,
        "until": iso(p.until, engine),
        "since": iso(p.since, engine),
        "on_duty": list(p.on_duty),
        "groups": list(view.groups),
        "queues": list(view.queues),
        "skills": dict(view.skills),
    }


async def list_agents(request: web.Request) -> web.Response:
    engine = request.app[_ENGINE]
    return web.json_response({
        "timezone": engine.site.timezone,
        "agents": [agent_json(engine, v) for v in engine.agents()],
    })


async def get_agent(request: web.Request) -> web.Response:
    engine = request.app[_ENGINE]
    return web.json_response(agent_json(engine, engine.agent_view(request.match_info["agent"])))


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        raise EngineError("body", "required: {\"state\": ...}")
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise EngineError("body", "not valid JSON") from None
    if not isinstance(body, dict):
        raise EngineError("body", "must be a JSON object")
    return body


def parse_until(value: object, engine: Engine) -> datetime | None:
    """A focus end: "HH:MM" (the next such time on the site's clock: today, or tomorrow
    once it has passed) or ISO 8601 (without an offset, in the site's zone)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise EngineError("until", 'must be "HH:MM" or an ISO 8601 time')
    now = engine.clock.now().astimezone(engine.zone)
    if match := _HHMM.match(value):
        hour, minute = int(match[1]), int(match[2])
        local = datetime.combine(now.date(), datetime.min.time(), engine.zone).replace(
            hour=hour, minute=minute)
        if local <= now:
            local = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(),
                                     engine.zone).replace(hour=hour, minute=minute)
        return local
    try:
        until = datetime.fromisoformat(value)
    except ValueError:
        raise EngineError("until", f'{value[:40]!r} is not "HH:MM" or an ISO 8601 time') from None
    return until if until.tzinfo is not None else until.replace(tzinfo=engine.zone)


async def put_state(request: web.Request) -> web.Response:
    engine = request.app[_ENGINE]
    body = await _body(request)
    unknown = set(body) - {"state", "reason", "until"}
    if unknown:
        raise EngineError(min(unknown), "unknown field")
    text = body.get("state")
    try:
        change = StateChange(str(text))
    except ValueError:
        raise EngineError("state", "required: available, away, focus or back") from None
    reason = body.get("reason")
    if change is not StateChange.AWAY and reason is not None:
        raise EngineError("reason", "only with away")
    if change is not StateChange.FOCUS and body.get("until") is not None:
        raise EngineError("until", "only with focus")
    until = parse_until(body.get("until"), engine)
    view = await engine.set_state(request.match_info["agent"], change, reason=reason, until=until)
    return web.json_response(agent_json(engine, view))


def _after(request: web.Request) -> int | None:
    for field, text in (("Last-Event-ID", request.headers.get("Last-Event-ID")),
                        ("after", request.query.get("after"))):
        if text is not None and text != "":
            if not text.isdigit() or len(text) > 18:
                raise EngineError(field, f"{text[:20]!r} is not an event id")
            return int(text)
    return None


def _frame(engine: Engine, event_id: int, view: AgentView) -> bytes:
    data = json.dumps(agent_json(engine, view), ensure_ascii=False, separators=(",", ":"))
    return f"id: {event_id}\nevent: agent\ndata: {data}\n\n".encode()


async def events(request: web.Request) -> web.StreamResponse:
    engine = request.app[_ENGINE]
    after = _after(request)
    engine.agents()  # 503 before the engine's first read
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream; charset=utf-8",
        "Cache-Control": "no-cache",
        "X-Accel-Buffering": "no",  # nginx: pass each event on at once
    })
    await response.prepare(request)
    feed, closing = engine.feed, request.app[_CLOSING]
    keepalive = request.app[KEEPALIVE]
    try:
        await response.write(b"retry: 2000\n\n")
        found = None if after is None else feed.since(after)
        cursor = await _catch_up(response, engine, found, after or 0, reset=after is not None)
        while not closing.is_set():
            if not await _next(feed, cursor, closing, keepalive):
                if not closing.is_set():
                    await response.write(b": keep-alive\n\n")
                continue
            cursor = await _catch_up(response, engine, feed.since(cursor), cursor, reset=True)
    except (ConnectionResetError, ConnectionError):
        pass  # the reader went away
    return response


async def _catch_up(
    response: web.StreamResponse, engine: Engine, found: list[FeedEvent[AgentView]] | None,
    cursor: int, *, reset: bool,
) -> int:
    """Write `found`, or (None) every agent as now, after `event: reset` when the reader
    asked for a resume point the feed does not cover; the id read up to."""
    if found is not None:
        for event in found:
            await response.write(_frame(engine, event.id, event.item))
        return found[-1].id if found else cursor
    last = engine.feed.last_id
    if reset:
        await response.write(f'id: {last}\nevent: reset\ndata: {{"last_id":{last}}}\n\n'.encode())
    for view in engine.agents():
        await response.write(_frame(engine, last, view))
    return last


async def _next(feed: Feed[AgentView], cursor: int, closing: asyncio.Event, timeout: float) -> bool:
    """Wait for an event after `cursor`, the app closing, or the timeout; True for an
    event."""
    waiter = asyncio.ensure_future(feed.wait(cursor, timeout))
    closer = asyncio.ensure_future(closing.wait())
    try:
        await asyncio.wait({waiter, closer}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (waiter, closer):
            task.cancel()
    return waiter.done() and not waiter.cancelled() and bool(waiter.result())


async def _close_streams(app: web.Application) -> None:
    app[_CLOSING].set()


def add_routes(app: web.Application, engine: Engine) -> None:
    """Serve the agents and their stream from `app`."""
    app[_ENGINE] = engine
    app[KEEPALIVE] = 15.0
    app[_CLOSING] = asyncio.Event()
    app.on_shutdown.append(_close_streams)
    app.router.add_get("/api/agents", list_agents)
    app.router.add_get("/api/agents/{agent}", get_agent)
    app.router.add_put("/api/agents/{agent}/state", put_state)
    app.router.add_get("/api/events", events)
