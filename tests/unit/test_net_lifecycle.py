"""Specification of the shared connection lifecycle (telephony.net), protocol-free.

A scripted :class:`Session` over a loopback TCP server stands in for a protocol:
what is checked here holds for the AMI and the Event Socket client alike.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from telephony.net import Backoff, ConnectionState, ErrorTypes, EventHub, Lifecycle, Link


class NetError(Exception):
    pass


class NetConnectionError(NetError):
    pass


class Refused(NetConnectionError):
    pass


@dataclass(frozen=True)
class Note:
    name: str
    detail: str = ""


@dataclass
class ScriptedSession:
    """Opens a TCP connection, then fails as scripted: ``failures`` pops one per attempt."""

    life: Lifecycle[Note] | None = None
    failures: list[BaseException | None] = field(default_factory=list)
    attempts: int = 0
    probes: int = 0
    answer_probes: bool = True
    pending: list[asyncio.Future[None]] = field(default_factory=list)

    async def open(self) -> None:
        assert self.life is not None
        self.attempts += 1
        await self.life.dial(lambda link, data: None)
        failure = self.failures.pop(0) if self.failures else None
        if failure is not None:
            raise failure

    async def probe(self) -> None:
        self.probes += 1
        if not self.answer_probes:
            raise TimeoutError("no answer to the scripted probe")

    async def goodbye(self) -> None:
        pass

    def fail_pending(self, error: Exception, cause: BaseException | None) -> None:
        for future in self.pending:
            if not future.done():
                future.set_exception(error)

    def final(self, error: BaseException) -> str | None:
        return "scripted login" if isinstance(error, Refused) else None

    def connected(self) -> Note:
        return Note("Connected")

    def disconnected(self, reason: str) -> Note:
        return Note("Disconnected", reason)

    def reconnected(self, attempts: int) -> Note:
        return Note("Reconnected", str(attempts))


@dataclass
class Server:
    server: asyncio.Server
    writers: list[asyncio.StreamWriter]

    @property
    def port(self) -> int:
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    def drop(self) -> None:
        for writer in self.writers:
            writer.transport.abort()
        self.writers.clear()


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    writers: list[asyncio.StreamWriter] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        await reader.read()  # until the client goes

    srv = await asyncio.start_server(serve, "127.0.0.1", 0)
    yield Server(srv, writers)
    srv.close()
    for writer in writers:
        writer.transport.abort()
    await srv.wait_closed()


def make(server: Server, **kw: object) -> tuple[Lifecycle[Note], ScriptedSession, asyncio.Queue[Note]]:
    session = ScriptedSession()
    hub: EventHub[Note] = EventHub("TEST", lambda note: note.name)
    options: dict[str, object] = {"backoff": Backoff(0.001, 0.002), "probe_interval": None}
    options.update(kw)
    life = Lifecycle(
        session, hub, ErrorTypes(NetError, NetConnectionError),
        host="127.0.0.1", port=server.port, peer="the test server", **options,  # type: ignore[arg-type]
    )
    session.life = life
    queue: asyncio.Queue[Note] = asyncio.Queue()
    hub.subscribe(queue.put_nowait)
    return life, session, queue


async def next_of(queue: asyncio.Queue[Note]) -> Note:
    async with asyncio.timeout(2):
        return await queue.get()


# -- backoff ---------------------------------------------------------------------------


def test_backoff_doubles_up_to_its_cap() -> None:
    backoff = Backoff(0.1, 1.0)
    assert [backoff.delay(n, rand=lambda: 1.0) for n in (1, 2, 3, 4, 5, 60)] == [
        0.1, 0.2, 0.4, 0.8, 1.0, 1.0
    ]


def test_backoff_jitter_keeps_between_half_and_the_whole_delay() -> None:
    backoff = Backoff(0.1, 1.0)
    assert backoff.delay(3, rand=lambda: 0.0) == pytest.approx(0.2)
    assert 0.2 <= backoff.delay(3) < 0.4


@pytest.mark.parametrize(("low", "high"), [(0.0, 1.0), (2.0, 1.0), (-1.0, 1.0)])
def test_backoff_refuses_bounds_that_make_no_sense(low: float, high: float) -> None:
    with pytest.raises(ValueError, match="minimum"):
        Backoff(low, high)


# -- lifecycle ----------------------------------------------------------------------------


async def test_connect_goes_active_and_subscribers_hear_connected(server: Server) -> None:
    life, _session, queue = make(server)
    await life.connect()
    assert life.state is ConnectionState.ACTIVE
    assert await next_of(queue) == Note("Connected")
    await life.close()
    assert life.state is ConnectionState.CLOSED


async def test_connecting_twice_is_misuse(server: Server) -> None:
    life, _session, _queue = make(server)
    await life.connect()
    with pytest.raises(NetError, match="state ACTIVE"):
        await life.connect()
    await life.close()


async def test_a_failed_first_attempt_closes_and_is_not_retried(server: Server) -> None:
    life, session, _queue = make(server)
    session.failures = [NetConnectionError("login refused for now")]
    with pytest.raises(NetConnectionError):
        await life.connect()
    assert life.state is ConnectionState.CLOSED and session.attempts == 1
    assert life.link is None


async def test_reconnect_retries_until_an_attempt_works(server: Server) -> None:
    life, session, queue = make(server)
    await life.connect()
    await next_of(queue)
    session.failures = [NetConnectionError("down"), OSError("refused"), None]
    server.drop()
    assert (await next_of(queue)).name == "Disconnected"
    assert await next_of(queue) == Note("Reconnected", "3")
    assert life.reconnects == 1 and session.attempts == 4
    await life.close()


async def test_a_final_error_while_reconnecting_closes_with_the_reason(server: Server) -> None:
    life, session, queue = make(server)
    await life.connect()
    await next_of(queue)
    session.failures = [NetConnectionError("down"), Refused("wrong password")]
    server.drop()
    await next_of(queue)
    final = await next_of(queue)
    assert final == Note("Disconnected", "scripted login refused: wrong password")
    assert life.state is ConnectionState.CLOSED and isinstance(life.last_error, Refused)
    await life.close()


async def test_pending_requests_fail_with_a_chained_connection_error_on_loss(
    server: Server,
) -> None:
    life, session, queue = make(server)
    await life.connect()
    await next_of(queue)
    pending: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    session.pending.append(pending)
    server.drop()
    with pytest.raises(NetConnectionError, match="closed by the test server") as info:
        await pending
    assert isinstance(info.value.__cause__, ConnectionResetError)
    await life.close()


async def test_an_unanswered_probe_drops_the_connection_with_its_words(server: Server) -> None:
    life, session, queue = make(server, probe_interval=0.01)
    await life.connect()
    await next_of(queue)
    session.answer_probes = False
    lost = await next_of(queue)
    assert lost == Note("Disconnected", "no answer to the scripted probe")
    session.answer_probes = True
    assert (await next_of(queue)).name == "Reconnected"
    await life.close()


async def test_close_while_reconnecting_stops_for_good(server: Server) -> None:
    life, session, queue = make(server, backoff=Backoff(0.05, 0.05))
    await life.connect()
    await next_of(queue)
    session.failures = [NetConnectionError("down")] * 100
    server.drop()
    await next_of(queue)
    assert life.state is ConnectionState.RECONNECTING
    await life.close()
    assert life.state is ConnectionState.CLOSED
    attempts = session.attempts
    await asyncio.sleep(0.12)
    assert session.attempts == attempts


async def test_a_link_hands_reads_on_and_knows_when_it_is_closing(server: Server) -> None:
    reads: list[bytes] = []
    lost: list[Link] = []
    link = await Link.open("127.0.0.1", server.port, lambda _l, d: reads.append(d),
                           lambda lk, _e: lost.append(lk))
    assert not link.closing
    async with asyncio.timeout(2):
        while not server.writers:
            await asyncio.sleep(0.001)
    server.writers[0].write(b"hello")
    async with asyncio.timeout(2):
        while not reads:
            await asyncio.sleep(0.001)
    await link.close()
    assert reads == [b"hello"] and lost == [link] and link.closing


# -- the hub -------------------------------------------------------------------------------


async def test_events_held_during_login_come_after_the_login_notice_in_order() -> None:
    hub: EventHub[Note] = EventHub("TEST", lambda n: n.name)
    seen: list[Note] = []
    sub = hub.subscribe(seen.append)
    hub.hold()
    hub.publish(Note("A"))
    hub.publish(Note("B"))
    assert seen == []
    hub.release(Note("Reconnected"))
    await asyncio.sleep(0)
    await sub.aclose()
    assert [n.name for n in seen] == ["Reconnected", "A", "B"]


async def test_events_held_by_a_failed_login_are_forgotten() -> None:
    hub: EventHub[Note] = EventHub("TEST", lambda n: n.name)
    waiter = hub.wait(None, ["A"], 0.05, lambda t: TimeoutError(f"none in {t}"))
    hub.hold()
    hub.publish(Note("A"))
    hub.drop_held()
    with pytest.raises(TimeoutError, match="none in 0.05"):
        await waiter


async def test_interest_is_the_union_of_names_or_none_for_a_catch_all() -> None:
    hub: EventHub[Note] = EventHub("TEST", lambda n: n.name, normalise=str.lower)
    first = hub.subscribe(lambda n: None, ["QueueMemberStatus"])
    hub.subscribe(lambda n: None, ["AgentComplete"])
    assert hub.interest == frozenset({"queuememberstatus", "agentcomplete"})
    catch_all = hub.subscribe(lambda n: None)
    assert hub.interest is None
    catch_all.close()
    first.close()
    assert hub.interest == frozenset({"agentcomplete"})
    await hub.stop()
