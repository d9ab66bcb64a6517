"""Event fan-out off the read path: subscribers, one-shot waiters, events held during login.

The read path calls :meth:`EventHub.publish` (or :meth:`EventHub.dispatch`) with an
event and its key (the name subscriptions match on, normalised the client's way).
Each subscriber has its own queue and task, so it sees events in wire order and a
slow callback never delays framing or the other subscribers (asyncpg's
``_process_notification`` does the same for LISTEN callbacks).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["EventCallback", "EventHub", "Subscription"]

E = TypeVar("E")

EventCallback = Callable[[E], "Awaitable[None] | None"]


class Subscription(Generic[E]):
    """A registered callback; events reach it in order through its own queue and task."""

    def __init__(
        self, hub: EventHub[E], callback: EventCallback[E], names: frozenset[str] | None
    ) -> None:
        self._hub = hub
        self._callback = callback
        #: normalised names this subscriber wants; None: every event
        self.names = names
        self._queue: asyncio.Queue[E] = asyncio.Queue()
        label = getattr(callback, "__name__", "callback")
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"{hub.label.lower()}-subscriber-{label}"
        )

    def wants(self, name: str) -> bool:
        """True if an event called ``name`` goes to this subscriber."""
        return self.names is None or self._hub.normalise(name) in self.names

    def _put(self, event: E) -> None:
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
                self._hub.log.exception(
                    "%s subscriber %r failed on %s",
                    self._hub.label, self._callback, getattr(event, "name", type(event).__name__),
                )

    @property
    def pending(self) -> int:
        """Events queued for this subscriber but not yet handled."""
        return self._queue.qsize()

    def close(self) -> None:
        """Stop delivering; the worker task is cancelled (await :meth:`aclose` to wait)."""
        self._hub._remove(self)
        self._task.cancel()

    async def aclose(self) -> None:
        """Stop delivering and wait for the worker task to finish."""
        self.close()
        try:
            await self._task
        except asyncio.CancelledError:
            pass


@dataclass(slots=True)
class _Waiter(Generic[E]):
    predicate: Callable[[E], bool] | None
    future: asyncio.Future[E]
    names: frozenset[str] | None  # normalised; None: any event may match


class EventHub(Generic[E]):
    """Subscribers and waiters of one client.

    ``label`` names the client in logs and task names (``AMI``, ``ESL``);
    ``normalise`` turns a name into the key form (``str.lower`` for AMI, whose
    event names are case-insensitive; the identity for ESL). ``key`` gives an
    event's key when the caller of :meth:`dispatch` does not.
    """

    def __init__(
        self,
        label: str,
        key: Callable[[E], str],
        *,
        normalise: Callable[[str], str] = str,
        log: logging.Logger | None = None,
    ) -> None:
        self.label = label
        self.key = key
        self.normalise = normalise
        self.log = log or logging.getLogger(__name__)
        self.subscriptions: set[Subscription[E]] = set()
        self._waiters: list[_Waiter[E]] = []
        # normalised names some subscriber or waiter wants; None: someone wants all
        self._interest: frozenset[str] | None = frozenset()
        # events published while a login runs; delivered after Connected/Reconnected
        self._held: list[tuple[E, str]] | None = None

    # -- registering ---------------------------------------------------------------

    def names(self, names: Collection[str] | None) -> frozenset[str] | None:
        """``names`` normalised, or None for "every event"."""
        return None if names is None else frozenset(self.normalise(n) for n in names)

    def subscribe(
        self, callback: EventCallback[E], names: Collection[str] | None = None
    ) -> Subscription[E]:
        """Register ``callback`` (sync or async) for every event, or those in ``names``."""
        sub = Subscription(self, callback, self.names(names))
        self.subscriptions.add(sub)
        self._update_interest()
        return sub

    def wait(
        self,
        predicate: Callable[[E], bool] | None,
        names: Collection[str] | None,
        timeout: float,
        on_timeout: Callable[[float], BaseException],
    ) -> Awaitable[E]:
        """An awaitable for the first event matching ``names`` and ``predicate``.

        Registered now, when called - so an event that arrives before the caller
        awaits is not missed. The predicate runs on the read path. After
        ``timeout`` seconds the awaitable raises ``on_timeout(timeout)``.
        """
        future: asyncio.Future[E] = asyncio.get_running_loop().create_future()
        waiter = _Waiter(predicate, future, self.names(names))
        self._waiters.append(waiter)
        self._update_interest()
        return self._await(waiter, timeout, on_timeout)

    async def _await(
        self, waiter: _Waiter[E], timeout: float, on_timeout: Callable[[float], BaseException]
    ) -> E:
        try:
            async with asyncio.timeout(timeout):
                return await waiter.future
        except TimeoutError as exc:
            raise on_timeout(timeout) from exc
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
                self._update_interest()

    def _remove(self, sub: Subscription[E]) -> None:
        self.subscriptions.discard(sub)
        self._update_interest()

    @property
    def interest(self) -> frozenset[str] | None:
        """Normalised names anyone listens for now; None when someone takes every event.

        A client checks this on the raw frame, before typing an event nobody wants.
        """
        return self._interest

    def _update_interest(self) -> None:
        names: set[str] = set()
        for each in [s.names for s in self.subscriptions] + [w.names for w in self._waiters]:
            if each is None:
                self._interest = None
                return
            names |= each
        self._interest = frozenset(names)

    # -- delivering ------------------------------------------------------------------

    def publish(self, event: E, key: str | None = None) -> None:
        """Dispatch ``event`` now, or hold it while a login is in progress."""
        if self._held is not None:
            self._held.append((event, self.key(event) if key is None else key))
        else:
            self.dispatch(event, key)

    def dispatch(self, event: E, key: str | None = None) -> None:
        """Hand ``event`` to every subscriber and waiter that wants it, now."""
        name = self.key(event) if key is None else key
        for sub in self.subscriptions:
            if sub.names is None or name in sub.names:
                sub._put(event)
        if not self._waiters:
            return
        keep: list[_Waiter[E]] = []
        for waiter in self._waiters:
            if waiter.future.done():
                continue
            if waiter.names is not None and name not in waiter.names:
                keep.append(waiter)
                continue
            try:
                matched = waiter.predicate is None or waiter.predicate(event)
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

    def hold(self) -> None:
        """Start holding published events (a login begins)."""
        self._held = []

    def release(self, first: E) -> None:
        """Dispatch ``first`` (Connected/Reconnected), then the held events, in order."""
        held, self._held = self._held or [], None
        self.dispatch(first)
        for event, key in held:
            self.dispatch(event, key)

    def drop_held(self) -> None:
        """Forget held events (the login failed; they belong to a dead connection)."""
        self._held = None

    def fail_waiters(self, error: BaseException) -> None:
        """Fail every waiter with ``error`` (the client closed or gave up)."""
        waiters, self._waiters = self._waiters, []
        self._update_interest()
        for waiter in waiters:
            if not waiter.future.done():
                waiter.future.set_exception(error)
                waiter.future.exception()  # the caller may be gone: no "never retrieved"

    async def stop(self) -> None:
        """Cancel every subscriber task and wait for them to finish."""
        subs = list(self.subscriptions)
        self.subscriptions.clear()
        self._update_interest()
        for sub in subs:
            sub._task.cancel()
        for sub in subs:
            try:
                await sub._task
            except asyncio.CancelledError:
                pass
