"""The agent panel's files, as the engine serves them from the installed package.

What the page does is tested in a real chromium (tests/browser); here: that it is
served, self-contained (nothing fetched from elsewhere, no inline script) and under a
Content-Security-Policy that lets it run only its own script and talk only to us.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from aiohttp.test_utils import TestClient, TestServer

from telephony.config import demo_site_path, load_site
from telephony.engine.engine import Engine
from telephony.port.memory import MemoryPort
from telephony.routing.clock import ManualClock
from telephony.web.api import make_app

Client = TestClient[object, object]


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    engine = Engine(load_site(demo_site_path(), {}), MemoryPort(),
                    ManualClock(datetime(2026, 11, 23, 8, 0, tzinfo=UTC)))
    async with TestClient(TestServer(make_app(engine), host="127.0.0.1")) as test_client:
        yield test_client


@pytest.mark.parametrize(("path", "content_type"), [
    ("/panel", "text/html"),
    ("/panel/panel.js", "text/javascript"),
    ("/panel/panel.css", "text/css"),
])
async def test_the_panel_is_served_without_a_token_under_a_strict_policy(
    client: Client, path: str, content_type: str
) -> None:
    response = await client.get(path)
    assert response.status == 200
    assert response.content_type == content_type
    assert response.charset == "utf-8"
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy
    assert "script-src 'self';" in policy and "connect-src 'self';" in policy
    assert "unsafe-inline" not in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_the_page_fetches_nothing_from_elsewhere_and_runs_no_inline_script(
    client: Client,
) -> None:
    html = await (await client.get("/panel")).text()
    script = await (await client.get("/panel/panel.js")).text()
    css = await (await client.get("/panel/panel.css")).text()
    assert re.findall(r'(?:src|href)="([^"]*)"', html) == ["/panel/panel.css", "/panel/panel.js"]
    assert re.findall(r"<script\b[^>]*>([^<]*)</script>", html) == [""]  # no inline script
    assert re.findall(r"\son[a-z]+=|\sstyle=", html) == []  # no handlers or styles inline
    for text in (html, script, css):
        assert "http://" not in text and "https://" not in text and "//cdn" not in text
        assert "@import" not in text


async def test_the_script_writes_no_markup_and_reads_the_stream_with_fetch(
    client: Client,
) -> None:
    script = await (await client.get("/panel/panel.js")).text()
    # Names, notes and reasons come from the API: shown as text, never parsed as HTML.
    assert "innerHTML" not in script and "document.write" not in script
    # EventSource cannot send the Authorization header.
    assert "new EventSource" not in script
    assert 'fetch("/api/events"' in script and "Last-Event-ID" in script
