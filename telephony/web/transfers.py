"""`POST /api/agents/{agent}/transfer`: move the agent's current call elsewhere.

Body: `{"to": "agent:ID" | "queue:ID" | "hunt_group:ID", "mode": "blind" | "attended",
"urgent": false, "skill": "ID" | null}` (only `to` is required; blind by default).
Answers 200 with what was done, 409 `{"field", "error"}` when the transfer is refused
(nobody could answer there, the agent is on no call, the PBX would not), 404 for an
unknown agent, queue, hunt group or skill, 400 for a malformed body.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from telephony.config.models import Site
from telephony.engine.transfers import People, TransferDone, transfer_call
from telephony.port import PbxPort, PbxRefused
from telephony.routing.transfer import (
    InvalidTransfer,
    Request,
    Target,
    TransferError,
    TransferRefused,
    UnknownTarget,
)

_FIELDS = frozenset({"to", "mode", "urgent", "skill"})
_MODES = {"blind": False, "attended": True}


def parse_request(agent: str, body: dict[str, Any]) -> Request:
    """The transfer a request body asks for; InvalidTransfer naming the bad field."""
    unknown = set(body) - _FIELDS
    if unknown:
        raise InvalidTransfer(min(unknown), "unknown field")
    target = Target.parse(body.get("to"))
    mode = body.get("mode", "blind")
    if not isinstance(mode, str) or mode not in _MODES:
        raise InvalidTransfer("mode", "blind or attended")
    urgent = body.get("urgent", False)
    if not isinstance(urgent, bool):
        raise InvalidTransfer("urgent", "true or false")
    skill = body.get("skill")
    if skill is not None and (not isinstance(skill, str) or not skill):
        raise InvalidTransfer("skill", "a skill id, or null")
    return Request(agent, target, attended=_MODES[mode], urgent=urgent, skill=skill)


def as_json(done: TransferDone) -> dict[str, object]:
    request = done.request
    return {
        "agent": request.agent,
        "to": str(request.target),
        "mode": "attended" if request.attended else "blind",
        "urgent": request.urgent,
        "number": done.number,
        "peer": done.call.peer,
        "queue": done.call.queue or None,
        "needs": None if done.need is None else str(done.need),
    }


def _error(status: int, field: str, message: str) -> web.Response:
    return web.json_response({"error": message, "field": field}, status=status)


async def handle(
    site: Site, port: PbxPort, people: People, agent: str, body: dict[str, Any]
) -> web.Response:
    """Carry out one transfer request and answer it (PbxUnavailable is left to the
    API's error middleware: a 503 like every other change the PBX did not take)."""
    try:
        done = await transfer_call(site, port, people, parse_request(agent, body))
    except UnknownTarget as exc:
        return _error(404, exc.field, exc.message)
    except TransferRefused as exc:
        return _error(409, exc.field, exc.message)
    except TransferError as exc:
        return _error(400, exc.field, exc.message)
    except PbxRefused as exc:
        # The call ended meanwhile, or the PBX would not move it.
        return _error(409, "pbx", f"the PBX refused the transfer: {exc}")
    return web.json_response(as_json(done))
