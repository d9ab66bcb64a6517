"""asyncio Event Socket client (inbound): a thin transport around :class:`EslProtocol`.

Lifecycle, subscriber queues, waiters and reconnect are :mod:`telephony.net`'s,
shared with the AMI client: ``NEW -> CONNECTING -> ACTIVE``, a loss gives
``RECONNECTING`` (capped exponential backoff with jitter) then ``ACTIVE`` again,
``close()`` or a refused password gives ``CLOSED``.

Guarantees:

* **Login.** After connect FreeSWITCH greets with ``auth/request``; the client
  answers ``auth PASSWORD`` and, on ``+OK accepted``, sends
  ``event FORMAT BACKGROUND_JOB <events>`` - on the first connection and every
  reconnect - before subscribers hear :class:`Connected` / :class:`Reconnected`.
  Events read meanwhile are held and delivered right after that notice, in order.
  ``-ERR invalid`` (or the ACL's ``text/rude-rejection``) raises
  :class:`EslAuthError` from :meth:`EslClient.connect` and is never retried; met
  while reconnecting, it closes the client with a :class:`Disconnected` saying so.
* **Replies in order.** FreeSWITCH answers the commands of one connection
  strictly in order (``api`` even holds back events generated while it runs), so
  each ``command/reply`` or ``api/response`` goes to the oldest command waiting;
  a reply of the wrong kind is a :class:`ProtocolError` that drops the
  connection. A command whose caller timed out keeps its place, and its late
  reply is dropped, so later replies still meet their own commands.
* **Background jobs.** :meth:`EslClient.bgapi` sends its own ``Job-UUID`` header,
  so the job is known before the reply, and returns the body of the
  ``BACKGROUND_JOB`` event carrying that uuid. Jobs of other connections (every
  listener gets every BACKGROUND_JOB) reach subscribers only if they asked for
  ``BACKGROUND_JOB``.
* **Losses.** Commands and jobs pending when the connection goes fail with
  :class:`EslConnectionError` (the cause chained) and are never re-sent: an
  ``originate`` may or may not have run, and only the caller can tell whether
  repeating it is safe. A ``text/disconnect-notice`` that was not the answer to
  our ``exit`` (FreeSWITCH shutting down, a ``myevents`` channel gone) ends the
  connection at once with that text as the reason, and the client reconnects.
* **Liveness.** A connection idle for ``ping_interval`` s gets ``api version``;
  no answer within ``ping_timeout`` s aborts it (then reconnect). While a command
  is pending there is no probe: an ``api`` blocks the connection for as long as
  it runs (use ``bgapi`` for slow work such as ``originate``). But once the
  oldest command's caller has given up (timeout, cancellation) and a whole
  ``ping_interval`` passes without a byte, the connection is taken for dead.
* **Subscribers** each get their own queue and task, so each sees events in
  wire order and a slow callback never delays the reader or the others.
* The password is never logged or shown in ``repr``; commands are logged by
  their first word only.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Any, Protocol, Self, TypeVar

from telephony.freeswitch.esl.errors import (
    EslAuthError,
    EslCommandError,
    EslConnectionError,
    EslError,
    EslTimeout,
    InvalidCommand,
    InvalidSubscription,
    ProtocolError,
)
from telephony.freeswitch.esl.messages import (
    ApiResponse,
    AuthRequest,
    CommandReply,
    DisconnectNotice,
    Event,
    EventFormat,
    LogData,
    Message,
    RudeRejection,
)
from telephony.freeswitch.esl.notices import (
    NOTICES,
    ClientEvent,
    Connected,
    Disconnected,
    Reconnected,
)
from telephony.freeswitch.esl.protocol import Command, EslProtocol
from telephony.net import Backoff, ConnectionState, ErrorTypes, EventHub, Lifecycle, Link
from telephony.net import Subscription as _Subscription

__all__ = ["EslClient", "EventCallback", "Subscription"]

log = logging.getLogger(__name__)

#: A registered callback of an Event Socket client (see :class:`telephony.net.Subscription`).
Subscription = _Subscription[ClientEvent]
EventCallback = Callable[[ClientEvent], "Awaitable[None] | None"]

_R = TypeVar("_R", CommandReply, ApiResponse)

# Event names as FreeSWITCH spells them; a CUSTOM subclass is any word without spaces.
_EVENT_NAME = re.compile(r"[A-Z][A-Z0-9_]*")
_SUBCLASS = re.compile(r"[^\s]+")
# Commands the client runs itself; sent by hand they would break its guarantees.
_RESERVED = frozenset({"auth", "api", "bgapi", "event", "exit", "myevents", "nixevent", "noevents"})


class _SecretLike(Protocol):
    def get_secret_value(self) -> str: ...


@dataclass(slots=True)
class _Reply:
    """A command waiting for its reply, in wire order."""

    word: str
    expect: type[CommandReply | ApiResponse]
    future: asyncio.Future[CommandReply | ApiResponse]
    abandoned: bool = False  # its caller timed out; the reply will be dropped


def _event_entries(events: Collection[str]) -> tuple[frozenset[str], str]:
    """Check ``events``; return the keys they stand for and the ``event`` command's words."""
    if isinstance(events, str):
        raise InvalidSubscription(f"events: give a collection of names, not the string {events!r}")
    names: list[str] = ["BACKGROUND_JOB"]  # bgapi needs it on every connection
    subclasses: list[str] = []
    keys: set[str] = set()
    for entry in events:
        word, _, subclass = entry.partition(" ")
        if not _EVENT_NAME.fullmatch(word) or (subclass and word != "CUSTOM"):
            raise InvalidSubscription(
                f"events: {entry!r} is neither a FreeSWITCH event name nor 'CUSTOM subclass'"
            )
        if subclass:
            if not _SUBCLASS.fullmatch(subclass):
                raise InvalidSubscription(f"events: bad CUSTOM subclass in {entry!r}")
            subclasses.append(subclass)
        elif word not in names:
            names.append(word)
        keys.add(entry)
    # After the word CUSTOM every word is a subclass (mod_event_socket's parser),
    # so the subclasses go last.
    if subclasses:
        names = [n for n in names if n != "CUSTOM"] + ["CUSTOM", *dict.fromkeys(subclasses)]
    return frozenset(keys), " ".join(names)


class EslClient:
    """FreeSWITCH Event Socket client (see the module docstring for guarantees).

    ``events`` are what FreeSWITCH is asked to send on every connection:
    event names (``CHANNEL_ANSWER``, ``PRESENCE_IN``, ``ALL``) and CUSTOM
    subclasses written ``"CUSTOM callcenter::info"``. It is the one place a
    client's event needs are written down: :meth:`subscribe` and
    :meth:`wait_event` refuse other names (unless ``ALL`` is asked for).
    ``event_format`` is how they travel (``plain``, ``json`` or ``xml``); every
    format gives the same :class:`Event`. ``password`` may be a ``str`` or an
    object with ``get_secret_value()`` (pydantic ``SecretStr``).
    """

    def __init__(
        self,
        host: str,
        port: int,
        password: str | _SecretLike,
        *,
        events: Collection[str] = (),
        event_format: EventFormat | str = EventFormat.PLAIN,
        reconnect: bool = True,
        min_backoff: float = 0.1,
        max_backoff: float = 5.0,
        connect_timeout: float = 5.0,
        command_timeout: float = 10.0,
        ping_interval: float | None = 10.0,
        ping_timeout: float | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self._password = password
        text = self._password_value()
        if not text or any(c in text for c in "\r\n"):
            raise InvalidCommand("password: empty, or contains CR or LF")
        self.event_format = EventFormat(event_format)
        self.events, self._event_words = _event_entries(events)
        self.connect_timeout = connect_timeout
        self.command_timeout = command_timeout
        self.ping_timeout = (
            ping_timeout
            if ping_timeout is not None
            else min(command_timeout, ping_interval or command_timeout)
        )
        #: events read off the wire (BACKGROUND_JOBs included), before any check
        self.events_received = 0
        self._core: EslProtocol | None = None
        self._greeting: asyncio.Future[AuthRequest] | None = None
        self._replies: deque[_Reply] = deque()
        self._jobs: dict[str, asyncio.Future[Event]] = {}
        self._exiting = False  # our own "exit" was sent: its disconnect notice is expected
        self._rejected: str | None = None
        self._hub: EventHub[ClientEvent] = EventHub("ESL", _key, log=log)
        self._life: Lifecycle[ClientEvent] = Lifecycle(
            _EslSession(self),
            self._hub,
            ErrorTypes(EslError, EslConnectionError),
            host=host,
            port=port,
            reconnect=reconnect,
            backoff=Backoff(min_backoff, max_backoff),
            probe_interval=ping_interval,
            peer="FreeSWITCH",
            log=log,
        )

    def __repr__(self) -> str:
        return (
            f"<EslClient {self.host}:{self.port} state={self.state.name}"
            f" pending={len(self._replies)} jobs={len(self._jobs)}"
            f" subscribers={len(self._hub.subscriptions)}>"
        )

    # -- lifecycle ---------------------------------------------------------------------

    @property
    def state(self) -> ConnectionState:
        """Where the client is in its lifecycle."""
        return self._life.state

    @property
    def last_error(self) -> BaseException | None:
        """The error of the last failed (re)connect attempt or liveness probe."""
        return self._life.last_error

    @property
    def reconnects(self) -> int:
        """How many times a lost connection was re-established."""
        return self._life.reconnects

    async def connect(self) -> None:
        """Connect, authenticate and subscribe; then start the supervisor.

        Raises :class:`EslAuthError` (wrong password or ACL; never retried),
        :class:`EslConnectionError` (refused, unreachable, closed early) or
        :class:`EslTimeout` (no greeting/answer within ``connect_timeout``).
        Subscribers present get :class:`Connected` first.
        """
        await self._life.connect()

    async def close(self) -> None:
        """Say ``exit`` (briefly), close the socket, fail pending commands, stop subscribers."""
        await self._life.close()

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _password_value(self) -> str:
        secret = self._password
        return secret if isinstance(secret, str) else secret.get_secret_value()

    async def _open(self) -> None:
        """One attempt: TCP, greeting, auth, event subscription (the lifecycle cleans up)."""
        loop = asyncio.get_running_loop()
        self._core = EslProtocol()
        self._greeting = loop.create_future()
        self._exiting = False
        self._rejected = None
        try:
            async with asyncio.timeout(self.connect_timeout):
                try:
                    link = await self._life.dial(self._on_data)
                except OSError as exc:
                    raise EslConnectionError(
                        f"cannot connect to the Event Socket at {self.host}:{self.port}: {exc}"
                    ) from exc
                waiting: set[asyncio.Future[Any]] = {self._greeting, link.lost}
                await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                if not self._greeting.done():
                    if self._rejected is not None:
                        raise EslAuthError(
                            f"the Event Socket ACL refused this address: {self._rejected.strip()}"
                        )
                    raise EslConnectionError(
                        "connection closed before the auth/request greeting"
                    ) from link.error
                reply = await self._request(
                    Command(f"auth {self._password_value()}"), CommandReply, None, True
                )
                if not reply.ok:
                    raise EslAuthError(f"FreeSWITCH refused the password: {reply.reply_text}")
                reply = await self._request(
                    Command(f"event {self.event_format.value} {self._event_words}"),
                    CommandReply, None, True,
                )
                if not reply.ok:
                    raise EslConnectionError(f"FreeSWITCH refused the events: {reply.reply_text}")
        except TimeoutError as exc:
            raise EslTimeout(
                f"no Event Socket greeting/answer from {self.host}:{self.port}"
                f" within {self.connect_timeout}s"
            ) from exc

    async def _probe(self) -> None:
        if self._replies:
            head = self._replies[0]
            if head.abandoned:
                # Its caller gave up, and nothing at all has come since for a whole
                # interval: a wedged or dead connection, which only a new one cures.
                raise EslTimeout(
                    f"no reply to {head.word!r} after its caller gave up, and nothing"
                    f" else for {self._life.probe_interval}s"
                )
            # A command is running (an api blocks the connection): wait for it, not
            # for a probe queued behind it.
            try:
                async with asyncio.timeout(self._life.probe_interval or self.ping_timeout):
                    await asyncio.shield(self._replies[0].future)
            except (TimeoutError, EslError):
                pass
            return
        try:
            await self._request(Command("api version"), ApiResponse, self.ping_timeout, True)
        except EslTimeout as exc:
            raise EslTimeout(
                f"no answer to a liveness 'api version' within {self.ping_timeout}s"
            ) from exc

    async def _goodbye(self) -> None:
        self._exiting = True
        await self._request(Command("exit"), CommandReply, 1.0, True)

    # -- the read path -----------------------------------------------------------------

    def _on_data(self, link: Link, data: bytes) -> None:
        core = self._core
        if core is None or link is not self._life.link:
            return
        core.receive_data(data)
        try:
            messages = core.messages()
            for message in messages:
                self._on_message(link, message)
        except ProtocolError as exc:
            log.error("ESL protocol error, dropping connection: %s", exc)
            link.fail(exc)

    def _on_message(self, link: Link, message: Message) -> None:
        if isinstance(message, Event):
            self.events_received += 1
            if message.name == "BACKGROUND_JOB":
                job = self._jobs.pop(message.job_uuid or "", None)
                if job is not None:
                    if not job.done():
                        job.set_result(message)
                    return
            interest = self._hub.interest
            key = message.key
            if interest is None or key in interest:
                self._hub.publish(message, key)
        elif isinstance(message, CommandReply | ApiResponse):
            if not self._replies:
                raise ProtocolError(f"{type(message).__name__} with no command waiting for it")
            waiting = self._replies.popleft()
            if not isinstance(message, waiting.expect):
                self._replies.appendleft(waiting)  # failed with the connection, cause chained
                raise ProtocolError(
                    f"{type(message).__name__} in answer to {waiting.word!r}"
                    f" (expected {waiting.expect.__name__})"
                )
            if not waiting.future.done():
                waiting.future.set_result(message)
        elif isinstance(message, AuthRequest):
            if self._greeting is not None and not self._greeting.done():
                self._greeting.set_result(message)
        elif isinstance(message, DisconnectNotice):
            if not self._exiting:
                # FreeSWITCH is going (shutdown, a myevents channel ended): end the
                # connection now, with its words as the reason.
                self._life.drop_reason = f"FreeSWITCH disconnected: {message.text.strip()}"
                link.abort()
        elif isinstance(message, RudeRejection):
            self._rejected = message.text
            self._life.drop_reason = f"refused by the Event Socket ACL: {message.text.strip()}"
        elif isinstance(message, LogData):
            pass  # only after a "log" command, which this client never sends
        else:
            log.warning("ESL frame of unknown type %s ignored", message.content_type)

    def _fail_pending(self, error: Exception, cause: BaseException | None) -> None:
        replies, self._replies = self._replies, deque()
        jobs, self._jobs = self._jobs, {}
        waiting: list[tuple[str, asyncio.Future[CommandReply | ApiResponse] | asyncio.Future[Event]]]
        waiting = [(r.word, r.future) for r in replies]
        waiting += [("bgapi job", f) for f in jobs.values()]
        for word, future in waiting:
            if not future.done():
                err = EslConnectionError(f"{word}: {error}")
                err.__cause__ = cause if cause is not None else error.__cause__
                future.set_exception(err)
                future.exception()  # the caller may have timed out already

    # -- commands --------------------------------------------------------------------------

    async def _request(
        self, command: Command, expect: type[_R], timeout: float | None, any_state: bool = False
    ) -> _R:
        word = command.word
        if not any_state and self.state is not ConnectionState.ACTIVE:
            raise EslConnectionError(f"{word}: not connected (state {self.state.name})")
        link, core = self._life.usable_link(), self._core
        if link is None or core is None:
            raise EslConnectionError(f"{word}: not connected")
        core.send(command)  # raises InvalidCommand before anything is registered
        future: asyncio.Future[CommandReply | ApiResponse] = (
            asyncio.get_running_loop().create_future()
        )
        waiting = _Reply(word, expect, future)
        self._replies.append(waiting)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("ESL -> %s", word)  # never the arguments (auth carries the password)
        link.write(core.data_to_send())
        try:
            # shield: a caller that gives up leaves the reply's place in the queue.
            if timeout is None:
                reply = await asyncio.shield(future)
            else:
                async with asyncio.timeout(timeout):
                    reply = await asyncio.shield(future)
        except TimeoutError as exc:
            waiting.abandoned = True
            raise EslTimeout(f"{word}: no reply within {timeout}s") from exc
        except asyncio.CancelledError:
            waiting.abandoned = True
            raise
        assert isinstance(reply, expect)
        return reply

    async def api(self, command: str, *, timeout: float | None = None, check: bool = True) -> str:
        """Run ``api COMMAND`` and return its output (the api/response body).

        With ``check`` (the default) a body starting ``-ERR`` or ``-USAGE`` raises
        :class:`EslCommandError`; ``check=False`` returns it. Raises
        :class:`EslTimeout` after ``timeout`` (default ``command_timeout``; the
        command still runs and blocks the connection until it ends),
        :class:`EslConnectionError` if not connected or lost first (never
        re-sent), :class:`InvalidCommand` for CR/LF in ``command``.
        """
        response = await self._request(
            Command(f"api {command}"),
            ApiResponse,
            self.command_timeout if timeout is None else timeout,
        )
        if check and not response.ok:
            raise EslCommandError(command, response.body)
        return response.body

    async def bgapi(
        self, command: str, *, timeout: float | None = None, check: bool = True
    ) -> str:
        """Run ``bgapi COMMAND`` and return the job's output (the BACKGROUND_JOB body).

        The connection stays free while the job runs. ``timeout`` (default
        ``command_timeout``) covers the reply and the job; after it the job's
        result, should it come, is dropped. ``check`` as for :meth:`api`.
        """
        job = str(uuid.uuid4())
        future: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
        self._jobs[job] = future  # before sending: the job may end before we look
        limit = self.command_timeout if timeout is None else timeout
        try:
            async with asyncio.timeout(limit):
                reply = await self._request(
                    Command(f"bgapi {command}", (("Job-UUID", job),)), CommandReply, None
                )
                if not reply.ok:
                    raise EslCommandError(f"bgapi {command}", reply.reply_text)
                event = await future
        except TimeoutError as exc:
            raise EslTimeout(f"bgapi: no job result within {limit}s") from exc
        finally:
            if self._jobs.get(job) is future:
                del self._jobs[job]
        body = event.body or ""
        if check and not ApiResponse(body).ok:
            raise EslCommandError(command, body)
        return body

    async def command(
        self,
        line: str,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes | None = None,
        *,
        timeout: float | None = None,
        check: bool = True,
    ) -> CommandReply:
        """Send another ESL command (``sendevent``, ``sendmsg``, ``filter`` ...); its reply.

        ``headers`` follow the command line; a ``body`` gets its
        ``content-length`` from the encoder. With ``check``, ``-ERR`` raises
        :class:`EslCommandError`. The commands the client runs itself (``auth``,
        ``api``, ``bgapi``, ``event``, ``nixevent``, ``noevents``, ``myevents``,
        ``exit``) are refused with :class:`InvalidCommand`: use :meth:`api`,
        :meth:`bgapi`, the ``events`` of the constructor and :meth:`close`.
        """
        cmd = Command(line, tuple(headers), body)
        if cmd.word in _RESERVED:
            raise InvalidCommand(f"{cmd.word!r} is run by the client itself")
        reply = await self._request(
            cmd, CommandReply, self.command_timeout if timeout is None else timeout
        )
        if check and not reply.ok:
            raise EslCommandError(cmd.word, reply.reply_text)
        return reply

    # -- events ------------------------------------------------------------------------------

    def subscribe(
        self, callback: EventCallback, names: Collection[str] | None = None
    ) -> Subscription:
        """Call ``callback(event)`` (sync or async) for every event, or those in ``names``.

        Names are event keys: ``CHANNEL_ANSWER``, ``CUSTOM callcenter::info``, and
        the client's own ``Connected``, ``Disconnected``, ``Reconnected``. Call
        from a running loop. Raises :class:`InvalidSubscription` for a name the
        client does not ask FreeSWITCH for.
        """
        if self.state is ConnectionState.CLOSED:
            raise EslError("subscribe() on a closed client")
        self._check_names(names, "subscribe()")
        return self._hub.subscribe(callback, names)

    def wait_event(
        self,
        predicate: Callable[[ClientEvent], bool] | None = None,
        timeout: float = 5.0,
        *,
        names: Collection[str] | None = None,
    ) -> Awaitable[ClientEvent]:
        """An awaitable for the first event matching ``names`` and ``predicate``.

        Registered when called, so ``w = esl.wait_event(...); await esl.api(...);
        await w`` cannot miss an event that comes with the reply. The predicate
        runs on the read path: keep it cheap. Raises :class:`EslTimeout`.
        """
        self._check_names(names, "wait_event()")
        return self._hub.wait(predicate, names, timeout, _event_timeout)

    def _check_names(self, names: Collection[str] | None, what: str) -> None:
        if names is None:
            return
        if isinstance(names, str):
            raise InvalidSubscription(f"{what}: give a collection of names, not {names!r}")
        if "ALL" in self.events:
            return
        left_out = sorted(n for n in names if n not in self.events and n not in NOTICES)
        if left_out:
            raise InvalidSubscription(
                f"{what}: {', '.join(left_out)} not among this client's events "
                f"({', '.join(sorted(self.events)) or 'none'}): FreeSWITCH never sends them here"
            )


def _key(event: ClientEvent) -> str:
    return event.key


def _event_timeout(timeout: float) -> EslTimeout:
    return EslTimeout(f"no matching ESL event within {timeout}s")


class _EslSession:
    """The Event Socket side of :class:`~telephony.net.Lifecycle`."""

    def __init__(self, client: EslClient) -> None:
        self._client = client

    async def open(self) -> None:
        await self._client._open()

    async def probe(self) -> None:
        await self._client._probe()

    async def goodbye(self) -> None:
        await self._client._goodbye()

    def fail_pending(self, error: Exception, cause: BaseException | None) -> None:
        self._client._fail_pending(error, cause)

    def final(self, error: BaseException) -> str | None:
        # Retrying cannot change the password (or the ACL).
        return "re-auth" if isinstance(error, EslAuthError) else None

    def connected(self) -> ClientEvent:
        return Connected()

    def disconnected(self, reason: str) -> ClientEvent:
        return Disconnected(reason=reason)

    def reconnected(self, attempts: int) -> ClientEvent:
        return Reconnected(attempts=attempts)
