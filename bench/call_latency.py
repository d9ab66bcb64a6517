"""Call-setup latency: our dialplan vs a hand-written Asterisk baseline, same PBX, same run.

    python bench/call_latency.py [--calls 100] [--warmup 5] [--site tests/pbx/site.yaml]

Starts (or reuses) the local Asterisk with the rendered config of the test site, adds
a hand-written baseline in the `#tryinclude`d local files (a plain app_queue with static
PJSIP members on 9000, a plain Dial on 9001), and places calls as the PSTN trunk with
SIPp, one at a time, the four variants interleaved round-robin:

    hunt group 2001 (ours: Goto, Gosub, Queue with engine-added Local members)
      vs plain queue 9000 (Queue with static PJSIP members)
    direct line +46855501003 (ours: Goto, Gosub, focus check, Dial)
      vs plain Dial 9001 (Dial)

The latency of a call is the time from the caller's INVITE leaving the caller SIPp to
the first INVITE arriving at an agent phone (SIPp UAS registered as a device), both
from SIPp's -trace_msg timestamps (same host clock, microseconds). Each call has its own
caller number, carried in the agent INVITE's From, to pair the two.

Writes bench/results/call_latency.json and .md; exits 0 whether the target
(ours/baseline <= 1.05 at p50 and p99) is met or not, 1 only when the run fails.
Removes the local files, the members it added and its SIPp processes at the end, and
stops the PBX only if it started it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from latency.baseline import (
    PLAIN_DIAL_NUMBER,
    PLAIN_QUEUE,
    PLAIN_QUEUE_NUMBER,
    Baseline,
    baseline,
)
from latency.experiments import experiments
from latency.members import Added, member_interfaces, remove_added, roster_agents, sync_with_engine
from latency.sip import (
    Caller,
    PlannedCall,
    Variant,
    agent_side,
    caller_side,
    plan_calls,
    read_trace,
)
from latency.stats import TARGET_RATIO, Comparison, Summary, compare, summarise

from telephony.asterisk.names import member_interface
from telephony.asterisk.render import render
from telephony.config import Site, load_site
from telephony.pbx import LocalPbx, PbxInfo
from telephony.testing.phones import Phone, PhoneKit

RESULTS = ROOT / "bench" / "results"
GROUP = "rota"
DIRECT_AGENT = "chen"
# Someone else's calls on the shared PBX would skew the numbers: wait this long for quiet.
QUIET_WAIT = 120.0


@dataclass(frozen=True, slots=True)
class Setup:
    """What the run compares, derived from the site."""

    hunt: Variant
    plain_queue: Variant
    direct: Variant
    plain_dial: Variant
    queue_devices: list[str]
    dial_device: str
    extra: tuple[Variant, ...] = ()
    only: frozenset[str] = frozenset()  # numbers to call; empty: all

    @property
    def variants(self) -> list[Variant]:
        every = [self.hunt, self.plain_queue, self.direct, self.plain_dial, *self.extra]
        return [v for v in every if not self.only or v.number in self.only]


def make_setup(site: Site) -> Setup:
    group = next(g for g in site.hunt_groups if g.id == GROUP)
    agents = {a.id: a for a in site.agents}
    # One phone per rostered agent (their first device): the plain queue gets the same
    # phones as static members, so both queues ring the same kind of phone.
    queue_devices = [agents[a].devices[0].id for a in roster_agents(site, GROUP)]
    chen = agents[DIRECT_AGENT]
    if len(chen.devices) != 1:
        raise SystemExit(f"{DIRECT_AGENT} must have one device for a like-for-like Dial")
    return Setup(
        hunt=Variant(f"hunt group {group.number} (ours)", group.number),
        plain_queue=Variant(f"plain queue {PLAIN_QUEUE_NUMBER} (baseline)", PLAIN_QUEUE_NUMBER),
        direct=Variant(f"direct line {chen.direct_line} (ours)", chen.direct_line),
        plain_dial=Variant(f"plain Dial {PLAIN_DIAL_NUMBER} (baseline)", PLAIN_DIAL_NUMBER),
        queue_devices=queue_devices,
        dial_device=chen.devices[0].id,
    )


# ---- the PBX


def start_pbx(pbx: LocalPbx, site: Site) -> tuple[PbxInfo, bool]:
    """The running PBX (re-rendered only if its config differs); True if we started it."""
    info = pbx.status()
    if info is None:
        print("starting the local PBX ...", flush=True)
        return pbx.up(site), True
    if (info.sip_port, info.control_port) != (site.pbx.sip_port, site.pbx.control_port):
        raise SystemExit(
            f"the PBX in this state dir runs on SIP {info.sip_port} / AMI {info.control_port}, "
            f"not {site.pbx.sip_port} / {site.pbx.control_port}"
        )
    if not config_matches(info, render(site)):
        print("the running PBX has another config: re-rendering the test site", flush=True)
        info = pbx.up(site)
    return info, False


def config_matches(info: PbxInfo, rendered: dict[str, str]) -> bool:
    """True when the PBX's config dir holds exactly these rendered files."""
    return all(
        (info.config_dir / name).is_file()
        and (info.config_dir / name).read_text(encoding="utf-8") == text
        for name, text in rendered.items()
    )


def active_calls(pbx: LocalPbx) -> int:
    match = re.search(r"(\d+) active call", pbx.cli("core show channels count"))
    return int(match.group(1)) if match else 0


def wait_quiet(pbx: LocalPbx) -> None:
    deadline = time.monotonic() + QUIET_WAIT
    calls = active_calls(pbx)
    if calls:
        print(f"the PBX has {calls} active call(s) (someone's tests?): waiting", flush=True)
    while calls and time.monotonic() < deadline:
        time.sleep(2.0)
        calls = active_calls(pbx)
    if calls:
        print(f"WARNING: still {calls} active call(s); numbers may be skewed", flush=True)


def reload_local(pbx: LocalPbx) -> None:
    pbx.cli("module reload app_queue.so")
    pbx.cli("dialplan reload")


def check_baseline(pbx: LocalPbx, setup: Setup) -> None:
    """Fail early if the (+) append or the queue did not take."""
    for number, app in ((PLAIN_QUEUE_NUMBER, "Queue"), (PLAIN_DIAL_NUMBER, "Dial")):
        shown = pbx.cli(f"dialplan show {number}@tel-from-trunk")
        if f"{app}(" not in shown:
            raise SystemExit(f"baseline {number} not in the dialplan after reload:\n{shown}")
    shown = pbx.cli(f"queue show {PLAIN_QUEUE}")
    missing = [d for d in setup.queue_devices if f"PJSIP/{d}" not in shown]
    if missing:
        raise SystemExit(f"queue {PLAIN_QUEUE} lacks members {missing}:\n{shown}")


def asterisk_version(pbx: LocalPbx) -> str:
    out = pbx.cli("core show version").strip()
    match = re.match(r"Asterisk (\S+)", out)
    return match.group(1) if match else out


# ---- the run


async def register_phones(kit: PhoneKit, devices: list[str]) -> list[Phone]:
    # Answer at once (SIPp: 1 ms), stay until the caller's BYE reaches them.
    return [await kit.register(d, "answer", answer_after=0.0) for d in devices]


async def run_calls(
    info: PbxInfo, site: Site, setup: Setup, args: argparse.Namespace, workdir: Path
) -> tuple[list[PlannedCall], dict[str, Any], dict[str, Any], int | None]:
    kit = PhoneKit(site, workdir / "phones", sip_port=info.sip_port)
    caller = Caller(
        workdir, f"{info.sip_host}:{info.sip_port}", hold_ms=args.hold_ms, gap_ms=args.gap_ms
    )
    try:
        devices = list(dict.fromkeys([*setup.queue_devices, setup.dial_device]))
        phones = await register_phones(kit, devices)
        # The queues learn the phones' device state asynchronously after REGISTER.
        await asyncio.sleep(1.0)
        calls = plan_calls(setup.variants, args.calls, args.warmup)
        budget = 60.0 + len(calls) * 3.0
        print(f"placing {len(calls)} calls ({args.warmup} warm-up rounds) ...", flush=True)
        code = await caller.run(calls, budget)
        callers = caller_side(read_trace(caller.trace))
        agents = agent_side([p.messages for p in phones])
        return calls, dict(callers), dict(agents), code
    finally:
        await caller.stop()
        await kit.close()


def analyse(
    calls: list[PlannedCall], callers: dict[str, Any], agents: dict[str, Any], setup: Setup
) -> tuple[list[Summary], list[Comparison], dict[str, list[float]]]:
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
        samples[call.variant.name].append((rang - sent.invite_at).total_seconds() * 1000.0)
    summaries = {
        v.name: summarise(v.name, v.number, samples[v.name], failed[v.name]) for v in setup.variants
    }
    comparisons = [
        compare(summaries[ours.name], summaries[base.name], samples[ours.name], samples[base.name])
        for ours, base in ((setup.hunt, setup.plain_queue), (setup.direct, setup.plain_dial))
        if ours.name in summaries and base.name in summaries
    ]
    return list(summaries.values()), comparisons, samples


# ---- the report


def sipp_version() -> str:
    try:
        out = subprocess.run(
            ["sipp", "-v"], check=False, capture_output=True, text=True, timeout=5
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    match = re.search(r"SIPp (v[^\s,]+?)\.?(?:\s|$)", out)
    return match.group(1) if match else "?"


def ci(interval: tuple[float, float]) -> str:
    return f"{interval[0]:.3f}-{interval[1]:.3f}"


def verdict(ok: bool) -> str:
    return "MET" if ok else "MISSED"


def write_report(
    meta: dict[str, Any],
    summaries: list[Summary],
    comparisons: list[Comparison],
    samples: dict[str, list[float]],
) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    data = {
        "benchmark": "call_latency",
        "metric": "caller INVITE sent -> first agent INVITE received (ms)",
        **meta,
        "variants": [s.as_dict() for s in summaries],
        "comparisons": [c.as_dict() for c in comparisons],
        "samples_ms": {k: [round(x, 3) for x in v] for k, v in samples.items()},
    }
    (RESULTS / "call_latency.json").write_text(json.dumps(data, indent=2) + "\n")

    lines = [
        "# Call-setup latency: ours vs hand-written baseline",
        "",
        f"- Date: {meta['date']}",
        f"- Asterisk {meta['asterisk']} ({meta['pbx_backend']} backend)",
        f"- SIPp: {meta['sipp']}, Python {meta['python']}, {meta['platform']}",
        f"- Machine: nproc = {meta['nproc']}",
        (
            f"- Calls: {meta['calls_per_variant']} per variant after {meta['warmup_rounds']} warm-up "
            f"round(s), one at a time, variants interleaved round-robin (order rotating); "
            f"caller hangs up {meta['hold_ms']} ms after the answer, {meta['gap_ms']} ms between calls"
        ),
        f"- Members of hunt group {meta['hunt_group']}: {meta['members_via']}",
        (
            "- Metric: caller INVITE sent -> first agent INVITE received, from SIPp -trace_msg "
            "timestamps (same host clock)"
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
            f"p50 {verdict(c.met_p50)}, p99 {verdict(c.met_p99)} |"
        )
    notes = meta.get("notes") or []
    if notes:
        lines += ["", *[f"- {n}" for n in notes]]
    (RESULTS / "call_latency.md").write_text("\n".join(lines) + "\n")


def print_summary(summaries: list[Summary], comparisons: list[Comparison]) -> None:
    print()
    print(f"{'variant':44} {'n':>4} {'fail':>4} {'p50':>8} {'p99':>8} {'mean':>8}  (ms)")
    for s in summaries:
        print(
            f"{s.variant:44} {s.n:4d} {s.failed:4d} {s.p50_ms:8.2f} {s.p99_ms:8.2f} {s.mean_ms:8.2f}"
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
    print(f"\nwrote {RESULTS / 'call_latency.json'} and {RESULTS / 'call_latency.md'}")


# ---- main


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=300, help="measured calls per variant")
    parser.add_argument("--warmup", type=int, default=5, help="warm-up rounds, not measured")
    parser.add_argument("--hold-ms", type=int, default=50, help="call length after answer")
    parser.add_argument("--gap-ms", type=int, default=100, help="quiet time between calls")
    parser.add_argument("--site", type=Path, default=ROOT / "tests" / "pbx" / "site.yaml")
    parser.add_argument("--keep-logs", action="store_true", help="keep the SIPp traces")
    parser.add_argument(
        "--explain",
        action="store_true",
        help="also run variants that split ours into its parts (bench/latency/experiments.py)",
    )
    parser.add_argument(
        "--only",
        default="",
        metavar="NUMBERS",
        help="call only these numbers (comma-separated), e.g. 2001,9000,9011,9013",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="LocalPbx state dir (default: the shared one, $TELEPHONY_HOME or ~/.cache/telephony)",
    )
    parser.add_argument(
        "--ports",
        default=None,
        metavar="SIP,AMI",
        help="override the site's SIP and AMI ports (for a private PBX beside the shared one)",
    )
    return parser.parse_args()


def with_ports(site: Site, ports: str | None) -> Site:
    if not ports:
        return site
    sip, ami = (int(p) for p in ports.split(","))
    return site.model_copy(
        update={"pbx": site.pbx.model_copy(update={"sip_port": sip, "control_port": ami})}
    )


def main() -> int:
    args = parse_args()
    if shutil.which("sipp") is None and not os.environ.get("TELEPHONY_SIPP"):
        print("SIPp is not installed (Debian/Ubuntu: apt-get install sip-tester)", file=sys.stderr)
        return 1
    site = with_ports(load_site(args.site), args.ports)
    setup = make_setup(site)
    pbx = LocalPbx(args.state_dir)
    workdir = Path(tempfile.mkdtemp(prefix="call-latency-"))
    started = False
    info: PbxInfo | None = None
    local: Baseline | None = None
    added: list[Added] = []
    try:
        info, started = start_pbx(pbx, site)
        wait_quiet(pbx)
        version = asterisk_version(pbx)
        extra_queues = extra_dialplan = ""
        if args.explain:
            found = experiments(site, GROUP, DIRECT_AGENT)
            setup = replace(setup, extra=tuple(found.variants))
            extra_queues, extra_dialplan = found.queues, found.dialplan
        if args.only:
            setup = replace(setup, only=frozenset(args.only.split(",")))
            if not setup.variants:
                raise SystemExit(f"--only {args.only}: no such variant")
        local = baseline(
            setup.queue_devices,
            setup.dial_device,
            extra_queues=extra_queues,
            extra_dialplan=extra_dialplan,
        )
        local.write(info.config_dir)
        reload_local(pbx)
        check_baseline(pbx, setup)

        before = member_interfaces(pbx.cli(f"queue show {GROUP}"))
        members_via, added = asyncio.run(sync_with_engine(site, GROUP))
        after = member_interfaces(pbx.cli(f"queue show {GROUP}"))
        expected = {member_interface(site.agent(a)) for a in roster_agents(site, GROUP)}
        if not expected <= after:
            raise SystemExit(f"hunt group {GROUP} lacks members {sorted(expected - after)}")
        print(
            f"hunt group {GROUP} members via {members_via}: {sorted(after)} "
            f"(added {len(after - before)})",
            flush=True,
        )

        calls, callers, agents, code = asyncio.run(run_calls(info, site, setup, args, workdir))
        summaries, comparisons, samples = analyse(calls, callers, agents, setup)
        notes = []
        if code != 0:
            notes.append(f"the caller SIPp ended with exit code {code} (some calls failed)")
        meta = {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "asterisk": version,
            "pbx_backend": info.backend,
            "sipp": sipp_version(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "nproc": os.cpu_count(),
            "calls_per_variant": args.calls,
            "explain": args.explain,
            "only": args.only or None,
            "warmup_rounds": args.warmup,
            "hold_ms": args.hold_ms,
            "gap_ms": args.gap_ms,
            "hunt_group": GROUP,
            "members_via": members_via,
            "baseline": local.files,
            "notes": notes,
        }
        write_report(meta, summaries, comparisons, samples)
        print_summary(summaries, comparisons)
        if args.keep_logs:
            print(f"SIPp traces kept in {workdir}")
        return 0
    finally:
        cleanup(pbx, info, local, added, started, render(site))
        if not args.keep_logs:
            shutil.rmtree(workdir, ignore_errors=True)


def stop_if_ours(pbx: LocalPbx, info: PbxInfo, rendered: dict[str, str]) -> None:
    """Stop the PBX we started, unless someone else has taken it over meanwhile.

    Tests sharing the PBX restart it (another pid) or re-render it (other files); then
    it is theirs now and keeps running.
    """
    now = pbx.status()
    if now is None:
        return
    if now.pid != info.pid or not config_matches(now, rendered):
        print("the PBX was restarted or re-rendered by someone else: leaving it running")
        return
    pbx.down()


def cleanup(
    pbx: LocalPbx,
    info: PbxInfo | None,
    local: Baseline | None,
    added: list[Added],
    started: bool,
    rendered: dict[str, str],
) -> None:
    """Undo what the run did, each step on its own so one failure does not skip the rest."""
    if info is None:
        return
    config_dir = info.config_dir
    steps: list[tuple[str, Callable[[], object]]] = [
        # Before any stop: persistentmembers would bring the members back on the next start.
        ("remove the members added", lambda: remove_added(added, pbx.cli)),
    ]
    if local is not None:
        steps.append(("remove the local files", lambda: local.remove(config_dir)))
    if started:
        steps.append(("stop the PBX", lambda: stop_if_ours(pbx, info, rendered)))
    elif local is not None:
        steps.append(("reload without the baseline", lambda: reload_local(pbx)))
    for what, step in steps:
        try:
            step()
        except Exception as exc:  # noqa: BLE001 - report and go on with the next step
            print(f"cleanup: could not {what}: {exc}", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
