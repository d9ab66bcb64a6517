"""Where local PBX runners keep their state."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


def default_state_dir(env: Mapping[str, str] | None = None, home: Path | None = None) -> Path:
    """$TELEPHONY_HOME, else $XDG_CACHE_HOME/telephony, else ~/.cache/telephony."""
    env = os.environ if env is None else env
    if env.get("TELEPHONY_HOME"):
        return Path(env["TELEPHONY_HOME"])
    if env.get("XDG_CACHE_HOME"):
        return Path(env["XDG_CACHE_HOME"]) / "telephony"
    return (Path.home() if home is None else home) / ".cache" / "telephony"
