"""`telephony run`: the engine process (AMI adapter, roster scheduler, HTTP API)."""

from __future__ import annotations

import asyncio
import logging
import signal
from contextlib import AsyncExitStack

from aiohttp import web

from telephony.ami import AmiAuthError, AmiClient, AmiError
from telephony.config.models import Site
from telephony.engine.engine import Engine
from telephony.routing.clock import Clock, SystemClock
from telephony.web.api import make_app

log = logging.getLogger("telephony.engine")


async def connect(site: Site, *, max_backoff: float = 5.0) -> AmiClient:
    """Connect to the site's AMI, waiting (with capped backoff) for the PBX to come up.

    A wrong secret is fatal at once: retrying would never help.
    """
    delay = 0.2
    while True:
        client = AmiClient(
            "127.0.0.1", site.pbx.ami_port, site.pbx.ami_username,
            site.pbx.ami_secret.get_secret_value(),
        )
        try:
            await client.connect()
            return client
        except AmiAuthError:
            raise
        except AmiError as exc:
            log.warning("PBX not reachable on 127.0.0.1:%d (%s); retrying in %.1fs",
                        site.pbx.ami_port, exc, delay)
            await client.close()
            await asyncio.sleep(delay)
            delay = min(max_backoff, delay * 2)


async def serve(
    site: Site,
    *,
    host: str | None = None,
    port: int | None = None,
    clock: Clock | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Run the engine and its API until `stop` is set (or SIGINT/SIGTERM)."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with AsyncExitStack() as stack:
        ami = await connect(site)
        stack.push_async_callback(ami.close)
        engine = Engine(site, ami, clock or SystemClock())
        await engine.start()
        stack.push_async_callback(engine.stop)
        runner = web.AppRunner(make_app(engine), access_log=None)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        api_host, api_port = host or site.api.host, port or site.api.port
        await web.TCPSite(runner, api_host, api_port).start()
        log.info("engine running for site %s: API and status page on http://%s:%d/",
                 site.site, api_host, api_port)
        await stop.wait()
        log.info("engine stopping")
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.remove_signal_handler(sig)


def configure_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
