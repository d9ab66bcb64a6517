"""Sans-I/O FreeSWITCH Event Socket core (h11 style), inbound (client) side.

Feed received bytes with :meth:`EslProtocol.receive_data`, pull typed messages
with :meth:`EslProtocol.next_message` (or all at once with
:meth:`EslProtocol.messages`) until it gives :data:`NEED_DATA`; queue commands with
:meth:`EslProtocol.send` and write :meth:`EslProtocol.data_to_send` to the socket.
No sockets, no clocks, no asyncio.

Framing (FreeSWITCH 1.10.12, see ``../shared/freeswitch-esl/README.md``): a frame
is ``Name: value\\n`` lines closed by an empty line, then exactly
``Content-Length`` bytes of body when that header is present. The header order
differs per type (``log/data`` has more headers after Content-Length; events put
it first), so nothing here depends on it. Bytes are kept until a frame is whole
- a read may end anywhere, including right after the outer headers, which
FreeSWITCH writes with a separate ``send()`` - and each frame is decoded once.
The buffer is bounded: an outer header block longer than ``max_header`` or a
body longer than ``max_body`` is a :class:`ProtocolError`, as is any malformed
header line, a bad Content-Length, or EOF in the middle of a frame.

Commands are one line plus optional header lines and an optional body
(:class:`Command`); :func:`encode_command` refuses CR and LF anywhere but the
separators it writes itself, so an argument can never start a second command.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from telephony.freeswitch.esl.errors import InvalidCommand, ProtocolError
from telephony.freeswitch.esl.messages import (
    ApiResponse,
    AuthRequest,
    CommandReply,
    DisconnectNotice,
    LogData,
    Message,
    OtherMessage,
    RudeRejection,
    parse_json_event,
    parse_plain_event,
    parse_xml_event,
)

__all__ = [
    "NEED_DATA",
    "Command",
    "EslProtocol",
    "NeedData",
    "encode_command",
]


class NeedData(enum.Enum):
    """Sentinel type: no complete frame is buffered yet."""

    NEED_DATA = "NEED_DATA"


NEED_DATA = NeedData.NEED_DATA


@dataclass(frozen=True, slots=True)
class Command:
    """One ESL command: ``line`` (``api status``, ``event plain ALL``), header lines
    after it (``Job-UUID``, ``call-command``...) and an optional body, for which
    the encoder writes ``content-length`` itself.
    """

    line: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None

    @property
    def word(self) -> str:
        """The command word (``api``, ``bgapi``, ``event`` ...), lower-cased."""
        return self.line.split(" ", 1)[0].lower()

    def __repr__(self) -> str:
        # Never show an auth command's argument.
        line = "auth ***" if self.word == "auth" else self.line
        return f"Command({line!r}, headers={len(self.headers)}, body={self.body is not None})"


def _refuse_newlines(what: str, text: str) -> None:
    if "\n" in text or "\r" in text:
        raise InvalidCommand(f"{what} contains CR or LF (refused: it would start a new command)")


def encode_command(command: Command) -> bytes:
    """Serialise ``command``, refusing CR/LF in the line, header names and values.

    Raises :class:`InvalidCommand` naming the part at fault; also for an empty
    line, a header name with ``:`` or spaces around it, and a ``content-length``
    header given by hand (the body decides it).
    """
    line = command.line
    if not line.strip():
        raise InvalidCommand("empty command")
    _refuse_newlines(f"command {command.word!r}", line)
    parts = [line]
    for name, value in command.headers:
        if not name or ":" in name or name != name.strip():
            raise InvalidCommand(f"command {command.word!r}: invalid header name {name!r}")
        _refuse_newlines(f"command {command.word!r} header {name!r}", name + value)
        if name.lower() == "content-length":
            raise InvalidCommand(f"command {command.word!r}: content-length comes from the body")
        parts.append(f"{name}: {value}")
    if command.body is not None:
        parts.append(f"content-length: {len(command.body)}")
        return ("\n".join(parts) + "\n\n").encode("utf-8") + command.body
    return ("\n".join(parts) + "\n\n").encode("utf-8")


def _outer_headers(block: bytes) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    for line in block.decode("utf-8", "replace").split("\n"):
        name, sep, value = line.partition(": ")
        if not sep:
            if line.endswith(":") and ":" not in line[:-1]:
                name, value = line[:-1], ""  # "User-Data:" with the space trimmed
            else:
                raise ProtocolError(f"header line without ': ' ({line[:60]!r})")
        out.append((name, value))
    return tuple(out)


_PLAIN_TAIL = b"\nContent-Type: text/event-plain\n\n"


def _header(headers: Sequence[tuple[str, str]], name: str) -> str | None:
    for n, v in headers:
        if n == name:
            return v
    return None


def _build(headers: tuple[tuple[str, str], ...], body: bytes) -> Message:
    kind = _header(headers, "Content-Type")
    if kind == "text/event-plain":
        return parse_plain_event(body)
    if kind == "command/reply":
        return CommandReply(
            _header(headers, "Reply-Text") or "", _header(headers, "Job-UUID"), headers
        )
    if kind == "api/response":
        return ApiResponse(body.decode("utf-8", "replace"))
    if kind == "text/event-json":
        return parse_json_event(body)
    if kind == "auth/request":
        return AuthRequest()
    if kind == "log/data":
        level = _header(headers, "Log-Level") or ""
        return LogData(
            int(level) if level.isdigit() else 0, body.decode("utf-8", "replace"), headers
        )
    if kind == "text/disconnect-notice":
        return DisconnectNotice(body.decode("utf-8", "replace"), headers)
    if kind == "text/event-xml":
        return parse_xml_event(body)
    if kind == "text/rude-rejection":
        return RudeRejection(body.decode("utf-8", "replace"))
    if kind is None:
        raise ProtocolError(f"frame without Content-Type (headers: {[n for n, _ in headers]})")
    return OtherMessage(kind, headers, body)


class EslProtocol:
    """The Event Socket framing state for one TCP connection, without I/O.

    ``max_header`` bounds an outer header block (FreeSWITCH's are under 400
    bytes), ``max_body`` one frame's body (``api`` output such as
    ``show channels`` on a busy switch can be megabytes).
    """

    __slots__ = ("_buf", "_eof", "_head", "_max_body", "_max_header", "_out", "_ready", "_scan")

    def __init__(self, *, max_header: int = 64 * 1024, max_body: int = 64 * 1024 * 1024) -> None:
        self._buf = bytearray()
        self._scan = 0  # no frame end starts before this buffer offset
        # A frame whose body is still arriving: (outer headers or None for a plain
        # event, body start, body length)
        self._head: tuple[tuple[tuple[str, str], ...] | None, int, int] | None = None
        self._ready: deque[Message] = deque()
        self._out = bytearray()
        self._eof = False
        self._max_header = max_header
        self._max_body = max_body

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
        """Bytes received but not yet part of a returned message."""
        return len(self._buf)

    def next_message(self) -> Message | NeedData:
        """The next complete message, or :data:`NEED_DATA`.

        Raises :class:`ProtocolError` for malformed input, a frame over the bounds,
        or EOF inside a frame.
        """
        if not self._ready:
            self._frames()
            if not self._ready:
                return NEED_DATA
        return self._ready.popleft()

    def messages(self) -> list[Message]:
        """Every complete message buffered now, in order."""
        self._frames()
        out = list(self._ready)
        self._ready.clear()
        return out

    def _frames(self) -> None:
        buf = self._buf
        pos = 0
        ready = self._ready
        try:
            while True:
                head = self._head
                if head is None:
                    # Stray blank lines between frames carry nothing: skip them.
                    while pos < len(buf) and buf[pos] == 0x0A:
                        pos += 1
                    head = self._plain_head(buf, pos)
                if head is None:
                    end = buf.find(b"\n\n", max(pos, self._scan))
                    if end < 0:
                        # Resume the search where it stopped: a big header block in
                        # small reads is not rescanned from its start each time.
                        self._scan = max(pos, len(buf) - 1)
                        if len(buf) - pos > self._max_header:
                            raise ProtocolError(
                                f"no end of headers within {self._max_header} bytes"
                            )
                        break
                    self._scan = 0
                    outer = _outer_headers(bytes(buf[pos:end]))
                    text = _header(outer, "Content-Length")
                    head = (outer, end + 2, 0 if text is None else self._length(text))
                headers, start, length = head
                stop = start + length
                if len(buf) < stop:
                    self._head = head
                    break
                self._head = None
                body = bytes(buf[start:stop])
                ready.append(parse_plain_event(body) if headers is None else _build(headers, body))
                pos = stop
        finally:
            if pos:
                # One compaction per call, not per frame; offsets kept in self._head
                # are relative to the buffer start, so shift them too.
                del buf[:pos]
                if self._head is not None:
                    h, s, n = self._head
                    self._head = (h, s - pos, n)
                if self._scan:
                    self._scan = max(0, self._scan - pos)
        if self._eof and buf.strip(b"\n"):
            raise ProtocolError(f"connection closed inside a frame ({len(buf)} bytes left)")

    def _plain_head(
        self, buf: bytearray, pos: int
    ) -> tuple[None, int, int] | None:
        """The outer headers nearly every frame has, read in place: ``Content-Length:
        N`` then ``Content-Type: text/event-plain``. None: take the generic path."""
        if not buf.startswith(b"Content-Length: ", pos):
            return None
        eol = buf.find(b"\n", pos + 16, pos + 40)
        if eol < 0 or not buf.startswith(_PLAIN_TAIL, eol):
            return None
        digits = buf[pos + 16 : eol]
        if not digits.isdigit():
            return None  # the generic path names the fault
        return (None, eol + len(_PLAIN_TAIL), self._length(digits.decode()))

    def _length(self, text: str) -> int:
        if not text.isdigit() or not text.isascii():
            raise ProtocolError(f"Content-Length is not a number: {text[:20]!r}")
        length = int(text)
        if length > self._max_body:
            raise ProtocolError(f"Content-Length {length} is over the limit of {self._max_body}")
        return length

    # -- sending -----------------------------------------------------------------

    def send(self, command: Command) -> None:
        """Serialise ``command`` into the outgoing buffer (see :func:`encode_command`)."""
        self._out += encode_command(command)

    def send_all(self, commands: Iterable[Command]) -> None:
        """Serialise several commands; none is buffered if any is refused."""
        encoded = [encode_command(c) for c in commands]
        for data in encoded:
            self._out += data

    def data_to_send(self) -> bytes:
        """Return and clear the bytes waiting to be written to the socket."""
        out = bytes(self._out)
        self._out.clear()
        return out
