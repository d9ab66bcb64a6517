"""Capped exponential backoff with jitter, for reconnect attempts."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delay before reconnect attempt ``n`` (1-based): ``minimum * 2**(n-1)``, at most
    ``maximum``, times a random factor in [0.5, 1.0).

    The jitter spreads many clients reconnecting to one restarted PBX; the cap keeps a
    long outage from pushing the next try minutes away.
    """

    minimum: float = 0.1
    maximum: float = 5.0

    def __post_init__(self) -> None:
        if not 0 < self.minimum <= self.maximum:
            raise ValueError(f"Backoff needs 0 < minimum <= maximum, not {self}")

    def delay(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait before attempt number ``attempt``."""
        base: float = min(self.maximum, self.minimum * 2.0 ** min(attempt - 1, 62))
        return base * (0.5 + 0.5 * rand())
