"""asyncio AMI client: a thin transport around the sans-I/O :class:`AmiProtocol`.

Lifecycle (:class:`ConnectionState`): ``NEW -> CONNECTING -> ACTIVE``; on a lost
connection ``ACTIVE -> RECONNECTING -> ACTIVE`` (capped exponential backoff with
jitter); ``close()`` or giving up leads to ``CLOSED``. That lifecycle, the
subscribers' queues and the waiters are :mod:`telephony.net`'s, shared with the
FreeSWITCH Event Socket client; this module adds what is AMI: the greeting, Login,
ActionID matching, list actions, the server-side event filter, Ping and Logoff.

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
import itertools
import logging
import os
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
from telephony.net import (
    Backoff,
    ConnectionState,
    ErrorTypes,
    EventHub,
    Lifecycle,
    Link,
)
from telephony.net import Subscription as _Subscription

__all__ = [
    "SYNTHETIC_EVENTS", "AmiClient", "ConnectionState", "EventCallback", "EventFilter",
    "Subscription",
]

log = logging.getLogger(__name__)

#: A registered event callback of an AMI client (see :class:`telephony.net.Subscription`).
Subscription = _Subscription[Event]

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


@dataclass
class _Pending:
    """An action waiting for its Response (and, for lists, its events)."""

    action: str
    future: asyncio.Future[Any]
    is_list: bool = False
    response: Response | None = None
    events: list[Event] = field(default_factory=list)


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
        self.connect_timeout = connect_timeout
        self.action_timeout = action_timeout
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
        self.greeting: Greeting | None = None
        # Event frames read off the wire (list answers included), before any check:
        # what the PBX's filter let through, for logs, tests and benchmarks.
        self.events_received = 0

        self._ids = itertools.count(1)
        self._id_prefix = f"tel-{os.getpid()}-{id(self) & 0xFFFF:04x}"
        self._pending: dict[str, _Pending] = {}
        self._core: AmiProtocol | None = None
        self._greeting_future: asyncio.Future[Greeting] | None = None
        # list actions in flight: only then can an event belong to one (ActionID check)
        self._lists_pending = 0
        self._has_db_get_tree: bool | None = None
        self._hub: EventHub[Event] = EventHub(
            "AMI", _event_key, normalise=str.lower, log=log
        )
        self._life: Lifecycle[Event] = Lifecycle(
            _AmiSession(self),
            self._hub,
            ErrorTypes(AmiError, AmiConnectionError),
            host=host,
            port=port,
            reconnect=reconnect,
            backoff=Backoff(min_backoff, max_backoff),
            probe_interval=ping_interval,
            peer="Asterisk",
            log=log,
        )

    @property
    def state(self) -> ConnectionState:
        """Where the client is in its lifecycle (NEW, CONNECTING, ACTIVE, RECONNECTING, CLOSED)."""
        return self._life.state

    @property
    def reconnect(self) -> bool:
        """Whether a lost connection is re-established (else the client closes)."""
        return self._life.reconnect

    @property
    def min_backoff(self) -> float:
        """Seconds before the first reconnect attempt (jittered, doubling)."""
        return self._life.backoff.minimum

    @property
    def max_backoff(self) -> float:
        """The longest wait between reconnect attempts."""
        return self._life.backoff.maximum

    @property
    def ping_interval(self) -> float | None:
        """Idle seconds before a liveness Ping; None: no Ping."""
        return self._life.probe_interval

    @property
    def last_error(self) -> BaseException | None:
        """The error of the last failed (re)connect attempt or liveness probe."""
        return self._life.last_error

    @property
    def reconnects(self) -> int:
        """How many times a lost connection was re-established."""
        return self._life.reconnects

    @property
    def _subscriptions(self) -> set[Subscription]:
        return self._hub.subscriptions

    def __repr__(self) -> str:
        return (
            f"<AmiClient {self.username}@{self.host}:{self.port} state={self.state.name}"
            f" pending={len(self._pending)} subscribers={len(self._hub.subscriptions)}>"
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
        await self._life.connect()

    async def close(self) -> None:
        """Log off (briefly), close the socket, fail pending actions, stop subscribers."""
        await self._life.close()

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _open(self) -> None:
        """One connection attempt: TCP, greeting, Login, filter (the lifecycle cleans up)."""
        loop = asyncio.get_running_loop()
        core = AmiProtocol()
        self._core = core
        self._greeting_future = loop.create_future()
        try:
            async with asyncio.timeout(self.connect_timeout):
                try:
                    link = await self._life.dial(self._on_data)
                except OSError as exc:
                    raise AmiConnectionError(
                        f"cannot connect to AMI at {self.host}:{self.port}: {exc}"
                    ) from exc
                waiting: set[asyncio.Future[Any]] = {self._greeting_future, link.lost}
                done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                if self._greeting_future not in done:
                    raise AmiConnectionError(
                        "connection closed before the AMI greeting"
                    ) from link.error
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
            raise AmiTimeout(
                f"no AMI greeting/login answer from {self.host}:{self.port}"
                f" within {self.connect_timeout}s"
            ) from exc

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

    def _secret_value(self) -> str:
        secret = self._secret
        return secret if isinstance(secret, str) else secret.get_secret_value()

    async def _probe(self) -> None:
        try:
            await self._request("Ping", (), timeout=self.ping_timeout, any_state=True)
        except AmiTimeout as exc:
            raise AmiTimeout(
                f"no answer to a liveness Ping within {self.ping_timeout}s"
            ) from exc

    # -- frames from the transport ----------------------------------------------------

    def _on_data(self, link: Link, data: bytes) -> None:
        """Feed the core; hand complete frames on (the link's only job is calling this)."""
        core = self._core
        if core is None or link is not self._life.link:
            return
        core.receive_data(data)
        try:
            items = core.messages()
        except ProtocolError as exc:
            log.error("AMI protocol error, dropping connection: %s", exc)
            link.fail(exc)
            return
        self._on_frames(items)

    def _on_frames(self, items: list[Message | Greeting]) -> None:
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
        interest = self._hub.interest
        if interest is not None and low not in interest:
            return
        self._hub.publish(parse_event(message), low)

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

    def _fail_pending(self, error: Exception, cause: BaseException | None) -> None:
        pending, self._pending = self._pending, {}
        for item in pending.values():
            if not item.future.done():
                err = AmiConnectionError(f"{item.action}: {error}")
                err.__cause__ = cause if cause is not None else error.__cause__
                item.future.set_exception(err)
                # the caller may have timed out already; avoid "never retrieved" noise
                item.future.exception()

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
        link, core = self._life.usable_link(), self._core
        if link is None or core is None:
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
            link.write(core.data_to_send())
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
        return self._hub.subscribe(callback, names)

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
        return self._hub.wait(predicate, names, timeout, _event_timeout)


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


def _event_key(event: Event) -> str:
    return event.name.lower()


def _event_timeout(timeout: float) -> AmiTimeout:
    return AmiTimeout(f"no matching AMI event within {timeout}s")


class _AmiSession:
    """The AMI side of :class:`~telephony.net.Lifecycle`: login, Ping, Logoff, final errors."""

    def __init__(self, client: AmiClient) -> None:
        self._client = client

    async def open(self) -> None:
        await self._client._open()

    async def probe(self) -> None:
        await self._client._probe()

    async def goodbye(self) -> None:
        await self._client._request("Logoff", (), timeout=1.0, any_state=True)

    def fail_pending(self, error: Exception, cause: BaseException | None) -> None:
        self._client._fail_pending(error, cause)

    def final(self, error: BaseException) -> str | None:
        # Final either way: retrying cannot change the secret, and going on without
        # the filter would flood this client with every event.
        if isinstance(error, AmiAuthError):
            return "re-login"
        if isinstance(error, AmiFilterError):
            return "event filter"
        return None

    def connected(self) -> Event:
        return Connected()

    def disconnected(self, reason: str) -> Event:
        return Disconnected(reason=reason)

    def reconnected(self, attempts: int) -> Event:
        return Reconnected(attempts=attempts)
