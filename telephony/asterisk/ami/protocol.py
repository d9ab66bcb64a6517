"""Sans-I/O Asterisk Manager Interface protocol core (h11 style).

Feed received bytes with :meth:`AmiProtocol.receive_data`, pull frames with
:meth:`AmiProtocol.next_message` until it returns :data:`NEED_DATA`; queue actions
with :meth:`AmiProtocol.send` and write :meth:`AmiProtocol.data_to_send` to the
socket. No sockets, no clocks, no asyncio.

Framing: the first line is the greeting (``Asterisk Call Manager/11.0.0\\r\\n``);
after it every frame is ``Name: value\\r\\n`` lines ended by an empty line. Bytes
are buffered until frames are complete and only complete frames are decoded -
once, as UTF-8 with ``errors="replace"`` - so a character split across network
reads is never lost. Frames are split into lines here; each line is split on its
first ``": "`` only when read (see :class:`~telephony.asterisk.ami.events.Message`, which
also says what happens to a line without one). Bare ``\\n`` line
ends are not accepted as separators: Asterisk always sends ``\\r\\n``.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from telephony.asterisk.ami.errors import InvalidAction, ProtocolError
from telephony.asterisk.ami.events import Greeting, Message

__all__ = ["NEED_DATA", "Action", "AmiProtocol", "NeedData", "encode_action"]


class NeedData(enum.Enum):
    """Sentinel type: no complete frame is buffered yet."""

    NEED_DATA = "NEED_DATA"


NEED_DATA = NeedData.NEED_DATA

HeaderValue = str | int | Sequence[str]

_GREETING_PREFIX = "Asterisk Call Manager/"


@dataclass(frozen=True, slots=True)
class Action:
    """An action to send. ``headers`` keep order; a header may repeat (``Variable``)."""

    name: str
    action_id: str
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def build(
        cls,
        name: str,
        action_id: str,
        headers: Mapping[str, HeaderValue] | Iterable[tuple[str, HeaderValue]] = (),
    ) -> Action:
        """Normalise headers: ints become text, a list/tuple value repeats the header."""
        pairs: list[tuple[str, str]] = []
        items = headers.items() if isinstance(headers, Mapping) else headers
        for key, value in items:
            if isinstance(value, bool):
                pairs.append((key, "true" if value else "false"))
            elif isinstance(value, int):
                pairs.append((key, str(value)))
            elif isinstance(value, str):
                pairs.append((key, value))
            else:
                pairs.extend((key, str(v)) for v in value)
        return cls(name, action_id, tuple(pairs))


def _check_name(header: str, context: str) -> None:
    if not header or any(c in header for c in "\r\n:") or header != header.strip():
        raise InvalidAction(f"{context}: invalid header name {header!r}")


def _check_value(header: str, value: str, context: str) -> None:
    if "\r" in value or "\n" in value:
        # A CR/LF would end the header (or the whole frame) early and let the rest
        # of the value be read by Asterisk as headers or a second action.
        raise InvalidAction(f"{context}: header {header!r} contains CR or LF (refused)")


def encode_action(action: Action) -> bytes:
    """Serialise ``action`` (``Action`` and ``ActionID`` first), refusing injection.

    Raises :class:`InvalidAction` naming the header if a name or value contains
    CR or LF (or a name contains ``:``), or if the headers try to set ``Action``
    or ``ActionID`` themselves.
    """
    context = f"action {action.name!r}"
    _check_value("Action", action.name, context)
    if not action.name or ":" in action.name:
        raise InvalidAction(f"{context}: invalid action name")
    _check_value("ActionID", action.action_id, context)
    lines = [f"Action: {action.name}", f"ActionID: {action.action_id}"]
    for name, value in action.headers:
        _check_name(name, context)
        if name.lower() in ("action", "actionid"):
            raise InvalidAction(f"{context}: header {name!r} is set by the client")
        _check_value(name, value, context)
        lines.append(f"{name}: {value}")
    lines.append("\r\n")
    return "\r\n".join(lines).encode("utf-8")


class AmiProtocol:
    """The AMI connection state machine for one TCP connection, without I/O.

    ``expect_greeting=False`` skips the banner (useful to parse captured streams
    that start mid-session). ``max_frame`` bounds the bytes buffered without a
    complete frame; exceeding it raises :class:`ProtocolError` instead of
    growing without limit.
    """

    __slots__ = ("_buf", "_eof", "_greeted", "_max_frame", "_out", "_ready", "_scan", "greeting")

    def __init__(self, *, expect_greeting: bool = True, max_frame: int = 16 * 1024 * 1024) -> None:
        self._buf = bytearray()
        self._scan = 0  # buffer offset before which no frame end can start
        self._ready: deque[Message] = deque()
        self._greeted = not expect_greeting
        self._out = bytearray()
        self._eof = False
        self._max_frame = max_frame
        self.greeting: Greeting | None = None

    # -- receiving ---------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Buffer received bytes; ``b""`` means the peer closed (EOF)."""
        if not data:
            self._eof = True
            return
        if self._eof:
            raise ProtocolError("data received after EOF")
        self._buf += data

    @property
    def eof(self) -> bool:
        """True once :meth:`receive_data` got ``b""``."""
        return self._eof

    @property
    def buffered(self) -> int:
        """Bytes received but not yet part of a returned frame."""
        return len(self._buf)

    def next_message(self) -> Message | Greeting | NeedData:
        """Return the next complete frame, the greeting first, or :data:`NEED_DATA`.

        Raises :class:`ProtocolError` if the banner is not an AMI greeting, the
        buffer exceeds ``max_frame`` without a frame end, or EOF arrives in the
        middle of a frame.
        """
        if self._ready:
            return self._ready.popleft()
        if not self._greeted:
            return self._read_greeting()
        if self._frames():
            return self._ready.popleft()
        return NEED_DATA

    def messages(self) -> list[Message | Greeting]:
        """Every complete frame buffered now (the greeting first, when it is due)."""
        out: list[Message | Greeting] = []
        if not self._greeted:
            greeting = self._read_greeting()
            if greeting is NEED_DATA:
                return out
            out.append(greeting)
        self._frames()
        out.extend(self._ready)
        self._ready.clear()
        return out

    def _read_greeting(self) -> Greeting | NeedData:
        end = self._buf.find(b"\r\n")
        if end < 0:
            if len(self._buf) > 1024:
                raise ProtocolError("no AMI greeting line in the first 1024 bytes")
            if self._eof and self._buf:
                raise ProtocolError("connection closed inside the greeting")
            return NEED_DATA
        line = bytes(self._buf[:end]).decode("utf-8", "replace")
        del self._buf[: end + 2]
        if not line.startswith(_GREETING_PREFIX):
            raise ProtocolError(f"not an AMI greeting: {line[:80]!r}")
        product, _, version = line.partition("/")
        self._greeted = True
        self.greeting = Greeting(product, version.strip())
        return self.greeting

    def _frames(self) -> bool:
        """Move every complete frame from the byte buffer to the ready queue."""
        buf = self._buf
        # rfind from where the previous search stopped: a frame end can only start
        # in the new bytes (or the 3 bytes before them), so a big frame arriving in
        # small reads is not rescanned from the start each time (no O(n^2)).
        end = buf.rfind(b"\r\n\r\n", self._scan)
        if end < 0:
            self._scan = max(0, len(buf) - 3)
            if len(buf) > self._max_frame:
                raise ProtocolError(f"no frame end within {self._max_frame} bytes")
            if self._eof and buf.strip():
                raise ProtocolError("connection closed inside a frame")
            return False
        # One decode for all complete frames at once: each frame is still decoded
        # exactly once, and "\r\n\r\n" is ASCII so no character straddles the cut.
        block = buf[:end].decode("utf-8", "replace")
        del buf[: end + 4]
        self._scan = 0
        if "\r\n\r\n\r\n" in block or block.startswith("\r\n") or block.endswith("\r\n"):
            # Stray empty lines between frames: split them off rather than turning
            # them into empty headers.
            frames: Iterable[str] = filter(None, (f.strip("\r\n") for f in block.split("\r\n\r\n")))
        else:
            frames = block.split("\r\n\r\n")
        ready = self._ready
        ready.extend([Message(tuple(f.split("\r\n"))) for f in frames])
        return bool(ready)

    # -- sending -----------------------------------------------------------------

    def send(self, action: Action) -> None:
        """Serialise ``action`` into the outgoing buffer (see :func:`encode_action`)."""
        self._out += encode_action(action)

    def data_to_send(self) -> bytes:
        """Return and clear the bytes waiting to be written to the socket."""
        out = bytes(self._out)
        self._out.clear()
        return out
