"""Small report helpers shared by the call-latency benchmarks."""

from __future__ import annotations

import math
import os
import re
import subprocess


def sipp_version() -> str:
    try:
        out = subprocess.run(
            [os.environ.get("TELEPHONY_SIPP") or "sipp", "-v"],
            check=False, capture_output=True, text=True, timeout=5,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    match = re.search(r"SIPp (v[^\s,]+?)\.?(?:\s|$)", out)
    return match.group(1) if match else "?"


def ci(interval: tuple[float, float]) -> str:
    return f"{interval[0]:.3f}-{interval[1]:.3f}"


def verdict(ok: bool) -> str:
    return "MET" if ok else "MISSED"


def calls_for(n: int, ratio: float, interval: tuple[float, float], within: float = 0.05) -> int:
    """Calls per variant for a 95 % interval of +-`within` around the ratio, scaled from
    the interval `n` calls gave (its half-width shrinks as 1/sqrt(n))."""
    half = (interval[1] - interval[0]) / 2.0 / ratio if ratio > 0 else math.nan
    if not math.isfinite(half) or half <= 0:
        return 0
    return math.ceil(n * (half / within) ** 2)
