"""The agent panel in a real headless chromium, against the engine's API over HTTP.

The engine runs over the in-memory PBX with a clock set by each test, in this process;
the browser talks to it over a real socket, and so does "another client" (a colleague's
browser, a script) whose changes the panel must show without a reload.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from browser_support import Chromium, Page

from telephony.config import demo_site_path, load_site
from telephony.engine.engine import Engine
from telephony.port import LiveCall, MemberState
from telephony.port.memory import MemoryPort
from telephony.routing.clock import ManualClock
from telephony.web.api import make_app

pytestmark = pytest.mark.browser

PHONE = {"width": 360, "height": 740, "mobile": True}
# Monday 07:59 in Stockholm: a minute before Åsa's 08:00-10:00 shift in intake.
BEFORE_EIGHT = datetime(2026, 11, 23, 6, 59, tzinfo=UTC)
CALLER = "+46701234567"


@dataclass
class Served:
    url: str
    engine: Engine
    port: MemoryPort
    clock: ManualClock
    other: aiohttp.ClientSession
    """Another client of the same API (a colleague's browser, a script)."""
    streams: list[web.Request] = field(default_factory=list)
    """Every /api/events request so far, to see its headers or to drop it."""

    async def put_state(self, agent: str, body: dict[str, Any]) -> dict[str, Any]:
        async with self.other.put(f"{self.url}/api/agents/{agent}/state", json=body) as r:
            assert r.status == 200, await r.text()
            answer: dict[str, Any] = await r.json()
            return answer

    async def agent(self, agent: str) -> dict[str, Any]:
        async with self.other.get(f"{self.url}/api/agents/{agent}") as r:
            assert r.status == 200, await r.text()
            answer: dict[str, Any] = await r.json()
            return answer


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    port = MemoryPort()
    port.registered = {"asa", "bjorn", "chen"}
    port.phones = {"asa": MemberState.IDLE, "bjorn": MemberState.IDLE, "chen": MemberState.IDLE}
    clock = ManualClock(BEFORE_EIGHT)
    engine = Engine(load_site(demo_site_path(), {}), port, clock)
    await engine.start()
    app = make_app(engine)
    streams: list[web.Request] = []

    async def note_stream(request: web.Request, response: web.StreamResponse) -> None:
        if request.path == "/api/events":
            request["feed_last"] = engine.feed.last_id  # the newest event as it opened
            streams.append(request)

    app.on_response_prepare.append(note_stream)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as other:
            yield Served(str(server.make_url("")).rstrip("/"), engine, port, clock, other, streams)
    finally:
        await server.close()
        await engine.stop()


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
    pages = [await open_panel(browser, served, "bjorn", timezone=zone)
             for zone in ("America/Los_Angeles", "Asia/Kolkata")]
    served.clock.set(datetime(2026, 11, 23, 7, 0, tzinfo=UTC))  # 08:00: the shifts begin
    for page in pages:
        await page.wait_for(f"document.querySelector('{person('asa')} .presence').innerText"
                            ".startsWith('On duty 08:00–10:00')")
        await page.wait_for(f"document.querySelector('{person('chen')} .presence').innerText"
                            ".startsWith('On duty 08:00–12:00')")
        assert await page.text("#zone") == "Europe/Stockholm"
        assert page.errors == []
    asa = await served.agent("asa")
    assert (asa["since"], asa["until"]) == ("2026-11-23T08:00:00+01:00",
                                            "2026-11-23T10:00:00+01:00")


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
    # With the transfer form shown too.
    served.port.set_phone("asa", MemberState.ON_CALL)
    await page.wait_for("!document.getElementById('transfer-form').hidden")
    assert await page.evaluate("document.documentElement.scrollWidth") == 360
    assert page.errors == []


async def test_the_transfer_button_moves_my_live_call(
    browser: Chromium, served: Served
) -> None:
    page = await open_panel(browser, served, "asa", **PHONE)
    assert await page.evaluate("document.getElementById('transfer-form').hidden") is True
    call = LiveCall("memory/caller-1", "asa", CALLER)
    served.port.live.append(call)
    served.port.set_phone("asa", MemberState.ON_CALL)
    await page.wait_for("!document.getElementById('transfer-form').hidden")
    await page.choose("#transfer-to", "agent:bjorn")
    await page.click("#transfer")
    result = await page.wait_for(
        "document.getElementById('transfer-result').innerText.startsWith('Transferred')"
        " && document.getElementById('transfer-result').innerText"
    )
    assert result == "Transferred to agent:bjorn (1002)."
    assert served.port.transfers == [(call, "1002", False)]
    assert page.errors == []


async def test_a_refused_transfer_says_why(browser: Chromium, served: Served) -> None:
    page = await open_panel(browser, served, "asa")
    # Åsa's phone is busy, but the PBX lists no call of hers to move.
    served.port.set_phone("asa", MemberState.ON_CALL)
    await page.wait_for("!document.getElementById('transfer-form').hidden")
    await page.choose("#transfer-to", "queue:pension")
    await page.click("#transfer")
    result = await page.wait_for(
        "document.getElementById('transfer-result').innerText.startsWith('Not transferred')"
        " && document.getElementById('transfer-result').innerText"
    )
    assert result == "Not transferred: asa is not on a call"
    assert served.port.transfers == []


async def test_after_a_dropped_stream_the_panel_resumes_and_misses_nothing(
    browser: Chromium, served: Served
) -> None:
    page = await open_panel(browser, served, "asa")
    await page.evaluate("window.sameDocument = true")
    [first] = served.streams
    assert "Last-Event-ID" not in first.headers
    assert first.transport is not None
    first.transport.close()  # the connection drops (a proxy, a network change)
    await served.put_state("chen", {"state": "away", "reason": "meeting"})
    await page.wait_for(
        f"document.querySelector('{person('chen')} .presence').innerText === 'Away: meeting'"
    )
    assert len(served.streams) == 2
    # It asked for what came after the last event it had read, and the change it had
    # missed was made before it asked.
    again = served.streams[1]
    resumed = again.headers.get("Last-Event-ID", "")
    assert resumed.isdigit() and int(resumed) < again["feed_last"]
    assert await page.evaluate("window.sameDocument") is True
    assert page.errors == []
