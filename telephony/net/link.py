"""One TCP connection as a thin asyncio protocol (asyncpg ``protocol.pyx`` style).

``data_received`` only hands the bytes to the client's callback, which feeds its
sans-I/O core; ``connection_lost`` resolves :attr:`Link.lost` once and tells the
client. A client that finds the peer's bytes malformed calls :meth:`Link.fail`,
which keeps the error as the loss's cause and aborts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

__all__ = ["Link"]


class Link(asyncio.Protocol):
    """A connection's transport, its ``lost`` future and when it last heard from the peer."""

    def __init__(
        self,
        on_data: Callable[[Link, bytes], None],
        on_lost: Callable[[Link, Exception | None], None],
    ) -> None:
        self._on_data = on_data
        self._on_lost = on_lost
        self._loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.lost: asyncio.Future[None] = self._loop.create_future()
        #: loop time of the last bytes received (or of the connect)
        self.last_rx = self._loop.time()
        #: why the client dropped the connection itself (a protocol error), if it did
        self.error: BaseException | None = None

    @classmethod
    async def open(
        cls,
        host: str,
        port: int,
        on_data: Callable[[Link, bytes], None],
        on_lost: Callable[[Link, Exception | None], None],
    ) -> Link:
        """Connect to ``host:port``; raises ``OSError`` as the loop does."""
        loop = asyncio.get_running_loop()
        _, link = await loop.create_connection(lambda: cls(on_data, on_lost), host, port)
        return link

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.last_rx = self._loop.time()

    def data_received(self, data: bytes) -> None:
        self.last_rx = self._loop.time()
        self._on_data(self, data)

    def eof_received(self) -> bool | None:
        return None  # close the transport; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)
        self._on_lost(self, exc)

    @property
    def closing(self) -> bool:
        """True once the transport is closing or gone (writes would be lost)."""
        return self.transport is None or self.transport.is_closing() or self.lost.done()

    def write(self, data: bytes) -> None:
        """Write ``data``; the caller checks :attr:`closing` first and raises its own error."""
        assert self.transport is not None
        self.transport.write(data)

    def fail(self, error: BaseException) -> None:
        """Drop the connection because of ``error`` (kept as the loss's cause)."""
        if self.error is None:
            self.error = error
        self.abort()

    def abort(self) -> None:
        """Close at once, discarding unsent data."""
        if self.transport is not None:
            self.transport.abort()

    async def close(self, timeout: float = 1.0) -> None:
        """Close gracefully (unsent data flushed) and wait up to ``timeout`` s; then abort."""
        if self.transport is None:
            return
        self.transport.close()
        try:
            async with asyncio.timeout(timeout):
                await asyncio.shield(self.lost)
        except TimeoutError:
            self.transport.abort()
