"""The SIPp side of the benchmark: the call plan, the caller process, pairing the traces."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from telephony.testing.sipp import (
    LOCALHOST,
    SippProcess,
    SippRun,
    free_media_port,
    free_udp_port,
)
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
    pause_ms: int = 0  # wait before the INVITE (scenarios that read [field2])


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
    """SIPp -inf text: field0 = number dialled, field1 = caller number, field2 = pause
    before the INVITE in ms (ignored by scenarios that do not read it)."""
    return "SEQUENTIAL\n" + "".join(
        f"{c.variant.number};{c.caller};{c.pause_ms};\n" for c in calls
    )


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
    """One SIPp UAC placing every planned call, one at a time (-l 1).

    `scenario` is the caller scenario ({{HOLD_MS}} and {{GAP_MS}} are filled in);
    `local_host` the address SIPp binds (a trunk recognised by address needs one of
    its own).
    """

    def __init__(
        self,
        workdir: Path,
        remote: str,
        *,
        hold_ms: int,
        gap_ms: int,
        scenario: Path = CALLER_SCENARIO,
        local_host: str = LOCALHOST,
    ) -> None:
        self.workdir = workdir
        self.remote = remote
        self.hold_ms = hold_ms
        self.gap_ms = gap_ms
        self.scenario = scenario
        self.local_host = local_host
        self._process: SippProcess | None = None

    @property
    def trace(self) -> Path:
        if self._process is None:
            raise RuntimeError("the caller has not run yet")
        return self._process.trace_path

    async def run(self, calls: Sequence[PlannedCall], timeout: float) -> int | None:
        """Place the calls; SIPp's exit code, or None if it had to be stopped."""
        scenario = self.scenario.read_text()
        scenario = scenario.replace("{{HOLD_MS}}", str(self.hold_ms))
        scenario = scenario.replace("{{GAP_MS}}", str(self.gap_ms))
        self._process = process = SippProcess(
            SippRun(
                name="caller",
                scenario=scenario,
                local_port=free_udp_port(self.local_host),
                remote=self.remote,
                calls=len(calls),
                media_port=free_media_port(host=self.local_host),
                injection=injection_file(calls),
                extra_args=("-l", "1", "-r", "100", "-recv_timeout", "15000"),
                local_host=self.local_host,
            ),
            self.workdir,
        )
        await process.start()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            code = await process.wait_exit(min(10.0, max(0.0, deadline - loop.time())))
            if code is not None:
                return code
            started = sum(
                1 for m in process.messages() if m.direction is Direction.SENT and m.method == "INVITE"
            )
            print(f"  ... {started}/{len(calls)} calls", flush=True)
        await process.stop()
        return None

    async def stop(self) -> None:
        if self._process is not None:
            await self._process.stop(grace=3.0)
