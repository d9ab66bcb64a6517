"""Call-setup latency on FreeSWITCH: our rendered site vs a hand-written baseline, same
switch, same run.

    python3 bench/call_latency_freeswitch.py [--calls 2000] [--state-dir DIR --ports SIP,ESL]

Starts its own FreeSWITCH (`telephony pbx up` on tests/pbx/site.yaml as kind freeswitch;
it refuses to touch one already running in the state directory), adds a hand-written
baseline to that FreeSWITCH's conf (bench/latency/freeswitch.py), restarts it so
mod_callcenter loads the baseline from XML, lets one `Engine.sync()` add the hunt group's
tiers as `telephony run` would, registers the agents' phones (SIPp, answering at once,
hanging up HOLD ms later) and places calls from the trunk's address with SIPp, one at a
time, the five variants interleaved round-robin with the order rotating:

    hunt group 2001 (ours: the number's extension in tel-from-trunk: one multiset,
        callcenter rota, tiers by the engine)
      vs plain queue 9000 (callcenter bench-plain: same strategy and phones, static tiers)
    direct line +46855501003 (ours: the number's extension in tel-from-trunk: one mod_db
        look-up while hunting, then multiset and bridge; the fallback chain after)
      vs hand-written line 9002 (set, set, bridge user/chen-soft@test-site, voicemail)
      and, for reference only, plain bridge 9001 (bridge user/chen-soft@test-site)

Latency = the caller's INVITE sent -> the first INVITE an agent phone received, from
SIPp's -trace_msg timestamps (same host clock, microseconds); each call has its own caller
number, which the agent INVITE carries in From, to pair the two.

mod_callcenter's dispatcher wakes every 100 ms, so a queue call waits a uniform 0-100 ms
for it: each call therefore starts after a random 0-99 ms pause (seeded), so no call's
place in that cycle depends on the call before it, and the p50 ratio of the two queues
needs about 2,000 calls per variant for +-5 % (95 %); the report gives the interval this
run reached and the calls that would reach +-5 %. mod_callcenter offers an agent at most
one queue call per wall-clock second (whole seconds since its last call ended): each
queue has two agents, taken in turn, and every call is followed by GAP ms of quiet, so an
agent's next queue call comes well over a second after its last one ended (checked per
call, reported).

Writes bench/results/call_latency_freeswitch.json and .md. Exit 0 when ours/baseline <= 1.05
at p50 and p99 for both judged pairs, 1 when a ratio misses it, 2 when the run fails. Removes the
tiers and agents it added, stops the FreeSWITCH it started and writes its conf back plain.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import random
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from latency.freeswitch import (
    LINE_BRIDGE_NUMBER,
    PLAIN_BRIDGE_NUMBER,
    PLAIN_QUEUE_NUMBER,
    AgentCall,
    Baseline,
    agent_calls,
    baseline,
    check_setup,
    freeswitch_version,
    remove,
    restart,
    splice,
    sync_tiers,
)
from latency.freeswitch_experiments import experiments
from latency.report import calls_for, ci, sipp_version, verdict
from latency.sip import Caller, PlannedCall, Variant, caller_side, plan_calls, read_trace
from latency.stats import TARGET_RATIO, Comparison, Summary, compare, percentile, summarise

from telephony.config import Site, load_site
from telephony.config.models import PbxKind
from telephony.freeswitch.render import render
from telephony.freeswitch.runner.conf import write_conf
from telephony.pbx import LocalPbx, PbxError, PbxInfo
from telephony.port import Join
from telephony.testing.phones import PhoneKit, loopback_address

RESULTS = ROOT / "bench" / "results"
NAME = "call_latency_freeswitch"
SCENARIO = Path(__file__).resolve().parent / "latency" / "caller_freeswitch.xml"
GROUP = "rota"
DIRECT_AGENT = "chen"
# The phones register once for the whole run (SIPp does not refresh a registration).
PHONE_EXPIRES = 7200
# mod_callcenter's dispatcher cycle: each call waits a random part of it before its INVITE.
CYCLE_MS = 100
# --explain variants that call a queue (the rest ring a phone straight away).
QUEUE_EXPERIMENTS = frozenset({"9020"})
# An agent offered a queue call less than this after its last one ended may have been held
# back by mod_callcenter's one-call-per-wall-clock-second rule.
AGENT_REST = 1.0


@dataclass(frozen=True, slots=True)
class Setup:
    hunt: Variant
    plain_queue: Variant
    direct: Variant
    line_bridge: Variant
    plain_bridge: Variant
    queue_devices: list[str]
    dial_device: str
    extra: tuple[Variant, ...] = ()
    only: frozenset[str] = frozenset()  # numbers to call; empty: all

    @property
    def variants(self) -> list[Variant]:
        every = [self.hunt, self.plain_queue, self.direct, self.line_bridge, self.plain_bridge,
                 *self.extra]
        return [v for v in every if not self.only or v.number in self.only]

    @property
    def pairs(self) -> list[tuple[Variant, Variant]]:
        """Ours against the hand-written line doing the same job (judged), then against
        the bare bridge (reported for reference: it cannot fall back)."""
        called = self.variants
        return [
            (ours, base)
            for ours, base in (
                (self.hunt, self.plain_queue),
                (self.direct, self.line_bridge),
                (self.direct, self.plain_bridge),
            )
            if ours in called and base in called
        ]

    def judged(self, base_name: str) -> bool:
        return base_name != self.plain_bridge.name


def make_setup(site: Site) -> Setup:
    group = site.hunt_group(GROUP)
    # One phone per rostered agent (their first device); the baseline queue's hand-written
    # agents ring the same phones.
    queue_devices = [site.agent(a).devices[0].id for a in group.roster]
    chen = site.agent(DIRECT_AGENT)
    if len(chen.devices) != 1:
        raise SystemExit(f"{DIRECT_AGENT} must have one device for a like-for-like bridge")
    return Setup(
        hunt=Variant(f"hunt group {group.number} (ours)", group.number),
        plain_queue=Variant(f"plain queue {PLAIN_QUEUE_NUMBER} (baseline)", PLAIN_QUEUE_NUMBER),
        direct=Variant(f"direct line {chen.direct_line} (ours)", chen.direct_line),
        line_bridge=Variant(
            f"hand-written line {LINE_BRIDGE_NUMBER} (baseline)", LINE_BRIDGE_NUMBER
        ),
        plain_bridge=Variant(
            f"plain bridge {PLAIN_BRIDGE_NUMBER} (baseline)", PLAIN_BRIDGE_NUMBER
        ),
        queue_devices=queue_devices,
        dial_device=chen.devices[0].id,
    )


def trunk_address(site: Site) -> str:
    """A loopback address inside the first trunk's match_ip: where the caller binds."""
    for trunk in site.trunks:
        for match in trunk.match_ip:
            address = loopback_address(match)
            if address is not None:
                return address
    raise SystemExit("the site needs a trunk with a loopback match_ip (e.g. 127.0.0.2/32)")


# ---- the run


async def run_calls(
    info: PbxInfo, site: Site, setup: Setup, args: argparse.Namespace, workdir: Path
) -> tuple[list[PlannedCall], dict[str, Any], dict[str, AgentCall], int | None]:
    kit = PhoneKit(site, workdir / "phones", sip_port=info.sip_port)
    caller = Caller(
        workdir, f"{info.sip_host}:{info.sip_port}", hold_ms=0, gap_ms=args.gap_ms,
        scenario=SCENARIO, local_host=trunk_address(site),
    )
    try:
        devices = list(dict.fromkeys([*setup.queue_devices, setup.dial_device]))
        phones = [
            await kit.register(d, "answer", answer_after=0.0, hold_seconds=args.hold_ms / 1000,
                               expires=PHONE_EXPIRES)
            for d in devices
        ]
        await asyncio.sleep(1.0)
        rng = random.Random(args.seed)
        calls = [
            replace(c, pause_ms=rng.randrange(CYCLE_MS))
            for c in plan_calls(setup.variants, args.calls, args.warmup)
        ]
        print(f"placing {len(calls)} calls ({args.warmup} warm-up rounds) ...", flush=True)
        # A call takes about 0.25 s; one the agent never reaches ends after 5 s.
        code = await caller.run(calls, 120.0 + len(calls) * 1.0)
        callers = caller_side(read_trace(caller.trace))
        placed = {number: side.invite_at for number, side in callers.items()}
        agents = agent_calls(((p.device_id, p.messages) for p in phones), placed)
        return calls, dict(callers), agents, code
    finally:
        await caller.stop()
        await kit.close()


@dataclass(frozen=True, slots=True)
class Pacing:
    """How the queue calls met mod_callcenter's one-call-per-second rule."""

    variant: str
    agents: dict[str, int]  # phone -> measured calls
    min_rest_s: float  # shortest time from an agent's last queue call's end to its next
    too_soon: int  # measured calls offered less than AGENT_REST after that

    def as_dict(self) -> dict[str, Any]:
        return {
            "variant": self.variant, "agents": self.agents,
            "min_rest_s": round(self.min_rest_s, 3), "too_soon": self.too_soon,
        }


def analyse(
    calls: list[PlannedCall], callers: dict[str, Any], agents: dict[str, AgentCall], setup: Setup
) -> tuple[list[Summary], dict[str, list[float]], list[Pacing]]:
    samples: dict[str, list[float]] = {v.name: [] for v in setup.variants}
    failed: dict[str, int] = {v.name: 0 for v in setup.variants}
    for call in calls:
        if call.warmup:
            continue
        sent = callers.get(call.caller)
        rang = agents.get(call.caller)
        if sent is None or rang is None or sent.final_status != 200:
            failed[call.variant.name] += 1
            continue
        samples[call.variant.name].append(
            (rang.invite_at - sent.invite_at).total_seconds() * 1000.0
        )
    summaries = [summarise(v.name, v.number, samples[v.name], failed[v.name])
                 for v in setup.variants]
    return summaries, samples, pacing(calls, agents, setup)


def queue_numbers(setup: Setup) -> set[str]:
    return {setup.hunt.number, setup.plain_queue.number, *QUEUE_EXPERIMENTS}


def pacing(calls: list[PlannedCall], agents: dict[str, AgentCall], setup: Setup) -> list[Pacing]:
    """Per queue variant: the calls each phone took, and the rest each agent had."""
    out = []
    for variant in setup.variants:
        if variant.number not in queue_numbers(setup):
            continue
        last_end: dict[str, datetime] = {}
        taken: Counter[str] = Counter()
        rests: list[float] = []
        too_soon = 0
        for call in calls:
            rang = agents.get(call.caller)
            if call.variant != variant or rang is None:
                continue
            before = last_end.get(rang.device)
            if not call.warmup:
                taken[rang.device] += 1
                if before is not None:
                    rest = (rang.invite_at - before).total_seconds()
                    rests.append(rest)
                    too_soon += rest < AGENT_REST
            if rang.ended_at is not None:
                last_end[rang.device] = rang.ended_at
        out.append(Pacing(variant.name, dict(sorted(taken.items())),
                          min(rests, default=math.nan), too_soon))
    return out


def halves(samples: dict[str, list[float]], setup: Setup) -> list[dict[str, Any]]:
    """The ratios in the first and the second half of the run (drift, noise)."""
    rows = []
    for ours, base in setup.pairs:
        a, b = samples[ours.name], samples[base.name]
        row: dict[str, Any] = {"pair": f"{ours.name} / {base.name}"}
        for label, part_a, part_b in (
            ("first", a[: len(a) // 2], b[: len(b) // 2]),
            ("second", a[len(a) // 2:], b[len(b) // 2:]),
        ):
            for q in (50, 99):
                pa, pb = percentile(part_a, q), percentile(part_b, q)
                row[f"{label}_p{q}"] = round(pa / pb, 3) if pb > 0 else math.nan
        rows.append(row)
    return rows


# ---- the report


def write_report(
    meta: dict[str, Any],
    summaries: list[Summary],
    comparisons: list[Comparison],
    samples: dict[str, list[float]],
    pace: list[Pacing],
    split: list[dict[str, Any]],
    name: str,
    reference: frozenset[str] = frozenset(),
) -> None:
    """`reference`: baselines whose ratios are shown but not judged."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    needed = [
        {
            "pair": f"{c.ours} / {c.baseline}",
            "p50": calls_for(meta["calls_per_variant"], c.ratio_p50, c.ci95_p50),
            "p99": calls_for(meta["calls_per_variant"], c.ratio_p99, c.ci95_p99),
        }
        for c in comparisons
    ]
    data = {
        "benchmark": NAME,
        "metric": "caller INVITE sent -> first agent INVITE received (ms)",
        **meta,
        "variants": [s.as_dict() for s in summaries],
        "comparisons": [c.as_dict() for c in comparisons],
        "calls_for_5_percent": needed,
        "halves": split,
        "pacing": [p.as_dict() for p in pace],
        "samples_ms": {k: [round(x, 3) for x in v] for k, v in samples.items()},
    }
    (RESULTS / f"{name}.json").write_text(json.dumps(data, indent=2) + "\n")

    lines = [
        "# Call-setup latency on FreeSWITCH: ours vs hand-written baseline",
        "",
        f"- Date: {meta['date']}; run took {meta['duration_s'] / 60:.1f} min",
        f"- FreeSWITCH {meta['freeswitch']} ({meta['pbx_backend']} backend)",
        f"- SIPp: {meta['sipp']}, Python {meta['python']}, {meta['platform']}",
        (
            f"- Machine: nproc = {meta['nproc']}, load average {meta['load_before'][0]:.2f} "
            f"before, {meta['load_after'][0]:.2f} after (1 min)"
        ),
        (
            f"- Calls: {meta['calls_per_variant']} per variant after {meta['warmup_rounds']} "
            "warm-up round(s), one at a time, variants interleaved round-robin (order "
            f"rotating); each starts after a random 0-{CYCLE_MS - 1} ms pause (seed "
            f"{meta['seed']}); agent phones answer at once and hang up {meta['hold_ms']} ms "
            f"later; {meta['gap_ms']} ms quiet after each call"
        ),
        f"- Tiers of hunt group {meta['hunt_group']}: {meta['tiers_via']}",
        (
            "- Metric: caller INVITE sent -> first agent INVITE received, from SIPp "
            "-trace_msg timestamps (same host clock)"
        ),
        "",
        "| variant | n | failed | p50 ms | p90 ms | p99 ms | mean ms | min ms | max ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in summaries:
        lines.append(
            f"| {s.variant} | {s.n} | {s.failed} | {s.p50_ms:.2f} | {s.p90_ms:.2f} | "
            f"{s.p99_ms:.2f} | {s.mean_ms:.2f} | {s.min_ms:.2f} | {s.max_ms:.2f} |"
        )
    lines += [
        "",
        f"| ours / baseline | p50 ratio (95% CI) | p99 ratio (95% CI) | target <= {TARGET_RATIO} |",
        "|---|---:|---:|---|",
    ]
    for c in comparisons:
        lines.append(
            f"| {c.ours} / {c.baseline} | {c.ratio_p50:.3f} ({ci(c.ci95_p50)}) | "
            f"{c.ratio_p99:.3f} ({ci(c.ci95_p99)}) | "
            + ("reference only (a bare bridge cannot fall back) |" if c.baseline in reference
               else f"p50 {verdict(c.met_p50)}, p99 {verdict(c.met_p99)} |")
        )
    lines += [
        "",
        (
            "Noise: the ratios in each half of the run, and the calls per variant that "
            "would give a 95 % interval of +-5 % (scaled from this run's interval):"
        ),
        "",
        "| pair | 1st half p50 / p99 | 2nd half p50 / p99 | calls for +-5 %: p50 / p99 |",
        "|---|---:|---:|---:|",
    ]
    for row, need in zip(split, needed, strict=True):
        lines.append(
            f"| {row['pair']} | {row['first_p50']:.3f} / {row['first_p99']:.3f} | "
            f"{row['second_p50']:.3f} / {row['second_p99']:.3f} | "
            f"{need['p50']} / {need['p99']} |"
        )
    lines += [
        "",
        "Pacing (mod_callcenter offers an agent one queue call per wall-clock second):",
        "",
    ]
    for p in pace:
        lines.append(
            f"- {p.variant}: calls per phone {p.agents}; shortest rest of an agent between "
            f"queue calls {p.min_rest_s:.2f} s; offered within {AGENT_REST:g} s: {p.too_soon}"
        )
    notes = meta.get("notes") or []
    if notes:
        lines += ["", *[f"- {n}" for n in notes]]
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")


def print_summary(summaries: list[Summary], comparisons: list[Comparison],
                  pace: list[Pacing], name: str) -> None:
    print()
    print(f"{'variant':44} {'n':>5} {'fail':>4} {'p50':>8} {'p99':>8} {'mean':>8}  (ms)")
    for s in summaries:
        print(
            f"{s.variant:44} {s.n:5d} {s.failed:4d} {s.p50_ms:8.2f} {s.p99_ms:8.2f} "
            f"{s.mean_ms:8.2f}"
        )
    print()
    for c in comparisons:
        print(f"{c.ours} / {c.baseline}:")
        for q, value, interval, met in (
            ("p50", c.ratio_p50, c.ci95_p50, c.met_p50),
            ("p99", c.ratio_p99, c.ci95_p99, c.met_p99),
        ):
            print(
                f"  {q} ratio {value:.3f}  {verdict(met)} (target <= {TARGET_RATIO}; "
                f"95% bootstrap CI {ci(interval)})"
            )
    for p in pace:
        print(f"{p.variant}: phones {p.agents}, shortest agent rest {p.min_rest_s:.2f} s, "
              f"offered within {AGENT_REST:g} s: {p.too_soon}")
    print(f"\nwrote {RESULTS / (name + '.json')} and {RESULTS / (name + '.md')}")


# ---- main


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000, help="measured calls per variant")
    parser.add_argument("--warmup", type=int, default=5, help="warm-up rounds, not measured")
    parser.add_argument("--hold-ms", type=int, default=100,
                        help="the agent phone hangs up this long after answering")
    parser.add_argument("--gap-ms", type=int, default=20, help="quiet time after each call")
    parser.add_argument("--seed", type=int, default=1, help="seed of the random pauses")
    parser.add_argument("--site", type=Path, default=ROOT / "tests" / "pbx" / "site.yaml")
    parser.add_argument("--keep-logs", action="store_true", help="keep the SIPp traces")
    parser.add_argument(
        "--explain", action="store_true",
        help="also run variants that split ours into its parts "
        "(bench/latency/freeswitch_experiments.py)",
    )
    parser.add_argument(
        "--only", default="", metavar="NUMBERS",
        help="call only these numbers (comma-separated), e.g. +46855501003,9001,9011,9013",
    )
    parser.add_argument(
        "--state-dir", type=Path, default=None,
        help="state dir of the FreeSWITCH the bench starts (default: $TELEPHONY_HOME or "
        "~/.cache/telephony); none may run there",
    )
    parser.add_argument(
        "--ports", default=None, metavar="SIP,ESL",
        help="the site's SIP and Event Socket ports instead (beside another PBX)",
    )
    return parser.parse_args()


def with_ports(site: Site, ports: str | None) -> Site:
    if not ports:
        return site
    sip, esl = (int(p) for p in ports.split(","))
    return site.model_copy(
        update={"pbx": site.pbx.model_copy(update={"sip_port": sip, "control_port": esl})}
    )


def main() -> int:
    args = parse_args()
    # A stopped run must still stop its phones and FreeSWITCH: a phone left registered
    # would be rung beside the next run's.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if shutil.which("sipp") is None and not os.environ.get("TELEPHONY_SIPP"):
        print("SIPp is not installed (Debian/Ubuntu: apt-get install sip-tester)", file=sys.stderr)
        return 2
    site = with_ports(load_site(args.site, kind=PbxKind.FREESWITCH), args.ports)
    setup = make_setup(site)
    pbx = LocalPbx(args.state_dir)
    if pbx.status() is not None:
        print(f"a PBX already runs in {pbx.state_dir}: the bench starts its own FreeSWITCH; "
              "stop that one or give --state-dir (and --ports)", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="call-latency-fs-"))
    info: PbxInfo | None = None
    base: Baseline | None = None
    joins: list[Join] = []
    started = time.monotonic()
    try:
        print("starting FreeSWITCH ...", flush=True)
        info = pbx.up(site)
        extra_extensions = extra_contexts = ""
        if args.explain:
            found = experiments(site, GROUP, DIRECT_AGENT)
            setup = replace(setup, extra=tuple(found.variants))
            extra_extensions, extra_contexts = found.extensions, found.contexts
        if args.only:
            setup = replace(setup, only=frozenset(args.only.split(",")))
            if not setup.variants:
                raise SystemExit(f"--only {args.only}: no such variant")
        base = baseline(
            site, GROUP, setup.queue_devices, setup.dial_device,
            extra_extensions=extra_extensions, extra_contexts=extra_contexts,
        )
        write_conf(info.config_dir, splice(render(site), base))
        print("restarting it with the baseline in its conf ...", flush=True)
        info = restart(pbx)
        version = freeswitch_version(pbx)
        joins = asyncio.run(sync_tiers(site))
        check_setup(pbx, site, GROUP, base, site.hunt_group(GROUP).roster)
        print(f"hunt group {GROUP}: tiers added by the engine: "
              f"{sorted(j.agent for j in joins if j.queue == GROUP)}", flush=True)

        load_before = os.getloadavg()
        calls, callers, agents, code = asyncio.run(run_calls(info, site, setup, args, workdir))
        load_after = os.getloadavg()
        summaries, samples, pace = analyse(calls, callers, agents, setup)
        by_name = {s.variant: s for s in summaries}
        comparisons = [
            compare(by_name[o.name], by_name[b.name], samples[o.name], samples[b.name])
            for o, b in setup.pairs
        ]
        notes = []
        if code != 0:
            notes.append(f"the caller SIPp ended with exit code {code} (some calls failed)")
        if any(p.too_soon for p in pace):
            notes.append(
                "some queue calls reached an agent less than a second after its last one "
                "ended: mod_callcenter may have held them back (raise --gap-ms)"
            )
        meta = {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "duration_s": round(time.monotonic() - started, 1),
            "freeswitch": version,
            "pbx_backend": info.backend,
            "sipp": sipp_version(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "nproc": os.cpu_count(),
            "load_before": [round(x, 2) for x in load_before],
            "load_after": [round(x, 2) for x in load_after],
            "calls_per_variant": args.calls,
            "explain": args.explain,
            "only": args.only or None,
            "warmup_rounds": args.warmup,
            "hold_ms": args.hold_ms,
            "gap_ms": args.gap_ms,
            "seed": args.seed,
            "hunt_group": GROUP,
            "tiers_via": "engine (one Engine.sync() over the Event Socket)",
            "baseline": base.as_dict(),
            "notes": notes,
        }
        # Experiments and partial runs keep the committed results as they are.
        name = f"{NAME}_explain" if args.explain or args.only else NAME
        reference = frozenset({setup.plain_bridge.name})
        write_report(meta, summaries, comparisons, samples, pace, halves(samples, setup), name,
                     reference)
        print_summary(summaries, comparisons, pace, name)
        if args.keep_logs:
            print(f"SIPp traces kept in {workdir}")
        if any(s.n == 0 for s in summaries):
            return 2
        judged = [c for c in comparisons if setup.judged(c.baseline)]
        return 0 if all(c.met_p50 and c.met_p99 for c in judged) else 1
    except PbxError as exc:
        print(f"FreeSWITCH: {exc}", file=sys.stderr)
        return 2
    finally:
        cleanup(pbx, info, base, joins, render(site))
        if not args.keep_logs:
            shutil.rmtree(workdir, ignore_errors=True)


def cleanup(
    pbx: LocalPbx, info: PbxInfo | None, base: Baseline | None, joins: list[Join],
    rendered: dict[str, str],
) -> None:
    """Undo what the run did, each step on its own so one failure does not skip the rest."""
    if info is None:
        return
    config_dir = info.config_dir
    steps: list[tuple[str, Callable[[], object]]] = [
        ("remove the tiers and agents added", lambda: remove(pbx, joins, base)),
        ("stop FreeSWITCH", pbx.down),
        ("write the conf back plain", lambda: write_conf(config_dir, rendered)),
    ]
    for what, step in steps:
        try:
            step()
        except Exception as exc:  # noqa: BLE001 - report and go on with the next step
            print(f"cleanup: could not {what}: {exc}", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
