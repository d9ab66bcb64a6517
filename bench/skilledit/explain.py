"""Where a skill edit's time goes: the parts of the engine's restricted sync, one by one.

Run after the edits, with the engine stopped, on the engine's own connection: each read
the port makes for a one-queue snapshot, timed alone (round trip and parse), and the
routing core's `skills.desired()` over every skill queue (what `Engine.sync(queues)`
computes before it keeps the one queue) against the same over the edited queue alone.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

from telephony.config import Site
from telephony.freeswitch import names as fs_names
from telephony.freeswitch.port import parse_rows
from telephony.port import PbxPort
from telephony.routing import skills
from telephony.routing.skills import Reach

from .site import Model

ROUNDS = 30


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50": round(ordered[len(ordered) // 2], 2),
        "p99": round(ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))], 2),
    }


async def _time(work: Callable[[], Awaitable[Any]]) -> dict[str, float]:
    values = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        await work()
        values.append((time.perf_counter() - started) * 1000)
    return _percentiles(values)


def _time_sync(work: Callable[[], Any]) -> dict[str, float]:
    values = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        work()
        values.append((time.perf_counter() - started) * 1000)
    return _percentiles(values)


def _optional(module: str, name: str) -> Any:
    """A function of a port module that may not exist in every checkout."""
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None


async def explain(site: Site, port: PbxPort, model: Model) -> dict[str, dict[str, float]]:
    queue = site.queues[0]
    out: dict[str, dict[str, float]] = {}
    out["port.snapshot(one queue), whole"] = await _time(
        lambda: port.snapshot(frozenset({queue.id}))
    )
    client: Any = getattr(port, "client", None)
    if site.pbx.kind.value == "asterisk":
        out["AMI PJSIPShowContacts (every contact)"] = await _time(
            lambda: client.send_list("PJSIPShowContacts")
        )
        devices = _optional("telephony.asterisk.registrations", "registered_devices")
        if devices is not None:
            out["  the same, parsed into registered devices"] = await _time(
                lambda: devices(client)
            )
        out["AMI QueueStatus Queue=<one queue>"] = await _time(
            lambda: client.send_list("QueueStatus", {"Queue": queue.id})
        )
        out["AMI DBGetTree telephony"] = await _time(lambda: client.db_get_tree("telephony"))
    else:
        reg = f"sofia xmlstatus profile {fs_names.PROFILE} reg"
        out["ESL sofia xmlstatus ... reg (every registration)"] = await _time(
            lambda: client.api(reg, check=False)
        )
        parse = _optional("telephony.freeswitch.registrations", "registered_devices")
        if parse is not None:
            text = await client.api(reg, check=False)
            out["  its XML parsed into registered devices"] = _time_sync(lambda: parse(text))
        out["ESL callcenter_config agent list (every agent)"] = await _time(
            lambda: client.api("callcenter_config agent list")
        )
        agents = await client.api("callcenter_config agent list")
        out["  its rows parsed"] = _time_sync(lambda: parse_rows(agents))
        out["ESL callcenter_config queue list tiers <one queue>"] = await _time(
            lambda: client.api(f"callcenter_config queue list tiers {queue.id}")
        )
        out["ESL db select (the version stamp)"] = await _time(
            lambda: client.api("db select/telephony_meta/version")
        )
    reach = {a.id: Reach(True, False) for a in site.agents}
    one = site.model_copy(update={"queues": [queue]})
    out["routing skills.desired(), every skill queue"] = _time_sync(
        lambda: skills.desired(site, model.skills, reach, ())
    )
    out["routing skills.desired(), the edited queue only"] = _time_sync(
        lambda: skills.desired(one, model.skills, reach, ())
    )
    return out
