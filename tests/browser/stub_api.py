"""A stand-in for the presence API (the contract's JSON), until the engine serves it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from telephony.web import panel

ZONE = ZoneInfo("Europe/Stockholm")
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=ZONE)


def _agent(id: str, name: str, ext: str, presence: str, skills: dict[str, int],
           **more: Any) -> dict[str, Any]:
    return {"id": id, "name": name, "extension": ext, "presence": presence,
            "note": presence, "reason": None, "until": None, "since": None,
            "on_duty": [], "groups": ["intake"], "queues": [], "skills": skills} | more


class Stub:
    def __init__(self, tokens: dict[str, str] | None = None) -> None:
        self.tokens = tokens or {}
        self.agents = {a["id"]: a for a in [
            _agent("asa", "Åsa Öberg", "1001", "on_duty", {"unemployment": 5, "pension": 2},
                   on_duty=["intake"], since=NOW.replace(hour=8).isoformat(),
                   until=NOW.replace(hour=10).isoformat()),
            _agent("bjorn", "Björn Lind", "1002", "available", {"unemployment": 4}),
            _agent("chen", "Chen Wei", "1003", "on_duty", {"pension": 5}, on_duty=["intake"],
                   queues=["pension"], until=NOW.replace(hour=12).isoformat()),
        ]}
        self.events: list[tuple[int, dict[str, Any]]] = []
        self.changed = asyncio.Event()
        self.streams: list[web.Request] = []

    def publish(self, agent: dict[str, Any]) -> None:
        self.agents[agent["id"]] = agent
        self.events.append((len(self.events) + 1, dict(agent)))
        changed, self.changed = self.changed, asyncio.Event()
        changed.set()

    def _who(self, request: web.Request) -> str | None:
        if not self.tokens:
            return "*"
        given = request.headers.get("Authorization", "")
        return self.tokens.get(given.removeprefix("Bearer ")) if given.startswith("Bearer ") else None

    @web.middleware
    async def guard(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path.startswith("/api/") and self._who(request) is None:
            return web.json_response({"error": "token needed", "field": "authorization"}, status=401)
        response: web.StreamResponse = await handler(request)
        return response

    async def list(self, request: web.Request) -> web.Response:
        return web.json_response({"timezone": "Europe/Stockholm", "agents": list(self.agents.values())})

    async def put_state(self, request: web.Request) -> web.Response:
        who = self._who(request)
        agent_id = request.match_info["agent"]
        if who not in ("*", agent_id):
            return web.json_response({"error": "not yours", "field": "agent"}, status=403)
        body = await request.json()
        agent = dict(self.agents[agent_id])
        if body["state"] == "focus":
            until = None
            if "until" in body:
                h, m = map(int, body["until"].split(":"))
                until = NOW.replace(hour=h, minute=m).isoformat()
            agent |= {"presence": "focus", "until": until, "reason": None}
        elif body["state"] == "away":
            agent |= {"presence": "away", "reason": body.get("reason"), "until": None}
        else:
            agent |= {"presence": "available", "reason": None, "until": None}
        self.publish(agent)
        return web.json_response(agent)

    async def events_handler(self, request: web.Request) -> web.StreamResponse:
        after_text = request.headers.get("Last-Event-ID") or request.query.get("after")
        after = int(after_text) if after_text else len(self.events)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        self.streams.append(request)
        while True:
            for n, agent in self.events[after:]:
                await response.write(f"id: {n}\nevent: agent\ndata: {json.dumps(agent)}\n\n".encode())
                after = n
            try:
                await asyncio.wait_for(self.changed.wait(), 15)
            except TimeoutError:
                await response.write(b": still here\n\n")

    async def transfer(self, request: web.Request) -> web.Response:
        return web.json_response({"error": "the agent is on no call", "field": "agent"}, status=409)

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self.guard])
        app.router.add_get("/api/agents", self.list)
        app.router.add_put("/api/agents/{agent}/state", self.put_state)
        app.router.add_get("/api/events", self.events_handler)
        app.router.add_post("/api/agents/{agent}/transfer", self.transfer)
        panel.serve_panel(app)
        return app


async def serve(stub: Stub) -> AsyncIterator[str]:
    runner = web.AppRunner(stub.app(), shutdown_timeout=1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


