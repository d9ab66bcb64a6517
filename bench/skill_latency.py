"""Skill-queue call latency: our skill queue against a hand-written one, same PBX, same run.

    python3 bench/skill_latency.py --pbx asterisk      # 1,500 calls per variant, ~10 min
    python3 bench/skill_latency.py --pbx freeswitch    # 450 calls per variant, ~10 min

Caller INVITE -> first expert INVITE, for a call to a skill queue whose two members are
the bench's two phones: Chen (the most skilled: ring level 1) and Dana (ring level 2,
joining the ringing level_wait seconds after the caller). The site is the PBX tests'
site plus that queue (bench/latency/skill_site.py), written to the run's own directory.

    ours      the skill queue 3009 as our product renders it (Asterisk: Goto, Set
              QUEUE_MAX_PENALTY=0, Queue(), a penaltychange rule; FreeSWITCH: multiset,
              callcenter on a queue with tier rules), its members put there by one
              Engine.sync() once the phones are registered (the engine joins agents
              with the skill and a registered device)
    baseline  9000, what an admin writes by hand for the same two phones (Asterisk:
              Queue() on a queue with static members at penalties 0 and 1, no rules;
              FreeSWITCH: callcenter on a queue with the same tier rules, static XML
              agents and tiers at levels 0 and 1); bench/latency/skill_asterisk.py and
              skill_freeswitch.py

The bench starts its own PBX of the kind asked for (it refuses to touch one already
running in the state directory), adds the baseline, registers the phones (for two
hours: SIPp does not refresh a registration), lets the engine sync, checks the levels
both queues ring by, and calls from the trunk's address (127.0.0.2) one call at a time,
the two variants strictly alternating (each follows the other equally often, and no
agent of either queue is offered two calls in a row). Every call's caller number is its
own; the agent INVITE carries it in From, which pairs the two traces. The report says
which phone each variant rang first: the level-1 expert, in both, is the premise.

FreeSWITCH: mod_callcenter's dispatcher wakes every 100 ms, so every call starts after a
seeded random 0-99 ms pause (its place in that cycle then owes nothing to the call
before it), and it offers an agent one call per wall-clock second, so each call is
followed by GAP ms of quiet, enough for each agent to rest over a second between its
calls (checked per call and reported). mod_callcenter answers the caller before the
queue, so each call is also split at the caller's 200 OK: up to it (SIP, the dialplan,
where the two differ) and after it (mod_callcenter's wait and originate).

Writes bench/results/skill_latency_<pbx>.json and .md (skill_latency_<pbx>_partial.*
for runs with --calls below the default). Exit 0 when ours/baseline <= 1.05 at p50 and
p99, 1 when a ratio misses it, 2 when the run fails. A stopped run (SIGTERM) still stops
its phones, takes out the members and baseline it added and stops its PBX.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import random
import re
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from latency import skill_asterisk, skill_freeswitch
from latency.freeswitch import AgentCall, agent_calls, freeswitch_version, restart, splice
from latency.freeswitch import Baseline as FreeswitchBaseline
from latency.report import calls_for, ci, sipp_version, verdict
from latency.sip import (
    Caller,
    CallerSide,
    PlannedCall,
    Variant,
    caller_side,
    parse_time,
    read_trace,
)
from latency.skill_site import EXPERT, NUMBER, QUEUE, SECOND, BenchSite, bench_site
from latency.stats import TARGET_RATIO, Comparison, Summary, compare, percentile, summarise

from telephony.config import Site
from telephony.config.models import PbxKind
from telephony.engine.engine import Engine
from telephony.engine.run import open_port
from telephony.freeswitch.render import render as render_freeswitch
from telephony.freeswitch.runner.conf import write_conf
from telephony.pbx import LocalPbx, PbxError, PbxInfo
from telephony.port import Join, Leave, PbxPort
from telephony.routing.clock import SystemClock
from telephony.testing.phones import Phone, PhoneKit, loopback_address
from telephony.testing.trace import Direction, SipMessage

RESULTS = ROOT / "bench" / "results"
NAME = "skill_latency"
SCENARIOS = {
    PbxKind.ASTERISK: ROOT / "bench" / "latency" / "caller.xml",
    PbxKind.FREESWITCH: ROOT / "bench" / "latency" / "caller_freeswitch.xml",
}
# The phones register once for the whole run (SIPp does not refresh a registration).
PHONE_EXPIRES = 7200
# mod_callcenter's dispatcher cycle: each call waits a random part of it before its INVITE.
CYCLE_MS = 100
# An agent offered a queue call less than this after its last one ended may have been
# held back by mod_callcenter's one-call-per-wall-clock-second rule.
AGENT_REST = 1.0
SETTLE_TIMEOUT = 15.0
# Other work on the machine (unit tests need no lock) shows in the tails: sample the load.
LOAD_EVERY = 10.0


@dataclass(frozen=True, slots=True)
class Defaults:
    """Per PBX: calls per variant (about ten minutes), and the call's shape."""

    calls: int
    hold_ms: int  # Asterisk: the caller hangs up this long after the answer; FreeSWITCH:
    # the agent phone does (mod_callcenter answers the caller before any agent rings)
    gap_ms: int  # quiet after each call
    pause: bool  # a random 0-99 ms pause before each INVITE


DEFAULTS = {
    PbxKind.ASTERISK: Defaults(calls=1500, hold_ms=50, gap_ms=100, pause=False),
    # gap: two gaps and the other variant's call (>= 0.1 s) lie between an agent's calls.
    PbxKind.FREESWITCH: Defaults(calls=450, hold_ms=100, gap_ms=350, pause=True),
}


@dataclass(frozen=True, slots=True)
class Setup:
    """What the run compares."""

    kind: PbxKind
    ours: Variant
    base: Variant
    expert_device: str
    second_device: str

    @property
    def variants(self) -> list[Variant]:
        return [self.ours, self.base]


def make_setup(bench: BenchSite) -> Setup:
    return Setup(
        kind=bench.site.pbx.kind,
        ours=Variant(f"skill queue {NUMBER} (ours)", NUMBER),
        base=Variant(
            f"hand-written queue {skill_asterisk.PLAIN_NUMBER} (baseline)",
            skill_asterisk.PLAIN_NUMBER,
        ),
        expert_device=bench.expert_device,
        second_device=bench.second_device,
    )


def plan_calls(
    setup: Setup, calls: int, warmup: int, rng: random.Random | None
) -> list[PlannedCall]:
    """Ours and the baseline strictly alternating: each follows the other equally often
    and no queue is called twice in a row. With `rng`, each call gets a random pause."""
    out: list[PlannedCall] = []
    for round_no in range(warmup + calls):
        for variant in setup.variants:
            index = len(out)
            pause = rng.randrange(CYCLE_MS) if rng is not None else 0
            out.append(PlannedCall(index, variant, f"+4670999{index:04d}",
                                   round_no < warmup, pause))
    if len(out) > 10_000:
        raise SystemExit("at most 10,000 calls (four-digit caller suffix)")
    return out


def trunk_address(site: Site) -> str:
    """A loopback address inside a trunk's match_ip: where the caller binds."""
    for trunk in site.trunks:
        for match in trunk.match_ip:
            address = loopback_address(match)
            if address is not None:
                return address
    raise SystemExit("the site needs a trunk with a loopback match_ip (e.g. 127.0.0.2/32)")


# ---- the PBX side


@dataclass(slots=True)
class Undo:
    """What the run added, for the clean-up (filled in as it goes)."""

    info: PbxInfo | None = None
    asterisk_base: skill_asterisk.Baseline | None = None
    freeswitch_base: FreeswitchBaseline | None = None
    joins: list[Join] = field(default_factory=list)


def add_baseline(pbx: LocalPbx, bench: BenchSite, undo: Undo) -> PbxInfo:
    """The hand-written queue on the running PBX; checked before any call."""
    site, info = bench.site, undo.info
    assert info is not None
    queue = next(q for q in site.queues if q.id == QUEUE)
    if site.pbx.kind is PbxKind.ASTERISK:
        undo.asterisk_base = base = skill_asterisk.baseline(queue, bench.devices)
        base.write(info.config_dir)
        pbx.cli("module reload app_queue.so")
        pbx.cli("dialplan reload")
        shown = pbx.cli(f"dialplan show {skill_asterisk.PLAIN_NUMBER}@tel-from-trunk")
        if "Queue(" not in shown:
            raise SystemExit(f"baseline {skill_asterisk.PLAIN_NUMBER} not in the dialplan:\n{shown}")
        return info
    undo.freeswitch_base = fs_base = skill_freeswitch.baseline(site, queue, bench.devices)
    write_conf(info.config_dir, splice(render_freeswitch(site), fs_base))
    print("restarting FreeSWITCH with the baseline in its conf ...", flush=True)
    undo.info = info = restart(pbx)
    shown = pbx.cli("xml_locate dialplan context name tel-from-trunk")
    if f"^{skill_freeswitch.PLAIN_NUMBER}$" not in shown:
        raise SystemExit(f"baseline {skill_freeswitch.PLAIN_NUMBER} not in tel-from-trunk")
    return info


def ring_levels(pbx: LocalPbx, bench: BenchSite) -> dict[str, dict[str, int]]:
    """What each queue rings by, as the PBX has it: penalties (Asterisk) or tier levels
    (FreeSWITCH), per member."""
    if bench.site.pbx.kind is PbxKind.ASTERISK:
        return {
            q: skill_asterisk.penalties(pbx.cli(f"queue show {q}"))
            for q in (QUEUE, skill_asterisk.PLAIN_QUEUE)
        }
    return {
        q: skill_freeswitch.tier_levels(pbx.cli, q)
        for q in (QUEUE, skill_freeswitch.PLAIN_QUEUE)
    }


def show_queues(pbx: LocalPbx, kind: PbxKind) -> str:
    """Both queues as the PBX's console shows them (for an error message)."""
    if kind is PbxKind.ASTERISK:
        return "\n".join(pbx.cli(f"queue show {q}") for q in (QUEUE, skill_asterisk.PLAIN_QUEUE))
    return "\n".join(pbx.cli(f"callcenter_config queue list tiers {q}")
                     for q in (QUEUE, skill_freeswitch.PLAIN_QUEUE))


def expected_levels(bench: BenchSite) -> dict[str, dict[str, int]]:
    """The expert first (penalty / tier level 0), the other one level later, in both."""
    site = bench.site
    if site.pbx.kind is PbxKind.ASTERISK:
        return {
            QUEUE: {f"PJSIP/{bench.expert_device}": 0, f"PJSIP/{bench.second_device}": 1},
            skill_asterisk.PLAIN_QUEUE: {
                f"PJSIP/{bench.expert_device}": 0, f"PJSIP/{bench.second_device}": 1
            },
        }
    base = skill_freeswitch.AGENT_PREFIX
    return {
        QUEUE: {EXPERT: 0, SECOND: 1},
        skill_freeswitch.PLAIN_QUEUE: {
            f"{base}{bench.expert_device}": 0, f"{base}{bench.second_device}": 1
        },
    }


async def until(check: Callable[[], Awaitable[bool]], what: str, timeout: float = SETTLE_TIMEOUT) -> None:
    """Poll `check` (a coroutine function returning truthy when done) until a deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            raise SystemExit(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(0.1)


async def members_ready(pbx: LocalPbx, setup: Setup) -> None:
    """Asterisk learns a registered phone's state asynchronously: wait until both queues
    show both phones' members free (FreeSWITCH's callback agents have no device state)."""
    if setup.kind is not PbxKind.ASTERISK:
        return

    async def free() -> bool:
        for queue in (QUEUE, skill_asterisk.PLAIN_QUEUE):
            shown = await asyncio.to_thread(pbx.cli, f"queue show {queue}")
            if shown.count("(Not in use)") < 2:
                return False
        return True

    await until(free, "both queues' members to show 'Not in use'")


@dataclass(frozen=True, slots=True)
class Staffing:
    """How the queues were staffed when the calls began."""

    engine_joins: list[str]  # "queue/agent@level" the engine's one sync added
    neutral_levels: dict[str, int]  # our queue's members as the port reads them
    ring_levels: dict[str, dict[str, int]]  # as the PBX rings them, both queues

    def as_dict(self) -> dict[str, Any]:
        return {"engine_joins": self.engine_joins, "neutral_levels": self.neutral_levels,
                "ring_levels": self.ring_levels}


async def staff(port: PbxPort, pbx: LocalPbx, bench: BenchSite, undo: Undo) -> Staffing:
    """Once the phones are registered: one Engine.sync(), then the levels checked."""
    wanted = {EXPERT, SECOND}

    async def registered() -> bool:
        snapshot = await port.snapshot(frozenset({QUEUE}))
        return snapshot.registered is None or wanted <= snapshot.registered

    await until(registered, f"the PBX to report {sorted(wanted)} registered")
    commands = await Engine(bench.site, port, SystemClock()).sync()
    undo.joins = [c for c in commands if isinstance(c, Join)]
    snapshot = await port.snapshot(frozenset({QUEUE}))
    neutral = {m.agent: m.level for m in snapshot.members if m.queue == QUEUE}
    if neutral != {EXPERT: 1, SECOND: 2}:
        raise SystemExit(f"queue {QUEUE}: members at levels {neutral}, expected "
                         f"{EXPERT} at 1 and {SECOND} at 2")
    levels = await asyncio.to_thread(ring_levels, pbx, bench)
    expected = expected_levels(bench)
    if levels != expected:
        shown = await asyncio.to_thread(show_queues, pbx, bench.site.pbx.kind)
        raise SystemExit(f"ring levels {levels}, expected {expected}:\n{shown}")
    joins = [f"{j.queue}/{j.agent}@{j.level}" for j in undo.joins]
    return Staffing(joins, neutral, levels)


async def take_out(port: PbxPort, joins: Sequence[Join]) -> None:
    """Take out again the members the engine's sync added (Asterisk keeps them across
    restarts, mod_callcenter in its database)."""
    added = {(j.queue, j.agent) for j in joins}
    snapshot = await port.snapshot()
    for member in snapshot.members:
        if (member.queue, member.agent) in added:
            await port.apply(Leave(member.queue, member.agent, member.ref, "bench clean-up"))


# ---- the run


@dataclass(frozen=True, slots=True)
class Run:
    calls: list[PlannedCall]
    callers: dict[str, CallerSide]
    agents: dict[str, AgentCall]
    code: int | None
    staffing: Staffing
    answered: dict[str, datetime]  # caller number -> the caller's 200 OK (FreeSWITCH)
    load: list[float]  # the machine's 1-minute load average every LOAD_EVERY s of the calls


async def run_calls(
    pbx: LocalPbx, bench: BenchSite, setup: Setup, args: argparse.Namespace, workdir: Path,
    undo: Undo,
) -> Run:
    info = undo.info
    assert info is not None
    site = bench.site
    kit = PhoneKit(site, workdir / "phones", sip_port=info.sip_port)
    caller = Caller(
        workdir, f"{info.sip_host}:{info.sip_port}",
        # Asterisk: the caller hangs up after HOLD; FreeSWITCH: the agent phone does.
        hold_ms=args.hold_ms if setup.kind is PbxKind.ASTERISK else 0,
        gap_ms=args.gap_ms, scenario=SCENARIOS[setup.kind], local_host=trunk_address(site),
    )
    phone_hold = None if setup.kind is PbxKind.ASTERISK else args.hold_ms / 1000
    port = await open_port(site)
    try:
        phones: list[Phone] = [
            await kit.register(d, "answer", answer_after=0.0, hold_seconds=phone_hold,
                               expires=PHONE_EXPIRES)
            for d in bench.devices
        ]
        staffing = await staff(port, pbx, bench, undo)
        print(f"engine joined {staffing.engine_joins}; ring levels {staffing.ring_levels}",
              flush=True)
        await members_ready(pbx, setup)
        rng = random.Random(args.seed) if args.pause else None
        calls = plan_calls(setup, args.calls, args.warmup, rng)
        print(f"placing {len(calls)} calls ({args.warmup} warm-up rounds) ...", flush=True)
        load: list[float] = []
        sampler = asyncio.create_task(sample_load(load))
        try:
            code = await caller.run(calls, 120.0 + len(calls) * 1.5)
        finally:
            sampler.cancel()
        trace = read_trace(caller.trace)
        callers = caller_side(trace)
        # Only mod_callcenter answers the caller before an agent rings.
        answers = answered(trace) if setup.kind is PbxKind.FREESWITCH else {}
        placed = {number: side.invite_at for number, side in callers.items()}
        agents = agent_calls(((p.device_id, p.messages) for p in phones), placed)
        return Run(calls, dict(callers), agents, code, staffing, answers, load)
    finally:
        await caller.stop()
        await kit.close()
        try:
            await take_out(port, undo.joins)
        except Exception as exc:  # noqa: BLE001 - the PBX clean-up below still runs
            print(f"cleanup: could not take out the members added: {exc}", file=sys.stderr)
        await port.close()


async def sample_load(into: list[float]) -> None:
    while True:
        into.append(os.getloadavg()[0])
        await asyncio.sleep(LOAD_EVERY)


# ---- the analysis


@dataclass(frozen=True, slots=True)
class Pacing:
    """How one queue's calls met mod_callcenter's one-call-per-second rule."""

    variant: str
    min_rest_s: float  # shortest time from an agent's last call's end to its next
    too_soon: int  # measured calls offered less than AGENT_REST after that

    def as_dict(self) -> dict[str, Any]:
        return {"variant": self.variant, "min_rest_s": round(self.min_rest_s, 3),
                "too_soon": self.too_soon}


@dataclass(frozen=True, slots=True)
class Analysis:
    summaries: list[Summary]
    samples: dict[str, list[float]]
    comparison: Comparison
    rung_first: dict[str, dict[str, int]]  # variant -> phone -> measured calls
    pacing: list[Pacing]
    halves: dict[str, float]
    needed: dict[str, int]
    parts: list[Parts]  # FreeSWITCH: where the time goes
    before_queue: Comparison | None  # FreeSWITCH: ours/baseline up to the caller's answer


def analyse(run: Run, setup: Setup, calls_per_variant: int) -> Analysis:
    samples: dict[str, list[float]] = {v.name: [] for v in setup.variants}
    failed: Counter[str] = Counter()
    rung: dict[str, Counter[str]] = {v.name: Counter() for v in setup.variants}
    for call in run.calls:
        if call.warmup:
            continue
        sent = run.callers.get(call.caller)
        got = run.agents.get(call.caller)
        if got is not None:
            rung[call.variant.name][got.device] += 1
        if sent is None or got is None or sent.final_status != 200:
            failed[call.variant.name] += 1
            continue
        samples[call.variant.name].append((got.invite_at - sent.invite_at).total_seconds() * 1e3)
    summaries = [summarise(v.name, v.number, samples[v.name], failed[v.name])
                 for v in setup.variants]
    ours, base = summaries
    comparison = compare(ours, base, samples[ours.variant], samples[base.variant])
    return Analysis(
        summaries, samples, comparison,
        {name: dict(sorted(c.items())) for name, c in rung.items()},
        pacing(run, setup) if setup.kind is PbxKind.FREESWITCH else [],
        halves(samples[ours.variant], samples[base.variant]),
        {
            "p50": calls_for(calls_per_variant, comparison.ratio_p50, comparison.ci95_p50),
            "p99": calls_for(calls_per_variant, comparison.ratio_p99, comparison.ci95_p99),
        },
        *(split(run, setup) if run.answered else ([], None)),
    )


PARTS = ("answered", "queue")


@dataclass(frozen=True, slots=True)
class Parts:
    """One variant's latency in two parts, ms, both from SIPp's traces: answered =
    caller INVITE -> the caller's 200 OK (SIP, the dialplan, and `callcenter`, which
    answers the caller first), queue = -> the agent's INVITE (mod_callcenter: the
    member's insert, the dispatcher's 0-100 ms wait, the originate)."""

    variant: str
    n: int
    p50: dict[str, float]
    p99: dict[str, float]
    mean: dict[str, float]
    samples: dict[str, list[float]]

    def as_dict(self) -> dict[str, Any]:
        return {"variant": self.variant, "n": self.n,
                **{f"{q}_ms": {k: round(v, 3) for k, v in getattr(self, q).items()}
                   for q in ("p50", "p99", "mean")},
                "samples_ms": self.samples}


def answered(trace: Sequence[SipMessage]) -> dict[str, datetime]:
    """Caller number -> when the caller received its 200 OK to the INVITE."""
    callers = {m.call_id: m.from_user for m in trace
               if m.direction is Direction.SENT and m.method == "INVITE"}
    out: dict[str, datetime] = {}
    for m in trace:
        if (m.direction is Direction.RECEIVED and m.status == 200 and m.cseq[1] == "INVITE"
                and m.call_id in callers):
            out.setdefault(callers[m.call_id], parse_time(m.timestamp))
    return out


def split(run: Run, setup: Setup) -> tuple[list[Parts], Comparison]:
    """Each measured call's latency in two parts; ours/baseline of the part before the
    queue (where the two differ: the dialplan)."""
    out: list[Parts] = []
    before: dict[str, list[float]] = {}
    for variant in setup.variants:
        values: dict[str, list[float]] = {p: [] for p in PARTS}
        for call in run.calls:
            sent = run.callers.get(call.caller)
            got = run.agents.get(call.caller)
            answer = run.answered.get(call.caller)
            if (call.warmup or call.variant != variant or sent is None or got is None
                    or answer is None):
                continue
            values["answered"].append((answer - sent.invite_at).total_seconds() * 1e3)
            values["queue"].append((got.invite_at - answer).total_seconds() * 1e3)
        before[variant.name] = values["answered"]
        out.append(Parts(
            variant.name, len(values["answered"]),
            {p: percentile(v, 50) for p, v in values.items()},
            {p: percentile(v, 99) for p, v in values.items()},
            {p: sum(v) / len(v) if v else math.nan for p, v in values.items()},
            {p: [round(x, 3) for x in v] for p, v in values.items()},
        ))
    ours, base = setup.ours.name, setup.base.name
    named = {name: summarise(f"{name}: answered", "", before[name], 0) for name in before}
    return out, compare(named[ours], named[base], before[ours], before[base])


def pacing(run: Run, setup: Setup) -> list[Pacing]:
    """Per queue: the shortest rest an agent had between two of its calls (each queue
    has agents of its own, so this is per variant and phone)."""
    out = []
    for variant in setup.variants:
        last_end: dict[str, datetime] = {}
        rests: list[float] = []
        for call in run.calls:
            got = run.agents.get(call.caller)
            if call.variant != variant or got is None:
                continue
            before = last_end.get(got.device)
            if not call.warmup and before is not None:
                rests.append((got.invite_at - before).total_seconds())
            if got.ended_at is not None:
                last_end[got.device] = got.ended_at
        out.append(Pacing(variant.name, min(rests, default=math.nan),
                          sum(r < AGENT_REST for r in rests)))
    return out


def halves(ours: Sequence[float], base: Sequence[float]) -> dict[str, float]:
    """The ratios in the first and the second half of the run (drift, noise)."""
    out = {}
    for label, part_a, part_b in (
        ("first", ours[: len(ours) // 2], base[: len(base) // 2]),
        ("second", ours[len(ours) // 2:], base[len(base) // 2:]),
    ):
        for q in (50, 99):
            pa, pb = percentile(part_a, q), percentile(part_b, q)
            out[f"{label}_p{q}"] = round(pa / pb, 3) if pb > 0 else math.nan
    return out


# ---- the report


def write_report(meta: dict[str, Any], result: Analysis, name: str) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    c = result.comparison
    data = {
        "benchmark": NAME,
        "metric": "caller INVITE sent -> first agent INVITE received (ms)",
        **meta,
        "variants": [s.as_dict() for s in result.summaries],
        "comparisons": [c.as_dict()],
        "rung_first": result.rung_first,
        "halves": result.halves,
        "calls_for_5_percent": result.needed,
        "pacing": [p.as_dict() for p in result.pacing],
        "parts": [p.as_dict() for p in result.parts],
        "answered_comparison": (
            result.before_queue.as_dict() if result.before_queue is not None else None
        ),
        "samples_ms": {k: [round(x, 3) for x in v] for k, v in result.samples.items()},
    }
    (RESULTS / f"{name}.json").write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    pbx_name = "Asterisk" if meta["pbx"] == PbxKind.ASTERISK.value else "FreeSWITCH"
    h = result.halves
    lines = [
        f"# Skill-queue call latency on {pbx_name}: ours vs a hand-written skill queue",
        "",
        f"- Date: {meta['date']}; run took {meta['duration_s'] / 60:.1f} min",
        f"- {pbx_name} {meta['pbx_version']} ({meta['pbx_backend']} backend)",
        f"- SIPp: {meta['sipp']}, Python {meta['python']}, {meta['platform']}",
        (
            f"- Machine: nproc = {meta['nproc']}, load average (1 min) "
            f"{meta['load_before'][0]:.2f} before, {meta['load_after'][0]:.2f} after, "
            f"{load_range(meta['load_during'])} during the calls (every {LOAD_EVERY:g} s)"
        ),
        (
            f"- Calls: {meta['calls_per_variant']} per variant after {meta['warmup_rounds']} "
            "warm-up round(s), one at a time, ours and the baseline strictly alternating"
            + (f"; each starts after a random 0-{CYCLE_MS - 1} ms pause (seed {meta['seed']})"
               if meta["pause"] else "")
            + f"; {meta['hold_ms']} ms hold after the answer, {meta['gap_ms']} ms quiet "
            "after each call"
        ),
        (
            f"- Queue {QUEUE} ({NUMBER}): members by one Engine.sync() after the phones "
            f"registered: {', '.join(meta['staffing']['engine_joins'])}; levels read back "
            f"{meta['staffing']['neutral_levels']}; as the PBX rings them "
            f"{meta['staffing']['ring_levels']}"
        ),
        (
            "- Metric: caller INVITE sent -> first agent INVITE received, from SIPp "
            "-trace_msg timestamps (same host clock)"
        ),
        "",
        "| variant | n | failed | p50 ms | p90 ms | p99 ms | mean ms | min ms | max ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in result.summaries:
        lines.append(
            f"| {s.variant} | {s.n} | {s.failed} | {s.p50_ms:.2f} | {s.p90_ms:.2f} | "
            f"{s.p99_ms:.2f} | {s.mean_ms:.2f} | {s.min_ms:.2f} | {s.max_ms:.2f} |"
        )
    lines += [
        "",
        f"| ours / baseline | p50 ratio (95% CI) | p99 ratio (95% CI) | target <= {TARGET_RATIO} |",
        "|---|---:|---:|---|",
        (f"| {c.ours} / {c.baseline} | {c.ratio_p50:.3f} ({ci(c.ci95_p50)}) | "
        f"{c.ratio_p99:.3f} ({ci(c.ci95_p99)}) | p50 {verdict(c.met_p50)}, "
        f"p99 {verdict(c.met_p99)} |"),
        "",
        ("Noise: the ratio in each half of the run, and the calls per variant that would "
        "give a 95 % interval of +-5 % (scaled from this run's interval): "
        f"1st half p50 {h['first_p50']:.3f} / p99 {h['first_p99']:.3f}; 2nd half p50 "
        f"{h['second_p50']:.3f} / p99 {h['second_p99']:.3f}; calls for +-5 %: p50 "
        f"{result.needed['p50']}, p99 {result.needed['p99']}."),
        "",
        ("Phone rung first (measured calls; the level-1 expert is "
        f"{meta['expert_device']}):"),
        "",
        *[f"- {variant}: {phones}" for variant, phones in result.rung_first.items()],
    ]
    if result.before_queue is not None:
        w = result.before_queue
        lines += [
            "",
            ("Where the time goes: answered = caller INVITE -> the caller's 200 OK (SIP, "
             "the dialplan, `callcenter` answering), queue = -> the agent's INVITE "
             "(mod_callcenter: the dispatcher's 0-100 ms wait, the originate); ms:"),
            "",
            "| variant | n | " + " | ".join(f"{p} p50 / p99" for p in PARTS) + " |",
            "|---|---:|" + "---:|" * len(PARTS),
            *[
                f"| {p.variant} | {p.n} | "
                + " | ".join(f"{p.p50[k]:.2f} / {p.p99[k]:.2f}" for k in PARTS) + " |"
                for p in result.parts
            ],
            "",
            (
                f"Up to the answer (where the dialplans differ), ours / baseline: p50 {w.ratio_p50:.3f} "
                f"({ci(w.ci95_p50)}), p99 {w.ratio_p99:.3f} ({ci(w.ci95_p99)})."
            ),
        ]
    if result.pacing:
        lines += ["", "Pacing (mod_callcenter offers an agent one call per wall-clock second):",
                  ""]
        lines += [
            f"- {p.variant}: shortest rest of an agent between calls {p.min_rest_s:.2f} s; "
            f"offered within {AGENT_REST:g} s: {p.too_soon}"
            for p in result.pacing
        ]
    if meta["notes"]:
        lines += ["", *[f"- {n}" for n in meta["notes"]]]
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")


def load_range(samples: Sequence[float]) -> str:
    if not samples:
        return "?"
    return f"{min(samples):.2f}-{max(samples):.2f} (median {percentile(samples, 50):.2f})"


def print_summary(result: Analysis, name: str) -> None:
    print()
    print(f"{'variant':44} {'n':>5} {'fail':>4} {'p50':>8} {'p99':>8} {'mean':>8}  (ms)")
    for s in result.summaries:
        print(f"{s.variant:44} {s.n:5d} {s.failed:4d} {s.p50_ms:8.2f} {s.p99_ms:8.2f} "
              f"{s.mean_ms:8.2f}")
    c = result.comparison
    print(f"\n{c.ours} / {c.baseline}:")
    for q, value, interval, met in (
        ("p50", c.ratio_p50, c.ci95_p50, c.met_p50),
        ("p99", c.ratio_p99, c.ci95_p99, c.met_p99),
    ):
        print(f"  {q} ratio {value:.3f}  {verdict(met)} (target <= {TARGET_RATIO}; "
              f"95% bootstrap CI {ci(interval)}; calls for +-5 %: {result.needed[q]})")
    print(f"halves: {result.halves}")
    for part in result.parts:
        print(f"{part.variant}: p50 " + ", ".join(f"{k} {part.p50[k]:.2f}" for k in PARTS)
              + " ms; p99 " + ", ".join(f"{k} {part.p99[k]:.2f}" for k in PARTS) + " ms")
    if result.before_queue is not None:
        w = result.before_queue
        print(f"up to the answer, ours / baseline: p50 {w.ratio_p50:.3f} "
              f"({ci(w.ci95_p50)}), p99 {w.ratio_p99:.3f} ({ci(w.ci95_p99)})")
    print(f"rung first: {result.rung_first}")
    for p in result.pacing:
        print(f"{p.variant}: shortest agent rest {p.min_rest_s:.2f} s, offered within "
              f"{AGENT_REST:g} s: {p.too_soon}")
    print(f"\nwrote {RESULTS / (name + '.json')} and {RESULTS / (name + '.md')}")


# ---- main


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pbx", required=True, choices=[k.value for k in PbxKind],
                        help="which PBX to start and measure")
    parser.add_argument("--calls", type=int, default=None,
                        help="measured calls per variant (default: about ten minutes)")
    parser.add_argument("--warmup", type=int, default=5, help="warm-up rounds, not measured")
    parser.add_argument("--hold-ms", type=int, default=None, help="call length after answer")
    parser.add_argument("--gap-ms", type=int, default=None, help="quiet time after each call")
    parser.add_argument("--seed", type=int, default=1, help="seed of the random pauses")
    parser.add_argument("--site", type=Path, default=ROOT / "tests" / "pbx" / "site.yaml",
                        help="the site the bench adds its skill queue to")
    parser.add_argument("--keep-logs", action="store_true",
                        help="keep the SIPp traces and the site written")
    parser.add_argument(
        "--state-dir", type=Path, default=None,
        help="state dir of the PBX the bench starts (default: $TELEPHONY_HOME or "
        "~/.cache/telephony); none may run there",
    )
    parser.add_argument("--ports", default=None, metavar="SIP,CONTROL",
                        help="the site's SIP and AMI / Event Socket ports instead")
    args = parser.parse_args()
    defaults = DEFAULTS[PbxKind(args.pbx)]
    args.full = args.calls is None or args.calls >= defaults.calls
    args.calls = defaults.calls if args.calls is None else args.calls
    args.hold_ms = defaults.hold_ms if args.hold_ms is None else args.hold_ms
    args.gap_ms = defaults.gap_ms if args.gap_ms is None else args.gap_ms
    args.pause = defaults.pause
    return args


def pbx_version(pbx: LocalPbx, kind: PbxKind) -> str:
    if kind is PbxKind.FREESWITCH:
        return freeswitch_version(pbx)
    out = pbx.cli("core show version").strip()
    match = re.match(r"Asterisk (\S+)", out)
    return match.group(1) if match else out


def main() -> int:
    args = parse_args()
    # A stopped run must still stop its phones and its PBX: a phone left registered
    # would be rung beside the next run's.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if shutil.which("sipp") is None and not os.environ.get("TELEPHONY_SIPP"):
        print("SIPp is not installed (Debian/Ubuntu: apt-get install sip-tester)", file=sys.stderr)
        return 2
    kind = PbxKind(args.pbx)
    bench = bench_site(args.site, kind, args.ports)
    setup = make_setup(bench)
    pbx = LocalPbx(args.state_dir)
    if pbx.status() is not None:
        print(f"a PBX already runs in {pbx.state_dir}: the bench starts its own; stop that "
              "one or give --state-dir (and --ports)", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix=f"skill-latency-{kind.value}-"))
    (workdir / "site.yaml").write_text(bench.text, encoding="utf-8")
    undo = Undo()
    started = time.monotonic()
    try:
        print(f"starting {kind.value} with {workdir / 'site.yaml'} ...", flush=True)
        undo.info = pbx.up(bench.site)
        info = add_baseline(pbx, bench, undo)
        version = pbx_version(pbx, kind)
        load_before = os.getloadavg()
        run = asyncio.run(run_calls(pbx, bench, setup, args, workdir, undo))
        load_after = os.getloadavg()
        result = analyse(run, setup, args.calls)
        notes = []
        if run.code != 0:
            notes.append(f"the caller SIPp ended with exit code {run.code} (some calls failed)")
        if any(p.too_soon for p in result.pacing):
            notes.append("some calls reached an agent less than a second after its last "
                         "one ended: mod_callcenter may have held them back (raise --gap-ms)")
        others = {v: {d: n for d, n in phones.items() if d != setup.expert_device}
                  for v, phones in result.rung_first.items()}
        if any(others.values()):
            notes.append(f"not every call rang the expert {setup.expert_device} first: {others}")
        base_text: dict[str, str] = {}
        if undo.asterisk_base is not None:
            base_text = undo.asterisk_base.files
        elif undo.freeswitch_base is not None:
            base_text = undo.freeswitch_base.as_dict()
        meta = {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "duration_s": round(time.monotonic() - started, 1),
            "pbx": kind.value,
            "pbx_version": version,
            "pbx_backend": info.backend,
            "sipp": sipp_version(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "nproc": os.cpu_count(),
            "load_before": [round(x, 2) for x in load_before],
            "load_after": [round(x, 2) for x in load_after],
            "load_during": [round(x, 2) for x in run.load],
            "calls_per_variant": args.calls,
            "warmup_rounds": args.warmup,
            "hold_ms": args.hold_ms,
            "gap_ms": args.gap_ms,
            "pause": args.pause,
            "seed": args.seed,
            "queue": QUEUE,
            "expert_device": setup.expert_device,
            "staffing": run.staffing.as_dict(),
            "bench_site": str(args.site) + f" + queue {QUEUE} and skills (bench/latency/skill_site.py)",
            "baseline": base_text,
            "notes": notes,
        }
        name = f"{NAME}_{kind.value}" + ("" if args.full else "_partial")
        write_report(meta, result, name)
        print_summary(result, name)
        if args.keep_logs:
            print(f"SIPp traces and the site kept in {workdir}")
        if any(s.n == 0 for s in result.summaries):
            return 2
        c = result.comparison
        return 0 if c.met_p50 and c.met_p99 else 1
    except PbxError as exc:
        print(f"{kind.value}: {exc}", file=sys.stderr)
        return 2
    finally:
        cleanup(pbx, bench, undo)
        if not args.keep_logs:
            shutil.rmtree(workdir, ignore_errors=True)


def cleanup(pbx: LocalPbx, bench: BenchSite, undo: Undo) -> None:
    """Undo what the run did, each step on its own so one failure does not skip the rest.
    (The members the engine added are taken out by run_calls, over its own port.)"""
    info = undo.info
    if info is None:
        return
    steps: list[tuple[str, Callable[[], object]]] = []
    if undo.asterisk_base is not None:
        base = undo.asterisk_base
        steps.append(("remove the local files", lambda: base.remove(info.config_dir)))
    if undo.freeswitch_base is not None:
        fs_base = undo.freeswitch_base
        steps.append(("remove the baseline's tiers and agents",
                      lambda: skill_freeswitch.remove_baseline(pbx.cli, fs_base)))
    steps.append(("stop the PBX", pbx.down))
    if bench.site.pbx.kind is PbxKind.FREESWITCH:
        steps.append(("write the conf back plain",
                      lambda: write_conf(info.config_dir, render_freeswitch(bench.site))))
    for what, step in steps:
        try:
            step()
        except Exception as exc:  # noqa: BLE001 - report and go on with the next step
            print(f"cleanup: could not {what}: {exc}", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
