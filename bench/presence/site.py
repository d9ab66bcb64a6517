"""The bench's own site: one watched agent and a phone per subscriber.

Every subscriber is a device of its own (an agent with one softphone), as on a real
site where each colleague's phone watches the agent: the engine and the PBX see as many
registered devices as there are subscribers, not one device holding every
subscription.
"""

from __future__ import annotations

from typing import Any

SITE_ID = "presence-bench"
# The site's AMI / Event Socket secret: loopback only, for this bench's own PBX.
CONTROL_SECRET = "presence-bench-secret"
WATCHED = "watched"
WATCHED_EXTENSION = "2001"


def device_id(agent: str) -> str:
    return f"{agent}-soft"


def subscriber_id(index: int) -> str:
    return f"sub{index:03d}"


def site_data(kind: str, subscribers: int, api_port: int) -> dict[str, Any]:
    """The watched agent (extension 2001) and `subscribers` agents with a softphone each."""
    people = [{
        "id": WATCHED, "name": "Watched Agent", "extension": WATCHED_EXTENSION,
        "direct_line": "+46855520001",
        "devices": [{"id": device_id(WATCHED), "kind": "softphone", "password": "watched-pw"}],
    }]
    for i in range(subscribers):
        agent = subscriber_id(i)
        people.append({
            "id": agent, "name": f"Subscriber {i:03d}", "extension": str(3000 + i),
            "direct_line": f"+4685553{i:04d}",
            "devices": [{"id": device_id(agent), "kind": "softphone",
                         "password": f"presence-pw-{i:03d}"}],
        })
    return {
        "site": SITE_ID,
        "timezone": "Europe/Stockholm",
        "pbx": {"kind": kind, "sip_port": 5060, "control_username": "telephony",
                "control_secret": CONTROL_SECRET},
        "api": {"host": "127.0.0.1", "port": api_port},
        "agents": people,
        "trunks": [{"id": "pstn", "match_ip": ["127.0.0.2/32"]}],
    }
