from __future__ import annotations

from pathlib import Path

import pytest
import yaml

DEMO = Path(__file__).resolve().parents[2] / "telephony" / "examples" / "demo-site.yaml"


@pytest.fixture
def demo_data() -> dict[str, object]:
    """The demo site as plain data, for tests that break one field of it."""
    data = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data
