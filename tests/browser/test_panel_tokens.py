"""The agent panel on a site with API tokens, in a real headless chromium: it asks for
the token, keeps it out of the page, and sends it on every request and on the stream."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp.test_utils import TestServer
from browser_support import Chromium, Page

from telephony.config import demo_site_path, parse_site
from telephony.engine.engine import Engine
from telephony.port import MemberState
from telephony.port.memory import MemoryPort
from telephony.routing.clock import ManualClock
from telephony.web.api import make_app

pytestmark = pytest.mark.browser

ASA = "asa-panel-token-0123456789abcdef"
EVA = "eva-supervisor-token-0123456789abcdef"
NOW = datetime(2026, 11, 23, 6, 59, tzinfo=UTC)


@dataclass
class Served:
    url: str
    other: aiohttp.ClientSession
    """A supervisor's client."""

    async def put_state(self, agent: str, body: dict[str, Any]) -> None:
        async with self.other.put(f"{self.url}/api/agents/{agent}/state", json=body,
                                  headers={"Authorization": f"Bearer {EVA}"}) as r:
            assert r.status == 200, await r.text()


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    data = yaml.safe_load(Path(demo_site_path()).read_text(encoding="utf-8"))
    data["api"] = {"port": 8080, "tokens": [
        {"agent": "asa", "token": "${ASA_API_TOKEN}"},
        {"supervisor": "Eva", "token": "${EVA_API_TOKEN}"},
    ]}
    site = parse_site(yaml.safe_dump(data, allow_unicode=True),
                      {"ASA_API_TOKEN": ASA, "EVA_API_TOKEN": EVA})
    port = MemoryPort()
    port.registered = {"asa", "bjorn", "chen"}
    port.phones = {"asa": MemberState.IDLE, "bjorn": MemberState.IDLE, "chen": MemberState.IDLE}
    engine = Engine(site, port, ManualClock(NOW))
    await engine.start()
    server = TestServer(make_app(engine), host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as other:
            yield Served(str(server.make_url("")).rstrip("/"), other)
    finally:
        await server.close()
        await engine.stop()


async def sign_in(page: Page, token: str) -> None:
    await page.wait_for("!document.getElementById('token-form').hidden")
    await page.type("#token", token)
    await page.click("#token-form button[type=submit]")


async def shown_anywhere(page: Page, secret: str) -> list[str]:
    """Where in the page, its address or the browser's lasting storage a secret shows."""
    found: list[str] = await page.evaluate(f"""(() => {{
        const secret = {json.dumps(secret)};
        const places = {{
            page: document.documentElement.outerHTML,
            text: document.body.innerText,
            fields: [...document.querySelectorAll("input")].map(i => i.value).join(" "),
            address: location.href + " " + document.referrer,
            cookies: document.cookie,
            localStorage: JSON.stringify(localStorage),
        }};
        return Object.keys(places).filter(k => places[k].includes(secret));
    }})()""")
    return found


async def test_the_panel_asks_for_a_token_and_never_shows_it(
    browser: Chromium, served: Served
) -> None:
    page = await browser.new_page(width=360, height=740, mobile=True)
    await page.goto(f"{served.url}/panel")
    await sign_in(page, "not-a-token-of-this-site-0000")
    await page.wait_for("document.getElementById('token-why').innerText.includes('not accepted')")
    assert await page.evaluate("document.getElementById('token').value") == ""

    await sign_in(page, ASA)
    await page.wait_for("!document.getElementById('who-form').hidden")
    await page.choose("#who", "asa")
    await page.click("#who-form button[type=submit]")
    await page.wait_for("document.getElementById('live').textContent === 'live'")
    assert await shown_anywhere(page, ASA) == []
    assert await page.evaluate("sessionStorage.getItem('telephony.panel.token')") == ASA

    # My own state, with my token; a supervisor's change to a colleague comes live.
    await page.type("#away-reason", "lunch")
    await page.click("#away-form button[type=submit]")
    await page.wait_for("document.getElementById('me-presence').innerText === 'Away: lunch'")
    await served.put_state("chen", {"state": "focus", "until": "21:35"})
    await page.wait_for("document.querySelector('#people li[data-agent=\"chen\"] .presence')"
                        ".innerText.startsWith('In focus until 21:35')")
    assert await shown_anywhere(page, ASA) == []

    # Signing out forgets the token.
    await page.click("#sign-out")
    await page.wait_for("!document.getElementById('token-form').hidden")
    assert await page.evaluate("sessionStorage.getItem('telephony.panel.token')") is None
    assert page.errors == []


async def test_an_agents_token_changes_no_one_else(browser: Chromium, served: Served) -> None:
    page = await browser.new_page()
    await page.goto(f"{served.url}/panel")
    await sign_in(page, ASA)
    await page.wait_for("!document.getElementById('who-form').hidden")
    await page.choose("#who", "bjorn")  # not whom the token belongs to
    await page.click("#who-form button[type=submit]")
    await page.wait_for("document.getElementById('live').textContent === 'live'")
    await page.click("#focus-form button[type=submit]")
    error = await page.wait_for("!document.getElementById('error').hidden"
                                " && document.getElementById('error').innerText")
    assert error == "asa's token changes only asa's own state, focus and calls"
    assert await shown_anywhere(page, ASA) == []
