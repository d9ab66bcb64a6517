"""The OpenAPI 3.1 document of the engine's HTTP API, served at `GET /api/openapi.json`.

Written by hand, route by route: tests/unit/test_presence_api.py fails when the app
serves an /api route this document does not describe (or describes one it does not
serve).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

Json = dict[str, Any]

_STR: Json = {"type": "string"}
_NULL_STR: Json = {"type": ["string", "null"]}
_TIME: Json = {"type": ["string", "null"], "format": "date-time",
               "description": "ISO 8601 in the site's time zone, to the second"}

_ERROR: Json = {
    "type": "object",
    "required": ["error", "field"],
    "properties": {"error": _STR, "field": {**_STR, "description": "the part that is wrong"}},
}

_AGENT: Json = {
    "type": "object",
    "required": ["id", "name", "extension", "presence", "note", "reason", "until", "since",
                 "on_duty", "groups", "queues", "skills"],
    "properties": {
        "id": _STR,
        "name": _STR,
        "extension": _STR,
        "presence": {"type": "string", "enum": [
            "offline", "available", "on_duty", "ringing", "on_call", "wrap_up", "away",
            "focus"]},
        "note": {**_STR, "description": 'the state in words, e.g. "Focus until 14:00"'},
        "reason": {**_NULL_STR, "description": "why the agent is away"},
        "until": {**_TIME, "description": "when focus, duty or wrap-up ends"},
        "since": {**_TIME, "description": "when the agent came into this state (null: "
                  "before the engine looked)"},
        "on_duty": {"type": "array", "items": _STR,
                    "description": "hunt groups the agent is on duty in now"},
        "groups": {"type": "array", "items": _STR,
                   "description": "hunt groups whose roster names the agent"},
        "queues": {"type": "array", "items": _STR,
                   "description": "skill queues the agent is a member of now"},
        "skills": {"type": "object", "additionalProperties": {"type": "integer"}},
    },
}

_STATE: Json = {
    "type": "object",
    "required": ["state"],
    "additionalProperties": False,
    "properties": {
        "state": {"type": "string", "enum": ["available", "away", "focus", "back"]},
        "reason": {**_STR, "maxLength": 64, "description": 'away only: why (no "/")'},
        "until": {**_STR, "description": 'focus only: "HH:MM" (the next such time in the '
                  "site's zone) or ISO 8601; none: until turned off"},
    },
}


def _ref(name: str) -> Json:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: Json, description: str = "OK") -> Json:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_OBJECT: Json = {"type": "object"}
_ERRORS: Json = {
    "400": _json(_ref("Error"), "bad input: `field` names it"),
    "401": _json(_ref("Error"), "a token is needed (when the site has tokens)"),
    "403": _json(_ref("Error"), "this token may not do that"),
    "404": _json(_ref("Error"), "no such agent, group, skill or case"),
    "503": _json(_ref("Error"), "the PBX did not answer or refused"),
}


def _op(summary: str, response: Json | None = None, *, body: Json | None = None,
        params: tuple[str, ...] = (), query: tuple[tuple[str, bool, str], ...] = (),
        errors: bool = True) -> Json:
    op: Json = {"summary": summary, "responses": {"200": response or _json(_OBJECT)}}
    if errors:
        op["responses"].update(_ERRORS)
    parameters = [{"name": p, "in": "path", "required": True, "schema": _STR} for p in params]
    parameters += [{"name": n, "in": "query", "required": r, "schema": _STR, "description": d}
                   for n, r, d in query]
    if parameters:
        op["parameters"] = parameters
    if body is not None:
        op["requestBody"] = {"required": True,
                             "content": {"application/json": {"schema": body}}}
    return op


_FOCUS: Json = {"type": "object", "properties": {
    "until": {**_STR, "format": "date-time"}, "minutes": {"type": "integer", "minimum": 1,
                                                         "maximum": 1440}}}

PATHS: Json = {
    "/api/health": {"get": _op("Up, and the first sync done (503 while starting)",
                               errors=False)},
    "/api/status": {"get": _op("Hunt groups, skill queues, agents and case links as the PBX "
                               "has them")},
    "/api/openapi.json": {"get": _op("This document", errors=False)},
    "/api/agents": {"get": _op("Every agent with presence, groups, queues and skills", _json({
        "type": "object", "required": ["timezone", "agents"],
        "properties": {"timezone": _STR, "agents": {"type": "array", "items": _ref("Agent")}},
    }))},
    "/api/agents/{agent}": {"get": _op("One agent", _json(_ref("Agent")), params=("agent",))},
    "/api/agents/{agent}/state": {"put": _op(
        "Set an agent's state: available or back (away and focus end), away with a reason "
        "(held in every hunt group and skill queue, the direct line still rings), focus "
        "until a time", _json(_ref("Agent")), body=_ref("StateChange"), params=("agent",))},
    "/api/events": {"get": {
        **_op("Server-sent events: `id: <n>`, `event: agent`, `data: <Agent>` for each "
              "change; without a resume point every agent first; a resume point no longer "
              "kept gets `event: reset` and every agent; a comment every 15 s",
              {"description": "an event stream", "content": {"text/event-stream": {
                  "schema": _STR}}}),
        "parameters": [
            {"name": "after", "in": "query", "required": False, "schema": _STR,
             "description": "resume after this event id"},
            {"name": "Last-Event-ID", "in": "header", "required": False, "schema": _STR,
             "description": "resume after this event id (wins over ?after)"},
        ],
    }},
    "/api/hunt-groups/{group}/agents/{agent}/{action}": {"post": _op(
        "Join, leave, pause or unpause by hand until the agent's next shift boundary",
        params=("group", "agent", "action"))},
    "/api/agents/{agent}/focus": {
        "put": _op("Focus until a time, for some minutes, or until turned off",
                   body=_FOCUS, params=("agent",)),
        "delete": _op("End focus now", params=("agent",)),
    },
    "/api/cases/{number}": {
        "put": _op("Link calls from a number to the agent who owns the case",
                   body={"type": "object", "required": ["agent"],
                         "properties": {"agent": _STR}}, params=("number",)),
        "delete": _op("Remove a case link", params=("number",)),
    },
    "/api/agents/{agent}/skills": {"get": _op("An agent's skills now", params=("agent",))},
    "/api/agents/{agent}/skills/{skill}": {
        "put": _op("Give an agent a skill at a level (live until the engine restarts)",
                   body={"type": "object", "required": ["level"], "properties": {
                       "level": {"type": "integer", "minimum": 1, "maximum": 5}}},
                   params=("agent", "skill")),
        "delete": _op("Take a skill from an agent", params=("agent", "skill")),
    },
    "/api/experts": {"get": _op("Agents with a skill: available first, then the most skilled",
                                query=(("skill", True, "the skill"),
                                       ("min_level", False, "1-5, default 1")))},
    "/api/agents/{agent}/transfer": {"post": _op(
        "Move the other party of the agent's call to an agent, queue or hunt group",
        body={"type": "object", "required": ["to"], "properties": {
            "to": {**_STR, "description": "agent:ID, queue:ID or hunt_group:ID"},
            "mode": {"type": "string", "enum": ["blind", "attended"]},
            "urgent": {"type": "boolean"},
            "skill": _NULL_STR}},
        params=("agent",))},
    "/api/callbacks": {"get": _op("Callers waiting to be called back, oldest first")},
}


def document() -> Json:
    """The whole OpenAPI document."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "telephony engine", "version": "1",
                 "description": "Hunt groups, skill queues, presence and transfers of one "
                 "site. With tokens configured, send `Authorization: Bearer <token>`."},
        "servers": [{"url": "/"}],
        "paths": PATHS,
        "components": {
            "schemas": {"Agent": _AGENT, "StateChange": _STATE, "Error": _ERROR},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        # Open without tokens (loopback only), a bearer token with them.
        "security": [{}, {"bearer": []}],
    }


async def serve(request: web.Request) -> web.Response:
    return web.json_response(document())


def add_route(app: web.Application) -> None:
    app.router.add_get("/api/openapi.json", serve)
