"""Surge headroom: a burst of calls into one hunt group, engine running vs native app_queue.

    python3 bench/surge.py                     # 25, 50, 100 calls/s for 10 s each, ~3 min
    python3 bench/surge.py --state-dir /tmp/surge-pbx --ports 8060,8038 --api-port 18090

Builds its own site (40 agents, one softphone each, all on duty in hunt group `surge`,
wrap-up 0, ringinuse=no as rendered, no fallback so an unanswered call fails), starts
its own Asterisk with it, registers 40 SIPp phones that answer at once, and for each
rate runs two passes of the same traffic:

    engine  `telephony run SITE` as its own process: it added the 40 members from the
            roster and stays connected and subscribed during the burst
    native  the engine stopped; the same 40 members (app_queue keeps dynamic members)
            and app_queue alone

A SIPp caller posing as the trunk calls the group at RATE calls/s for DURATION s
(`-r RATE -m RATE*DURATION`) and hangs up --hold-ms after the answer. Failed calls are
SIPp's own count: any final answer other than 200, timeouts, retransmissions running
out. CPU is read from /proc/<pid>/stat (utime + stime) before and after the burst, as %
of one core, for the engine process and for Asterisk (LocalPbx status() pid), beside
SIPp's, the whole machine's, and what other processes used meanwhile (a noise gauge).

Targets: 0 failed calls in every pass; the engine's CPU at the top rate at most
--target-cpu % (10) of one core. Results: bench/results/surge.json and surge.md
(surge.TAG.json/.md with --tag TAG, e.g. for a run of another engine via --engine-src).
Exit 0 when every target is met, 1 when one is missed, 2 when the run itself fails.
Stops what it started (engine, phones, caller, the PBX) whatever happens.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from telephony.asterisk.ami import AmiClient, AmiError
from telephony.asterisk.ami.events import QueueMember
from telephony.asterisk.port import AMI_EVENTS
from telephony.config import Site, load_site
from telephony.pbx import LocalPbx, PbxError, PbxInfo
from telephony.testing.phones import Phone, PhoneKit
from telephony.testing.sipp import (
    SippError,
    SippProcess,
    SippRun,
    SipTestError,
    free_media_port,
    free_udp_port,
)
from telephony.testing.trace import Direction

RESULTS = ROOT / "bench" / "results"
CALLER_SCENARIO = Path(__file__).with_name("surge") / "caller.xml"
GROUP = "surge"
NUMBER = "2900"
TRUNK_HEADER = "X-Trunk: pstn"
AMI_SECRET = "surge-bench-ami-secret"
CLK_TCK = os.sysconf("SC_CLK_TCK")
# The queue's own limits: a caller nobody answers within MAX_WAIT fails (no fallback),
# well before SIPp's receive timeout, so a stuck call shows up as a failure, not a hang.
MAX_WAIT = 10
RECV_TIMEOUT_MS = 20_000


# ---- the site


def site_data(agents: int, sip_port: int, ami_port: int, api_port: int) -> dict[str, Any]:
    """A site with `agents` agents, one softphone each, all on duty in one hunt group."""
    every_day = {day: ["00:00-24:00"] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    people = [
        {
            "id": f"agent{i:02d}",
            "name": f"Surge Agent {i:02d}",
            "extension": str(5000 + i),
            "direct_line": f"+468555{9000 + i:04d}",
            "devices": [
                {"id": f"agent{i:02d}-soft", "kind": "softphone", "password": f"surge-pw-{i:02d}"}
            ],
        }
        for i in range(1, agents + 1)
    ]
    return {
        "site": "surge-bench",
        "timezone": "UTC",
        "pbx": {
            "sip_port": sip_port,
            "control_port": ami_port,
            "control_username": "telephony",
            "control_secret": AMI_SECRET,
        },
        "api": {"host": "127.0.0.1", "port": api_port},
        "agents": people,
        "hunt_groups": [
            {
                "id": GROUP,
                "name": "Surge",
                "number": NUMBER,
                "strategy": "rrmemory",
                "ring_timeout": 5,
                "max_wait": MAX_WAIT,
                "wrapup_seconds": 0,
                "roster": {p["id"]: every_day for p in people},
                # No fallback: a call no agent answers ends 480/486, which SIPp counts.
            }
        ],
        "trunks": [{"id": "pstn", "match_header": TRUNK_HEADER}],
    }


# ---- CPU from /proc


def process_ticks(pid: int) -> int | None:
    """utime + stime of a process (all its threads), in clock ticks; None if gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces: the fields after it start past the last ')'.
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])


def machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of all CPUs since boot (/proc/stat)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    total = sum(values[:8])  # guest time is already inside user/nice
    return total - idle, total


def child_pids(parent: int) -> list[int]:
    """Processes whose parent is `parent` (our SIPp processes and the engine)."""
    pids: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        if int(text[text.rindex(")") + 2 :].split()[1]) == parent:
            pids.append(int(entry.name))
    return pids


@dataclass(frozen=True, slots=True)
class CpuSample:
    at: float
    ticks: dict[int, int]
    machine_busy: int
    machine_total: int


def sample(pids: Sequence[int]) -> CpuSample:
    ticks = {pid: t for pid in pids if (t := process_ticks(pid)) is not None}
    busy, total = machine_ticks()
    return CpuSample(time.monotonic(), ticks, busy, total)


def cpu_seconds(before: CpuSample, after: CpuSample, pids: Sequence[int]) -> float:
    """CPU time these processes used between two samples."""
    used = sum(after.ticks.get(p, before.ticks.get(p, 0)) - before.ticks.get(p, 0) for p in pids)
    return used / CLK_TCK


def cpu_percent(before: CpuSample, after: CpuSample, pids: Sequence[int]) -> float:
    """CPU of these processes between two samples, in % of one core."""
    wall = after.at - before.at
    return 100.0 * cpu_seconds(before, after, pids) / wall if wall > 0 else 0.0


def machine_percent(before: CpuSample, after: CpuSample) -> float:
    """Whole-machine CPU between two samples, in % of one core (200 = both of 2 cores)."""
    total = after.machine_total - before.machine_total
    busy = after.machine_busy - before.machine_busy
    return 100.0 * (os.cpu_count() or 1) * busy / total if total > 0 else 0.0


# ---- the engine process


class EngineProcess:
    """`telephony run SITE` as a child process, so its CPU is its own in /proc."""

    def __init__(self, site_file: Path, api_port: int, log: Path, env: dict[str, str]) -> None:
        self.site_file = site_file
        self.api = f"http://127.0.0.1:{api_port}"
        self.log = log
        self.env = env
        self.process: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError("engine not started")
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def start(self, timeout: float = 30.0) -> None:
        with self.log.open("ab") as out:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "telephony", "run", str(self.site_file),
                stdout=out, stderr=subprocess.STDOUT, env=self.env,
                # `-m` puts the working directory first on sys.path: run where no
                # `telephony` lies around, so PYTHONPATH (engine_env) decides the code.
                cwd=self.log.parent,
                start_new_session=True,  # a Ctrl-C reaches us first; we stop it
            )
        deadline = time.monotonic() + timeout
        while not await asyncio.to_thread(self._healthy):
            if not self.running:
                raise RuntimeError(f"the engine exited at start:\n{self._log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the engine API did not answer within {timeout:g} s")
            await asyncio.sleep(0.1)

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.api}/api/health", timeout=1) as response:
                return bool(json.loads(response.read()).get("ok"))
        except (OSError, ValueError):
            return False

    def _log_tail(self) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])
        except OSError:
            return ""

    async def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()


# ---- what the PBX says


async def group_members(ami: AmiClient) -> list[QueueMember]:
    listing = (await ami.send_list("QueueStatus", Queue=GROUP)).check("QueueStatus")
    return [e for e in listing.events if isinstance(e, QueueMember)]


async def active_channels(ami: AmiClient) -> int:
    out = await ami.command("core show channels count")
    match = re.search(r"(\d+) active channel", out)
    return int(match.group(1)) if match else 0


@contextlib.asynccontextmanager
async def pbx_session(info: PbxInfo, site: Site) -> AsyncIterator[AmiClient]:
    """A short AMI session for checks between bursts, closed before the next burst.

    Asterisk builds every event and wakes every session for it as long as any AMI
    session is connected, whatever that session's filter or Events mask: an idle
    session of ours during a burst would load Asterisk in the native pass too.
    """
    client = ami_client(info, site, frozenset())  # actions only: Events: off
    await client.connect()
    try:
        yield client
    finally:
        await client.close()


async def wait_ready(
    info: PbxInfo, site: Site, agents: int, timeout: float = 60.0
) -> None:
    """Until no channel is up and all members are in the group, idle and unpaused."""
    async with pbx_session(info, site) as ami:
        await _wait_ready(ami, agents, timeout)


async def _wait_ready(ami: AmiClient, agents: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        members = await group_members(ami)
        channels = await active_channels(ami)
        # Status 1: AST_DEVICE_NOT_INUSE (registered, free).
        idle = [m for m in members if m.status == 1 and not m.paused and not m.in_call]
        if channels == 0 and len(idle) == agents == len(members):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"the PBX did not settle: {channels} channels, {len(members)} members, "
                f"{len(idle)} idle (want {agents})"
            )
        await asyncio.sleep(0.2)


# ---- SIPp: phones and the caller


async def register_agents(kit: PhoneKit, site: Site) -> dict[str, Phone]:
    """One registered phone per agent's device, answering every call at once."""
    slots = asyncio.Semaphore(8)  # 40 SIPp start-ups at once would starve the PBX

    async def one(device: str) -> tuple[str, Phone]:
        async with slots:
            try:
                return device, await kit.register(device, "answer", answer_after=0.0, timeout=20)
            except SipTestError as exc:
                # Setup, not measurement: a port taken between choosing and binding it
                # (other people's tests share the machine) gets one more go.
                print(f"  {device}: {str(exc).splitlines()[0]}; trying again", flush=True)
                return device, await kit.register(device, "answer", answer_after=0.0, timeout=20)

    # A TaskGroup, not gather: when one phone fails for good, the others still waiting
    # for a slot are cancelled instead of starting SIPp processes after the kit closed.
    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(one(a.devices[0].id)) for a in site.agents]
    return dict(task.result() for task in tasks)


def answered(phone: Phone) -> set[str]:
    """Call-IDs of the calls this phone answered (200 sent to an INVITE)."""
    return {
        m.call_id
        for m in phone.messages
        if m.direction is Direction.SENT and m.status == 200 and m.cseq[1] == "INVITE"
    }


# The counters SIPp writes with -trace_stat; (C) = cumulative over the whole run.
FAILURE_COUNTERS = (
    "FailedCannotSendMessage", "FailedMaxUDPRetrans", "FailedTcpConnect", "FailedTcpClosed",
    "FailedUnexpectedMessage", "FailedCallRejected", "FailedCmdNotSent",
    "FailedRegexpDoesntMatch", "FailedRegexpShouldntMatch", "FailedRegexpHdrNotFound",
    "FailedOutboundCongestion", "FailedTimeoutOnRecv", "FailedTimeoutOnSend",
)


@dataclass(frozen=True, slots=True)
class CallerResult:
    exit_code: int | None
    created: int
    successful: int
    failed: int
    failures: dict[str, int]
    retransmissions: int


def read_stat(path: Path) -> dict[str, str]:
    """The last line of SIPp's -trace_stat CSV as {column: value}."""
    lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    if len(lines) < 2:
        raise RuntimeError(f"SIPp wrote no statistics to {path}")
    header = lines[0].rstrip(";").split(";")
    return dict(zip(header, lines[-1].rstrip(";").split(";"), strict=False))


def caller_result(stat: dict[str, str], exit_code: int | None) -> CallerResult:
    def count(name: str) -> int:
        return int(stat.get(f"{name}(C)", "0") or 0)

    failures = {name: n for name in FAILURE_COUNTERS if (n := count(name))}
    return CallerResult(
        exit_code=exit_code,
        created=int(stat.get("TotalCallCreated", "0") or 0),
        successful=count("SuccessfulCall"),
        failed=count("FailedCall"),
        failures=failures,
        retransmissions=count("Retransmissions"),
    )


@dataclass(frozen=True, slots=True)
class CallerTiming:
    """From the caller's message trace: the rate really offered, and call setup times."""

    offered_rate: float  # initial INVITEs per second between the first and the last
    setup_p50_ms: float | None  # INVITE sent -> 200 received
    setup_p99_ms: float | None
    setup_max_ms: float | None


def caller_timing(process: SippProcess) -> CallerTiming:
    invited: dict[str, datetime] = {}  # Call-ID -> first INVITE sent (not retransmissions)
    answered: dict[str, datetime] = {}  # Call-ID -> first 200 received for it
    for message in process.messages():
        if message.cseq[1] != "INVITE":
            continue
        if message.direction is Direction.SENT and message.method == "INVITE":
            invited.setdefault(message.call_id, _stamp(message.timestamp))
        elif message.direction is Direction.RECEIVED and message.status == 200:
            answered.setdefault(message.call_id, _stamp(message.timestamp))
    starts = sorted(invited.values())
    span = (starts[-1] - starts[0]).total_seconds() if len(starts) > 1 else 0.0
    setup = sorted(
        (at - invited[call_id]).total_seconds() * 1000.0
        for call_id, at in answered.items()
        if call_id in invited
    )

    def pct(q: float) -> float | None:
        return setup[min(len(setup) - 1, round(q / 100 * (len(setup) - 1)))] if setup else None

    return CallerTiming(
        offered_rate=(len(starts) - 1) / span if span > 0 else 0.0,
        setup_p50_ms=pct(50),
        setup_p99_ms=pct(99),
        setup_max_ms=setup[-1] if setup else None,
    )


def _stamp(text: str) -> datetime:
    """A SIPp -trace_msg timestamp (local wall clock, microseconds)."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f")


def caller_run(workdir: Path, remote: str, rate: int, calls: int, hold_ms: int) -> SippRun:
    scenario = CALLER_SCENARIO.read_text()
    for key, value in (("NUMBER", NUMBER), ("TRUNK_HEADER", TRUNK_HEADER), ("HOLD_MS", hold_ms)):
        scenario = scenario.replace("{{" + key + "}}", str(value))
    stat = workdir / f"caller-{rate}-{time.monotonic_ns()}.stat.csv"
    return SippRun(
        name=f"surge-{rate}",
        scenario=scenario,
        local_port=free_udp_port(),
        remote=remote,
        calls=calls,
        media_port=free_media_port(),
        extra_args=(
            "-r", str(rate), "-rp", "1000",
            "-l", str(calls),  # no cap on concurrent calls: the offered rate stays RATE
            "-recv_timeout", str(RECV_TIMEOUT_MS),
            "-trace_stat", "-stf", str(stat), "-fd", "1",
        ),
    )


# ---- one pass


@dataclass
class PassResult:
    round: int
    rate: int
    mode: str  # "engine" or "native"
    offered: int
    successful: int
    failed: int
    failures: dict[str, int]
    sipp_exit: int | None
    offered_rate: float  # measured: initial INVITEs/s from the caller's trace
    setup_p50_ms: float | None  # caller INVITE sent -> 200 received
    setup_p99_ms: float | None
    setup_max_ms: float | None
    retransmissions: int
    window_s: float  # caller start -> caller exit: what the CPU % are taken over
    engine_cpu_pct: float | None
    engine_cpu_ms_per_call: float | None
    asterisk_cpu_pct: float
    asterisk_cpu_ms_per_call: float
    sipp_cpu_pct: float
    machine_cpu_pct: float
    others_cpu_pct: float
    agent_calls: dict[str, int]
    agents_answered: int
    events: dict[str, float] = field(default_factory=dict)

    @property
    def spread(self) -> tuple[int, int]:
        values = list(self.agent_calls.values())
        return (min(values), max(values)) if values else (0, 0)


@dataclass
class Bench:
    """Everything the passes share."""

    args: argparse.Namespace
    site: Site
    site_file: Path
    workdir: Path
    info: PbxInfo
    phones: dict[str, Phone]
    engine: EngineProcess
    counted: dict[str, set[str]] = field(default_factory=dict)  # device -> answered so far


async def run_pass(bench: Bench, round_no: int, rate: int, mode: str) -> PassResult:
    args = bench.args
    agents = len(bench.site.agents)
    if mode == "engine":
        # A fresh `telephony run` for every engine pass: it re-syncs at start and finds
        # the members already there (after the first pass, which adds them).
        await bench.engine.stop()
        await bench.engine.start()
        # The engine is doing its job: every rostered agent is (still) a member.
        await wait_ready(bench.info, bench.site, agents)
    else:
        await bench.engine.stop()
        await wait_ready(bench.info, bench.site, agents)  # same members, app_queue alone
    counters = await EventCounters.open(bench) if args.count_events else None

    calls = rate * args.duration
    caller = SippProcess(
        caller_run(bench.workdir, f"{bench.info.sip_host}:{bench.info.sip_port}", rate, calls,
                   args.hold_ms),
        bench.workdir,
    )
    asterisk_pid = bench.info.pid
    assert asterisk_pid is not None
    engine_pids = [bench.engine.pid] if mode == "engine" else []
    print(f"  round {round_no} {rate:>3} calls/s {mode:<6}: {calls} calls ...", flush=True)

    await caller.start()
    try:
        ours = [os.getpid(), asterisk_pid, *child_pids(os.getpid())]
        before = sample(ours)
        exit_code = await caller.wait_exit(args.duration + RECV_TIMEOUT_MS / 1000 + 30)
        after = sample(ours)
    finally:
        await caller.stop()  # no-op once it exited by itself; else do not leave it calling
    if mode == "engine" and not bench.engine.running:
        raise RuntimeError("the engine died during the burst")
    if counters is not None:
        events = await counters.close(calls)
    else:
        events = {}

    stat_file = Path(caller.run.extra_args[caller.run.extra_args.index("-stf") + 1])
    result = caller_result(read_stat(stat_file), exit_code)
    timing = caller_timing(caller)
    sipp_pids = [p for p in ours if p not in (os.getpid(), asterisk_pid, *engine_pids)]
    machine = machine_percent(before, after)
    mine = cpu_percent(before, after, ours)
    per_call = 1000.0 / max(1, result.created)  # CPU seconds -> ms per offered call

    # Calls each agent took in this pass, read after the window (parsing is not free).
    await wait_ready(bench.info, bench.site, agents)
    taken: dict[str, int] = {}
    for device, phone in bench.phones.items():
        now = answered(phone)
        taken[device] = len(now - bench.counted.get(device, set()))
        bench.counted[device] = now
    return PassResult(
        round=round_no, rate=rate, mode=mode,
        offered=result.created, successful=result.successful, failed=result.failed,
        failures=result.failures, sipp_exit=result.exit_code,
        offered_rate=timing.offered_rate, setup_p50_ms=timing.setup_p50_ms,
        setup_p99_ms=timing.setup_p99_ms, setup_max_ms=timing.setup_max_ms,
        retransmissions=result.retransmissions, window_s=after.at - before.at,
        engine_cpu_pct=cpu_percent(before, after, engine_pids) if engine_pids else None,
        engine_cpu_ms_per_call=(
            cpu_seconds(before, after, engine_pids) * per_call if engine_pids else None
        ),
        asterisk_cpu_pct=cpu_percent(before, after, [asterisk_pid]),
        asterisk_cpu_ms_per_call=cpu_seconds(before, after, [asterisk_pid]) * per_call,
        sipp_cpu_pct=cpu_percent(before, after, sipp_pids), machine_cpu_pct=machine,
        others_cpu_pct=max(0.0, machine - mine),
        agent_calls=taken, agents_answered=sum(taken.values()), events=events,
    )


class EventCounters:
    """--count-events: what the engine's filtered connection carries vs an unfiltered one.

    Both are extra AMI sessions in this process, so they add work for Asterisk (the
    unfiltered one a lot): CPU figures of such a run are not the ones to quote.
    """

    def __init__(self, filtered: AmiClient, unfiltered: AmiClient) -> None:
        self.filtered = filtered
        self.unfiltered = unfiltered
        self.start = (filtered.events_received, unfiltered.events_received)

    @classmethod
    async def open(cls, bench: Bench) -> EventCounters:
        clients = [
            ami_client(bench.info, bench.site, AMI_EVENTS),
            ami_client(bench.info, bench.site, None),
        ]
        for client in clients:
            await client.connect()
            client.subscribe(lambda _: None)  # typed like a subscriber would see them
        return cls(*clients)

    async def close(self, calls: int) -> dict[str, float]:
        await asyncio.sleep(1.0)  # the tail of the last calls
        counts = (
            self.filtered.events_received - self.start[0],
            self.unfiltered.events_received - self.start[1],
        )
        await self.filtered.close()
        await self.unfiltered.close()
        return {
            "filtered_per_call": counts[0] / calls,
            "unfiltered_per_call": counts[1] / calls,
        }


def ami_client(info: PbxInfo, site: Site, wanted: frozenset[str] | None) -> AmiClient:
    return AmiClient(
        info.control_host, info.control_port, site.pbx.control_username, site.pbx.control_secret,
        wanted_events=wanted, reconnect=False, ping_interval=None,
    )


# ---- the report


def sipp_version() -> str:
    try:
        out = subprocess.run(["sipp", "-v"], check=False, capture_output=True, text=True,
                             timeout=5).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    match = re.search(r"SIPp (v[^\s,]+?)\.?(?:\s|$)", out)
    return match.group(1) if match else "?"


def engine_module(env: dict[str, str], cwd: Path) -> str:
    """Where the engine process imports `telephony` from (proves --engine-src took).

    `-c`, like `-m`, puts the working directory first on sys.path: same cwd as the engine.
    """
    out = subprocess.run(
        [sys.executable, "-c", "import telephony; print(telephony.__file__)"],
        check=True, capture_output=True, text=True, env=env, cwd=cwd,
    ).stdout.strip()
    return str(Path(out).parent)


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    target: str
    value: str
    met: bool


def checks(passes: Sequence[PassResult], target_cpu: float) -> list[Check]:
    out = []
    for mode in ("engine", "native"):
        mine = [p for p in passes if p.mode == mode]
        failed = sum(p.failed for p in mine)
        unanswered = sum(p.successful - p.agents_answered for p in mine)
        out.append(Check(f"failed calls, {mode} passes", "0", str(failed), failed == 0))
        out.append(Check(
            f"every successful call answered by an agent, {mode} passes",
            "0 answered elsewhere", f"{unanswered} answered elsewhere", unanswered == 0,
        ))
    top = max(p.rate for p in passes)
    worst = max((p.engine_cpu_pct or 0.0) for p in passes if p.mode == "engine" and p.rate == top)
    out.append(Check(
        f"engine CPU at {top} calls/s (% of one core)", f"<= {target_cpu:g}", f"{worst:.1f}",
        worst <= target_cpu,
    ))
    return out


def fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def write_report(
    meta: dict[str, Any], passes: Sequence[PassResult], found: Sequence[Check]
) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    data = {
        "benchmark": "surge",
        **meta,
        "passes": [{**asdict(p), "agent_calls_min_max": list(p.spread)} for p in passes],
        "asterisk_cpu_ratio_engine_over_native": ratios(passes),
        "checks": [asdict(c) for c in found],
        "all_met": all(c.met for c in found),
    }
    json_file, md_file = results_files(meta["tag"])
    json_file.write_text(json.dumps(data, indent=2) + "\n")

    lines = [
        "# Surge headroom: engine running vs native app_queue",
        "",
        (
            f"- Date: {meta['date']}; Asterisk {meta['asterisk']} ({meta['pbx_backend']} "
            f"backend); SIPp {meta['sipp']}; Python {meta['python']}; nproc {meta['nproc']}"
        ),
        (
            f"- {meta['agents']} agents (one registered SIPp phone each, answering at once) in "
            f"hunt group `{GROUP}` (rrmemory, wrap-up 0, ringinuse=no); members added by the "
            "engine from the roster; the native passes use the same members, engine stopped"
        ),
        (
            f"- Caller: SIPp as the trunk, `-r RATE -m RATE*{meta['duration_s']}`, hangs up "
            f"{meta['hold_ms']} ms after the answer; the two passes of a rate back to back, "
            f"their order alternating ({meta['rounds']} round(s))"
        ),
        (
            f"- Engine: `telephony run` from `{meta['engine_module']}`"
            + (" (--engine-src)" if meta["engine_src"] else "")
            + f"; this checkout's engine has Asterisk send it only "
            f"{', '.join(sorted(map(str, AMI_EVENTS)))}"
        ),
        (
            "- CPU: utime+stime from /proc over the burst, % of one core; `others` = the "
            "machine minus this run's processes (other people's load: the noise gauge)"
        ),
        f"- Load average before the run: {meta['loadavg_before']}",
        "",
        (
            "| rate/s | pass | offered (measured rate/s) | successful | failed "
            "| engine CPU % (ms/call) | Asterisk CPU % (ms/call) | SIPp CPU % | others CPU % "
            "| calls per agent (min-max) | setup p50 / p99 ms | window s |"
        ),
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for p in sorted(passes, key=lambda p: (p.rate, p.round, p.mode)):
        low, high = p.spread
        engine = (
            "-" if p.engine_cpu_pct is None
            else f"{p.engine_cpu_pct:.1f} ({fmt(p.engine_cpu_ms_per_call, 2)})"
        )
        lines.append(
            f"| {p.rate} | {p.mode} | {p.offered} ({p.offered_rate:.1f}) | {p.successful} | "
            f"{p.failed} | {engine} | {p.asterisk_cpu_pct:.1f} "
            f"({p.asterisk_cpu_ms_per_call:.2f}) | {fmt(p.sipp_cpu_pct)} | "
            f"{fmt(p.others_cpu_pct)} | {low}-{high} | {fmt(p.setup_p50_ms)} / "
            f"{fmt(p.setup_p99_ms)} | {p.window_s:.1f} |"
        )
    lines += ["", "| rate/s | Asterisk CPU, engine pass / native pass |", "|---:|---:|"]
    for rate, ratio in ratios(passes).items():
        lines.append(f"| {rate} | {fmt(ratio, 2)} |")
    failures = [p for p in passes if p.failures]
    if failures:
        lines += ["", "Failure reasons (SIPp counters):", ""]
        lines += [f"- {p.rate}/s {p.mode}: {p.failures}" for p in failures]
    counted = [p for p in passes if p.events]
    if counted:
        lines += ["", "AMI events per call (--count-events; CPU of such a run is inflated):", ""]
        lines += [
            f"- {p.rate}/s {p.mode}: engine's filtered connection "
            f"{p.events['filtered_per_call']:.1f}, unfiltered {p.events['unfiltered_per_call']:.1f}"
            for p in counted
        ]
    lines += ["", "| check | target | value | |", "|---|---|---|---|"]
    lines += [
        f"| {c.name} | {c.target} | {c.value} | {'MET' if c.met else 'MISSED'} |" for c in found
    ]
    notes = meta.get("notes") or []
    if notes:
        lines += ["", *[f"- {n}" for n in notes]]
    md_file.write_text("\n".join(lines) + "\n")


def results_files(tag: str | None) -> tuple[Path, Path]:
    """bench/results/surge.json and .md, or surge.TAG.json and .md."""
    stem = f"surge.{tag}" if tag else "surge"
    return RESULTS / f"{stem}.json", RESULTS / f"{stem}.md"


def ratios(passes: Sequence[PassResult]) -> dict[str, float | None]:
    """Per rate: mean Asterisk CPU of the engine passes over that of the native passes."""
    out: dict[str, float | None] = {}

    def mean(rate: int, mode: str) -> float:
        values = [p.asterisk_cpu_pct for p in passes if p.rate == rate and p.mode == mode]
        return sum(values) / len(values) if values else 0.0

    for rate in sorted({p.rate for p in passes}):
        native = mean(rate, "native")
        out[str(rate)] = mean(rate, "engine") / native if native > 0 else None
    return out


def print_summary(
    passes: Sequence[PassResult], found: Sequence[Check], tag: str | None
) -> None:
    print()
    print(f"{'rate':>5} {'pass':<7}{'offered':>8}{'ok':>6}{'failed':>7}{'engine%':>9}"
          f"{'asterisk%':>10}{'sipp%':>7}{'others%':>8}{'setup p50/p99 ms':>18}  per agent")
    for p in sorted(passes, key=lambda p: (p.rate, p.round, p.mode)):
        low, high = p.spread
        setup = f"{fmt(p.setup_p50_ms)}/{fmt(p.setup_p99_ms)}"
        print(f"{p.rate:>5} {p.mode:<7}{p.offered:>8}{p.successful:>6}{p.failed:>7}"
              f"{fmt(p.engine_cpu_pct):>9}{fmt(p.asterisk_cpu_pct):>10}{fmt(p.sipp_cpu_pct):>7}"
              f"{fmt(p.others_cpu_pct):>8}{setup:>18}  {low}-{high}")
    print()
    for c in found:
        print(f"{'MET   ' if c.met else 'MISSED'} {c.name}: {c.value} (target {c.target})")
    json_file, md_file = results_files(tag)
    print(f"\nwrote {json_file} and {md_file}")


# ---- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rates", default="25,50,100", help="calls per second, comma-separated")
    parser.add_argument("--duration", type=int, default=10, help="seconds of calls per pass")
    parser.add_argument("--agents", type=int, default=40, help="agents on duty, one phone each")
    parser.add_argument("--hold-ms", type=int, default=150, help="call length after the answer")
    parser.add_argument("--rounds", type=int, default=1, help="repeat every pass this often")
    parser.add_argument("--target-cpu", type=float, default=10.0,
                        help="engine CPU at the top rate, %% of one core")
    parser.add_argument("--state-dir", type=Path, default=None,
                        help="LocalPbx state dir (default $TELEPHONY_HOME or ~/.cache/telephony); "
                             "no PBX may run there yet")
    parser.add_argument("--ports", default="5060,5038", metavar="SIP,AMI")
    parser.add_argument("--api-port", type=int, default=8080, help="the engine's API port")
    parser.add_argument("--engine-src", type=Path, default=None,
                        help="run the engine from another checkout's `telephony` (before/after "
                             "comparisons; default: this checkout)")
    parser.add_argument("--count-events", action="store_true",
                        help="also count AMI events per call (adds AMI load: CPU not quotable)")
    parser.add_argument("--tag", default=None, type=_tag,
                        help="write bench/results/surge.TAG.{json,md} instead of surge.*")
    parser.add_argument("--keep-logs", action="store_true", help="keep SIPp traces and logs")
    return parser.parse_args(argv)


def _tag(text: str) -> str:
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", text):
        raise argparse.ArgumentTypeError("a tag is lower-case letters, digits and dashes")
    return text


def engine_env(src: Path | None) -> dict[str, str]:
    """The engine's environment: it imports `telephony` from `src`, by default the
    checkout this script belongs to (not whatever happens to be installed)."""
    env = dict(os.environ)
    paths = [str((src or ROOT).resolve()), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    return env


def plan(rates: Sequence[int], rounds: int) -> Iterator[tuple[int, int, str]]:
    """(round, rate, mode), the two passes of a rate back to back, their order alternating
    so that neither always runs first (drift in other people's load hits both alike)."""
    step = 0
    for round_no in range(1, rounds + 1):
        for rate in rates:
            modes = ("engine", "native") if step % 2 == 0 else ("native", "engine")
            step += 1
            for mode in modes:
                yield round_no, rate, mode


async def run(args: argparse.Namespace, workdir: Path) -> tuple[dict[str, Any], list[PassResult]]:
    sip_port, ami_port = (int(p) for p in args.ports.split(","))
    rates = [int(r) for r in args.rates.split(",")]
    site_file = workdir / "surge-site.yaml"
    site_file.write_text(yaml.safe_dump(site_data(args.agents, sip_port, ami_port, args.api_port)))
    site = load_site(site_file)
    env = engine_env(args.engine_src)
    pbx = LocalPbx(args.state_dir)
    if pbx.status() is not None:
        raise RuntimeError(
            f"a PBX already runs in {pbx.layout.state_dir}: the surge needs its own "
            "(stop it, or pass --state-dir and --ports for a private one)"
        )
    loadavg = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    print(f"starting the PBX ({pbx.layout.state_dir}, SIP {sip_port}, AMI {ami_port}) ...",
          flush=True)
    info = await asyncio.to_thread(pbx.up, site)
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(asyncio.to_thread, pbx.down)
        stack.push_async_callback(remove_members, info, site)
        kit = PhoneKit(site, workdir / "phones", sip_port=info.sip_port)
        stack.push_async_callback(kit.close)
        print(f"registering {len(site.agents)} agent phones ...", flush=True)
        phones = await register_agents(kit, site)
        engine = EngineProcess(site_file, args.api_port, workdir / "engine.log", env)
        stack.push_async_callback(engine.stop)
        bench = Bench(args, site, site_file, workdir, info, phones, engine)
        async with pbx_session(info, site) as ami:
            version = re.match(r"Asterisk (\S+)", await ami.command("core show version"))
        notes: list[str] = []
        comm = Path(f"/proc/{info.pid}/comm").read_text().strip() if info.pid else "?"
        if comm != "asterisk":
            notes.append(f"the PBX pid {info.pid} is {comm!r}, not asterisk: its CPU may be wrong")
        meta = {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "asterisk": version.group(1) if version else "?",
            "pbx_backend": info.backend,
            "sipp": sipp_version(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "nproc": os.cpu_count(),
            "loadavg_before": loadavg,
            "agents": len(site.agents),
            "rates": rates,
            "duration_s": args.duration,
            "hold_ms": args.hold_ms,
            "rounds": args.rounds,
            "target_engine_cpu_pct": args.target_cpu,
            "engine_module": engine_module(env, workdir),
            "engine_src": str(args.engine_src) if args.engine_src else None,
            "tag": args.tag,
            "engine_ami_events": sorted(map(str, AMI_EVENTS)),
            "notes": notes,
        }
        passes: list[PassResult] = []
        print("passes (the first engine pass adds the members) ...", flush=True)
        for round_no, rate, mode in plan(rates, args.rounds):
            passes.append(await run_pass(bench, round_no, rate, mode))
        return meta, passes
    raise AssertionError("unreachable")  # pragma: no cover - the with block returns


async def remove_members(info: PbxInfo, site: Site) -> None:
    """Take the members out again before the PBX stops (persistentmembers would keep them)."""
    async with pbx_session(info, site) as ami:
        for member in await group_members(ami):
            await ami.send("QueueRemove", Queue=GROUP, Interface=member.interface)


# What makes a run fail rather than crash: the PBX, SIPp or the engine not coming up.
RUN_FAILURES: tuple[type[Exception], ...] = (
    RuntimeError, OSError, PbxError, AmiError, SippError, SipTestError,
)


def run_failures(exc: BaseException) -> list[BaseException]:
    """The reasons a run failed (a TaskGroup wraps them in an ExceptionGroup).

    Anything else in a group is a bug of this script: raised again, with its traceback.
    """
    if not isinstance(exc, BaseExceptionGroup):
        return [exc]
    expected, rest = exc.split(RUN_FAILURES)
    if rest is not None:
        raise rest
    assert expected is not None
    return [leaf for inner in expected.exceptions for leaf in run_failures(inner)]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("sipp") is None and not os.environ.get("TELEPHONY_SIPP"):
        print("SIPp is not installed (Debian/Ubuntu: apt-get install sip-tester)", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="surge-"))
    try:
        meta, passes = asyncio.run(run(args, workdir))
    except (RuntimeError, OSError, PbxError, AmiError, SippError, SipTestError,
            ExceptionGroup) as exc:
        for reason in run_failures(exc):
            print(f"surge: the run failed: {reason}", file=sys.stderr)
        print(f"logs kept in {workdir}", file=sys.stderr)
        return 2
    found = checks(passes, args.target_cpu)
    write_report(meta, passes, found)
    print_summary(passes, found, args.tag)
    if args.keep_logs:
        print(f"SIPp traces and the engine log kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if all(c.met for c in found) else 1


if __name__ == "__main__":
    raise SystemExit(main())
