"""Callbacks on Asterisk: one AMI Originate of the agent's devices into `tel-dial-out`.

The agent is rung first, on the same interface the queues ring them on (their one
device, or a Local channel ringing every device at once), for their ring timeout, with
the caller's number shown. Once they answer, their channel runs `tel-dial-out`, which
sets the skill queue's number as caller ID and dials the caller through the trunk's
endpoint; the two talk when the caller answers, and the dialplan then deletes the
caller's request (served). Originate runs async: Asterisk answers
as soon as it has queued the call, so the engine never waits for a phone to ring.
"""

from __future__ import annotations

from telephony.asterisk import astdb, names
from telephony.asterisk.ami import AmiClient, AmiConnectionError, AmiError, AmiTimeout
from telephony.asterisk.ami.events import Response
from telephony.config.models import Site
from telephony.port import PbxRefused, PbxUnavailable
from telephony.routing.callback import CALLER_RING_SECONDS, outbound
from telephony.routing.state import callback_key

# ExtensionState's Status for a hint whose every device is unregistered.
UNAVAILABLE = "4"


def originate(site: Site, agent: str, caller: str, queue: str) -> list[tuple[str, str]]:
    """The Originate headers of a callback (ValueError naming a bad argument)."""
    call = outbound(site, agent, caller, queue)
    variables = {
        "TEL_DIAL_TARGET": names.dial_out(call.caller, call.trunk),
        "TEL_DIAL_FROM": call.queue.number,
        "TEL_DIAL_RING": str(CALLER_RING_SECONDS),
        # Deleted by the dialplan when the caller answers (tel-dial-answered).
        "TEL_DIAL_REQUEST": "/".join(astdb.location(callback_key(call.queue.id, call.caller))),
    }
    return [
        ("Channel", names.member_interface(call.agent)),
        ("Context", names.DIAL_OUT),
        ("Exten", "s"),
        ("Priority", "1"),
        ("Timeout", str(call.agent.ring_timeout * 1000)),
        # What the agent's phone shows: who is called back, and for which queue.
        ("CallerID", f'"Callback {call.queue.id}" <{call.caller}>'),
        ("Async", "true"),
        *(("Variable", f"{name}={value}") for name, value in variables.items()),
    ]


async def call_back(client: AmiClient, site: Site, agent: str, caller: str, queue: str) -> None:
    """Ring the agent, then dial the caller out; returns once Asterisk queued the call.

    Refused when none of the agent's devices is registered: an async Originate is
    queued whatever becomes of it, so that is asked first (the agent's hint).
    """
    try:
        headers = originate(site, agent, caller, queue)
    except ValueError as exc:
        raise PbxRefused(f"callback: {exc}") from None
    extension = next(a.extension for a in site.agents if a.id == agent)
    state = await _send(client, "ExtensionState", [("Exten", extension), ("Context", names.STATE)])
    if state.get("Status") == UNAVAILABLE:
        raise PbxRefused(f"callback of {caller} through {agent}: no device of theirs is registered")
    response = await _send(client, "Originate", headers)
    if not response.success:
        raise PbxRefused(f"Originate refused: {response.message}")


async def _send(client: AmiClient, action: str, headers: list[tuple[str, str]]) -> Response:
    try:
        return await client.send(action, headers)
    except (AmiConnectionError, AmiTimeout) as exc:
        raise PbxUnavailable(f"{action}: {exc}") from exc
    except AmiError as exc:
        raise PbxRefused(f"{action}: {exc}") from exc
