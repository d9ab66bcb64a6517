"""`telephony run`: the engine process (AMI adapter, roster scheduler, HTTP API)."""

from __future__ import annotations

import asyncio
import logging
import signal
from contextlib import AsyncExitStack

from aiohttp import web

from telephony.ami import (
    AmiAuthError,
    AmiClient,
    AmiConnectionError,
    AmiError,
    AmiFilterError,
    ConnectionState,
    Disconnected,
    Event,
)
from telephony.config.models import Site
from telephony.engine.engine import AMI_EVENTS, Engine
from telephony.routing.clock import Clock, SystemClock
from telephony.web.api import make_app

log = logging.getLogger("telephony.engine")


async def connect(site: Site, stop: asyncio.Event, *, max_backoff: float = 5.0) -> AmiClient | None:
    """Connect to the site's AMI, waiting (with capped backoff) for the PBX to come up.

    Returns None if `stop` is set first. A wrong secret or a refused event filter is
    fatal at once: retrying would never help.

    The connection carries only the events the engine reacts to (`AMI_EVENTS`),
    filtered by Asterisk itself: none for an ordinary hunt-group call, instead of
    about 150 (bench/surge.py --count-events).
    """
    delay = 0.2
    while not stop.is_set():
        client = AmiClient(
            "127.0.0.1", site.pbx.ami_port, site.pbx.ami_username,
            site.pbx.ami_secret.get_secret_value(),
            wanted_events=AMI_EVENTS,
        )
        try:
            await client.connect()
            return client
        except (AmiAuthError, AmiFilterError):
            raise
        except AmiError as exc:
            log.warning("PBX not reachable on 127.0.0.1:%d (%s); retrying in %.1fs",
                        site.pbx.ami_port, exc, delay)
            await client.close()
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

    Raises AmiConnectionError if the PBX refuses the engine's login after a
    reconnect, and OSError if the API address is taken (before the PBX is touched).
    """
    stop = stop or asyncio.Event()
    lost = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with AsyncExitStack() as stack:
            ami = await connect(site, stop)
            if ami is None:
                return
            stack.push_async_callback(ami.close)
            engine = Engine(site, ami, clock or SystemClock())
            runner = web.AppRunner(make_app(engine), access_log=None)
            await runner.setup()
            stack.push_async_callback(runner.cleanup)
            api_host, api_port = host or site.api.host, port or site.api.port
            await web.TCPSite(runner, api_host, api_port).start()
            await engine.start()
            stack.push_async_callback(engine.stop)

            def on_event(event: Event) -> None:
                # The client gives up only when a re-login is refused (a changed secret).
                if isinstance(event, Disconnected) and ami.state is ConnectionState.CLOSED:
                    lost.set()

            stack.callback(ami.subscribe(on_event, names=["Disconnected"]).close)
            log.info("engine running for site %s: API and status page on http://%s:%d/",
                     site.site, api_host, api_port)
            stopped = asyncio.ensure_future(stop.wait())
            gone = asyncio.ensure_future(lost.wait())
            await asyncio.wait({stopped, gone}, return_when=asyncio.FIRST_COMPLETED)
            stopped.cancel()
            gone.cancel()
            if lost.is_set():
                raise AmiConnectionError(f"the PBX no longer lets the engine in: {ami.last_error}")
            log.info("engine stopping")
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def configure_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
