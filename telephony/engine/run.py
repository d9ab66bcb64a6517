"""`telephony run`: the engine process (PBX port, roster scheduler, HTTP API)."""

from __future__ import annotations

import asyncio
import logging
import signal
from contextlib import AsyncExitStack

from aiohttp import web

from telephony.config.models import PbxKind, Site
from telephony.engine.engine import Engine
from telephony.port import Change, ChangeKind, PbxAuthError, PbxPort, PbxUnavailable
from telephony.routing.clock import Clock, SystemClock
from telephony.web.api import make_app

log = logging.getLogger("telephony.engine")


class PbxGone(Exception):
    """The PBX stopped letting the engine in (a changed secret): restart needed."""


async def open_port(site: Site) -> PbxPort:
    """One connection to the site's PBX, whichever kind it is.

    Raises PbxAuthError for credentials (or an event filter) the PBX refuses, and
    PbxUnavailable when it cannot be reached.
    """
    if site.pbx.kind is PbxKind.ASTERISK:
        from telephony.asterisk.port import AsteriskPort

        return await AsteriskPort.connect(site)
    from telephony.freeswitch.port import FreeswitchPort

    return await FreeswitchPort.connect(site)


async def connect(site: Site, stop: asyncio.Event, *, max_backoff: float = 5.0) -> PbxPort | None:
    """Connect to the site's PBX, waiting (with capped backoff) for it to come up.

    Returns None if `stop` is set first. Refused credentials are fatal at once:
    retrying would never help.
    """
    delay = 0.2
    while not stop.is_set():
        try:
            return await open_port(site)
        except PbxAuthError:
            raise
        except PbxUnavailable as exc:
            log.warning("PBX not reachable on 127.0.0.1:%d (%s); retrying in %.1fs",
                        site.pbx.control_port, exc, delay)
        try:
            await asyncio.wait_for(stop.wait(), delay)
        except TimeoutError:
            pass
        delay = min(max_backoff, delay * 2)
    return None


async def serve(
    site: Site,
    *,
    host: str | None = None,
    port: int | None = None,
    clock: Clock | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Run the engine and its API until `stop` is set (or SIGINT/SIGTERM).

    Raises PbxAuthError if the PBX refuses the engine's credentials, PbxGone if it
    stops letting the engine in after a reconnect, and OSError if the API address is
    taken.
    """
    stop = stop or asyncio.Event()
    lost = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with AsyncExitStack() as stack:
            pbx = await connect(site, stop)
            if pbx is None:
                return
            stack.push_async_callback(pbx.close)
            engine = Engine(site, pbx, clock or SystemClock())
            runner = web.AppRunner(make_app(engine), access_log=None)
            await runner.setup()
            stack.push_async_callback(runner.cleanup)
            api_host, api_port = host or site.api.host, port or site.api.port
            await web.TCPSite(runner, api_host, api_port).start()
            await engine.start()
            stack.push_async_callback(engine.stop)

            def on_change(change: Change) -> None:
                if change.kind is ChangeKind.GONE:
                    lost.set()

            stack.callback(pbx.watch(on_change).close)
            log.info("engine running for site %s on %s: API and status page on http://%s:%d/",
                     site.site, pbx.name, api_host, api_port)
            stopped = asyncio.ensure_future(stop.wait())
            gone = asyncio.ensure_future(lost.wait())
            await asyncio.wait({stopped, gone}, return_when=asyncio.FIRST_COMPLETED)
            stopped.cancel()
            gone.cancel()
            if lost.is_set():
                raise PbxGone("the PBX no longer lets the engine in")
            log.info("engine stopping")
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def configure_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
