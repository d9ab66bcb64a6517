"""Specification of EslClient against an in-process fake Event Socket (no FreeSWITCH).

The fake speaks the bytes recorded from FreeSWITCH 1.10.12 (``esl_transcripts/``):
the greeting, ``+OK accepted`` / ``-ERR invalid`` with the goodbye notice,
``api/response``, bgapi's reply and BACKGROUND_JOB event, real call events and the
shutdown sequence; it makes no claim about FreeSWITCH beyond those bytes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
from esl_wire import frames, load

from telephony.freeswitch.esl.client import EslClient
from telephony.freeswitch.esl.errors import (
    EslAuthError,
    EslCommandError,
    EslConnectionError,
    EslTimeout,
    InvalidCommand,
    InvalidSubscription,
    ProtocolError,
)
from telephony.freeswitch.esl.messages import Event
from telephony.freeswitch.esl.notices import ClientEvent, Connected, Disconnected, Reconnected
from telephony.net import ConnectionState

PASSWORD = "s3cret-esl"
GREETING = b"Content-Type: auth/request\n\n"
GOODBYE = (
    b"Content-Type: text/disconnect-notice\nContent-Length: 67\n\n"
    b"Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"
)
CALL = load("04a_events_plain_call")
SHUTDOWN = load("09a_shutdown_sigterm")


def reply(text: str, *extra: tuple[str, str]) -> bytes:
    lines = ["Content-Type: command/reply", f"Reply-Text: {text}"]
    lines += [f"{k}: {v}" for k, v in extra]
    return ("\n".join(lines) + "\n\n").encode()


def api_response(body: str) -> bytes:
    data = body.encode()
    return b"Content-Type: api/response\nContent-Length: %d\n\n" % len(data) + data


def plain_event(headers: list[tuple[str, str]], body: str | None = None) -> bytes:
    lines = [f"{k}: {v}" for k, v in headers]
    payload = b""
    if body is not None:
        payload = body.encode()
        lines.append(f"Content-Length: {len(payload)}")
    data = ("\n".join(lines) + "\n\n").encode() + payload
    return b"Content-Length: %d\nContent-Type: text/event-plain\n\n" % len(data) + data


def background_job(job: str, body: str) -> bytes:
    return plain_event(
        [("Event-Name", "BACKGROUND_JOB"), ("Job-UUID", job), ("Job-Command", "status")], body
    )


@dataclass
class Request:
    line: str
    headers: dict[str, str]
    body: bytes

    @property
    def word(self) -> str:
        return self.line.split(" ", 1)[0]

    @property
    def arg(self) -> str:
        return self.line.partition(" ")[2]


Handler = Callable[[Request], bytes | None]


@dataclass
class FakeEsl:
    """A scripted Event Socket. ``handlers[word](request)`` returns bytes to send (None:
    stay silent). Every command received is kept in ``received``."""

    password: str = PASSWORD
    handlers: dict[str, Handler] = field(default_factory=dict)
    api: dict[str, Handler] = field(default_factory=dict)
    received: list[Request] = field(default_factory=list)
    writers: list[asyncio.StreamWriter] = field(default_factory=list)
    auths: int = 0
    greeting: bytes = GREETING
    server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self.server is not None
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def start(self, port: int = 0) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", port)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            self.drop()
            await self.server.wait_closed()
            self.server = None

    def drop(self) -> None:
        """Close every connection abruptly (FreeSWITCH killed)."""
        for writer in self.writers:
            writer.transport.abort()
        self.writers.clear()

    async def push(self, data: bytes) -> None:
        for writer in self.writers:
            writer.write(data)
            await writer.drain()

    def commands(self, word: str) -> list[Request]:
        return [r for r in self.received if r.word == word]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        writer.write(self.greeting)
        try:
            while True:
                head = await reader.readuntil(b"\n\n")
                line, *rest = head[:-2].decode().split("\n")
                headers = dict(h.split(": ", 1) for h in rest)
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                request = Request(line, headers, body)
                self.received.append(request)
                answer = self._answer(request)
                if answer is not None:
                    writer.write(answer)
                if request.word == "exit" or answer == reply("-ERR invalid") + GOODBYE:
                    await writer.drain()
                    writer.close()
                    return
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.transport.abort()

    def _answer(self, request: Request) -> bytes | None:
        if request.word in self.handlers:
            return self.handlers[request.word](request)
        if request.word == "auth":
            if request.arg != self.password:
                return reply("-ERR invalid") + GOODBYE
            self.auths += 1
            return reply("+OK accepted")
        if request.word == "event":
            return reply(f"+OK event listener enabled {request.arg.split()[0]}")
        if request.word == "api":
            command = request.arg.split(" ", 1)[0]
            if command in self.api:
                return self.api[command](request)
            if command == "version":
                return api_response("FreeSWITCH Version 1.10.12-release~64bit ( 64bit)\n")
            if command == "echo":
                return api_response(request.arg.partition(" ")[2])
            return api_response(f"-ERR {command} Command not found!\n")
        if request.word == "bgapi":
            job = request.headers["Job-UUID"]
            result = "UP 0 years\n" if request.arg == "status" else "-ERR nosuch Command not found!\n"
            return reply(f"+OK Job-UUID: {job}", ("Job-UUID", job)) + background_job(job, result)
        if request.word == "exit":
            return reply("+OK bye") + GOODBYE
        if request.word == "sendevent":
            return reply("+OK e685aa63-3f71-409c-b583-439c862c3b68")
        return reply("-ERR command not found")


@pytest.fixture
async def fake() -> AsyncIterator[FakeEsl]:
    server = FakeEsl()
    await server.start()
    yield server
    await server.stop()


def make_client(fake: FakeEsl, **kw: object) -> EslClient:
    options: dict[str, object] = {
        "connect_timeout": 2.0,
        "command_timeout": 2.0,
        "min_backoff": 0.01,
        "max_backoff": 0.05,
        "events": ["CHANNEL_CREATE", "CHANNEL_ANSWER", "CUSTOM callcenter::info", "SHUTDOWN"],
    }
    options.update(kw)
    return EslClient("127.0.0.1", fake.port, PASSWORD, **options)  # type: ignore[arg-type]


@pytest.fixture
async def client(fake: FakeEsl) -> AsyncIterator[EslClient]:
    esl = make_client(fake)
    await esl.connect()
    yield esl
    await esl.close()


def collect(
    esl: EslClient, names: list[str] | None = None
) -> tuple[list[ClientEvent], asyncio.Queue[ClientEvent]]:
    seen: list[ClientEvent] = []
    queue: asyncio.Queue[ClientEvent] = asyncio.Queue()

    def on_event(event: ClientEvent) -> None:
        seen.append(event)
        queue.put_nowait(event)

    esl.subscribe(on_event, names)
    return seen, queue


async def next_of(queue: asyncio.Queue[ClientEvent], timeout: float = 2.0) -> ClientEvent:
    async with asyncio.timeout(timeout):
        return await queue.get()


async def until(predicate: Callable[[], bool], timeout: float = 2.0) -> None:
    """Wait (bounded) for the fake to have received something."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.001)


# -- connecting ------------------------------------------------------------------------


async def test_connect_authenticates_subscribes_and_becomes_active(fake: FakeEsl) -> None:
    esl = make_client(fake)
    await esl.connect()
    try:
        assert esl.state is ConnectionState.ACTIVE and "state=ACTIVE" in repr(esl)
        auth, event = fake.received
        assert auth.line == f"auth {PASSWORD}"
        assert event.line == (
            "event plain BACKGROUND_JOB CHANNEL_CREATE CHANNEL_ANSWER SHUTDOWN"
            " CUSTOM callcenter::info"
        )
    finally:
        await esl.close()
    assert esl.state is ConnectionState.CLOSED and fake.commands("exit")


async def test_a_client_with_no_events_still_hears_its_background_jobs(fake: FakeEsl) -> None:
    esl = make_client(fake, events=(), event_format="json")
    await esl.connect()
    try:
        assert fake.commands("event")[0].line == "event json BACKGROUND_JOB"
        assert await esl.bgapi("status") == "UP 0 years\n"
    finally:
        await esl.close()


async def test_wrong_password_raises_auth_error_without_retrying(fake: FakeEsl) -> None:
    fake.password = "ClueCon"
    esl = make_client(fake)
    with pytest.raises(EslAuthError, match="-ERR invalid"):
        await esl.connect()
    assert esl.state is ConnectionState.CLOSED
    assert len(fake.commands("auth")) == 1


async def test_an_acl_rejection_is_an_auth_error(fake: FakeEsl) -> None:
    fake.greeting = b"Content-Type: text/rude-rejection\nContent-Length: 15\n\nAccess Denied.\n"
    fake.handlers["auth"] = lambda r: None
    original = fake._serve

    async def reject(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(fake.greeting)
        await writer.drain()
        writer.close()

    fake._serve = reject  # type: ignore[method-assign]
    await fake.stop()
    await fake.start()
    esl = make_client(fake)
    with pytest.raises(EslAuthError, match="ACL refused.*Access Denied"):
        await esl.connect()
    fake._serve = original  # type: ignore[method-assign]


async def test_refused_port_raises_connection_error(fake: FakeEsl) -> None:
    port = fake.port
    await fake.stop()
    esl = EslClient("127.0.0.1", port, PASSWORD, connect_timeout=2.0)
    with pytest.raises(EslConnectionError, match="cannot connect") as info:
        await esl.connect()
    assert isinstance(info.value.__cause__, OSError)


async def test_a_silent_server_hits_the_connect_timeout(fake: FakeEsl) -> None:
    fake.greeting = b""
    esl = make_client(fake, connect_timeout=0.2)
    with pytest.raises(EslTimeout, match="within 0.2s"):
        await esl.connect()
    assert esl.state is ConnectionState.CLOSED


async def test_the_password_is_not_logged_or_shown(
    fake: FakeEsl, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    esl = make_client(fake)
    await esl.connect()
    await esl.api("version")
    await esl.close()
    assert PASSWORD not in caplog.text and PASSWORD not in repr(esl)


@pytest.mark.parametrize("password", ["", "a\nb", "x\r"])
def test_a_password_that_cannot_be_sent_is_refused_at_once(password: str) -> None:
    with pytest.raises(InvalidCommand, match="password"):
        EslClient("127.0.0.1", 1, password)


async def test_subscribers_present_before_connect_hear_connected_first(fake: FakeEsl) -> None:
    esl = make_client(fake)
    _seen, queue = collect(esl)
    await esl.connect()
    try:
        assert isinstance(await next_of(queue), Connected)
    finally:
        await esl.close()


# -- api, bgapi and other commands ------------------------------------------------------


async def test_api_returns_the_body(client: EslClient) -> None:
    assert (await client.api("version")).startswith("FreeSWITCH Version 1.10.12")


async def test_an_api_error_raises_unless_unchecked(client: EslClient) -> None:
    with pytest.raises(EslCommandError, match="nosuchcmd Command not found"):
        await client.api("nosuchcmd")
    assert (await client.api("nosuchcmd", check=False)).startswith("-ERR")


async def test_concurrent_commands_each_get_their_own_reply(client: EslClient) -> None:
    bodies = await asyncio.gather(*(client.api(f"echo {i}") for i in range(30)))
    assert bodies == [str(i) for i in range(30)]


async def test_a_timed_out_api_keeps_its_place_and_its_late_reply_is_dropped(
    fake: FakeEsl, client: EslClient
) -> None:
    fake.api["slow"] = lambda r: None  # answered below, late
    fake.api["echo"] = lambda r: None  # FreeSWITCH runs it only after "slow"
    with pytest.raises(EslTimeout, match="api: no reply within 0.05s"):
        await client.api("slow", timeout=0.05)
    second = asyncio.ensure_future(client.api("echo second"))
    await until(lambda: len(fake.commands("api")) == 2)
    await fake.push(api_response("late answer to slow") + api_response("second"))
    assert await second == "second"


async def test_a_reply_of_the_wrong_kind_drops_the_connection(
    fake: FakeEsl, client: EslClient
) -> None:
    fake.api["odd"] = lambda r: reply("+OK this is not an api/response")
    _seen, queue = collect(client, ["Disconnected", "Reconnected"])
    with pytest.raises(EslConnectionError) as info:
        await client.api("odd")
    assert isinstance(info.value.__cause__, ProtocolError)
    assert "in answer to 'api'" in str(info.value.__cause__)
    assert isinstance(await next_of(queue), Disconnected)
    assert isinstance(await next_of(queue), Reconnected)


async def test_bgapi_returns_the_job_body(fake: FakeEsl, client: EslClient) -> None:
    assert await client.bgapi("status") == "UP 0 years\n"
    (sent,) = fake.commands("bgapi")
    assert sent.line == "bgapi status" and len(sent.headers["Job-UUID"]) == 36


async def test_background_jobs_are_matched_by_job_uuid_not_order(
    fake: FakeEsl, client: EslClient
) -> None:
    held: list[Request] = []
    fake.handlers["bgapi"] = lambda r: (
        held.append(r) or reply(f"+OK Job-UUID: {r.headers['Job-UUID']}",
                                ("Job-UUID", r.headers["Job-UUID"]))
    )
    jobs = [asyncio.ensure_future(client.bgapi(f"echo {i}")) for i in range(5)]
    await until(lambda: len(held) == 5)
    for request in reversed(held):
        await fake.push(background_job(request.headers["Job-UUID"], request.arg))
    assert await asyncio.gather(*jobs) == [f"echo {i}" for i in range(5)]


async def test_another_connections_job_goes_only_to_background_job_subscribers(
    fake: FakeEsl,
) -> None:
    esl = make_client(fake, events=["BACKGROUND_JOB", "CHANNEL_CREATE"])
    await esl.connect()
    try:
        jobs, job_queue = collect(esl, ["BACKGROUND_JOB"])
        others, _others = collect(esl, ["CHANNEL_CREATE"])
        await fake.push(background_job("9c0a3f0e-0000-4000-8000-000000000000", "+OK\n"))
        got = await next_of(job_queue)
        assert isinstance(got, Event) and got.job_uuid == "9c0a3f0e-0000-4000-8000-000000000000"
        assert await esl.bgapi("status") == "UP 0 years\n"  # ours is not delivered
        assert len(jobs) == 1 and others == []
    finally:
        await esl.close()


async def test_a_refused_bgapi_and_a_failed_job_raise(fake: FakeEsl, client: EslClient) -> None:
    with pytest.raises(EslCommandError, match="nosuch Command not found"):
        await client.bgapi("nosuch")
    fake.handlers["bgapi"] = lambda r: reply("-ERR command not found")
    with pytest.raises(EslCommandError, match="-ERR command not found"):
        await client.bgapi("status")
    assert "jobs=0" in repr(client)


async def test_a_job_that_never_ends_times_out_and_is_forgotten(
    fake: FakeEsl, client: EslClient
) -> None:
    fake.handlers["bgapi"] = lambda r: reply("+OK Job-UUID: x", ("Job-UUID", "x"))
    with pytest.raises(EslTimeout, match="no job result within 0.05s"):
        await client.bgapi("status", timeout=0.05)
    assert "jobs=0" in repr(client)


async def test_command_sends_headers_and_a_body(fake: FakeEsl, client: EslClient) -> None:
    body = b"line one of the body\nline two: 100% done\n"
    answer = await client.command(
        "sendevent CUSTOM", [("Event-Subclass", "eslrec::test")], body
    )
    assert answer.reply_text == "+OK e685aa63-3f71-409c-b583-439c862c3b68"
    (sent,) = fake.commands("sendevent")
    assert sent.headers == {"Event-Subclass": "eslrec::test", "content-length": "41"}
    assert sent.body == body


@pytest.mark.parametrize("line", ["noevents", "event plain ALL", "exit", "auth x", "api status"])
async def test_commands_the_client_runs_itself_are_refused(client: EslClient, line: str) -> None:
    with pytest.raises(InvalidCommand, match="run by the client itself"):
        await client.command(line)


async def test_an_injected_newline_is_refused_before_anything_is_sent(
    fake: FakeEsl, client: EslClient
) -> None:
    with pytest.raises(InvalidCommand):
        await client.api("status\n\napi fsctl shutdown")
    with pytest.raises(InvalidCommand):
        await client.bgapi("status\nJob-UUID: mine")
    await client.api("version")
    assert [r.line for r in fake.commands("api")] == ["api version"]
    assert fake.commands("bgapi") == [] and "jobs=0" in repr(client)


# -- events -----------------------------------------------------------------------------


async def test_recorded_call_events_reach_a_subscriber_in_wire_order(fake: FakeEsl) -> None:
    esl = make_client(fake, events=["ALL"])
    await esl.connect()
    try:
        seen, queue = collect(esl)
        stream = CALL.stream
        recorded = [f for f in frames(stream) if f.headers["Content-Type"] == "text/event-plain"]
        for frame in recorded:  # as FreeSWITCH writes them: outer headers, then the body
            await fake.push(stream[frame.start : frame.body_start])
            await fake.push(frame.body)
        while len(seen) < len(recorded):
            await next_of(queue)
        assert [e.get("Event-Sequence") for e in seen if isinstance(e, Event)] == [
            f.body.split(b"Event-Sequence: ")[1].split(b"\n")[0].decode() for f in recorded
        ]
    finally:
        await esl.close()


async def test_a_subscriber_gets_only_the_names_it_asked_for(
    fake: FakeEsl, client: EslClient
) -> None:
    seen, queue = collect(client, ["CUSTOM callcenter::info"])
    await fake.push(plain_event([("Event-Name", "CHANNEL_CREATE")]))
    await fake.push(plain_event([("Event-Subclass", "callcenter%3A%3Ainfo"),
                                 ("Event-Name", "CUSTOM"), ("CC-Action", "agent-state-change")]))
    got = await next_of(queue)
    assert isinstance(got, Event) and got.get("CC-Action") == "agent-state-change"
    assert len(seen) == 1


async def test_subscribing_to_an_event_the_client_never_asks_for_is_refused(
    client: EslClient,
) -> None:
    with pytest.raises(InvalidSubscription, match="CHANNEL_HANGUP.*never sends"):
        client.subscribe(lambda e: None, ["CHANNEL_ANSWER", "CHANNEL_HANGUP"])
    with pytest.raises(InvalidSubscription, match="sofia::register"):
        client.wait_event(names=["CUSTOM sofia::register"])
    client.subscribe(lambda e: None, ["CHANNEL_ANSWER", "Disconnected", "Reconnected"])


@pytest.mark.parametrize(
    "events", [["channel_create"], ["CUSTOM"], ["CHANNEL_CREATE x::y"], ["CUSTOM a b"], "ALL"]
)
def test_events_must_be_names_or_custom_subclasses(events: list[str]) -> None:
    if events == ["CUSTOM"]:
        EslClient("127.0.0.1", 1, PASSWORD, events=events)  # CUSTOM without subclass is fine
        return
    with pytest.raises(InvalidSubscription):
        EslClient("127.0.0.1", 1, PASSWORD, events=events)


async def test_a_slow_async_subscriber_keeps_order(fake: FakeEsl, client: EslClient) -> None:
    seen: list[str] = []
    done = asyncio.Event()

    async def slow(event: ClientEvent) -> None:
        await asyncio.sleep(0)
        assert isinstance(event, Event)
        seen.append(event.get("Unique-ID") or "")
        if len(seen) == 20:
            done.set()

    client.subscribe(slow, ["CHANNEL_CREATE"])
    await fake.push(b"".join(
        plain_event([("Event-Name", "CHANNEL_CREATE"), ("Unique-ID", str(i))]) for i in range(20)
    ))
    async with asyncio.timeout(2):
        await done.wait()
    assert seen == [str(i) for i in range(20)]


async def test_a_failing_subscriber_does_not_stop_the_others(
    fake: FakeEsl, client: EslClient, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(event: ClientEvent) -> None:
        raise RuntimeError("subscriber bug")

    client.subscribe(broken, ["CHANNEL_CREATE"])
    _seen, queue = collect(client, ["CHANNEL_CREATE"])
    await fake.push(plain_event([("Event-Name", "CHANNEL_CREATE")]) * 2)
    await next_of(queue)
    await next_of(queue)
    await until(lambda: sum("subscriber" in r.getMessage() for r in caplog.records) == 2)


async def test_wait_event_sees_an_event_sent_with_the_reply(
    fake: FakeEsl, client: EslClient
) -> None:
    fake.api["originate"] = lambda r: api_response("+OK abc\n") + plain_event(
        [("Event-Name", "CHANNEL_ANSWER"), ("Unique-ID", "abc")]
    )
    waiter = client.wait_event(lambda e: isinstance(e, Event) and e.unique_id == "abc")
    assert await client.api("originate loopback/9664 &park") == "+OK abc\n"
    assert (await waiter).name == "CHANNEL_ANSWER"


async def test_wait_event_times_out(client: EslClient) -> None:
    with pytest.raises(EslTimeout, match="no matching ESL event"):
        await client.wait_event(names=["CHANNEL_ANSWER"], timeout=0.05)


async def test_close_cancels_and_awaits_subscriber_tasks(fake: FakeEsl) -> None:
    esl = make_client(fake)
    await esl.connect()
    started = asyncio.Event()

    async def blocked(event: ClientEvent) -> None:
        started.set()
        await asyncio.Event().wait()

    sub = esl.subscribe(blocked, ["CHANNEL_CREATE"])
    await fake.push(plain_event([("Event-Name", "CHANNEL_CREATE")]))
    async with asyncio.timeout(2):
        await started.wait()
    await esl.close()
    assert sub._task.cancelled()


# -- losing the connection ----------------------------------------------------------------


async def test_a_drop_fails_pending_commands_with_a_chained_error_and_never_resends(
    fake: FakeEsl, client: EslClient
) -> None:
    fake.api["hang"] = lambda r: None
    _seen, queue = collect(client, ["Reconnected"])
    pending = asyncio.ensure_future(client.api("hang", timeout=5))
    job = asyncio.ensure_future(client.bgapi("status", timeout=5))
    fake.handlers["bgapi"] = lambda r: None
    await until(lambda: bool(fake.commands("api")) and bool(fake.commands("bgapi")))
    fake.drop()
    for waiting, word in ((pending, "api"), (job, "bgapi")):
        with pytest.raises(EslConnectionError, match=word) as info:
            await waiting
        assert info.value.__cause__ is not None
    assert isinstance(await next_of(queue), Reconnected)
    await client.api("version")
    assert len(fake.commands("bgapi")) == 1 and [r.arg for r in fake.commands("api")] == [
        "hang", "version"
    ]


async def test_events_are_asked_for_again_before_reconnected_is_delivered(
    fake: FakeEsl, client: EslClient
) -> None:
    held: list[Request] = []
    _seen, queue = collect(client, ["Disconnected", "Reconnected", "CHANNEL_CREATE"])
    fake.drop()
    assert isinstance(await next_of(queue), Disconnected)
    fake.handlers["event"] = lambda r: held.append(r)  # type: ignore[func-returns-value]
    await until(lambda: bool(held))
    assert queue.empty(), "Reconnected before FreeSWITCH confirmed the events"
    # the confirmation and a first event in one read: the event comes after Reconnected
    await fake.push(reply("+OK event listener enabled plain")
                    + plain_event([("Event-Name", "CHANNEL_CREATE")]))
    assert isinstance(await next_of(queue), Reconnected)
    event = await next_of(queue)
    assert isinstance(event, Event) and event.name == "CHANNEL_CREATE"
    assert held[0].line == fake.commands("event")[0].line
    assert client.reconnects == 1 and fake.auths == 2


async def test_a_changed_password_while_reconnecting_closes_the_client(
    fake: FakeEsl, client: EslClient
) -> None:
    _seen, queue = collect(client, ["Disconnected"])
    fake.password = "rotated-password"
    fake.drop()
    assert isinstance(await next_of(queue), Disconnected)
    final = await next_of(queue)
    assert isinstance(final, Disconnected) and "re-auth refused" in final.reason
    assert client.state is ConnectionState.CLOSED
    assert isinstance(client.last_error, EslAuthError)


async def test_a_shutdown_notice_ends_the_connection_and_the_client_comes_back(
    fake: FakeEsl, client: EslClient
) -> None:
    _seen, queue = collect(client, ["SHUTDOWN", "Disconnected", "Reconnected"])
    after_subscribe = SHUTDOWN.recv[3:]  # the greeting and the two replies are the fake's
    await fake.push(b"".join(after_subscribe))
    assert isinstance(await next_of(queue), Event)
    lost = await next_of(queue)
    assert isinstance(lost, Disconnected)
    assert lost.reason == "FreeSWITCH disconnected: The system is being shut down."
    assert isinstance(await next_of(queue), Reconnected)


async def test_our_own_exit_is_a_close_not_a_loss(fake: FakeEsl) -> None:
    esl = make_client(fake)
    await esl.connect()
    seen, _queue = collect(esl)
    await esl.close()
    assert esl.state is ConnectionState.CLOSED
    assert [type(e) for e in seen] == []
    assert fake.auths == 1


async def test_without_reconnect_a_drop_closes_the_client(fake: FakeEsl) -> None:
    esl = make_client(fake, reconnect=False)
    await esl.connect()
    _seen, queue = collect(esl, ["Disconnected"])
    fake.drop()
    await next_of(queue)
    assert esl.state is ConnectionState.CLOSED
    with pytest.raises(EslConnectionError, match="not connected"):
        await esl.api("version")
    await esl.close()


async def test_an_unanswered_liveness_probe_drops_and_reconnects(fake: FakeEsl) -> None:
    esl = make_client(fake, ping_interval=0.05, ping_timeout=0.05)
    await esl.connect()
    try:
        _seen, queue = collect(esl, ["Disconnected", "Reconnected"])
        fake.api["version"] = lambda r: None  # FreeSWITCH hangs
        lost = await next_of(queue)
        assert isinstance(lost, Disconnected) and "liveness 'api version'" in lost.reason
        del fake.api["version"]
        assert isinstance(await next_of(queue), Reconnected)
    finally:
        await esl.close()


async def test_no_probe_is_sent_behind_a_running_api(fake: FakeEsl) -> None:
    esl = make_client(fake, ping_interval=0.02, ping_timeout=0.02)
    await esl.connect()
    try:
        fake.api["originate"] = lambda r: None
        running = asyncio.ensure_future(esl.api("originate x", timeout=5))
        await until(lambda: bool(fake.api) and bool(fake.commands("api")))
        await asyncio.sleep(0.15)  # several probe intervals pass while it runs
        assert [r.arg for r in fake.commands("api")] == ["originate x"]
        await fake.push(api_response("+OK done\n"))
        assert await running == "+OK done\n"
        assert esl.state is ConnectionState.ACTIVE
    finally:
        await esl.close()


async def test_a_connection_silent_behind_an_abandoned_command_is_taken_for_dead(
    fake: FakeEsl,
) -> None:
    esl = make_client(fake, ping_interval=0.05, ping_timeout=0.05)
    await esl.connect()
    try:
        _seen, queue = collect(esl, ["Disconnected", "Reconnected"])
        fake.api["hang"] = lambda r: None  # FreeSWITCH wedged: no reply, no events
        with pytest.raises(EslTimeout):
            await esl.api("hang", timeout=0.05)
        lost = await next_of(queue)
        assert isinstance(lost, Disconnected) and "'api' after its caller gave up" in lost.reason
        assert isinstance(await next_of(queue), Reconnected)
    finally:
        await esl.close()
