"""Connection lifecycle shared by the AMI and Event Socket clients.

States (:class:`ConnectionState`): ``NEW -> CONNECTING -> ACTIVE``; a lost
connection goes ``ACTIVE -> RECONNECTING -> ACTIVE`` (capped exponential backoff
with jitter), or to ``CLOSED`` without reconnect; ``close()`` or a final error
leads to ``CLOSED``. Changes of state by connect/close run under one lock
(httpcore keeps its connection state the same way).

The :class:`Lifecycle` owns what does not depend on the protocol:

* ``connect()``: one attempt (the session dials and logs in), then the supervisor
  starts and subscribers hear the session's Connected event, then the events read
  during login, in order;
* the supervisor: while a connection is up, probe it when idle for
  ``probe_interval`` s (no answer aborts it); after a loss, reconnect with
  :class:`Backoff` until it works, ``close()`` is called, or the session calls the
  error final (a refused password: retrying cannot change it) - then ``CLOSED``
  and a Disconnected event saying why;
* a loss: every pending request fails with the client's connection error, the
  cause chained (never re-sent: only the caller knows whether a command may run
  twice), subscribers hear Disconnected, waiters fail if there will be no
  reconnect;
* ``close()``: a polite goodbye (bounded), the socket closed (abort after 1 s),
  pending requests and waiters failed, subscriber tasks cancelled and awaited.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from telephony.net.backoff import Backoff
from telephony.net.hub import EventHub
from telephony.net.link import Link

__all__ = ["ConnectionState", "ErrorTypes", "Lifecycle", "Session"]

E = TypeVar("E")
E_co = TypeVar("E_co", covariant=True)


class ConnectionState(enum.Enum):
    """Where a client is in its connection lifecycle."""

    NEW = "NEW"
    CONNECTING = "CONNECTING"
    ACTIVE = "ACTIVE"
    RECONNECTING = "RECONNECTING"
    CLOSED = "CLOSED"


@dataclass(frozen=True, slots=True)
class ErrorTypes:
    """A client's own exception types, so its callers see its vocabulary only.

    ``base``: every error of the client (misuse such as connecting twice raises
    it); ``connection``: built with a message for pending requests and waiters
    when the connection goes.
    """

    base: type[Exception]
    connection: Callable[[str], Exception]


class Session(Protocol[E_co]):
    """What a protocol client tells its :class:`Lifecycle`."""

    async def open(self) -> None:
        """One attempt: dial (through :meth:`Lifecycle.dial`), greet, log in, set up.

        Raises the client's errors (or ``OSError``) on failure; the lifecycle then
        aborts the half-open link and forgets events read meanwhile.
        """

    async def probe(self) -> None:
        """Ask the peer something cheap; raise a ``TimeoutError`` if it does not answer."""

    async def goodbye(self) -> None:
        """Say goodbye on the open connection (``Logoff``, ``exit``); may raise."""

    def fail_pending(self, error: Exception, cause: BaseException | None) -> None:
        """Fail every request still waiting for an answer with ``error``."""

    def final(self, error: BaseException) -> str | None:
        """A few words ("re-login") when ``error`` must end reconnection, else None."""

    def connected(self) -> E_co:
        """The event subscribers get after the first login."""

    def disconnected(self, reason: str) -> E_co:
        """The event subscribers get when the connection is lost or given up."""

    def reconnected(self, attempts: int) -> E_co:
        """The event subscribers get after a login on a new connection."""


class Lifecycle(Generic[E]):
    """State, supervisor and teardown of one client's connection (module docstring)."""

    def __init__(
        self,
        session: Session[E],
        hub: EventHub[E],
        errors: ErrorTypes,
        *,
        host: str,
        port: int,
        reconnect: bool = True,
        backoff: Backoff | None = None,
        probe_interval: float | None = 10.0,
        peer: str = "the peer",
        log: logging.Logger | None = None,
    ) -> None:
        self.session = session
        self.hub = hub
        self.errors = errors
        self.host = host
        self.port = port
        self.reconnect = reconnect
        self.backoff = backoff or Backoff()
        self.probe_interval = probe_interval
        self.peer = peer
        self.log = log or logging.getLogger(__name__)
        self.state = ConnectionState.NEW
        self.link: Link | None = None
        self.last_error: BaseException | None = None
        self.reconnects = 0
        #: why the client dropped the connection itself, for the Disconnected reason
        self.drop_reason: str | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    @property
    def label(self) -> str:
        """The client's name in logs (``AMI``, ``ESL``)."""
        return self.hub.label

    # -- the connection ---------------------------------------------------------------

    async def dial(self, on_data: Callable[[Link, bytes], None]) -> Link:
        """Open the TCP connection of an attempt and make it the current one."""
        link = await Link.open(self.host, self.port, on_data, self._on_lost)
        self.link = link
        return link

    def usable_link(self) -> Link | None:
        """The current connection, unless it is closing or gone."""
        link = self.link
        return None if link is None or link.closing else link

    async def _attempt(self) -> None:
        self.hub.hold()
        try:
            await self.session.open()
        except BaseException:
            self.hub.drop_held()
            link, self.link = self.link, None
            if link is not None:
                link.abort()
            raise

    async def connect(self) -> None:
        """Open the connection and log in (see the module docstring)."""
        async with self._lock:
            if self.state is not ConnectionState.NEW:
                raise self.errors.base(f"connect() on a client in state {self.state.name}")
            self.state = ConnectionState.CONNECTING
            try:
                await self._attempt()
            except BaseException:
                self.state = ConnectionState.CLOSED
                raise
            self.state = ConnectionState.ACTIVE
            self._supervisor = asyncio.get_running_loop().create_task(
                self._supervise(), name=f"{self.label.lower()}-supervisor"
            )
            self.hub.release(self.session.connected())

    async def close(self) -> None:
        """Say goodbye, close the socket, fail pending requests, stop subscribers."""
        async with self._lock:
            if self.state is ConnectionState.CLOSED and self._supervisor is None:
                await self.hub.stop()
                return
            self.state = ConnectionState.CLOSED
            supervisor, self._supervisor = self._supervisor, None
            if supervisor is not None and supervisor is not asyncio.current_task():
                supervisor.cancel()
                try:
                    await supervisor
                except asyncio.CancelledError:
                    pass
                except Exception:
                    self.log.exception("%s supervisor failed", self.label)
            link = self.link
            try:
                if link is not None and not link.lost.done():
                    try:
                        await self.session.goodbye()
                    except (self.errors.base, OSError):
                        pass  # closing anyway
            finally:
                if link is not None:
                    await link.close(1.0)
                self.session.fail_pending(self.errors.connection("client closed"), None)
                self.hub.fail_waiters(self.errors.connection("client closed"))
                await self.hub.stop()

    def _on_lost(self, link: Link, exc: Exception | None) -> None:
        if link is not self.link:
            return  # a failed attempt already cleaned up
        self.link = None
        cause: BaseException | None = exc or link.error
        drop_reason, self.drop_reason = self.drop_reason, None
        if self.state is ConnectionState.CLOSED:
            reason = "closed by client"
        elif drop_reason:
            reason = drop_reason
        elif cause is not None:
            reason = f"connection lost: {cause}"
        else:
            reason = f"connection closed by {self.peer}"
        if cause is None:
            # an orderly EOF has no exception; chain one so the cause is never empty
            cause = ConnectionResetError(reason)
        error = self.errors.connection(reason)
        error.__cause__ = cause
        self.session.fail_pending(error, cause)
        if self.state is ConnectionState.ACTIVE:
            self.log.warning("%s %s:%s %s", self.label, self.host, self.port, reason)
            # state first, so a subscriber reacting to Disconnected sees it
            self.state = ConnectionState.RECONNECTING if self.reconnect else ConnectionState.CLOSED
            self.hub.dispatch(self.session.disconnected(reason))
            if not self.reconnect:
                self.hub.fail_waiters(self.errors.connection(f"{reason} (reconnect disabled)"))

    # -- the supervisor -------------------------------------------------------------------

    async def _supervise(self) -> None:
        while self.state is not ConnectionState.CLOSED:
            link = self.link
            if link is not None and not link.lost.done():
                await self._watch(link)
                continue
            if not self.reconnect:
                self.state = ConnectionState.CLOSED
                return
            self.state = ConnectionState.RECONNECTING
            attempt = 0
            while self.state is ConnectionState.RECONNECTING:
                attempt += 1
                await asyncio.sleep(self.backoff.delay(attempt))
                try:
                    await self._attempt()
                except (self.errors.base, OSError) as exc:
                    self.last_error = exc
                    what = self.session.final(exc)
                    if what is not None:
                        self.log.error("%s %s refused, giving up: %s", self.label, what, exc)
                        self.state = ConnectionState.CLOSED
                        self.hub.fail_waiters(exc)
                        self.hub.dispatch(self.session.disconnected(f"{what} refused: {exc}"))
                        return
                    self.log.info("%s reconnect attempt %d failed: %s", self.label, attempt, exc)
                    continue
                self.state = ConnectionState.ACTIVE
                self.reconnects += 1
                self.log.info(
                    "%s reconnected to %s:%s after %d attempt(s)",
                    self.label, self.host, self.port, attempt,
                )
                self.hub.release(self.session.reconnected(attempt))

    async def _watch(self, link: Link) -> None:
        """Wait for the connection to drop; probe it when idle."""
        interval = self.probe_interval
        if interval is None:
            await asyncio.shield(link.lost)
            return
        idle_for = asyncio.get_running_loop().time() - link.last_rx
        if idle_for < interval:
            try:
                async with asyncio.timeout(interval - idle_for):
                    await asyncio.shield(link.lost)
            except TimeoutError:
                pass
            return
        try:
            await self.session.probe()
        except TimeoutError as exc:
            self.log.warning("%s liveness probe unanswered, dropping the connection", self.label)
            self.last_error = exc
            self.drop_reason = str(exc)
            link.abort()
            await asyncio.shield(link.lost)
        except self.errors.base:
            # Lost meanwhile (the loop sees it), or refused: either way no new probe
            # before another interval.
            try:
                async with asyncio.timeout(interval):
                    await asyncio.shield(link.lost)
            except TimeoutError:
                pass
