"""Checks for the whole suite."""

from __future__ import annotations

import os
from pathlib import Path

import telephony

CHECKOUT = Path(__file__).resolve().parents[1]


def pytest_sessionstart() -> None:
    # CI runs the suite a second time against the wheel installed in a fresh venv;
    # a `telephony` imported from this checkout would prove nothing about the wheel.
    if os.environ.get("TELEPHONY_TEST_INSTALLED") == "1":
        package = Path(telephony.__file__).resolve()
        if CHECKOUT in package.parents:
            raise RuntimeError(
                f"TELEPHONY_TEST_INSTALLED=1 but telephony was imported from the checkout "
                f"({package}); run the installed pytest from outside the checkout"
            )
