"""Fixtures for the agent panel in a real headless chromium (Debian's `chromium`).

Without a chromium the tests fail; in CI (CI set) always, elsewhere unless
TELEPHONY_ALLOW_SKIP=1 turns that into a skip, as for the PBX tests.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from browser_support import Chromium, find_chromium


@pytest.fixture
def chromium_path() -> str:
    found = find_chromium()
    if found is not None:
        return found
    reason = "no chromium on PATH (Debian: apt-get install chromium; or set TELEPHONY_CHROMIUM)"
    if os.environ.get("CI"):
        pytest.fail(f"the browser tests need chromium in CI: {reason}", pytrace=False)
    if os.environ.get("TELEPHONY_ALLOW_SKIP") == "1":
        pytest.skip(f"{reason} (TELEPHONY_ALLOW_SKIP=1)")
    pytest.fail(f"{reason}; set TELEPHONY_ALLOW_SKIP=1 to skip the browser tests instead",
                pytrace=False)


@pytest.fixture
async def browser(chromium_path: str, tmp_path: Path) -> AsyncIterator[Chromium]:
    chromium = await Chromium.start(chromium_path, tmp_path)
    try:
        yield chromium
    finally:
        await chromium.close()
