"""The subscribers: many SUBSCRIBE dialogs from one SIPp process, and the NOTIFYs they got.

SIPp places one "call" per subscriber from an injection CSV (the device that subscribes,
its digest credentials, the extension watched), answers every NOTIFY with 200 and writes
each message to its trace with the time it read it. The bench reads that trace as it
grows: a NOTIFY's time is SIPp's stamp (the host's wall clock, microseconds), so it is
compared with `time.time()` taken when a change was made.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from telephony.testing.sipp import LOCALHOST, SippProcess, SippRun, free_udp_port
from telephony.testing.trace import Direction, SipMessage, TraceParser

SCENARIO = Path(__file__).with_name("subscriber.xml")
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"
EVENTS = {"dialog": "application/dialog-info+xml"}

BUSY = "busy"
IDLE = "idle"
# dialog-info (RFC 4235): a dialog in one of these states lights a BLF lamp; "terminated"
# or no dialog at all leaves it dark.
_LIT = frozenset({"trying", "proceeding", "early", "confirmed"})
_DIALOG_STATE = re.compile(r"<(?:\w+:)?state\b[^>]*>\s*([A-Za-z-]+)\s*<")


@dataclass(frozen=True, slots=True)
class Subscriber:
    username: str
    password: str
    extension: str


@dataclass(frozen=True, slots=True)
class Notify:
    """One NOTIFY as the subscriber read it."""

    call_id: str
    cseq: int
    at: float  # epoch seconds (SIPp's stamp)
    lamp: str | None  # BUSY, IDLE, or None for a body that is no dialog-info
    terminated: bool  # Subscription-State: terminated (the end of the subscription)


def lamp_of(body: str) -> str | None:
    """What a dialog-info body shows on a BLF lamp."""
    if "dialog-info" not in body:
        return None
    states = {s.lower() for s in _DIALOG_STATE.findall(body)}
    return BUSY if states & _LIT else IDLE


def stamp_time(stamp: str) -> float:
    """A SIPp -trace_msg stamp (local wall clock) as epoch seconds."""
    return datetime.strptime(stamp, _TIME_FORMAT).timestamp()


def scenario(event: str, expires: int, quiet_ms: int) -> str:
    text = SCENARIO.read_text()
    for key, value in (("EVENT", event), ("ACCEPT", EVENTS[event]),
                       ("EXPIRES", str(expires)), ("QUIET_MS", str(quiet_ms))):
        text = text.replace("{{" + key + "}}", value)
    return text


def injection(subscribers: Iterable[Subscriber]) -> str:
    # Generated passwords only: a ";" or "]" in one would break the CSV line.
    return "SEQUENTIAL\n" + "".join(
        f"{s.username};[authentication username={s.username} password={s.password}];"
        f"{s.extension};\n" for s in subscribers
    )


class Subscribers:
    """One SIPp process holding a subscription per `Subscriber`; reads its trace as it
    grows into NOTIFYs per dialog (Call-ID)."""

    def __init__(
        self, workdir: Path, sip_port: int, subscribers: Sequence[Subscriber], *,
        event: str = "dialog", rate: int = 100, expires: int = 3600, quiet_ms: int = 8000,
        buffer_bytes: int | None = None,
    ) -> None:
        self.local_port = free_udp_port()
        extra = ["-r", str(rate), "-l", str(len(subscribers))]
        if buffer_bytes is not None:
            extra += ["-buff_size", str(buffer_bytes)]
        self.process = SippProcess(SippRun(
            name="subscribers", scenario=scenario(event, expires, quiet_ms),
            local_port=self.local_port, remote=f"{LOCALHOST}:{sip_port}",
            calls=len(subscribers), injection=injection(subscribers), extra_args=tuple(extra),
        ), workdir)
        self.count = len(subscribers)
        self.notifies: list[Notify] = []
        self.by_dialog: dict[str, list[Notify]] = {}
        self.challenged = 0
        self.refused: list[str] = []
        self._parser = TraceParser()
        self._offset = 0

    async def start(self) -> None:
        await self.process.start()

    async def stop(self) -> None:
        await self.process.stop()

    async def wait_exit(self, timeout: float) -> int | None:
        return await self.process.wait_exit(timeout)

    @property
    def running(self) -> bool:
        return self.process.running

    def diagnostics(self) -> str:
        return self.process.diagnostics()

    def read(self) -> list[Notify]:
        """The NOTIFYs traced since the last read (others noted: challenges, refusals)."""
        try:
            with self.process.trace_path.open("rb") as trace:
                trace.seek(self._offset)
                data = trace.read()
        except FileNotFoundError:
            return []
        self._offset += len(data)
        fresh = []
        for message in self._parser.feed(data):
            if message.direction is not Direction.RECEIVED:
                continue
            if message.method == "NOTIFY":
                fresh.append(self._notify(message))
            elif message.status in (401, 407):
                self.challenged += 1
            elif message.status is not None and message.status >= 300:
                self.refused.append(message.start_line)
        return fresh

    def _notify(self, message: SipMessage) -> Notify:
        state = (message.header("Subscription-State") or "").lower()
        notify = Notify(message.call_id, message.cseq[0], stamp_time(message.timestamp),
                        lamp_of(message.body), state.startswith("terminated"))
        self.notifies.append(notify)
        self.by_dialog.setdefault(notify.call_id, []).append(notify)
        return notify


def udp_drops(port: int, host: str = LOCALHOST) -> int | None:
    """Datagrams the kernel dropped for the UDP socket bound to host:port (a full receive
    buffer), from /proc/net/udp; None when no such socket is listed."""
    wanted = "{:08X}:{:04X}".format(
        int.from_bytes(bytes(int(x) for x in host.split(".")), "little"), port
    )
    try:
        lines = Path("/proc/net/udp").read_text().splitlines()[1:]
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) >= 13 and fields[1] == wanted:
            return int(fields[-1])
    return None
