"""Specification of AmiClient against an in-process fake AMI server (no Asterisk).

The fake speaks the AMI framing with the wire shapes recorded from Asterisk 22
(greeting, Login answers, list actions with EventList, Command Output headers);
it makes no claim about PBX behaviour beyond those bytes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest

import telephony.asterisk.ami.client
from telephony.asterisk.ami.client import AmiClient, ConnectionState, EventFilter
from telephony.asterisk.ami.errors import (
    AmiActionError,
    AmiAuthError,
    AmiConnectionError,
    AmiFilterError,
    AmiTimeout,
    InvalidAction,
    InvalidSubscription,
)
from telephony.asterisk.ami.events import (
    AgentComplete,
    Connected,
    DBGetTreeResponse,
    Disconnected,
    Event,
    FullyBooted,
    Message,
    QueueMember,
    QueueMemberStatus,
    Reconnected,
    parse_event,
)
from telephony.asterisk.ami.protocol import AmiProtocol

SECRET = "s3cret-unit"

Reply = Callable[[Message], list[list[tuple[str, str]]] | None]


def wire(*frames: list[tuple[str, str]]) -> bytes:
    return b"".join(
        ("".join(f"{k}: {v}\r\n" for k, v in frame) + "\r\n").encode() for frame in frames
    )


@dataclass
class FakeAmi:
    """A scripted AMI server. ``handlers[action](request)`` returns frames to send
    (None: stay silent). Every received action is recorded in ``received``."""

    secret: str = SECRET
    handlers: dict[str, Reply] = field(default_factory=dict)
    received: list[Message] = field(default_factory=list)
    writers: list[asyncio.StreamWriter] = field(default_factory=list)
    logins: int = 0
    greet: bool = True
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
        """Close every client connection abruptly (like Asterisk being killed)."""
        for writer in self.writers:
            writer.transport.abort()
        self.writers.clear()

    async def push(self, *frames: list[tuple[str, str]]) -> None:
        for writer in self.writers:
            writer.write(wire(*frames))
            await writer.drain()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        if self.greet:
            writer.write(b"Asterisk Call Manager/11.0.0\r\n")
        core = AmiProtocol(expect_greeting=False)
        try:
            while data := await reader.read(65536):
                core.receive_data(data)
                for request in core.messages():
                    assert isinstance(request, Message)
                    self.received.append(request)
                    frames = self._answer(request)
                    if frames is None:
                        continue
                    writer.write(wire(*frames))
                    if request.get("Action") == "Login" and frames[0][0][1] == "Error":
                        writer.close()  # Asterisk closes after a failed login
                        return
                    if request.get("Action") == "Logoff":
                        writer.close()
                        return
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.transport.abort()

    def _answer(self, request: Message) -> list[list[tuple[str, str]]] | None:
        action = request.get("Action") or ""
        aid = request.get("ActionID") or ""
        if action in self.handlers:
            return self.handlers[action](request)
        if action == "Login":
            if request.get("Secret") != self.secret:
                return [
                    [("Response", "Error"), ("ActionID", aid), ("Message", "Authentication failed")]
                ]
            self.logins += 1
            return [
                [
                    ("Response", "Success"),
                    ("ActionID", aid),
                    ("Message", "Authentication accepted"),
                ],
                [
                    ("Event", "FullyBooted"),
                    ("Privilege", "system,all"),
                    ("Uptime", "7"),
                    ("LastReload", "7"),
                    ("Status", "Fully Booted"),
                ],
            ]
        if action == "Logoff":
            return [
                [
                    ("Response", "Goodbye"),
                    ("ActionID", aid),
                    ("Message", "Thanks for all the fish."),
                ]
            ]
        if action == "Filter":
            # Asterisk 22 accepts a name() criterion without a Filter header.
            return [[("Response", "Success"), ("ActionID", aid), ("Message", "Success")]]
        if action == "Ping":
            return [
                [
                    ("Response", "Success"),
                    ("ActionID", aid),
                    ("Ping", "Pong"),
                    ("Timestamp", "1795470718.397769"),
                ]
            ]
        return [
            [
                ("Response", "Error"),
                ("ActionID", aid),
                (
                    "Message",
                    (
                        f"Invalid/unknown command: {action}. Use Action: ListCommands "
                        "to show available commands."
                    ),
                ),
            ]
        ]

    def actions(self, name: str) -> list[Message]:
        return [m for m in self.received if m.get("Action") == name]


@pytest.fixture
async def fake() -> AsyncIterator[FakeAmi]:
    server = FakeAmi()
    await server.start()
    yield server
    await server.stop()


def make_client(fake: FakeAmi, **kw: object) -> AmiClient:
    options: dict[str, object] = {
        "connect_timeout": 2.0,
        "action_timeout": 2.0,
        "min_backoff": 0.01,
        "max_backoff": 0.05,
    }
    options.update(kw)
    return AmiClient("127.0.0.1", fake.port, "engine", SECRET, **options)  # type: ignore[arg-type]


@pytest.fixture
async def client(fake: FakeAmi) -> AsyncIterator[AmiClient]:
    ami = make_client(fake)
    await ami.connect()
    yield ami
    await ami.close()


def collect(
    ami: AmiClient, names: list[str] | None = None
) -> tuple[list[Event], asyncio.Queue[Event]]:
    seen: list[Event] = []
    queue: asyncio.Queue[Event] = asyncio.Queue()

    def on_event(event: Event) -> None:
        seen.append(event)
        queue.put_nowait(event)

    ami.subscribe(on_event, names)
    return seen, queue


# -- connecting ----------------------------------------------------------------------


async def test_connect_logs_in_and_becomes_active(fake: FakeAmi) -> None:
    ami = make_client(fake)
    await ami.connect()
    try:
        assert ami.state is ConnectionState.ACTIVE
        assert "state=ACTIVE" in repr(ami)
        (login,) = fake.actions("Login")
        assert (login.get("Username"), login.get("Secret")) == ("engine", SECRET)
        assert ami.greeting is not None and ami.greeting.version == "11.0.0"
    finally:
        await ami.close()
    assert "state=CLOSED" in repr(ami)


async def test_login_refused_while_asterisk_shuts_down_is_not_an_auth_error(fake: FakeAmi) -> None:
    fake.handlers["Login"] = lambda request: [[
        ("Response", "Error"), ("ActionID", request.get("ActionID") or ""),
        ("Message", "Asterisk is shutting down"),
    ]]
    ami = AmiClient("127.0.0.1", fake.port, "engine", SECRET, connect_timeout=2.0)
    with pytest.raises(AmiConnectionError, match="shutting down") as caught:
        await ami.connect()
    assert not isinstance(caught.value, AmiAuthError)


async def test_wrong_secret_raises_auth_error_without_retrying(fake: FakeAmi) -> None:
    ami = AmiClient("127.0.0.1", fake.port, "engine", "wrong", connect_timeout=2.0)
    with pytest.raises(AmiAuthError, match="Authentication failed"):
        await ami.connect()
    assert ami.state is ConnectionState.CLOSED
    assert len(fake.actions("Login")) == 1


async def test_refused_port_raises_connection_error(fake: FakeAmi) -> None:
    port = fake.port
    await fake.stop()
    ami = AmiClient("127.0.0.1", port, "engine", SECRET, connect_timeout=2.0)
    with pytest.raises(AmiConnectionError, match="cannot connect") as info:
        await ami.connect()
    assert isinstance(info.value.__cause__, OSError)


async def test_silent_server_hits_the_connect_timeout(fake: FakeAmi) -> None:
    fake.greet = False
    ami = make_client(fake, connect_timeout=0.2)
    with pytest.raises(AmiTimeout, match="within 0.2s"):
        await ami.connect()
    assert ami.state is ConnectionState.CLOSED


async def test_secret_is_not_logged_or_shown(
    fake: FakeAmi, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="telephony.asterisk.ami")
    ami = make_client(fake)
    await ami.connect()
    await ami.send("Ping")
    await ami.close()
    assert SECRET not in caplog.text
    assert SECRET not in repr(ami)


async def test_subscribers_present_before_connect_get_connected_first(fake: FakeAmi) -> None:
    ami = make_client(fake)
    seen, queue = collect(ami)
    await ami.connect()
    await queue.get()
    await queue.get()
    await ami.close()
    assert [type(e) for e in seen[:2]] == [Connected, FullyBooted]


# -- actions ------------------------------------------------------------------------


async def test_responses_are_matched_by_action_id_not_arrival_order(fake: FakeAmi) -> None:
    held: list[Message] = []
    writer_ready = asyncio.Event()

    def hold(request: Message) -> None:
        held.append(request)
        if len(held) == 20:
            writer_ready.set()

    fake.handlers["Echo"] = hold
    ami = make_client(fake)
    await ami.connect()
    try:
        sends = [asyncio.ensure_future(ami.send("Echo", Tag=str(i))) for i in range(20)]
        await writer_ready.wait()
        # answer in reverse order, each response echoing the request's Tag
        await fake.push(
            *[
                [
                    ("Response", "Success"),
                    ("ActionID", r.get("ActionID") or ""),
                    ("Tag", r.get("Tag") or ""),
                ]
                for r in reversed(held)
            ]
        )
        responses = await asyncio.gather(*sends)
        assert [r.get("Tag") for r in responses] == [str(i) for i in range(20)]
    finally:
        await ami.close()


async def test_action_without_answer_raises_ami_timeout(fake: FakeAmi, client: AmiClient) -> None:
    fake.handlers["Stall"] = lambda request: None
    with pytest.raises(AmiTimeout, match="Stall"):
        await client.send("Stall", timeout=0.05)
    assert "pending=0" in repr(client)


async def test_error_response_is_returned_and_check_raises(client: AmiClient) -> None:
    response = await client.send("NoSuchAction")
    assert not response.success
    with pytest.raises(AmiActionError, match="Invalid/unknown command"):
        response.check()


async def test_header_injection_is_refused_before_anything_is_sent(
    fake: FakeAmi, client: AmiClient
) -> None:
    with pytest.raises(InvalidAction, match="'Queue'"):
        await client.send("QueueStatus", Queue="intake\r\nAction: Originate")
    await client.send("Ping")
    assert fake.actions("QueueStatus") == [] and fake.actions("Originate") == []


async def test_list_value_sends_the_header_repeatedly(fake: FakeAmi, client: AmiClient) -> None:
    fake.handlers["Originate"] = lambda r: [
        [("Response", "Success"), ("ActionID", r.get("ActionID") or "")]
    ]
    await client.send("Originate", Channel="Local/1@x", Variable=["A=1", "B=2"])
    assert fake.actions("Originate")[0].get_all("Variable") == ("A=1", "B=2")


def queue_status(request: Message) -> list[list[tuple[str, str]]]:
    aid = request.get("ActionID") or ""
    return [
        [
            ("Response", "Success"),
            ("ActionID", aid),
            ("EventList", "start"),
            ("Message", "Queue status will follow"),
        ],
        [("Event", "QueueMemberStatus"), ("Queue", "intake"), ("Status", "2")],  # unrelated
        [
            ("Event", "QueueMember"),
            ("Queue", "intake"),
            ("Name", "Åsa Öberg"),
            ("Location", "PJSIP/1001"),
            ("Status", "1"),
            ("Paused", "0"),
            ("ActionID", aid),
        ],
        [
            ("Event", "QueueMember"),
            ("Queue", "intake"),
            ("Name", "Bob"),
            ("Location", "PJSIP/1002"),
            ("Status", "6"),
            ("Paused", "1"),
            ("ActionID", aid),
        ],
        [
            ("Event", "QueueStatusComplete"),
            ("ActionID", aid),
            ("EventList", "Complete"),
            ("ListItems", "2"),
        ],
    ]


async def test_send_list_collects_events_until_eventlist_complete(
    fake: FakeAmi, client: AmiClient
) -> None:
    fake.handlers["QueueStatus"] = queue_status
    listing = await client.send_list("QueueStatus")
    assert [e.get("Name") for e in listing.events] == ["Åsa Öberg", "Bob"]
    assert all(isinstance(e, QueueMember) for e in listing.events)
    assert listing.complete is not None and listing.complete.name == "QueueStatusComplete"


async def test_list_events_go_to_the_list_and_other_events_to_subscribers(
    fake: FakeAmi, client: AmiClient
) -> None:
    fake.handlers["QueueStatus"] = queue_status
    seen, queue = collect(client, ["QueueMember", "QueueMemberStatus"])
    await client.send_list("QueueStatus")
    event = await queue.get()
    assert isinstance(event, QueueMemberStatus)
    assert [e.name for e in seen] == ["QueueMemberStatus"]


async def test_refused_list_action_returns_no_events_and_check_raises(client: AmiClient) -> None:
    listing = await client.send_list("DeviceStateList")
    assert listing.events == () and listing.complete is None
    with pytest.raises(AmiActionError):
        listing.check()


async def test_command_returns_output_lines_joined(fake: FakeAmi, client: AmiClient) -> None:
    fake.handlers["Command"] = lambda r: [
        [
            ("Response", "Success"),
            ("ActionID", r.get("ActionID") or ""),
            ("Message", "Command output follows"),
            ("Output", "Channel              Location             State   Application(Data)"),
            ("Output", "0 active channels"),
            ("Output", "0 active calls"),
        ]
    ]
    out = await client.command("core show channels")
    assert out.splitlines()[1:] == ["0 active channels", "0 active calls"]
    assert fake.actions("Command")[0].get("Command") == "core show channels"


async def test_refused_command_raises_action_error_with_output(
    fake: FakeAmi, client: AmiClient
) -> None:
    fake.handlers["Command"] = lambda r: [
        [
            ("Response", "Error"),
            ("ActionID", r.get("ActionID") or ""),
            ("Message", "Command output follows"),
            (
                "Output",
                (
                    "No such command 'bogus' (type 'core show help bogus' for other possible "
                    "commands)"
                ),
            ),
        ]
    ]
    with pytest.raises(AmiActionError, match="No such command 'bogus'"):
        await client.command("bogus")


async def test_db_get_tree_returns_keys_relative_to_the_family(
    fake: FakeAmi, client: AmiClient
) -> None:
    def tree(r: Message) -> list[list[tuple[str, str]]]:
        aid = r.get("ActionID") or ""
        return [
            [
                ("Response", "Success"),
                ("ActionID", aid),
                ("EventList", "start"),
                ("Message", "Result will follow"),
            ],
            [
                ("Event", "DBGetTreeResponse"),
                ("Key", "/telephony/agent/1001/presence"),
                ("Val", "available"),
                ("ActionID", aid),
            ],
            [
                ("Event", "DBGetTreeResponse"),
                ("Key", "/telephony/agent/1002/name"),
                ("Val", "Åsa Öberg"),
                ("ActionID", aid),
            ],
            [
                ("Event", "DBGetTreeComplete"),
                ("ActionID", aid),
                ("EventList", "Complete"),
                ("ListItems", "2"),
            ],
        ]

    fake.handlers["DBGetTree"] = tree
    assert await client.db_get_tree("telephony") == {
        "agent/1001/presence": "available",
        "agent/1002/name": "Åsa Öberg",
    }


async def test_db_get_tree_falls_back_to_database_show_without_dbgettree(
    fake: FakeAmi, client: AmiClient
) -> None:
    # no DBGetTree handler: the fake answers "Invalid/unknown command" like older PBXs
    fake.handlers["Command"] = lambda r: [
        [
            ("Response", "Success"),
            ("ActionID", r.get("ActionID") or ""),
            ("Message", "Command output follows"),
            (
                "Output",
                "/telephony/agent/1001/presence                    : available                ",
            ),
            (
                "Output",
                "/telephony/agent/1002/name                        : Åsa Öberg              ",
            ),
            ("Output", "2 results found."),
        ]
    ]
    assert await client.db_get_tree("telephony") == {
        "agent/1001/presence": "available",
        "agent/1002/name": "Åsa Öberg",
    }
    assert fake.actions("Command")[0].get("Command") == "database show telephony"


async def test_db_get_tree_response_is_typed(fake: FakeAmi, client: AmiClient) -> None:
    fake.handlers["DBGetTree"] = lambda r: [
        [("Response", "Success"), ("ActionID", r.get("ActionID") or ""), ("EventList", "start")],
        [
            ("Event", "DBGetTreeResponse"),
            ("Key", "/f/k"),
            ("Val", "v"),
            ("ActionID", r.get("ActionID") or ""),
        ],
        [
            ("Event", "DBGetTreeComplete"),
            ("ActionID", r.get("ActionID") or ""),
            ("EventList", "Complete"),
        ],
    ]
    listing = await client.send_list("DBGetTree", Family="f")
    assert listing.events == (
        DBGetTreeResponse("DBGetTreeResponse", listing.events[0].raw, key="/f/k", val="v"),
    )


# -- events ---------------------------------------------------------------------------


async def test_subscriber_receives_events_in_wire_order(fake: FakeAmi, client: AmiClient) -> None:
    seen, queue = collect(client, ["Newstate"])
    await fake.push(*[[("Event", "Newstate"), ("Uniqueid", str(i))] for i in range(50)])
    for _ in range(50):
        await queue.get()
    assert [e.get("Uniqueid") for e in seen] == [str(i) for i in range(50)]


async def test_async_callback_is_awaited_and_keeps_order(fake: FakeAmi, client: AmiClient) -> None:
    seen: list[str] = []
    done = asyncio.Event()

    async def slow(event: Event) -> None:
        await asyncio.sleep(0)  # yield between events: order must still hold
        seen.append(event.get("Uniqueid") or "")
        if len(seen) == 10:
            done.set()

    client.subscribe(slow, ["Newstate"])
    await fake.push(*[[("Event", "Newstate"), ("Uniqueid", str(i))] for i in range(10)])
    await done.wait()
    assert seen == [str(i) for i in range(10)]


async def test_failing_subscriber_does_not_stop_others_or_itself(
    fake: FakeAmi, client: AmiClient, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[str] = []
    both = asyncio.Event()

    def broken(event: Event) -> None:
        calls.append(event.get("Uniqueid") or "")
        if len(calls) == 2:
            both.set()
        raise RuntimeError("subscriber bug")

    client.subscribe(broken, ["Newstate"])
    seen, queue = collect(client, ["Newstate"])
    await fake.push(
        [("Event", "Newstate"), ("Uniqueid", "1")], [("Event", "Newstate"), ("Uniqueid", "2")]
    )
    await queue.get()
    await queue.get()
    await both.wait()
    assert calls == ["1", "2"] and len(seen) == 2
    assert "subscriber bug" in caplog.text


async def test_closed_subscription_gets_no_more_events(fake: FakeAmi, client: AmiClient) -> None:
    late: list[Event] = []
    sub = client.subscribe(late.append, ["Newstate"])
    await sub.aclose()
    _seen, queue = collect(client, ["Newstate"])
    await fake.push([("Event", "Newstate")])
    await queue.get()
    assert late == []


async def test_close_cancels_and_awaits_subscriber_tasks(fake: FakeAmi) -> None:
    ami = make_client(fake)
    await ami.connect()
    started = asyncio.Event()

    async def blocked(event: Event) -> None:
        started.set()
        await asyncio.Event().wait()  # never returns on its own

    sub = ami.subscribe(blocked, ["Newstate"])
    await fake.push([("Event", "Newstate")])
    await started.wait()
    await ami.close()
    assert sub._task.cancelled()


async def test_wait_event_registered_at_call_time_sees_an_event_sent_with_the_response(
    fake: FakeAmi, client: AmiClient
) -> None:
    fake.handlers["Setvar"] = lambda r: [
        [("Event", "DeviceStateChange"), ("Device", "Custom:x"), ("State", "BUSY")],
        [("Response", "Success"), ("ActionID", r.get("ActionID") or "")],
    ]
    waiter = client.wait_event(lambda e: e.get("Device") == "Custom:x", timeout=2.0)
    await client.send("Setvar", Variable="DEVICE_STATE(Custom:x)", Value="BUSY")
    event = await waiter
    assert event.get("State") == "BUSY"


async def test_wait_event_times_out_with_ami_timeout(client: AmiClient) -> None:
    with pytest.raises(AmiTimeout, match="no matching AMI event"):
        await client.wait_event(lambda e: False, timeout=0.05)


# -- losing the connection ------------------------------------------------------------


async def test_dropped_socket_fails_pending_actions_with_chained_connection_error(
    fake: FakeAmi, client: AmiClient
) -> None:
    fake.handlers["Stall"] = lambda r: None
    pending = asyncio.ensure_future(client.send("Stall", timeout=5.0))
    while not fake.actions("Stall"):
        await asyncio.sleep(0)
    fake.drop()
    with pytest.raises(AmiConnectionError, match="Stall") as info:
        await pending
    assert info.value.__cause__ is not None


async def test_reconnect_delivers_disconnected_then_reconnected(
    fake: FakeAmi, client: AmiClient
) -> None:
    _seen, queue = collect(client, ["Disconnected", "Reconnected"])
    fake.drop()
    first, second = await queue.get(), await queue.get()
    assert isinstance(first, Disconnected) and isinstance(second, Reconnected)
    assert client.state is ConnectionState.ACTIVE and fake.logins == 2
    assert (await client.send("Ping")).get("Ping") == "Pong"


async def test_pending_action_is_not_resent_after_reconnect(
    fake: FakeAmi, client: AmiClient
) -> None:
    fake.handlers["Stall"] = lambda r: None
    reconnected = client.wait_event(lambda e: isinstance(e, Reconnected), timeout=2.0)
    pending = asyncio.ensure_future(client.send("Stall", timeout=5.0))
    while not fake.actions("Stall"):
        await asyncio.sleep(0)
    fake.drop()
    await reconnected
    with pytest.raises(AmiConnectionError):
        await pending
    await client.send("Ping")  # the new connection is in use, and Stall was not repeated
    assert len(fake.actions("Stall")) == 1


async def test_server_restart_on_same_port_is_survived(fake: FakeAmi, client: AmiClient) -> None:
    port = fake.port
    _seen, queue = collect(client, ["Disconnected", "Reconnected"])
    await fake.stop()
    assert isinstance(await queue.get(), Disconnected)
    assert client.state is ConnectionState.RECONNECTING
    await fake.start(port)
    assert isinstance(await queue.get(), Reconnected)


async def test_auth_failure_while_reconnecting_closes_instead_of_retrying(
    fake: FakeAmi, client: AmiClient
) -> None:
    _seen, queue = collect(client, ["Disconnected"])
    fake.secret = "rotated"
    fake.drop()
    await queue.get()
    final = await queue.get()
    assert isinstance(final, Disconnected) and "re-login refused" in final.reason
    assert client.state is ConnectionState.CLOSED
    assert isinstance(client.last_error, AmiAuthError)


async def test_without_reconnect_a_drop_closes_the_client(fake: FakeAmi) -> None:
    ami = make_client(fake, reconnect=False)
    await ami.connect()
    _seen, queue = collect(ami, ["Disconnected"])
    fake.drop()
    await queue.get()
    assert ami.state is ConnectionState.CLOSED
    with pytest.raises(AmiConnectionError, match="not connected"):
        await ami.send("Ping")
    await ami.close()


async def test_unanswered_ping_on_an_idle_connection_drops_and_reconnects(fake: FakeAmi) -> None:
    ami = make_client(fake, ping_interval=0.05, ping_timeout=0.05)
    await ami.connect()
    try:
        _seen, queue = collect(ami, ["Disconnected", "Reconnected"])
        fake.handlers["Ping"] = lambda r: None  # the "PBX" stops answering
        lost = await queue.get()
        assert isinstance(lost, Disconnected) and "Ping" in lost.reason
        del fake.handlers["Ping"]
        assert isinstance(await queue.get(), Reconnected)
    finally:
        await ami.close()


# -- server-side event filter (wanted_events) and cheap dispatch -----------------------

ENGINE_LIKE = frozenset({"QueueMemberStatus", "AgentComplete", "Reconnected"})


def filters_sent(fake: FakeAmi) -> list[str]:
    return [m.get("MatchCriteria") or "" for m in fake.actions("Filter")]


def count_parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the name of every event the client turns into a typed object."""
    parsed: list[str] = []

    def counting(message: Message) -> Event:
        parsed.append(message.name)
        return parse_event(message)

    monkeypatch.setattr(telephony.asterisk.ami.client, "parse_event", counting)
    return parsed


async def test_wanted_events_become_one_name_filter_each_sent_right_after_login(
    fake: FakeAmi,
) -> None:
    ami = make_client(fake, wanted_events=ENGINE_LIKE)
    await ami.connect()
    try:
        actions = [m.get("Action") for m in fake.received]
        assert actions == ["Login", "Filter", "Filter"]
        assert sorted(filters_sent(fake)) == ["name(AgentComplete)", "name(QueueMemberStatus)"]
        assert all(m.get("Operation") == "Add" for m in fake.actions("Filter"))
        # synthetic names are the client's own: never asked of Asterisk
        assert ami.wanted_events == frozenset({"QueueMemberStatus", "AgentComplete"})
        assert fake.actions("Login")[0].get("Events") == "on"
    finally:
        await ami.close()


async def test_a_header_condition_becomes_a_starts_with_filter_on_that_header(
    fake: FakeAmi,
) -> None:
    leaving = EventFilter("QueueMemberStatus", header="PausedReason", starts_with="telephony:")
    ami = make_client(fake, wanted_events=[leaving])
    await ami.connect()
    try:
        [sent] = fake.actions("Filter")
        assert sent.get("MatchCriteria") == (
            "name(QueueMemberStatus),header(PausedReason),method(starts_with)"
        )
        assert sent.get("Filter") == "telephony:"
        # subscriptions go by name: the header condition is Asterisk's to apply
        assert ami.wanted_events == frozenset({"QueueMemberStatus"})
    finally:
        await ami.close()


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [
        ({"name": "Queue Member"}, "event name"),
        ({"name": "QueueMemberStatus", "header": "PausedReason"}, "both"),
        ({"name": "QueueMemberStatus", "header": "Paused,Reason", "starts_with": "x"}, "header"),
        ({"name": "QueueMemberStatus", "header": "PausedReason", "starts_with": "a\r\nb"}, "prefix"),
    ],
)
def test_a_malformed_event_filter_is_refused_before_anything_is_sent(
    kwargs: dict[str, str], word: str
) -> None:
    with pytest.raises(InvalidAction, match=word):
        EventFilter(**kwargs)


async def test_without_wanted_events_no_filter_is_sent(fake: FakeAmi, client: AmiClient) -> None:
    assert fake.actions("Filter") == [] and client.wanted_events is None


async def test_no_wanted_events_at_all_logs_in_with_events_off(fake: FakeAmi) -> None:
    ami = make_client(fake, wanted_events=["Reconnected"])
    await ami.connect()
    try:
        assert fake.actions("Login")[0].get("Events") == "off"
        assert fake.actions("Filter") == []
    finally:
        await ami.close()


async def test_the_filter_is_back_in_place_before_reconnected_is_delivered(
    fake: FakeAmi,
) -> None:
    ami = make_client(fake, wanted_events=ENGINE_LIKE)
    await ami.connect()
    held: list[Message] = []
    fake.handlers["Filter"] = lambda request: held.append(request)  # answers held back
    _seen, queue = collect(ami, ["Reconnected"])
    try:
        fake.drop()
        while len(held) < 2:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        assert queue.empty(), "Reconnected before Asterisk confirmed the filter"
        await fake.push(*[
            [("Response", "Success"), ("ActionID", r.get("ActionID") or ""), ("Message", "Success")]
            for r in held
        ])
        assert isinstance(await queue.get(), Reconnected)
        assert len(fake.actions("Login")) == 2
        assert sorted(m.get("MatchCriteria") or "" for m in held) == [
            "name(AgentComplete)", "name(QueueMemberStatus)"
        ]
    finally:
        await ami.close()


def refuse_filter(request: Message) -> list[list[tuple[str, str]]]:
    # What Asterisk 22 answers when the AMI user lacks write=system.
    return [[
        ("Response", "Error"), ("ActionID", request.get("ActionID") or ""),
        ("Message", "Permission denied"),
    ]]


async def test_a_refused_filter_fails_connect_with_a_filter_error(fake: FakeAmi) -> None:
    fake.handlers["Filter"] = refuse_filter
    ami = make_client(fake, wanted_events=ENGINE_LIKE)
    with pytest.raises(AmiFilterError, match="Permission denied.*write=system"):
        await ami.connect()
    assert ami.state is ConnectionState.CLOSED
    assert len(fake.actions("Login")) == 1  # not retried


async def test_a_filter_refused_after_a_reconnect_closes_the_client(fake: FakeAmi) -> None:
    ami = make_client(fake, wanted_events=ENGINE_LIKE)
    await ami.connect()
    _seen, queue = collect(ami, ["Disconnected"])
    fake.handlers["Filter"] = refuse_filter
    fake.drop()
    assert isinstance(await queue.get(), Disconnected)  # the loss
    final = await queue.get()
    assert isinstance(final, Disconnected) and "event filter refused" in final.reason
    assert ami.state is ConnectionState.CLOSED
    assert isinstance(ami.last_error, AmiFilterError)
    await ami.close()


async def test_list_answers_arrive_whatever_the_filter(fake: FakeAmi) -> None:
    fake.handlers["QueueStatus"] = queue_status
    ami = make_client(fake, wanted_events=["AgentComplete"])
    await ami.connect()
    try:
        listing = await ami.send_list("QueueStatus")
        assert [e.get("Name") for e in listing.events] == ["Åsa Öberg", "Bob"]
    finally:
        await ami.close()


async def test_unwanted_events_that_still_arrive_are_dropped_unparsed(
    fake: FakeAmi, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Asterisk sends what happened between Login and the Filter answers unfiltered.
    ami = make_client(fake, wanted_events=ENGINE_LIKE)
    await ami.connect()
    parsed = count_parses(monkeypatch)
    seen, queue = collect(ami)  # every name: only the filter decides
    try:
        await fake.push(
            *[[("Event", "VarSet"), ("Variable", "X"), ("Value", str(i))] for i in range(100)],
            [("Event", "AgentComplete"), ("Queue", "intake"), ("MemberName", "asa")],
        )
        event = await queue.get()
        assert isinstance(event, AgentComplete) and event.member_name == "asa"
        assert parsed == ["AgentComplete"] and len(seen) == 1
        assert ami.events_received >= 101  # they did cross the wire
    finally:
        await ami.close()


async def test_events_nobody_listens_for_are_never_typed(
    fake: FakeAmi, client: AmiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed = count_parses(monkeypatch)
    seen, queue = collect(client, ["QueueMemberStatus"])
    await fake.push(
        *[[("Event", "Newexten"), ("Application", "Set")] for _ in range(50)],
        [("Event", "QueueMemberStatus"), ("Queue", "intake"), ("Status", "2")],
    )
    assert isinstance(await queue.get(), QueueMemberStatus)
    assert parsed == ["QueueMemberStatus"] and len(seen) == 1


async def test_a_waiter_for_any_name_sees_every_event_while_it_waits(
    fake: FakeAmi, client: AmiClient
) -> None:
    waiter = client.wait_event(lambda e: e.get("Application") == "Dial", timeout=2.0)
    await fake.push([("Event", "Newexten"), ("Application", "Dial")])
    assert (await waiter).name == "Newexten"


async def test_an_event_with_an_action_id_and_no_list_pending_goes_to_subscribers(
    fake: FakeAmi, client: AmiClient
) -> None:
    _seen, queue = collect(client, ["OriginateResponse"])
    await fake.push([("Event", "OriginateResponse"), ("ActionID", "x-1"), ("Response", "Success")])
    assert (await queue.get()).get("ActionID") == "x-1"


async def test_subscribing_to_events_the_filter_keeps_out_is_refused(fake: FakeAmi) -> None:
    ami = make_client(fake, wanted_events=ENGINE_LIKE)
    await ami.connect()
    try:
        with pytest.raises(InvalidSubscription, match="DialBegin.*never sends"):
            ami.subscribe(lambda e: None, ["QueueMemberStatus", "DialBegin"])
        with pytest.raises(InvalidSubscription, match="Hangup"):
            ami.wait_event(names=["Hangup"])
        # wanted names in any case, and the client's own events, are fine
        ami.subscribe(lambda e: None, ["queuememberstatus", "Disconnected", "Reconnected"])
    finally:
        await ami.close()


@pytest.mark.parametrize(
    "names", [["name(x),action(exclude)"], ["Queue Member"], ["a\r\nb"], [""]]
)
def test_wanted_events_must_be_plain_event_names(names: list[str]) -> None:
    with pytest.raises(InvalidAction, match="not an AMI event name"):
        AmiClient("127.0.0.1", 1, "engine", SECRET, wanted_events=names)


def test_wanted_events_refuses_a_bare_string() -> None:
    with pytest.raises(InvalidAction, match="collection of names"):
        AmiClient("127.0.0.1", 1, "engine", SECRET, wanted_events="QueueMemberStatus")
