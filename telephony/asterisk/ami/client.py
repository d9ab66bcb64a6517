"""asyncio AMI client: a thin transport around the sans-I/O :class:`AmiProtocol`.

Lifecycle (:class:`ConnectionState`): ``NEW -> CONNECTING -> ACTIVE``; on a lost
connection ``ACTIVE -> RECONNECTING -> ACTIVE`` (capped exponential backoff with
jitter); ``close()`` or giving up leads to ``CLOSED``.

Guarantees:

* Responses are matched to actions by ``ActionID``, never by arrival order.
* Actions pending when the connection is lost fail with
  :class:`AmiConnectionError` (cause chained). They are **not** re-sent after a
  reconnect: an action may or may not have run on the PBX (an Originate, a
  QueuePause), and only the caller can decide whether repeating it is safe.
* A wrong secret raises :class:`AmiAuthError` from :meth:`AmiClient.connect`; an
  auth failure while reconnecting ends reconnection (state CLOSED) - never an
  endless login loop.
* Subscriber callbacks run off the read path, one task per subscriber fed by its
  own queue, so each subscriber sees events in wire order and a slow callback
  never delays framing or other subscribers.
* An idle connection is probed with ``Ping`` every ``ping_interval`` seconds; no
  answer within ``ping_timeout`` aborts it, which triggers the reconnect.
* The secret is never logged or shown in ``repr``.

Event volume: Asterisk sends about 146 events per call to a user with ``read=all``
(VarSet alone 105), and a client that needs a handful of names should not pay for
the rest. ``wanted_events`` names the events a client needs; after every Login -
the first and each reconnect, before ``Connected``/``Reconnected`` is delivered -
the client adds one AMI ``Filter`` per name (``MatchCriteria: name(<event>)``), so
Asterisk drops every other event before it is even written to the socket. The
filter belongs to that one connection: other sessions of the same AMI user (the
test kit's, an operator's) still get everything. Answers to list actions
(QueueStatus, DBGetTree ...) are responses to Asterisk, not events, and arrive
under any filter. A filter Asterisk refuses raises :class:`AmiFilterError`; it is
never silently dropped in favour of an unfiltered connection. Whatever still
arrives is checked by name on the raw frame first: an event no subscriber or
waiter wants is never turned into a typed object.
"""

from __future__ import annotations

import asyncio
import enum
import inspect
import itertools
import logging
import os
import random
import re
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, Self

from telephony.asterisk.ami.errors import (
    AmiActionError,
    AmiAuthError,
    AmiConnectionError,
    AmiError,
    AmiFilterError,
    AmiTimeout,
    InvalidAction,
    InvalidSubscription,
    ProtocolError,
)
from telephony.asterisk.ami.events import (
    Connected,
    Disconnected,
    Event,
    Greeting,
    ListResponse,
    Message,
    MessageKind,
    Reconnected,
    Response,
    parse_event,
    parse_response,
)
from telephony.asterisk.ami.protocol import Action, AmiProtocol, HeaderValue

__all__ = [
    "SYNTHETIC_EVENTS", "AmiClient", "ConnectionState", "EventCallback", "EventFilter",
    "Subscription",
]

log = logging.getLogger(__name__)

EventCallback = Callable[[Event], "Awaitable[None] | None"]

#: Events the client makes itself: always delivered, never part of a server-side filter.
SYNTHETIC_EVENTS = frozenset({"Connected", "Disconnected", "Reconnected"})
_SYNTHETIC_LOW = frozenset(name.lower() for name in SYNTHETIC_EVENTS)
# An event name goes into ``MatchCriteria: name(...)``: a comma or parenthesis would
# change the criteria, so only the characters Asterisk's event names use pass.
_EVENT_NAME = re.compile(r"[A-Za-z0-9_]+")


@dataclass(frozen=True, slots=True)
class EventFilter:
    """One entry of ``wanted_events``: an event by name, optionally only when a header
    starts with a prefix (Asterisk's ``MatchCriteria: name(E),header(H),method(starts_with)``).

    A header condition lets Asterisk drop the per-call copies of an event the client
    needs only in a rare case (a queue member's status only while it carries our
    pause reason), so they never cost a read, a parse or a wake-up.
    """

    name: str
    header: str | None = None
    starts_with: str | None = None

    def __post_init__(self) -> None:
        if not _EVENT_NAME.fullmatch(self.name):
            raise InvalidAction(f"wanted_events: {self.name!r} is not an AMI event name")
        if (self.header is None) != (self.starts_with is None):
            raise InvalidAction(
                f"wanted_events: {self.name} needs both header and starts_with, or neither"
            )
        if self.header is not None and not _EVENT_NAME.fullmatch(self.header):
            raise InvalidAction(f"wanted_events: {self.header!r} is not an AMI header name")
        if self.starts_with is not None and (
            not self.starts_with or any(c in self.starts_with for c in "\r\n")
        ):
            raise InvalidAction(f"wanted_events: bad prefix {self.starts_with!r} for {self.name}")

    def headers(self) -> tuple[tuple[str, str], ...]:
        """The ``Filter`` action's headers for this entry."""
        if self.header is None or self.starts_with is None:
            return (("Operation", "Add"), ("MatchCriteria", f"name({self.name})"))
        return (
            ("Operation", "Add"),
            ("MatchCriteria", f"name({self.name}),header({self.header}),method(starts_with)"),
            ("Filter", self.starts_with),
        )

    def __str__(self) -> str:
        if self.header is None:
            return self.name
        return f"{self.name}[{self.header}^={self.starts_with}]"


class _SecretLike(Protocol):
    def get_secret_value(self) -> str: ...


class ConnectionState(enum.Enum):
    """Where the client is in its connection lifecycle."""

    NEW = "NEW"
    CONNECTING = "CONNECTING"
    ACTIVE = "ACTIVE"
    RECONNECTING = "RECONNECTING"
    CLOSED = "CLOSED"


class Subscription:
    """A registered event callback; events reach it in order through its own queue."""

    def __init__(
        self, client: AmiClient, callback: EventCallback, names: Collection[str] | None
    ) -> None:
        self._client = client
        self._callback = callback
        self.names: frozenset[str] | None = (
            frozenset(n.lower() for n in names) if names is not None else None
        )
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"ami-subscriber-{getattr(callback, '__name__', 'callback')}"
        )

    def wants(self, name: str) -> bool:
        """True if an event called ``name`` (any case) goes to this subscriber."""
        return self.names is None or name.lower() in self.names

    def _put(self, event: Event) -> None:
        self._queue.put_nowait(event)

    async def _run(self) -> None:
        while True:
            event = await self._queue.get()
            try:
                result = self._callback(event)
                if inspect.isawaitable(result):
                    await result
            except asyncio.CancelledError:
                raise
            except Exception:
                # A broken subscriber must not stop the others or the reader.
                log.exception("AMI subscriber %r failed on %s", self._callback, event.name)

    @property
    def pending(self) -> int:
        """Events queued for this subscriber but not yet handled."""
        return self._queue.qsize()

    def close(self) -> None:
        """Stop delivering; the worker task is cancelled (await :meth:`aclose` to wait)."""
        self._client._subscriptions.discard(self)
        self._client._update_interest()
        self._task.cancel()

    async def aclose(self) -> None:
        """Stop delivering and wait for the worker task to finish."""
        self.close()
        try:
            await self._task
        except asyncio.CancelledError:
            pass


@dataclass
class _Pending:
    """An action waiting for its Response (and, for lists, its events)."""

    action: str
    future: asyncio.Future[Any]
    is_list: bool = False
    response: Response | None = None
    events: list[Event] = field(default_factory=list)


@dataclass
class _Waiter:
    predicate: Callable[[Event], bool]
    future: asyncio.Future[Event]
    names: frozenset[str] | None  # lower-cased; None: any event may match


class _Transport(asyncio.Protocol):
    """Feeds bytes to the sans-I/O core and hands frames to the client; nothing else."""

    def __init__(self, client: AmiClient, core: AmiProtocol) -> None:
        self._client = client
        self._core = core
        self.transport: asyncio.Transport | None = None
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self._core.receive_data(data)
        try:
            items = self._core.messages()
        except ProtocolError as exc:
            log.error("AMI protocol error, dropping connection: %s", exc)
            self._client._protocol_error = exc
            if self.transport is not None:
                self.transport.abort()
            return
        self._client._on_frames(self, items)

    def eof_received(self) -> bool | None:
        return None  # close the transport; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)
        self._client._on_lost(self, exc)

    def write(self, data: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            raise AmiConnectionError("connection is closing")
        self.transport.write(data)


class AmiClient:
    """Asterisk Manager Interface client (see the module docstring for guarantees).

    ``secret`` may be a ``str`` or an object with ``get_secret_value()`` (pydantic
    ``SecretStr``). ``events`` is sent as the Login ``Events`` header (``"on"``,
    ``"off"`` or a class list such as ``"call,agent"``).

    ``wanted_events``: ``None`` (default) receives every event the AMI user may read.
    A collection of event names (``{"QueueMemberStatus", "AgentComplete"}``) makes
    Asterisk send only those on this connection (see the module docstring); names
    of :data:`SYNTHETIC_EVENTS` are allowed and ignored for the filter, since the
    client makes those itself. An empty collection logs in with ``Events: off``:
    actions and list answers only. :meth:`subscribe` and :meth:`wait_event` refuse
    names outside the set (:class:`InvalidSubscription`). To receive more, extend
    the set: that is the one place a client's event needs are written down.
    """

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        secret: str | _SecretLike,
        *,
        reconnect: bool = True,
        max_backoff: float = 5.0,
        min_backoff: float = 0.1,
        connect_timeout: float = 5.0,
        action_timeout: float = 10.0,
        ping_interval: float | None = 10.0,
        ping_timeout: float | None = None,
        events: str = "on",
        wanted_events: Collection[str | EventFilter] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.username = username
        self._secret = secret
        self.reconnect = reconnect
        self.max_backoff = max_backoff
        self.min_backoff = min_backoff
        self.connect_timeout = connect_timeout
        self.action_timeout = action_timeout
        self.ping_interval = ping_interval
        self.ping_timeout = (
            ping_timeout
            if ping_timeout is not None
            else min(action_timeout, ping_interval or action_timeout)
        )
        self.events = events
        self.event_filters = _server_filter(wanted_events)
        # The names alone, for subscriptions and the per-event check (a header condition
        # is the PBX's to apply); lower-cased for the check. None: no filter.
        self.wanted_events: frozenset[str] | None = (
            None if self.event_filters is None else frozenset(f.name for f in self.event_filters)
        )
        self._wanted_low = (
            None if self.wanted_events is None else frozenset(n.lower() for n in self.wanted_events)
        )
        self.state = ConnectionState.NEW
        self.greeting: Greeting | None = None
        self.last_error: BaseException | None = None
        self.reconnects = 0
        # Event frames read off the wire (list answers included), before any check:
        # what the PBX's filter let through, for logs, tests and benchmarks.
        self.events_received = 0

        self._ids = itertools.count(1)
        self._id_prefix = f"tel-{os.getpid()}-{id(self) & 0xFFFF:04x}"
        self._pending: dict[str, _Pending] = {}
        self._subscriptions: set[Subscription] = set()
        self._waiters: list[_Waiter] = []
        self._conn: _Transport | None = None
        self._core: AmiProtocol | None = None
        self._greeting_future: asyncio.Future[Greeting] | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._protocol_error: ProtocolError | None = None
        self._drop_reason: str | None = None
        # event frames read while logging in, delivered after Connected/Reconnected
        self._held: list[Message] | None = None
        # lower-cased names some subscriber or waiter wants; None: someone wants all
        self._interest: frozenset[str] | None = frozenset()
        # list actions in flight: only then can an event belong to one (ActionID check)
        self._lists_pending = 0
        self._last_rx = 0.0
        self._has_db_get_tree: bool | None = None
        self._lock = asyncio.Lock()  # serialises connect/close lifecycle changes

    def __repr__(self) -> str:
        return (
            f"<AmiClient {self.username}@{self.host}:{self.port} state={self.state.name}"
            f" pending={len(self._pending)} subscribers={len(self._subscriptions)}>"
        )

    # -- lifecycle -----------------------------------------------------------------

    async def connect(self) -> None:
        """Open the connection and log in.

        Raises :class:`AmiAuthError` (wrong credentials, no retry),
        :class:`AmiConnectionError` (refused, unreachable, closed early) or
        :class:`AmiTimeout` (no greeting/login answer within ``connect_timeout``).
        On success subscribers get a :class:`Connected` event and the
        reconnect/liveness supervisor starts.
        """
        async with self._lock:
            if self.state is not ConnectionState.NEW:
                raise AmiError(f"connect() on a client in state {self.state.name}")
            self.state = ConnectionState.CONNECTING
            try:
                await self._open()
            except BaseException:
                self.state = ConnectionState.CLOSED
                raise
            self.state = ConnectionState.ACTIVE
            self._supervisor = asyncio.get_running_loop().create_task(
                self._supervise(), name="ami-supervisor"
            )
            self._release_held(Connected())

    async def close(self) -> None:
        """Log off (briefly), close the socket, fail pending actions, stop subscribers."""
        async with self._lock:
            if self.state is ConnectionState.CLOSED and self._supervisor is None:
                await self._stop_subscribers()
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
                    log.exception("AMI supervisor failed")
            conn = self._conn
            try:
                if conn is not None and conn.transport is not None and not conn.lost.done():
                    try:
                        await self._request("Logoff", (), timeout=1.0, any_state=True)
                    except (AmiError, OSError):
                        pass  # closing anyway
            finally:
                if conn is not None and conn.transport is not None:
                    conn.transport.close()
                    try:
                        async with asyncio.timeout(1.0):
                            await asyncio.shield(conn.lost)
                    except TimeoutError:
                        conn.transport.abort()
                self._fail_pending(AmiConnectionError("client closed"), None)
                self._fail_waiters(AmiConnectionError("client closed"))
                await self._stop_subscribers()

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _open(self) -> None:
        """One connection attempt: TCP, greeting, Login. Cleans up on failure."""
        loop = asyncio.get_running_loop()
        core = AmiProtocol()
        self._core = core
        self._held = []
        self._protocol_error = None
        self._greeting_future = loop.create_future()
        conn: _Transport | None = None
        try:
            async with asyncio.timeout(self.connect_timeout):
                try:
                    _, proto = await loop.create_connection(
                        lambda: _Transport(self, core), self.host, self.port
                    )
                except OSError as exc:
                    raise AmiConnectionError(
                        f"cannot connect to AMI at {self.host}:{self.port}: {exc}"
                    ) from exc
                conn = proto
                self._conn = conn
                self._last_rx = loop.time()
                waiting: set[asyncio.Future[Any]] = {self._greeting_future, conn.lost}
                done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                if self._greeting_future not in done:
                    raise AmiConnectionError(
                        "connection closed before the AMI greeting"
                    ) from self._protocol_error
                self.greeting = self._greeting_future.result()
                response = await self._request(
                    "Login",
                    (
                        ("Username", self.username),
                        ("Secret", self._secret_value()),
                        ("Events", self._login_events()),
                    ),
                    timeout=None,
                    any_state=True,
                )
                if not response.success:
                    # Only a refused secret is final; "Asterisk is shutting down"
                    # and the like pass, so they are retried like a lost connection.
                    error = (
                        AmiAuthError
                        if "authentication" in response.message.lower()
                        else AmiConnectionError
                    )
                    raise error(f"AMI login as {self.username!r} refused: {response.message}")
                await self._install_filter()
        except TimeoutError as exc:
            self._held = None
            self._abort(conn)
            raise AmiTimeout(
                f"no AMI greeting/login answer from {self.host}:{self.port}"
                f" within {self.connect_timeout}s"
            ) from exc
        except BaseException:
            self._held = None
            self._abort(conn)
            raise

    def _login_events(self) -> str:
        """The Login ``Events`` header: ``off`` when the client wants no events at all."""
        if self.wanted_events is not None and not self.wanted_events:
            return "off"
        return self.events

    async def _install_filter(self) -> None:
        """Ask Asterisk to send only ``wanted_events`` on the connection just logged in.

        One ``Filter`` action per name, all written at once (Asterisk answers them in
        order; several ``name()`` filters on a session are alternatives). Runs inside
        :meth:`_open`, so no subscriber hears Connected/Reconnected - and no engine
        re-syncs - before the filter is in place. Raises :class:`AmiFilterError` if
        Asterisk refuses any of them.
        """
        filters = sorted(self.event_filters or (), key=str)
        if not filters:
            return
        results = await asyncio.gather(
            *(
                self._request(
                    "Filter",
                    entry.headers(),
                    timeout=None,  # inside connect_timeout already
                    any_state=True,
                )
                for entry in filters
            ),
            return_exceptions=True,
        )
        refused: list[tuple[str, Response]] = []
        for entry, result in zip(filters, results, strict=True):
            if isinstance(result, BaseException):
                raise result
            if not result.success:
                refused.append((str(entry), result))
        if refused:
            message = refused[0][1].message or refused[0][1].status
            hint = ""
            if "permission" in message.lower():
                hint = " (the Filter action needs write=system for this AMI user)"
            elif "formatted incorrectly" in message.lower():
                hint = " (this PBX may not support MatchCriteria name() filters; Asterisk 22 does)"
            raise AmiFilterError(
                f"Asterisk refused the AMI event filter for "
                f"{', '.join(name for name, _ in refused)}: {message}{hint}"
            )

    def _release_held(self, first: Event) -> None:
        """Deliver Connected/Reconnected, then the events read during Login, in order."""
        held, self._held = self._held or [], None
        self._dispatch(first)
        for message in held:
            self._deliver(message)

    def _abort(self, conn: _Transport | None) -> None:
        if conn is not None and conn.transport is not None:
            conn.transport.abort()
        if self._conn is conn:
            self._conn = None

    def _secret_value(self) -> str:
        secret = self._secret
        return secret if isinstance(secret, str) else secret.get_secret_value()

    async def _supervise(self) -> None:
        """Liveness pings while connected; reconnect with backoff after a loss."""
        loop = asyncio.get_running_loop()
        while self.state is not ConnectionState.CLOSED:
            conn = self._conn
            if conn is not None and not conn.lost.done():
                await self._watch(conn, loop)
                continue
            if not self.reconnect:
                self.state = ConnectionState.CLOSED
                return
            self.state = ConnectionState.RECONNECTING
            attempt = 0
            while self.state is ConnectionState.RECONNECTING:
                attempt += 1
                delay = min(self.max_backoff, self.min_backoff * 2 ** (attempt - 1))
                # jitter spreads many clients reconnecting to one restarted PBX
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))
                try:
                    await self._open()
                except (AmiAuthError, AmiFilterError) as exc:
                    # Final either way: retrying cannot change the secret, and going on
                    # without the filter would flood this client with every event.
                    what = "re-login" if isinstance(exc, AmiAuthError) else "event filter"
                    log.error("AMI %s refused, giving up: %s", what, exc)
                    self.last_error = exc
                    self.state = ConnectionState.CLOSED
                    self._fail_waiters(exc)
                    self._dispatch(Disconnected(reason=f"{what} refused: {exc}"))
                    return
                except (AmiError, OSError) as exc:
                    self.last_error = exc
                    log.info("AMI reconnect attempt %d failed: %s", attempt, exc)
                    continue
                self.state = ConnectionState.ACTIVE
                self.reconnects += 1
                log.info(
                    "AMI reconnected to %s:%s after %d attempt(s)", self.host, self.port, attempt
                )
                self._release_held(Reconnected(attempts=attempt))

    async def _watch(self, conn: _Transport, loop: asyncio.AbstractEventLoop) -> None:
        """Wait for the connection to drop; probe it with Ping when idle."""
        interval = self.ping_interval
        if interval is None:
            await asyncio.shield(conn.lost)
            return
        idle_for = loop.time() - self._last_rx
        if idle_for < interval:
            try:
                async with asyncio.timeout(interval - idle_for):
                    await asyncio.shield(conn.lost)
            except TimeoutError:
                pass
            return
        try:
            await self._request("Ping", (), timeout=self.ping_timeout, any_state=True)
        except AmiTimeout:
            log.warning("AMI Ping unanswered for %.1fs, dropping the connection", self.ping_timeout)
            self.last_error = AmiTimeout("liveness Ping unanswered")
            self._drop_reason = f"no answer to a liveness Ping within {self.ping_timeout}s"
            if conn.transport is not None:
                conn.transport.abort()
            await asyncio.shield(conn.lost)
        except AmiConnectionError:
            pass  # lost meanwhile; the loop sees it

    # -- frames from the transport ----------------------------------------------------

    def _on_frames(self, conn: _Transport, items: list[Message | Greeting]) -> None:
        self._last_rx = asyncio.get_running_loop().time()
        for item in items:
            if isinstance(item, Greeting):
                if self._greeting_future is not None and not self._greeting_future.done():
                    self._greeting_future.set_result(item)
                continue
            kind = item.kind
            if kind is MessageKind.RESPONSE:
                self._on_response(item)
            elif kind is MessageKind.EVENT:
                self.events_received += 1
                self._on_event(item)
            else:
                log.warning("AMI frame that is neither event nor response: %r", item.parts[:1])

    def _on_response(self, message: Message) -> None:
        response = parse_response(message)
        pending = self._pending.get(response.action_id or "")
        if pending is None:
            log.debug("AMI response for unknown ActionID %r", response.action_id)
            return
        if not pending.is_list:
            del self._pending[response.action_id or ""]
            if not pending.future.done():
                pending.future.set_result(response)
            return
        pending.response = response
        if not response.success or (response.get("EventList") or "").lower() != "start":
            # refused (or not a list after all): nothing will follow
            del self._pending[response.action_id or ""]
            if not pending.future.done():
                pending.future.set_result(ListResponse(response, (), None))

    def _on_event(self, message: Message) -> None:
        # Only while a list action is in flight can an event belong to one; otherwise
        # the ActionID lookup (a scan of the frame's lines) is skipped.
        action_id = message.get("ActionID") if self._lists_pending else None
        if action_id is not None:
            pending = self._pending.get(action_id)
            if pending is not None and pending.is_list:
                event = parse_event(message)
                marker = (message.get("EventList") or "").lower()
                if marker == "complete" or (not marker and event.name.endswith("Complete")):
                    del self._pending[action_id]
                    if not pending.future.done():
                        response = pending.response or parse_response(
                            Message.from_headers(("Response", "Success"), ("ActionID", action_id))
                        )
                        pending.future.set_result(
                            ListResponse(response, tuple(pending.events), event)
                        )
                else:
                    pending.events.append(event)
                return
        if self._held is not None:
            self._held.append(message)
        else:
            self._deliver(message)

    def _deliver(self, message: Message) -> None:
        """Type and dispatch one event frame - unless nobody can want it.

        The name is read from the raw first line and checked before anything is
        built: against ``wanted_events`` (frames Asterisk sent before the filter took
        effect) and against what subscribers and waiters asked for.
        """
        low = message.name.lower()
        wanted = self._wanted_low
        if wanted is not None and low not in wanted:
            return
        interest = self._interest
        if interest is not None and low not in interest:
            return
        self._dispatch(parse_event(message), low)

    def _dispatch(self, event: Event, low: str | None = None) -> None:
        name = event.name.lower() if low is None else low
        for sub in self._subscriptions:
            if sub.names is None or name in sub.names:
                sub._put(event)
        if self._waiters:
            keep: list[_Waiter] = []
            for waiter in self._waiters:
                if waiter.future.done():
                    continue
                try:
                    matched = waiter.predicate(event)
                except Exception as exc:  # noqa: BLE001 - handed to the waiting caller
                    waiter.future.set_exception(exc)
                    continue
                if matched:
                    waiter.future.set_result(event)
                else:
                    keep.append(waiter)
            if len(keep) != len(self._waiters):
                self._waiters = keep
                self._update_interest()

    def _update_interest(self) -> None:
        """Recompute the event names anyone listens for (after (un)subscribing, waiting)."""
        wanted: list[frozenset[str] | None] = [s.names for s in self._subscriptions]
        wanted += [w.names for w in self._waiters]
        names: set[str] = set()
        for each in wanted:
            if each is None:
                self._interest = None
                return
            names |= each
        self._interest = frozenset(names)

    def _check_wanted(self, names: Collection[str] | None, what: str) -> None:
        """Refuse names the server-side filter keeps out: they would never arrive."""
        if names is None or self._wanted_low is None:
            return
        left_out = sorted(
            n for n in names if n.lower() not in self._wanted_low | _SYNTHETIC_LOW
        )
        if left_out:
            raise InvalidSubscription(
                f"{what}: {', '.join(left_out)} not in this client's wanted_events "
                f"({', '.join(sorted(self.wanted_events or ())) or 'none'}): Asterisk "
                "never sends them on this connection"
            )

    def _on_lost(self, conn: _Transport, exc: Exception | None) -> None:
        if conn is not self._conn:
            return  # a failed attempt already cleaned up
        self._conn = None
        cause: BaseException | None = exc or self._protocol_error
        drop_reason, self._drop_reason = self._drop_reason, None
        if self.state is ConnectionState.CLOSED:
            reason = "closed by client"
        elif drop_reason:
            reason = drop_reason
        elif cause is not None:
            reason = f"connection lost: {cause}"
        else:
            reason = "connection closed by Asterisk"
        if cause is None:
            # an orderly EOF has no exception; chain one so the cause is never empty
            cause = ConnectionResetError(reason)
        error = AmiConnectionError(reason)
        error.__cause__ = cause
        self._fail_pending(error, cause)
        if self.state is ConnectionState.ACTIVE:
            log.warning("AMI %s:%s %s", self.host, self.port, reason)
            # state first, so a subscriber reacting to Disconnected sees it
            self.state = ConnectionState.RECONNECTING if self.reconnect else ConnectionState.CLOSED
            self._dispatch(Disconnected(reason=reason))
            if not self.reconnect:
                self._fail_waiters(AmiConnectionError(f"{reason} (reconnect disabled)"))

    def _fail_pending(self, error: AmiConnectionError, cause: BaseException | None) -> None:
        pending, self._pending = self._pending, {}
        for item in pending.values():
            if not item.future.done():
                err = AmiConnectionError(f"{item.action}: {error}")
                err.__cause__ = cause if cause is not None else error.__cause__
                item.future.set_exception(err)
                # the caller may have timed out already; avoid "never retrieved" noise
                item.future.exception()

    def _fail_waiters(self, error: BaseException) -> None:
        waiters, self._waiters = self._waiters, []
        self._update_interest()
        for waiter in waiters:
            if not waiter.future.done():
                waiter.future.set_exception(error)
                waiter.future.exception()

    async def _stop_subscribers(self) -> None:
        subs = list(self._subscriptions)
        self._subscriptions.clear()
        self._update_interest()
        for sub in subs:
            sub._task.cancel()
        for sub in subs:
            try:
                await sub._task
            except asyncio.CancelledError:
                pass

    # -- actions ------------------------------------------------------------------------

    def _next_id(self) -> str:
        return f"{self._id_prefix}-{next(self._ids)}"

    async def _request(
        self,
        name: str,
        headers: Iterable[tuple[str, HeaderValue]] | Mapping[str, HeaderValue],
        *,
        timeout: float | None,
        is_list: bool = False,
        any_state: bool = False,
    ) -> Any:
        if not any_state and self.state is not ConnectionState.ACTIVE:
            raise AmiConnectionError(f"{name}: not connected (state {self.state.name})")
        conn, core = self._conn, self._core
        if conn is None or core is None or conn.lost.done():
            raise AmiConnectionError(f"{name}: not connected")
        action = Action.build(name, self._next_id(), headers)
        core.send(action)  # raises InvalidAction before anything is registered
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[action.action_id] = _Pending(name, future, is_list)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("AMI -> %s ActionID=%s", name, action.action_id)  # never headers
        if is_list:
            self._lists_pending += 1
        try:
            conn.write(core.data_to_send())
            if timeout is None:
                return await future
            async with asyncio.timeout(timeout):
                return await future
        except TimeoutError as exc:
            raise AmiTimeout(f"{name}: no answer within {timeout}s") from exc
        finally:
            self._pending.pop(action.action_id, None)
            if is_list:
                self._lists_pending -= 1

    async def send(
        self,
        action: str,
        headers: Mapping[str, HeaderValue] | Iterable[tuple[str, str]] = (),
        /,
        *,
        timeout: float | None = None,
        **kw: HeaderValue,
    ) -> Response:
        """Send ``action`` and return its :class:`Response` (matched by ActionID).

        Headers come from ``headers`` (a mapping or ordered pairs, for names that
        are not Python identifiers) and ``kw``; a list value repeats the header
        (``Variable=["A=1", "B=2"]``). ``Response: Error`` is returned, not raised:
        call ``.check()``. Raises :class:`AmiTimeout` after ``timeout`` (default
        ``action_timeout``), :class:`AmiConnectionError` if not connected or the
        connection drops first (the action is not re-sent),
        :class:`InvalidAction` for CR/LF in a header.
        """
        result: Response = await self._request(
            action,
            _merge(headers, kw),
            timeout=self.action_timeout if timeout is None else timeout,
        )
        return result

    async def send_list(
        self,
        action: str,
        headers: Mapping[str, HeaderValue] | Iterable[tuple[str, str]] = (),
        /,
        *,
        timeout: float | None = None,
        **kw: HeaderValue,
    ) -> ListResponse:
        """Send a list action (QueueStatus, DeviceStateList, DBGetTree, ...).

        Collects the events carrying this action's ActionID between
        ``EventList: start`` and the ``EventList: Complete`` event; those events
        are not delivered to subscribers. A refused action returns a
        :class:`ListResponse` with no events (``.check()`` raises). The timeout
        covers the whole list.
        """
        result: ListResponse = await self._request(
            action,
            _merge(headers, kw),
            is_list=True,
            timeout=self.action_timeout if timeout is None else timeout,
        )
        return result

    async def command(self, command: str, *, timeout: float | None = None) -> str:
        """Run a CLI command via the ``Command`` action; return its output lines joined by ``\\n``.

        Raises :class:`AmiActionError` if Asterisk refuses it (unknown or
        blacklisted command); the output, if any, is in ``error.response.output``.
        """
        response = await self.send("Command", Command=command, timeout=timeout)
        response.check(f"Command {command!r}")
        return "\n".join(response.output)

    async def db_get_tree(self, family: str, *, timeout: float | None = None) -> dict[str, str]:
        """All AstDB keys under ``family`` as ``{key relative to family: value}``.

        Uses ``DBGetTree`` (Asterisk 22 has it; its events carry the full path
        ``/family/key``), falling back to ``Command: database show <family>`` on
        PBXs without it - that fallback right-strips values (the CLI pads them).
        """
        prefix = f"/{family}/"
        if self._has_db_get_tree is not False:
            listing = await self.send_list("DBGetTree", Family=family, timeout=timeout)
            if listing.response.success:
                self._has_db_get_tree = True
                out: dict[str, str] = {}
                for event in listing.events:
                    key = event.get("Key") or ""
                    out[key.removeprefix(prefix)] = event.get("Val") or ""
                return out
            if "invalid/unknown command" not in listing.response.message.lower():
                raise AmiActionError(listing.response, "DBGetTree")
            self._has_db_get_tree = False
        text = await self.command(f"database show {family}", timeout=timeout)
        result: dict[str, str] = {}
        for line in text.splitlines():
            key, sep, value = line.partition(": ")
            key = key.strip()
            if sep and key.startswith(prefix):
                result[key[len(prefix) :]] = value.rstrip()
        return result

    # -- events -----------------------------------------------------------------------------

    def subscribe(
        self, callback: EventCallback, names: Collection[str] | None = None
    ) -> Subscription:
        """Call ``callback(event)`` (sync or async) for every event, or those in ``names``.

        Synthetic :class:`Connected`, :class:`Disconnected` and :class:`Reconnected`
        events are included (filter by those names too). Call from a running loop.
        Raises :class:`InvalidSubscription` for a name outside ``wanted_events``.
        """
        if self.state is ConnectionState.CLOSED:
            raise AmiError("subscribe() on a closed client")
        self._check_wanted(names, "subscribe()")
        sub = Subscription(self, callback, names)
        self._subscriptions.add(sub)
        self._update_interest()
        return sub

    def wait_event(
        self,
        predicate: Callable[[Event], bool] | None = None,
        timeout: float = 5.0,
        *,
        names: Collection[str] | None = None,
    ) -> Awaitable[Event]:
        """Return an awaitable for the first event matching ``predicate`` (and ``names``).

        The waiter is registered when ``wait_event`` is *called*, so
        ``w = client.wait_event(...); await client.send(...); ev = await w`` cannot
        miss an event that arrives with or before the response. The predicate runs
        on the read path: keep it cheap; give ``names`` too where you can, so events of
        other names are not even typed while the waiter waits. Raises
        :class:`AmiTimeout`, or :class:`InvalidSubscription` (at once) for a name
        outside ``wanted_events``.
        """
        self._check_wanted(names, "wait_event()")
        wanted = frozenset(n.lower() for n in names) if names is not None else None

        def match(event: Event) -> bool:
            if wanted is not None and event.name.lower() not in wanted:
                return False
            return predicate(event) if predicate is not None else True

        future: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
        waiter = _Waiter(match, future, wanted)
        self._waiters.append(waiter)
        self._update_interest()
        return self._await_waiter(waiter, timeout)

    async def _await_waiter(self, waiter: _Waiter, timeout: float) -> Event:
        try:
            async with asyncio.timeout(timeout):
                return await waiter.future
        except TimeoutError as exc:
            raise AmiTimeout(f"no matching AMI event within {timeout}s") from exc
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
                self._update_interest()


def _server_filter(
    names: Collection[str | EventFilter] | None,
) -> frozenset[EventFilter] | None:
    """``wanted_events`` as filters, without the synthetic names, each name checked."""
    if names is None:
        return None
    if isinstance(names, str):
        # A bare string is a collection of characters: surely meant as one name.
        raise InvalidAction(f"wanted_events: give a collection of names, not the string {names!r}")
    out: set[EventFilter] = set()
    for entry in names:
        item = entry if isinstance(entry, EventFilter) else EventFilter(entry)
        if item.name.lower() not in _SYNTHETIC_LOW:
            out.add(item)
    return frozenset(out)


def _merge(
    headers: Mapping[str, HeaderValue] | Iterable[tuple[str, str]],
    kw: Mapping[str, HeaderValue],
) -> list[tuple[str, HeaderValue]]:
    pairs: list[tuple[str, HeaderValue]] = list(
        headers.items() if isinstance(headers, Mapping) else headers
    )
    pairs.extend(kw.items())
    return pairs
