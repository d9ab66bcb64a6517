"""The agent panel in a real headless chromium, against the API over HTTP."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from browser_support import Chromium, Page
from stub_api import Stub, serve

pytestmark = pytest.mark.browser

PHONE = {"width": 360, "height": 740, "mobile": True}


@dataclass
class Served:
    url: str
    other: aiohttp.ClientSession
    """Another client of the same API (a colleague's browser, a script)."""
    stub: Stub

    async def put_state(self, agent: str, body: dict[str, Any]) -> dict[str, Any]:
        async with self.other.put(f"{self.url}/api/agents/{agent}/state", json=body) as r:
            assert r.status == 200, await r.text()
            answer: dict[str, Any] = await r.json()
            return answer

    async def agent(self, agent: str) -> dict[str, Any]:
        async with self.other.get(f"{self.url}/api/agents") as r:
            listing = await r.json()
        [found] = [a for a in listing["agents"] if a["id"] == agent]
        return dict(found)


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    stub = Stub()
    urls = serve(stub)
    url = await anext(urls)
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as other:
        yield Served(url, other, stub)
    await urls.aclose()


async def open_panel(browser: Chromium, served: Served, me: str, **view: Any) -> Page:
    page = await browser.new_page(**view)
    await page.goto(f"{served.url}/panel")
    await page.wait_for("!document.getElementById('who-form').hidden")
    await page.choose("#who", me)
    await page.click("#who-form button[type=submit]")
    await page.wait_for("document.getElementById('live').textContent === 'live'")
    return page


def person(agent: str) -> str:
    return f"#people li[data-agent={json.dumps(agent)}]"


async def test_a_change_made_elsewhere_shows_without_a_reload(
    browser: Chromium, served: Served
) -> None:
    page = await open_panel(browser, served, "asa")
    await page.evaluate("window.sameDocument = true")
    await served.put_state("bjorn", {"state": "away", "reason": "lunch"})
    await page.wait_for(
        f"document.querySelector('{person('bjorn')} .presence').innerText === 'Away: lunch'"
    )
    await served.put_state("bjorn", {"state": "back"})
    await page.wait_for(
        f"document.querySelector('{person('bjorn')} .presence').innerText === 'Available'"
    )
    assert await page.evaluate("window.sameDocument") is True
    assert page.errors == []


async def test_focus_set_on_the_panel_reaches_the_api_in_the_sites_time(
    browser: Chromium, served: Served
) -> None:
    # The browser is in Tokyo; the site, and so the panel's times, in Stockholm.
    page = await open_panel(browser, served, "asa", timezone="Asia/Tokyo")
    await page.fill("#focus-until", "21:35")
    await page.click("#focus-form button[type=submit]")
    words = await page.wait_for(
        "document.getElementById('me-presence').innerText.startsWith('In focus until')"
        " && document.getElementById('me-presence').innerText"
    )
    assert words.startswith("In focus until 21:35")
    asa = await served.agent("asa")
    assert (asa["presence"], asa["until"][11:16], asa["until"][19:]) == ("focus", "21:35", "+01:00")
    assert await page.text("#zone") == "Europe/Stockholm"
    await page.click("#back")
    await page.wait_for("!document.getElementById('me-presence').innerText.includes('focus')")
    assert (await served.agent("asa"))["presence"] != "focus"
    assert page.errors == []


async def test_times_read_in_the_sites_zone_whatever_the_browsers(
    browser: Chromium, served: Served
) -> None:
    for zone in ("America/Los_Angeles", "Asia/Kolkata"):
        page = await open_panel(browser, served, "bjorn", timezone=zone)
        await page.wait_for(
            f"document.querySelector('{person('asa')} .presence').innerText"
            ".startsWith('On duty 08:00–10:00')"
        )
        await page.wait_for(
            f"document.querySelector('{person('chen')} .presence').innerText"
            ".startsWith('On duty until 12:00')"
        )
        assert page.errors == []


async def test_colleagues_filtered_by_skill_most_skilled_first(
    browser: Chromium, served: Served
) -> None:
    page = await open_panel(browser, served, "bjorn")
    everyone = "[...document.querySelectorAll('#people > li')].map(li => li.dataset.agent)"
    assert await page.wait_for(f"{everyone}.length === 2 && {everyone}") == ["asa", "chen"]
    await page.choose("#skill", "pension")
    assert await page.wait_for(f"{everyone}[0] === 'chen' && {everyone}") == ["chen", "asa"]
    await page.choose("#skill", "unemployment")
    assert await page.wait_for(f"{everyone}.length === 1 && {everyone}") == ["asa"]
    await page.choose("#skill", "")
    assert await page.wait_for(f"{everyone}.length === 2 && {everyone}") == ["asa", "chen"]


async def test_a_phone_sized_screen_has_no_sideways_scroll(
    browser: Chromium, served: Served
) -> None:
    page = await open_panel(browser, served, "asa", **PHONE)
    await served.put_state("bjorn", {"state": "away", "reason": "x" * 64})
    await page.wait_for(f"document.querySelector('{person('bjorn')} .presence')"
                        ".innerText.includes('xxxx')")
    width = await page.evaluate(
        "[document.documentElement.scrollWidth, document.body.scrollWidth, window.innerWidth]"
    )
    assert width == [360, 360, 360]
    # Every control can be reached and pressed on a phone.
    await page.type("#away-reason", "dentist")
    await page.click("#away-form button[type=submit]")
    await page.wait_for("document.getElementById('me-presence').innerText === 'Away: dentist'")
    assert await page.evaluate("document.documentElement.scrollWidth") == 360
