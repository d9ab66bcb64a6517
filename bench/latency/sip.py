"""The SIPp side of the benchmark: the call plan, the caller process, pairing the traces."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from telephony.testing.sipp import LOCALHOST, free_udp_port, sipp_binary
from telephony.testing.trace import Direction, SipMessage, TraceParser

CALLER_SCENARIO = Path(__file__).with_name("caller.xml")
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


@dataclass(frozen=True, slots=True)
class Variant:
    """One thing to call: a name for the report and the number dialled."""

    name: str
    number: str


@dataclass(frozen=True, slots=True)
class PlannedCall:
    index: int
    variant: Variant
    caller: str
    warmup: bool


def plan_calls(variants: Sequence[Variant], rounds: int, warmup_rounds: int) -> list[PlannedCall]:
    """Round-robin: one call per variant per round, the order rotating every round.

    Interleaving spreads any drift (caches, other load) over all variants alike; the
    rotation makes each variant follow each other one equally often. Every call gets its
    own caller number, which the agent's INVITE carries in From, to pair the two.
    """
    calls: list[PlannedCall] = []
    for round_no in range(warmup_rounds + rounds):
        shift = round_no % len(variants)
        for variant in [*variants[shift:], *variants[:shift]]:
            index = len(calls)
            calls.append(
                PlannedCall(index, variant, f"+4670999{index:04d}", round_no < warmup_rounds)
            )
    if len(calls) > 10_000:
        raise ValueError("at most 10,000 calls (four-digit caller suffix)")
    return calls


def injection_file(calls: Iterable[PlannedCall]) -> str:
    """SIPp -inf text: field0 = number dialled, field1 = caller number."""
    return "SEQUENTIAL\n" + "".join(f"{c.variant.number};{c.caller};\n" for c in calls)


def parse_time(stamp: str) -> datetime:
    """A SIPp -trace_msg timestamp (local wall clock, microseconds)."""
    return datetime.strptime(stamp, _TIME_FORMAT)


def read_trace(path: Path) -> list[SipMessage]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    return TraceParser().feed(data + b"\n----------------------------------------------- end end\n")


@dataclass(frozen=True, slots=True)
class CallerSide:
    """What the caller saw of one call."""

    invite_at: datetime
    final_status: int | None


def caller_side(messages: Iterable[SipMessage]) -> dict[str, CallerSide]:
    """Caller number -> first INVITE sent (not a retransmission) and the final answer."""
    first_invite: dict[str, tuple[str, datetime]] = {}
    final: dict[str, int] = {}
    for message in messages:
        if message.direction is Direction.SENT and message.method == "INVITE":
            caller = message.from_user
            if caller not in first_invite:
                first_invite[caller] = (message.call_id, parse_time(message.timestamp))
        elif (
            message.direction is Direction.RECEIVED
            and message.status is not None
            and message.status >= 200
            and message.cseq[1] == "INVITE"
        ):
            final.setdefault(message.call_id, message.status)
    return {
        caller: CallerSide(at, final.get(call_id)) for caller, (call_id, at) in first_invite.items()
    }


def agent_side(traces: Iterable[Sequence[SipMessage]]) -> dict[str, datetime]:
    """Caller number -> earliest initial INVITE any agent phone received for it."""
    first: dict[str, datetime] = {}
    for messages in traces:
        for message in messages:
            if (
                message.direction is Direction.RECEIVED
                and message.method == "INVITE"
                and message.to_tag is None
            ):
                at = parse_time(message.timestamp)
                caller = message.from_user
                if caller not in first or at < first[caller]:
                    first[caller] = at
    return first


class Caller:
    """One SIPp UAC placing every planned call, one at a time (-l 1)."""

    def __init__(self, workdir: Path, remote: str, *, hold_ms: int, gap_ms: int) -> None:
        self.workdir = workdir
        self.remote = remote
        self.hold_ms = hold_ms
        self.gap_ms = gap_ms
        self.trace = workdir / "caller.messages.log"
        self.errors = workdir / "caller.errors.log"
        self.output = workdir / "caller.out"
        self._process: asyncio.subprocess.Process | None = None

    def argv(self, total: int) -> list[str]:
        return [
            sipp_binary(), self.remote,
            "-sf", str(self.workdir / "caller.xml"),
            "-inf", str(self.workdir / "calls.csv"),
            "-i", LOCALHOST, "-p", str(free_udp_port()), "-mp", str(free_udp_port()),
            "-m", str(total), "-l", "1", "-r", "100",
            "-recv_timeout", "15000",
            "-nostdin", "-aa",
            "-trace_msg", "-message_file", str(self.trace),
            "-trace_err", "-error_file", str(self.errors),
        ]  # fmt: skip

    async def run(self, calls: Sequence[PlannedCall], timeout: float) -> int | None:
        """Place the calls; SIPp's exit code, or None if it had to be stopped."""
        scenario = CALLER_SCENARIO.read_text()
        scenario = scenario.replace("{{HOLD_MS}}", str(self.hold_ms))
        scenario = scenario.replace("{{GAP_MS}}", str(self.gap_ms))
        (self.workdir / "caller.xml").write_text(scenario)
        (self.workdir / "calls.csv").write_text(injection_file(calls))
        with self.output.open("wb") as output:
            self._process = await asyncio.create_subprocess_exec(
                *self.argv(len(calls)),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=output,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )
        process = self._process
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        next_report = loop.time() + 10.0
        while process.returncode is None and loop.time() < deadline:
            try:
                await asyncio.wait_for(process.wait(), 1.0)
            except TimeoutError:
                pass
            if loop.time() >= next_report:
                next_report += 10.0
                print(f"  ... {self.calls_started()}/{len(calls)} calls", flush=True)
        if process.returncode is None:
            await self.stop()
            return None
        return process.returncode

    def calls_started(self) -> int:
        try:
            return self.trace.read_bytes().count(b"\nINVITE sip:")
        except FileNotFoundError:
            return 0

    async def stop(self) -> None:
        process = self._process
        if process is None or process.returncode is not None:
            return
        try:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 3.0)
                return
            except TimeoutError:
                process.kill()
        except ProcessLookupError:
            pass
        await process.wait()
