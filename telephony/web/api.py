"""The engine's HTTP API and status page (aiohttp), on 127.0.0.1 by default.

Routes:
- `GET  /` status page; `GET /api/health`; `GET /api/status`
- `GET  /panel` the agent panel (`telephony.web.panel`)
- `POST /api/hunt-groups/{group}/agents/{agent}/{join|leave|pause|unpause}`
- `PUT  /api/agents/{agent}/focus` with `{"until": "<ISO 8601>"}`, `{"minutes": N}` or `{}`
- `DELETE /api/agents/{agent}/focus`
- `PUT  /api/cases/{number}` with `{"agent": "<id>"}`; `DELETE /api/cases/{number}`
- `GET  /api/agents/{agent}/skills`; `PUT /api/agents/{agent}/skills/{skill}` with
  `{"level": 1-5}`; `DELETE /api/agents/{agent}/skills/{skill}` (live, until restart)
- `GET  /api/experts?skill=NAME[&min_level=N]`
- `POST /api/agents/{agent}/transfer` with `{"to": "agent:ID"|"queue:ID"|"hunt_group:ID",
  "mode": "blind"|"attended", "urgent": false, "skill": null}` (`telephony.web.transfers`)
- `GET  /api/callbacks`: callers waiting to be called back, oldest first
  (`telephony.web.callbacks`)
- `GET  /api/agents`, `GET /api/agents/{agent}`, `PUT /api/agents/{agent}/state` and
  `GET /api/events` (server-sent events): agents and their presence
  (`telephony.web.agents`)
- `GET  /api/openapi.json`: the OpenAPI 3.1 document of every /api route
  (`telephony.web.openapi`)
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from telephony.config.models import NUMBER_RE
from telephony.engine.engine import AgentState, Engine, EngineError, UnknownName
from telephony.port import PbxPortError
from telephony.routing.state import OverrideAction, StoredState
from telephony.web import access, callbacks, transfers
from telephony.web.agents import add_routes as add_agent_routes
from telephony.web.openapi import add_route as add_openapi_route
from telephony.web.panel import serve_panel

ENGINE = web.AppKey("engine", Engine)


class BadRequest(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _error(status: int, field: str, message: str) -> web.Response:
    return web.json_response({"error": message, "field": field}, status=status)


@web.middleware
async def _local_only(request: web.Request, handler: Any) -> web.StreamResponse:
    # Who may ask is telephony.web.access's (tokens, or loopback only). A web page the
    # supervisor happens to open must not drive the API either: every change must be
    # JSON, which a browser only sends cross-site after a CORS preflight that this API
    # never grants.
    if request.method not in ("GET", "HEAD") and request.content_type != "application/json":
        return _error(415, "content-type", "send changes as application/json")
    response: web.StreamResponse = await handler(request)
    return response


@web.middleware
async def _errors(request: web.Request, handler: Any) -> web.StreamResponse:
    # Domain errors become HTTP statuses here, and only here.
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except BadRequest as exc:
        return _error(400, exc.field, exc.message)
    except UnknownName as exc:
        return _error(404, exc.field, exc.message)
    except EngineError as exc:
        return _error(400, exc.field, exc.message)
    except PbxPortError as exc:
        return _error(503, "pbx", f"the PBX did not take the change: {exc}")


async def _json_body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BadRequest("body", "not valid JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("body", "must be a JSON object")
    return body


async def health(request: web.Request) -> web.Response:
    # The API opens before the engine's first sync (a taken port fails at once); until
    # that sync is done the PBX may not hold what the site says yet.
    if not request.app[ENGINE].started:
        return web.json_response({"ok": False, "error": "starting"}, status=503)
    return web.json_response({"ok": True})


async def status(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    groups, queues, db = await engine.full_status()
    now = engine.clock.now().timestamp()
    zone = ZoneInfo(engine.site.timezone)
    return web.json_response({
        "site": engine.site.site,
        # Times in the site's zone to the second, as people read them.
        "now": engine.clock.now().astimezone(zone).isoformat(timespec="seconds"),
        "hunt_groups": [
            {
                "id": g.group,
                "on_duty": g.on_duty,
                "members": [
                    {"agent": m.agent, "paused": m.hold is not None,
                     "hold": None if m.hold is None else m.hold.value,
                     "hold_reason": m.hold_reason, "state": m.state.value}
                    for m in g.members
                ],
            }
            for g in groups
        ],
        "queues": [
            {
                "id": q.group,
                "members": [
                    {"agent": m.agent, "level": m.level, "paused": m.hold is not None,
                     "hold": None if m.hold is None else m.hold.value,
                     "hold_reason": m.hold_reason, "state": m.state.value}
                    for m in q.members
                ],
            }
            for q in queues
        ],
        "agents": [
            {
                "id": a.id, "name": a.name, "extension": a.extension,
                "direct_line": a.direct_line,
                "focus": (
                    {"until": _iso(db.focus[a.id].until, zone)} if _focused(db, a.id, now)
                    else None
                ),
                "skills": engine.skills_of(a.id),
            }
            for a in engine.site.agents
        ],
        "cases": db.cases,
    })


def _iso(stamp: int | None, zone: ZoneInfo) -> str | None:
    if stamp is None:
        return None
    return datetime.fromtimestamp(stamp, zone).isoformat(timespec="seconds")


def _focused(db: StoredState, agent: str, now: float) -> bool:
    # An ended focus stays stored until the engine's next sync: it is not shown.
    focus = db.focus.get(agent)
    return focus is not None and focus.active(now)


async def member_action(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    action_text = request.match_info["action"]
    try:
        action = OverrideAction(action_text)
    except ValueError:
        raise BadRequest("action", f"unknown action {action_text!r}: join, leave, pause or unpause") from None
    entry = await engine.override(request.match_info["group"], request.match_info["agent"], action)
    return web.json_response({
        "group": entry.group, "agent": entry.agent, "action": entry.action.value,
        "until": _iso(entry.until, ZoneInfo(engine.site.timezone)),
    })


def _parse_until(body: dict[str, Any], now: datetime) -> datetime | None:
    unknown = set(body) - {"until", "minutes"}
    if unknown:
        raise BadRequest(min(unknown), "unknown field")
    if body.get("until") is not None and body.get("minutes") is not None:
        raise BadRequest("until", "give either until or minutes, not both")
    if body.get("until") is not None:
        value = body["until"]
        try:
            until = datetime.fromisoformat(str(value))
        except ValueError:
            raise BadRequest("until", f"{value!r} is not an ISO 8601 time") from None
        if until.tzinfo is None:
            raise BadRequest("until", "needs a time zone, e.g. 2026-11-23T15:00+01:00")
        return until
    if body.get("minutes") is not None:
        minutes = body["minutes"]
        if not isinstance(minutes, int) or isinstance(minutes, bool) or not 1 <= minutes <= 24 * 60:
            raise BadRequest("minutes", "must be a whole number from 1 to 1440")
        return now + timedelta(minutes=minutes)
    return None


async def put_focus(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    until = _parse_until(await _json_body(request), engine.clock.now())
    focus = await engine.set_focus(request.match_info["agent"], until)
    return web.json_response({
        "agent": focus.agent,
        "until": _iso(focus.until, ZoneInfo(engine.site.timezone)),
    })


async def delete_focus(request: web.Request) -> web.Response:
    await request.app[ENGINE].clear_focus(request.match_info["agent"])
    return web.json_response({"agent": request.match_info["agent"], "focus": None})


def _number(request: web.Request) -> str:
    number = request.match_info["number"]
    if not NUMBER_RE.fullmatch(number):
        raise BadRequest("number", f"{number!r} is not a number: digits with an optional leading +")
    return number


async def put_case(request: web.Request) -> web.Response:
    number = _number(request)
    body = await _json_body(request)
    agent = body.get("agent")
    if not isinstance(agent, str):
        raise BadRequest("agent", "required: the id of the agent who owns the case")
    await request.app[ENGINE].link_case(number, agent)
    return web.json_response({"number": number, "agent": agent})


async def delete_case(request: web.Request) -> web.Response:
    number = _number(request)
    await request.app[ENGINE].unlink_case(number)
    return web.json_response({"number": number, "agent": None})


async def get_skills(request: web.Request) -> web.Response:
    agent = request.match_info["agent"]
    return web.json_response({"agent": agent, "skills": request.app[ENGINE].skills_of(agent)})


async def put_skill(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    body = await _json_body(request)
    unknown = set(body) - {"level"}
    if unknown:
        raise BadRequest(min(unknown), "unknown field")
    level = body.get("level")
    if not isinstance(level, int) or isinstance(level, bool):
        raise BadRequest("level", "required: a whole number from 1 to 5")
    agent, skill = request.match_info["agent"], request.match_info["skill"]
    await engine.set_skill(agent, skill, level)
    return web.json_response({"agent": agent, "skills": engine.skills_of(agent)})


async def delete_skill(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    agent, skill = request.match_info["agent"], request.match_info["skill"]
    await engine.delete_skill(agent, skill)
    return web.json_response({"agent": agent, "skills": engine.skills_of(agent)})


async def experts(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    skill = request.query.get("skill")
    if not skill:
        raise BadRequest("skill", "required: ?skill=NAME")
    text = request.query.get("min_level", "1")
    if not text.isdigit():
        raise BadRequest("min_level", f"{text!r} is not a level: use 1-5")
    found = await engine.experts(skill, int(text))
    return web.json_response({
        "skill": skill,
        "min_level": int(text),
        "experts": [
            {
                "agent": e.agent, "name": e.name, "level": e.level,
                "state": e.availability.state.value,
                "available": e.availability.state is AgentState.AVAILABLE,
                "on_duty": list(e.availability.on_duty),
            }
            for e in found
        ],
    })


async def transfer(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    body = await _json_body(request)
    return await transfers.handle(
        engine.site, engine.port, engine, request.match_info["agent"], body
    )


async def callback_list(request: web.Request) -> web.Response:
    return await callbacks.listing(request.app[ENGINE])


_PAGE = web.AppKey("page", str)


async def page(request: web.Request) -> web.Response:
    return web.Response(text=request.app[_PAGE], content_type="text/html")


def make_app(engine: Engine) -> web.Application:
    """The aiohttp application for one engine."""
    app = web.Application(middlewares=[access.guard(engine.site.api), _local_only, _errors],
                          client_max_size=64 * 1024)
    app[ENGINE] = engine
    app[_PAGE] = resources.files("telephony.web").joinpath("status.html").read_text(encoding="utf-8")
    app.router.add_get("/", page)
    serve_panel(app)
    app.router.add_get("/api/health", health)
    app.router.add_get("/api/status", status)
    app.router.add_post("/api/hunt-groups/{group}/agents/{agent}/{action}", member_action)
    app.router.add_put("/api/agents/{agent}/focus", put_focus)
    app.router.add_delete("/api/agents/{agent}/focus", delete_focus)
    app.router.add_put("/api/cases/{number}", put_case)
    app.router.add_delete("/api/cases/{number}", delete_case)
    app.router.add_get("/api/agents/{agent}/skills", get_skills)
    app.router.add_put("/api/agents/{agent}/skills/{skill}", put_skill)
    app.router.add_delete("/api/agents/{agent}/skills/{skill}", delete_skill)
    app.router.add_get("/api/experts", experts)
    app.router.add_post("/api/agents/{agent}/transfer", transfer)
    app.router.add_get("/api/callbacks", callback_list)
    add_agent_routes(app, engine)
    add_openapi_route(app)
    return app
