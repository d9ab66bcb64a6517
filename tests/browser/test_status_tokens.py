"""The status page (`/`) on a site with API tokens, in a real headless chromium: it loads
without a token, asks for one, sends it on every request and never shows it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from aiohttp.test_utils import TestServer
from browser_support import Chromium, Page

from telephony.config import demo_site_path, parse_site
from telephony.engine.engine import Engine
from telephony.port.memory import MemoryPort
from telephony.routing.clock import ManualClock
from telephony.web.api import make_app

pytestmark = pytest.mark.browser

EVA = "eva-status-token-0123456789abcdef"
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


@pytest.fixture(params=[True], ids=["tokens"])
async def url(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    data = yaml.safe_load(Path(demo_site_path()).read_text(encoding="utf-8"))
    data["api"] = {"port": 8080}
    if request.param:
        data["api"]["tokens"] = [{"supervisor": "Eva", "token": "${EVA_API_TOKEN}"}]
    site = parse_site(yaml.safe_dump(data, allow_unicode=True), {"EVA_API_TOKEN": EVA})
    engine = Engine(site, MemoryPort(), ManualClock(NOW))
    await engine.start()
    server = TestServer(make_app(engine), host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()
        await engine.stop()


async def sign_in(page: Page, token: str) -> None:
    await page.wait_for("!document.getElementById('signin').hidden")
    await page.type("#token", token)
    await page.click("#signin button")


async def shown_anywhere(page: Page, secret: str) -> list[str]:
    found: list[str] = await page.evaluate(f"""(() => {{
        const secret = {json.dumps(secret)};
        const places = {{
            page: document.documentElement.outerHTML,
            fields: [...document.querySelectorAll("input")].map(i => i.value).join(" "),
            address: location.href,
            cookies: document.cookie,
            localStorage: JSON.stringify(localStorage),
        }};
        return Object.keys(places).filter(k => places[k].includes(secret));
    }})()""")
    return found


async def test_the_status_page_asks_for_a_token_and_never_shows_it(
    browser: Chromium, url: str
) -> None:
    page = await browser.new_page()
    await page.goto(f"{url}/")
    await sign_in(page, "not-a-token-of-this-site-0000")
    await page.wait_for("document.getElementById('err').innerText === 'that token is not valid'")

    await sign_in(page, EVA)
    await page.wait_for("document.getElementById('site').innerText === 'fund-demo'")
    assert await page.evaluate("document.getElementById('signin').hidden") is True
    # A supervisor's change, with the token: Åsa goes into focus.
    await page.click("#agents tbody tr:first-child button")
    await page.wait_for("document.querySelector('#agents tbody tr:first-child .focus')"
                        ".innerText.startsWith('in focus')")
    assert await shown_anywhere(page, EVA) == []

    await page.click("#signout button")
    await page.wait_for("!document.getElementById('signin').hidden")
    assert await page.evaluate("sessionStorage.getItem('telephony.status.token')") is None
    assert page.errors == []


@pytest.mark.parametrize("url", [False], ids=["no tokens"], indirect=True)
async def test_without_tokens_the_status_page_asks_for_none(browser: Chromium, url: str) -> None:
    page = await browser.new_page()
    await page.goto(f"{url}/")
    await page.wait_for("document.getElementById('site').innerText === 'fund-demo'")
    assert await page.evaluate("document.getElementById('signin').hidden") is True
    assert await page.evaluate("document.querySelector('#signout').hidden") is True
    assert page.errors == []
