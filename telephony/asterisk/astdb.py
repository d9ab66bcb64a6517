"""Where the engine's keys live in Asterisk's AstDB (read by extensions.conf).

A neutral `Key(family, parts)` is the AstDB family `telephony/<family>/<parts but the
last>` and the key `<last part>`:

- `telephony/focus/<agent>` = focus end (the dialplan compares it with `${EPOCH}`)
- `telephony/case/<caller number>` = agent
- `telephony/away/<agent>` = why the agent is away (the engine's alone)
- `telephony/override/<group>/<agent>` `member` | `pause` = manual change
- `telephony/callback/<queue>/<caller number>` = when the caller joined the skill
  queue (Unix seconds): written by the dialplan when the caller pressed the callback key
"""

from __future__ import annotations

from telephony.port.model import Family, Key

ROOT = "telephony"
# The families the dialplan reads directly.
FOCUS = f"{ROOT}/{Family.FOCUS.value}"
CASE = f"{ROOT}/{Family.CASE.value}"
# The family the dialplan writes.
CALLBACK = f"{ROOT}/{Family.CALLBACK.value}"
# The phone keys (extensions.conf, tel-keys) write overrides and focus, and read away.
OVERRIDE = f"{ROOT}/{Family.OVERRIDE.value}"
AWAY = f"{ROOT}/away"

_FAMILIES = {f.value: f for f in Family}


def location(key: Key) -> tuple[str, str]:
    """(AstDB family, AstDB key) of a neutral key."""
    *head, last = key.parts
    return "/".join((ROOT, key.family.value, *head)), last


def key_of(path: str) -> Key | None:
    """The neutral key of an AstDB path under `telephony/` (relative or `/telephony/...`),
    or None for anything that is not one of ours."""
    parts = path.strip("/").split("/")
    if parts and parts[0] == ROOT:
        parts = parts[1:]
    if len(parts) < 2 or parts[0] not in _FAMILIES or not all(parts[1:]):
        return None
    return Key(_FAMILIES[parts[0]], tuple(parts[1:]))
