"""A real headless chromium driven over the DevTools protocol, for the browser tests.

Debian's `chromium` is started with `--remote-debugging-pipe`: requests go to it on
file descriptor 3 and answers and events come back on 4, as NUL-terminated JSON (no
port to find, no driver binary to match). One page per test, attached in flat mode.
Every wait is bounded: a request answers within `REPLY_TIMEOUT`, and `Page.wait_for`
waits for a condition in the page with a MutationObserver up to its timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPLY_TIMEOUT = 15.0
START_TIMEOUT = 30.0


class BrowserError(Exception):
    """The browser refused a request, died, or a condition in the page never held."""


def find_chromium() -> str | None:
    """The chromium to drive: $TELEPHONY_CHROMIUM, else `chromium` on PATH."""
    named = os.environ.get("TELEPHONY_CHROMIUM")
    if named:
        return shutil.which(named)
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Chromium:
    """One headless browser process and its DevTools pipe."""

    def __init__(
        self,
        process: asyncio.subprocess.Process,
        reader: asyncio.StreamReader,
        writer: asyncio.WriteTransport,
        log: Path,
    ) -> None:
        self._process = process
        self._reader = reader
        self._writer = writer
        self.log = log
        self._next_id = 0
        self._replies: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._listeners: list[Callable[[dict[str, Any]], None]] = []
        self._pump = asyncio.create_task(self._read(), name="chromium-devtools")

    def __repr__(self) -> str:
        return f"<Chromium pid={self._process.pid} returncode={self._process.returncode}>"

    @classmethod
    async def start(cls, executable: str, workdir: Path) -> Chromium:
        profile = workdir / "profile"
        profile.mkdir(parents=True, exist_ok=True)
        log = workdir / "chromium.log"
        to_browser_r, to_browser_w = os.pipe()
        from_browser_r, from_browser_w = os.pipe()

        def on_fds_3_and_4() -> None:
            # In the child: copy first (either end may sit on 3 or 4), then place.
            read_end, write_end = os.dup(to_browser_r), os.dup(from_browser_w)
            os.dup2(read_end, 3)
            os.dup2(write_end, 4)

        # No sandbox: it refuses to run as root and needs user namespaces a CI container
        # may not give; the browser only ever loads our own page from loopback.
        args = [
            executable, "--headless", "--no-sandbox", "--remote-debugging-pipe",
            f"--user-data-dir={profile}",
            "--no-first-run", "--no-default-browser-check", "--disable-gpu",
            "--disable-dev-shm-usage", "--disable-extensions", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--mute-audio", "about:blank",
        ]
        with log.open("wb") as log_file:
            process = await asyncio.create_subprocess_exec(
                *args, stdin=asyncio.subprocess.DEVNULL, stdout=log_file, stderr=log_file,
                pass_fds=(3, 4), preexec_fn=on_fds_3_and_4,
            )
        os.close(to_browser_r)
        os.close(from_browser_w)
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=64 * 1024 * 1024)
        await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(from_browser_r, "rb", 0)
        )
        writer, _ = await loop.connect_write_pipe(
            asyncio.Protocol, os.fdopen(to_browser_w, "wb", 0)
        )
        browser = cls(process, reader, writer, log)
        try:
            await browser.send("Browser.getVersion", timeout=START_TIMEOUT)
        except BaseException:
            await browser.close()
            raise
        return browser

    async def _read(self) -> None:
        error: BaseException = BrowserError(f"chromium closed its DevTools pipe (log: {self.log})")
        try:
            while True:
                try:
                    frame = await self._reader.readuntil(b"\0")
                except asyncio.IncompleteReadError:
                    break
                message = json.loads(frame[:-1])
                if "id" in message:
                    future = self._replies.pop(message["id"], None)
                    if future is not None and not future.done():
                        future.set_result(message)
                else:
                    for listener in list(self._listeners):
                        listener(message)
        except (ValueError, asyncio.LimitOverrunError, OSError) as exc:  # a garbled frame
            error = BrowserError(f"reading from chromium: {exc!r}")
            error.__cause__ = exc
        for future in self._replies.values():
            if not future.done():
                future.set_exception(error)
        self._replies.clear()

    def listen(self, listener: Callable[[dict[str, Any]], None]) -> None:
        self._listeners.append(listener)

    async def send(
        self, method: str, params: dict[str, Any] | None = None, *,
        session: str | None = None, timeout: float = REPLY_TIMEOUT,
    ) -> dict[str, Any]:
        if self._pump.done():
            raise BrowserError(f"chromium is gone (log: {self.log})")
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._replies[self._next_id] = future
        self._writer.write(json.dumps(message).encode() + b"\0")
        try:
            reply = await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise BrowserError(f"{method}: no answer from chromium within {timeout} s") from None
        finally:
            self._replies.pop(message["id"], None)
        if "error" in reply:
            raise BrowserError(f"{method}: {reply['error'].get('message')}")
        result: dict[str, Any] = reply.get("result", {})
        return result

    async def new_page(
        self, *, width: int = 1024, height: int = 800, mobile: bool = False,
        timezone: str | None = None,
    ) -> Page:
        # Each page in a context of its own: no storage shared with another page.
        context = await self.send("Target.createBrowserContext", {"disposeOnDetach": True})
        target = await self.send("Target.createTarget", {
            "url": "about:blank", "browserContextId": context["browserContextId"],
        })
        attached = await self.send(
            "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}
        )
        page = Page(self, target["targetId"], attached["sessionId"])
        self.listen(page._on_message)
        await page.send("Page.enable")
        await page.send("Runtime.enable")
        await page.send("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile,
        })
        if mobile:
            await page.send("Emulation.setTouchEmulationEnabled", {"enabled": True})
        if timezone is not None:
            await page.send("Emulation.setTimezoneOverride", {"timezoneId": timezone})
        return page

    async def close(self) -> None:
        """Ask the browser to close, kill it if it will not, and always reap it."""
        try:
            with contextlib.suppress(BrowserError):
                await self.send("Browser.close", timeout=5)
            await asyncio.wait_for(self._process.wait(), 10)
        except (TimeoutError, asyncio.CancelledError):
            self._process.kill()
            await self._process.wait()
            raise
        finally:
            if self._process.returncode is None:
                self._process.kill()
                await self._process.wait()
            self._writer.close()
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump


_WAIT_JS = """
(check, ms, what) => new Promise((resolve, reject) => {
  let observer = null;
  const timer = setTimeout(() => {
    if (observer) observer.disconnect();
    reject(new Error("timed out after " + ms + " ms waiting for " + what));
  }, ms);
  const test = () => {
    let value;
    try { value = check(); } catch (e) { value = undefined; }
    if (!value) return false;
    clearTimeout(timer);
    if (observer) observer.disconnect();
    resolve(value);
    return true;
  };
  if (!test()) {
    observer = new MutationObserver(test);
    observer.observe(document, {subtree: true, childList: true, characterData: true, attributes: true});
  }
})
"""


class Page:
    """One tab: navigate, evaluate, wait for the DOM, click and type as a person does."""

    def __init__(self, browser: Chromium, target: str, session: str) -> None:
        self._browser = browser
        self.target = target
        self.session = session
        self.errors: list[str] = []  # uncaught exceptions and console errors in the page
        self._loaded: asyncio.Event = asyncio.Event()

    def __repr__(self) -> str:
        return f"<Page target={self.target}>"

    def _on_message(self, message: dict[str, Any]) -> None:
        if message.get("sessionId") != self.session:
            return
        method, params = message.get("method"), message.get("params", {})
        if method == "Page.loadEventFired":
            self._loaded.set()
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            described = details.get("exception", {}).get("description") or details.get("text")
            self.errors.append(f"exception: {described}")
        elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
            self.errors.append(
                "console.error: " + " ".join(str(a.get("value", a.get("description")))
                                             for a in params.get("args", []))
            )

    async def send(self, method: str, params: dict[str, Any] | None = None,
                   timeout: float = REPLY_TIMEOUT) -> dict[str, Any]:
        return await self._browser.send(method, params, session=self.session, timeout=timeout)

    async def goto(self, url: str, timeout: float = REPLY_TIMEOUT) -> None:
        self._loaded.clear()
        navigated = await self.send("Page.navigate", {"url": url})
        if navigated.get("errorText"):
            raise BrowserError(f"{url}: {navigated['errorText']}")
        try:
            await asyncio.wait_for(self._loaded.wait(), timeout)
        except TimeoutError:
            raise BrowserError(f"{url}: not loaded within {timeout} s") from None

    async def evaluate(self, expression: str, timeout: float = REPLY_TIMEOUT) -> Any:
        """The value of a JavaScript expression (awaited when it is a promise)."""
        result = await self.send("Runtime.evaluate", {
            "expression": expression, "awaitPromise": True, "returnByValue": True,
            "userGesture": True,
        }, timeout=timeout)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            described = details.get("exception", {}).get("description") or details.get("text")
            raise BrowserError(str(described))
        return result["result"].get("value")

    async def wait_for(self, condition: str, timeout: float = 10.0) -> Any:
        """Wait until a JavaScript expression is truthy (checked on every DOM change),
        and return its value; BrowserError naming it when it stays false."""
        ms = int(timeout * 1000)
        expression = f"({_WAIT_JS})(() => ({condition}), {ms}, {json.dumps(condition)})"
        return await self.evaluate(expression, timeout=timeout + 5)

    async def text(self, selector: str) -> str:
        value = await self.evaluate(
            f"(document.querySelector({json.dumps(selector)}) || {{}}).innerText"
        )
        return "" if value is None else str(value)

    async def _centre(self, selector: str) -> tuple[float, float]:
        box = await self.wait_for(
            f"""(() => {{
                const node = document.querySelector({json.dumps(selector)});
                if (!node || node.disabled) return null;
                node.scrollIntoView({{block: "center"}});
                const r = node.getBoundingClientRect();
                return r.width && r.height ? [r.left + r.width / 2, r.top + r.height / 2] : null;
            }})()"""
        )
        return float(box[0]), float(box[1])

    async def click(self, selector: str) -> None:
        """A real mouse click at the middle of the element (once it is shown)."""
        x, y = await self._centre(selector)
        for kind in ("mousePressed", "mouseReleased"):
            await self.send("Input.dispatchMouseEvent", {
                "type": kind, "x": x, "y": y, "button": "left", "clickCount": 1,
            })

    async def type(self, selector: str, text: str) -> None:
        """Click into a field, empty it and type the text."""
        await self.click(selector)
        await self.evaluate(f"document.querySelector({json.dumps(selector)}).select()")
        await self.send("Input.insertText", {"text": text})

    async def fill(self, selector: str, value: str) -> None:
        """Set a field as its picker would (a time or date field takes no typed text over
        DevTools): focus, value, then the input and change events."""
        await self._centre(selector)
        await self.evaluate(f"""(() => {{
            const field = document.querySelector({json.dumps(selector)});
            field.focus();
            field.value = {json.dumps(value)};
            if (field.value !== {json.dumps(value)}) throw new Error("refused " + {json.dumps(value)});
            field.dispatchEvent(new Event("input", {{bubbles: true}}));
            field.dispatchEvent(new Event("change", {{bubbles: true}}));
        }})()""")

    async def choose(self, selector: str, value: str) -> None:
        """Pick an option of a <select> as a person would (the change event fires)."""
        await self._centre(selector)
        await self.evaluate(f"""(() => {{
            const select = document.querySelector({json.dumps(selector)});
            select.focus();
            select.value = {json.dumps(value)};
            if (select.value !== {json.dumps(value)}) throw new Error("no option " + {json.dumps(value)});
            select.dispatchEvent(new Event("input", {{bubbles: true}}));
            select.dispatchEvent(new Event("change", {{bubbles: true}}));
        }})()""")
