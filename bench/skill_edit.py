"""Skill edit to PBX membership: how long from an API call to the PBX holding the change.

    python3 bench/skill_edit.py                   # both PBXs, 500 edits each, ~4 min
    python3 bench/skill_edit.py --pbx asterisk --edits 200
    python3 bench/skill_edit.py --pbx freeswitch --profile   # cProfile over the edits

Target (issue 8): a skill edit over the API until the PBX has the new membership, seen
in the PBX's own reports, p99 under 100 ms with 1,000 agents and 50 skill queues, on
Asterisk and on FreeSWITCH.

Per PBX kind the bench:

1. generates a site (seeded) in a temp dir: 1,000 agents with one softphone each and
   3-5 skills at random levels, 50 skill queues (skill s00..s49, min_level 1, 2, 3 in
   turn), validated by telephony.config; starts the local PBX with it
   (`LocalPbx().up(site)`, the site's ports 5060 and 5038 / 8021; it refuses to touch a
   PBX already running there);
2. registers all 1,000 devices from one SIPp process (an injection CSV, digest auth,
   long Expires) and waits until the PBX lists them (the engine puts only agents with
   a registered device in skill queues);
3. starts the engine in-process as `telephony run` does (the port, `Engine(site, port,
   SystemClock())`, `engine.start()`, the aiohttp API on 127.0.0.1) and times its
   first sync, which adds every member; then checks every skill queue on the PBX
   against the membership the routing core's rules give (bench/skilledit/site.py);
4. times N seeded edits (PUT /api/agents/{agent}/skills/{skill} {"level": n} that add a
   skill, raise or lower one, and DELETEs), each one that changes the PBX's membership
   (candidates that change none are skipped and counted): from just before the HTTP
   request until a separate observer connection sees the last change of that edit on
   the PBX (bench/skilledit/pbxside.py: AMI events on Asterisk, back-to-back tier
   listings after the API answered on FreeSWITCH, which sends no event for a tier);
   the HTTP round trip alone, and inside it the engine's sync, its port's snapshot and
   commands;
5. stops the engine and times the same kind of change sent straight to the PBX on the
   engine's connection (QueueAdd / QueueRemove / QueuePenalty over AMI, `callcenter_config
   tier add/del/set level` over the Event Socket), seen by the same observer: the ratio
   shows the engine's overhead;
6. takes every member (and on FreeSWITCH the agents) out again, un-registers the
   devices and stops the PBX.

Results: bench/results/skill_edit.json and .md (a run of one kind keeps the other
kind's last results). Exit 0 when p99 is under the target on every PBX run, 1 when one
misses it, 2 when the run fails.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import platform
import pstats
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from latency.stats import percentile
from skilledit.engine_probe import Probe
from skilledit.explain import ROUNDS, explain
from skilledit.pbxside import AsteriskSide, FreeswitchSide, Side
from skilledit.sip import register_all, wait_until
from skilledit.site import Edit, Model, site_data

from telephony.asterisk.ami import AmiError
from telephony.config import Site, load_site
from telephony.engine.engine import Engine
from telephony.engine.run import open_port
from telephony.freeswitch.esl import EslError
from telephony.pbx import LocalPbx, PbxError
from telephony.port import PbxPort, PbxPortError
from telephony.routing.clock import SystemClock
from telephony.testing.sipp import SippError
from telephony.web.api import make_app

RESULTS = ROOT / "bench" / "results"
NAME = "skill_edit"
KINDS = ("asterisk", "freeswitch")
# A registration lasts the whole run (SIPp does not refresh it); Asterisk's default
# maximum_expiration is 7200 s.
EXPIRES = 3600
SEEN_TIMEOUT = 5.0


class RunFailed(Exception):
    """The run could not measure (the PBX, SIPp or the engine did not come up right)."""


def summary(values: list[float]) -> dict[str, float | int]:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50": round(percentile(values, 50), 3),
        "p90": round(percentile(values, 90), 3),
        "p99": round(percentile(values, 99), 3),
        "max": round(max(values), 3),
        "mean": round(sum(values) / len(values), 3),
    }


@dataclass
class EditSample:
    kind: str
    changes: int
    status: int
    http_ms: float
    seen_ms: float | None
    engine: dict[str, Any] = field(default_factory=dict)

    def as_list(self) -> list[Any]:
        e = self.engine
        return [self.kind, self.changes, self.status, round(self.http_ms, 3),
                None if self.seen_ms is None else round(self.seen_ms, 3),
                e.get("sync_ms"), e.get("snapshot_ms"), e.get("apply_ms"), e.get("commands")]


SAMPLE_COLUMNS = ["kind", "changes", "status", "http_ms", "seen_ms", "sync_ms",
                  "snapshot_ms", "apply_ms", "commands"]


# ---- one PBX kind


def make_side(site: Site) -> Side:
    return AsteriskSide(site) if site.pbx.kind.value == "asterisk" else FreeswitchSide(site)


async def check_membership(side: Side, model: Model) -> dict[str, Any]:
    """The PBX's members of every skill queue against the model: the level offset the
    PBX uses, and what differs (nothing, or the run cannot measure)."""
    raw = await side.members(model.members)
    offsets = Counter(
        raw[q][a] - level for q, members in model.members.items()
        for a, level in members.items() if a in raw[q]
    )
    if not offsets:
        raise RunFailed("no skill-queue member on the PBX after the engine's first sync")
    offset = offsets.most_common(1)[0][0]
    missing, extra, wrong = [], [], []
    for queue, members in model.members.items():
        have = raw[queue]
        missing += [f"{queue}/{a}" for a in members if a not in have]
        extra += [f"{queue}/{a}" for a in have if a not in members]
        wrong += [f"{queue}/{a}" for a, lv in members.items()
                  if a in have and have[a] - offset != lv]
    found = {
        "in_pbx": sum(len(m) for m in raw.values()), "expected": model.total,
        "level_offset": offset, "missing": missing[:10], "extra": extra[:10],
        "wrong_level": wrong[:10], "differ": len(missing) + len(extra) + len(wrong),
    }
    side.offset = offset
    return found


async def timed_edit(
    http: aiohttp.ClientSession, base: str, side: Side, probe: Probe, edit: Edit
) -> EditSample:
    expectation = side.expect(edit.changes)
    probe.take()
    url = f"{base}/api/agents/{edit.agent}/skills/{edit.skill}"
    body = {} if edit.level is None else {"level": edit.level}
    started = time.perf_counter()
    async with http.request(edit.method, url, json=body) as response:
        await response.read()
        status = response.status
    answered = time.perf_counter()
    seen = await side.seen(expectation, SEEN_TIMEOUT) if status == 200 else None
    return EditSample(
        edit.kind, len(edit.changes), status, (answered - started) * 1000,
        None if seen is None else (seen - started) * 1000, probe.take().as_dict(),
    )


async def timed_native(side: Side, edit: Edit) -> tuple[float, float | None]:
    expectation = side.expect(edit.changes)
    started = time.perf_counter()
    await side.native(edit.changes)
    sent = time.perf_counter()
    seen = await side.seen(expectation, SEEN_TIMEOUT)
    return (sent - started) * 1000, None if seen is None else (seen - started) * 1000


async def serve_api(stack: AsyncExitStack, engine: Engine) -> str:
    runner = web.AppRunner(make_app(engine), access_log=None)
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return f"http://{host}:{port}"


async def run_kind(kind: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    started = time.monotonic()
    site_file = workdir / f"site-{kind}.yaml"
    site_file.write_text(yaml.safe_dump(
        site_data(kind, args.agents, args.queues, args.seed), allow_unicode=True
    ))
    site = load_site(site_file)
    pbx = LocalPbx()
    if pbx.status() is not None:
        raise RunFailed(f"a PBX already runs in {pbx.state_dir}: the bench starts its own "
                        "(stop it with `telephony pbx down`)")
    queues = [q.id for q in site.queues]
    agents = [a.id for a in site.agents]
    devices = frozenset(d.id for a in site.agents for d in a.devices)
    model = Model(site)
    rng = random.Random(args.seed + 1)
    out: dict[str, Any] = {"kind": kind, "date": datetime.now(UTC).isoformat(timespec="seconds"),
                           "code": code_version()}
    print(f"[{kind}] starting the PBX with {len(agents)} agents, {len(queues)} skill queues ...",
          flush=True)
    clock = time.monotonic()
    info = await asyncio.to_thread(pbx.up, site)
    out["pbx_up_s"] = round(time.monotonic() - clock, 2)
    out["pbx_backend"] = info.backend
    async with AsyncExitStack() as stack:
        stack.push_async_callback(asyncio.to_thread, pbx.down)
        side = make_side(site)
        await side.open()
        stack.push_async_callback(side.close)
        out["pbx_version"] = await side.version()
        out["leftover_members_removed"] = await side.purge(queues, ())
        stack.push_async_callback(cleanup, side, queues, agents, site, workdir, info.sip_port)

        print(f"[{kind}] registering {len(devices)} devices (SIPp, {args.rate}/s) ...",
              flush=True)
        registration = await register_all(
            site, workdir, info.sip_port, rate=args.rate, expires=EXPIRES, timeout=120.0
        )
        clock = time.monotonic()
        reported = await wait_until(lambda: side.registered(devices), len(devices), 60.0)
        out["registration"] = {
            "devices": registration.devices, "rate_per_s": args.rate, "expires_s": EXPIRES,
            "sipp_s": round(registration.seconds, 2), "sipp_exit": registration.exit_code,
            "reported_by_pbx": reported, "wait_after_sipp_s": round(time.monotonic() - clock, 2),
        }
        if reported < len(devices):
            raise RunFailed(f"only {reported} of {len(devices)} devices registered "
                            f"(SIPp exit {registration.exit_code})")

        port: PbxPort = await open_port(site)
        stack.push_async_callback(port.close)
        engine = Engine(site, port, SystemClock())
        probe = Probe(engine, port)
        base = await serve_api(stack, engine)
        print(f"[{kind}] engine: first sync ...", flush=True)
        clock = time.perf_counter()
        await engine.start()
        first = time.perf_counter() - clock
        stack.push_async_callback(engine.stop)
        out["first_sync"] = {"seconds": round(first, 3), **probe.take().as_dict()}
        out["membership"] = await check_membership(side, model)
        if out["membership"]["differ"]:
            raise RunFailed(f"the PBX's skill queues differ from the expected membership: "
                            f"{out['membership']}")
        print(f"[{kind}] first sync {first:.2f} s: {out['membership']['in_pbx']} members; "
              f"{args.warmup} warm-up + {args.edits} edits ...", flush=True)

        load_before = os.getloadavg()
        profiler = cProfile.Profile() if args.profile else None
        samples: list[EditSample] = []
        async with aiohttp.ClientSession() as http:
            for number in range(args.warmup + args.edits):
                edit = model.next_edit(rng)
                if number == args.warmup:
                    polls_from = len(getattr(side, "polls", []))
                    if profiler is not None:
                        profiler.enable()
                sample = await timed_edit(http, base, side, probe, edit)
                model.apply(edit)
                if number >= args.warmup:
                    samples.append(sample)
        if profiler is not None:
            profiler.disable()
        load_mid = os.getloadavg()
        skipped = model.skipped

        await engine.stop()
        print(f"[{kind}] timing the parts of a one-queue sync ...", flush=True)
        out["explain_ms"] = await explain(site, port, model)
        print(f"[{kind}] the same kind of change sent straight to the PBX "
              f"({args.native} changes) ...", flush=True)
        native_client = getattr(port, "client", None)
        side.native_client = native_client  # type: ignore[attr-defined]
        native: list[tuple[float, float | None]] = []
        for number in range(args.warmup + args.native):
            edit = model.next_edit(rng)
            result = await timed_native(side, edit)
            model.apply(edit)
            if number >= args.warmup:
                native.append(result)
        load_after = os.getloadavg()

        out.update(report_kind(samples, native, args, skipped, model))
        out["load_before"] = [round(x, 2) for x in load_before]
        out["load_after_edits"] = [round(x, 2) for x in load_mid]
        out["load_after"] = [round(x, 2) for x in load_after]
        out["observer"] = observer_words(kind)
        if isinstance(side, FreeswitchSide):
            measured = side.polls[polls_from:polls_from + len(samples)]
            out["tier_listings_per_edit"] = summary([float(p) for p in measured])
        if profiler is not None:
            out["profile"] = profile_text(profiler)
    out["duration_s"] = round(time.monotonic() - started, 1)
    return out


async def cleanup(side: Side, queues: list[str], agents: list[str], site: Site,
                  workdir: Path, sip_port: int) -> None:
    """Members (and FreeSWITCH's agents) out, devices un-registered: the next user of
    this PBX's state directory finds none of the bench's state."""
    print(f"[{side.kind}] cleaning up ...", flush=True)
    removed = await side.purge(queues, agents if side.kind == "freeswitch" else ())
    gone = await register_all(site, workdir, sip_port, rate=500, expires=0, timeout=60.0)
    devices = frozenset(d.id for a in site.agents for d in a.devices)
    left = await side.registered(devices)
    deadline = time.monotonic() + 10.0
    while left and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        left = await side.registered(devices)
    print(f"[{side.kind}] removed {removed} members, un-registered {gone.devices} devices "
          f"(SIPp exit {gone.exit_code}; still listed by the PBX: {left})", flush=True)


def observer_words(kind: str) -> str:
    if kind == "asterisk":
        return ("a separate AMI connection, filtered to QueueMemberAdded, QueueMemberRemoved "
                "and QueueMemberPenalty: an edit is seen when the event of its last change "
                "is read")
    return ("mod_callcenter sends no event for a tier: a separate Event Socket connection "
            "lists the queue's tiers (`callcenter_config queue list tiers`) back to back from "
            "the moment the API answered until every change of the edit shows")


def report_kind(samples: list[EditSample], native: list[tuple[float, float | None]],
                args: argparse.Namespace, skipped: int, model: Model) -> dict[str, Any]:
    ok = [s for s in samples if s.seen_ms is not None]
    seen = [s.seen_ms for s in ok if s.seen_ms is not None]
    native_seen = [n for _, n in native if n is not None]
    engine = [s.engine for s in ok]

    def part(key: str) -> list[float]:
        return [float(e[key]) for e in engine]

    other = [s.http_ms - float(s.engine["sync_ms"]) for s in ok]
    after = [(s.seen_ms or 0.0) - s.http_ms for s in ok]
    edits = summary(seen)
    base = summary(native_seen)
    ratio = {
        q: round(float(edits[q]) / float(base[q]), 2) if base.get("n") and edits.get("n") else None
        for q in ("p50", "p99")
    }
    by_kind = {
        kind: summary([s.seen_ms for s in ok if s.kind == kind and s.seen_ms is not None])
        for kind in ("add", "raise", "lower", "delete")
    }
    p99 = edits.get("p99")
    return {
        "site": {
            "agents": args.agents, "devices": args.agents, "skill_queues": args.queues,
            "seed": args.seed,
        },
        "target_p99_ms": args.target_ms,
        "met": bool(seen) and len(ok) == len(samples) and p99 is not None
        and float(p99) < args.target_ms,
        "edits": {
            "n": len(samples), "warmup": args.warmup, "seen": len(ok),
            "missed": len(samples) - len(ok),
            "http_errors": sum(s.status != 200 for s in samples),
            "kinds": dict(Counter(s.kind for s in samples)),
            "changes_per_edit": dict(sorted(Counter(s.changes for s in samples).items())),
            "candidates_skipped": skipped,
            "members_at_end": model.total,
        },
        "edit_to_seen_ms": edits,
        "by_kind_ms": by_kind,
        "http_ms": summary([s.http_ms for s in ok]),
        "engine_sync_ms": summary(part("sync_ms")),
        "engine_snapshot_ms": summary(part("snapshot_ms")),
        "engine_apply_ms": summary(part("apply_ms")),
        "http_outside_sync_ms": summary(other),
        "after_http_ms": summary(after),
        "full_syncs_during_edits": sum(int(e["full_snapshots"]) for e in engine),
        "native": {
            "n": len(native), "missed": sum(n is None for _, n in native),
            "sent_ms": summary([s for s, _ in native]),
            "sent_to_seen_ms": base,
        },
        "ratio_to_native": ratio,
        "sample_columns": SAMPLE_COLUMNS,
        "samples": [s.as_list() for s in samples],
    }


def profile_text(profiler: cProfile.Profile, lines: int = 35) -> str:
    buffer = io.StringIO()
    stats = pstats.Stats(profiler, stream=buffer)
    stats.sort_stats("cumulative").print_stats(lines)
    stats.sort_stats("tottime").print_stats(lines)
    return buffer.getvalue()


# ---- the report


def fmt(block: dict[str, Any], key: str) -> str:
    value = block.get(key)
    return "-" if value is None else f"{value:.1f}" if isinstance(value, float) else str(value)


def counts(found: dict[Any, int]) -> str:
    return ", ".join(f"{key}: {value}" for key, value in found.items())


def row(label: str, block: dict[str, Any]) -> str:
    return (f"| {label} | {block.get('n', 0)} | " +
            " | ".join(fmt(block, k) for k in ("p50", "p90", "p99", "max", "mean")) + " |")


def markdown(runs: dict[str, dict[str, Any]]) -> str:
    lines = [
        "# Skill edit to PBX membership (bench/skill_edit.py)",
        "",
        ("Target: a skill edit over the API until the PBX has the new membership (seen in "
        "its own reports), p99 under 100 ms with 1,000 agents and 50 skill queues."),
    ]
    for kind in KINDS:
        run = runs.get(kind)
        if run is None:
            continue
        m, e, f = run["membership"], run["edits"], run["first_sync"]
        reg = run["registration"]
        dirty = ", ".join(run["code"]["telephony_uncommitted"])
        verdict = "MET" if run["met"] else "MISSED"
        lines += [
            "",
            (f"## {kind}: p99 {run['edit_to_seen_ms'].get('p99', '-')} ms, target "
            f"< {run['target_p99_ms']} ms: {verdict}"),
            "",
            (f"- {run['date']}; {kind} {run['pbx_version']} ({run['pbx_backend']} backend); "
            f"Python {run['python']}, SIPp {run['sipp']}; nproc {run['nproc']}, load "
            f"{run['load_before'][0]:.2f} before the edits, {run['load_after_edits'][0]:.2f} "
            f"after them, {run['load_after'][0]:.2f} at the end (1 min)"),
            (f"- Code: commit {run['code']['commit']}, with uncommitted changes under "
             f"telephony/ in the shared tree: {dirty or 'none'}"),
            (f"- Site: {run['site']['agents']} agents (one softphone each, 3-5 skills at random "
            f"levels, seed {run['site']['seed']}), {run['site']['skill_queues']} skill queues; "
            f"{m['in_pbx']} members on the PBX after the first sync, as expected "
            f"({m['expected']}; PBX level = ring level {m['level_offset']:+d})"),
            (f"- Registration: {reg['devices']} devices from one SIPp process at "
            f"{reg['rate_per_s']}/s in {reg['sipp_s']} s (exit {reg['sipp_exit']}), all "
            f"listed by the PBX {reg['wait_after_sipp_s']} s later"),
            (f"- Engine's first sync (starting on an empty PBX): **{f['seconds']:.2f} s**, "
            f"{f['commands']} commands ({f['apply_ms'] / 1000:.2f} s of them in the port's "
            f"apply, {f['snapshot_ms']:.0f} ms reading)"),
            (f"- Edits: {e['n']} after {e['warmup']} warm-up ({counts(e['kinds'])}), PBX "
            f"changes per edit ({counts(e['changes_per_edit'])}); {e['candidates_skipped']} "
            f"candidate edits skipped as they change no membership; missed {e['missed']}, "
            f"HTTP errors {e['http_errors']}; full syncs during the edits: "
            f"{run['full_syncs_during_edits']}"),
            f"- Observer: {run['observer']}",
            "",
            "| ms | n | p50 | p90 | p99 | max | mean |",
            "|---|---:|---:|---:|---:|---:|---:|",
            row("**edit -> seen on the PBX**", run["edit_to_seen_ms"]),
            row("HTTP request -> response", run["http_ms"]),
            row("in it: the engine's sync", run["engine_sync_ms"]),
            row("in the sync: port snapshot (reads the queue)", run["engine_snapshot_ms"]),
            row("in the sync: port apply (the commands)", run["engine_apply_ms"]),
            row("HTTP outside the sync (aiohttp, JSON, routing)", run["http_outside_sync_ms"]),
            row("response -> seen", run["after_http_ms"]),
            row("native change -> seen", run["native"]["sent_to_seen_ms"]),
            row("native change sent", run["native"]["sent_ms"]),
        ]
        for kind_name, block in run["by_kind_ms"].items():
            lines.append(row(f"edit -> seen, {kind_name}", block))
        lines += [
            "",
            ("Where the time goes: each part of the engine's one-queue sync timed alone "
            f"({ROUNDS} rounds, after the edits, the engine stopped, on its connection):"),
            "",
            "| part | p50 ms | p99 ms |",
            "|---|---:|---:|",
            *[f"| {part} | {t['p50']} | {t['p99']} |"
              for part, t in run.get("explain_ms", {}).items()],
        ]
        ratio = run["ratio_to_native"]
        lines += [
            "",
            (f"Engine edit / native change (same observer, same connection kind): p50 "
            f"{ratio['p50']}x, p99 {ratio['p99']}x."),
        ]
        if "tier_listings_per_edit" in run:
            t = run["tier_listings_per_edit"]
            lines.append(f"Tier listings per edit until the change showed: p50 {t.get('p50')}, "
                         f"max {t.get('max')}.")
        if run.get("profile"):
            lines += ["", "cProfile over the edits (times inflated by the profiler):", "",
                      "```", run["profile"].strip(), "```"]
    return "\n".join(lines) + "\n"


def code_version() -> dict[str, Any]:
    """The commit measured, and the files under telephony/ that differed from it (the
    tree is shared: other work in progress is part of what was measured)."""
    def git(*argv: str) -> str:
        return subprocess.run(["git", *argv], cwd=ROOT, check=False, capture_output=True,
                              text=True).stdout
    # Porcelain lines are "XY path": the status letters may start with a space.
    changed = git("status", "--porcelain", "--", "telephony").splitlines()
    return {"commit": git("rev-parse", "--short", "HEAD").strip(),
            "telephony_uncommitted": sorted(line[3:] for line in changed)}


def sipp_version() -> str:
    try:
        out = subprocess.run([os.environ.get("TELEPHONY_SIPP") or "sipp", "-v"],
                             check=False, capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    words = [w for w in out.split() if w.startswith("v")]
    return words[0].rstrip(".") if words else "?"


def dumps(value: Any, depth: int = 0) -> str:
    """JSON with one line per dict entry and per row of a list of lists (the samples),
    and lists of plain values on one line, so the file stays readable and diffable."""
    pad = " " * (depth + 1)
    if isinstance(value, dict) and value:
        items = [f"{pad}{json.dumps(k)}: {dumps(v, depth + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * depth + "}"
    if isinstance(value, list) and value and all(isinstance(v, list) for v in value):
        return "[\n" + ",\n".join(pad + json.dumps(v) for v in value) + "\n" + " " * depth + "]"
    return json.dumps(value)


def write_results(runs: dict[str, dict[str, Any]]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{NAME}.json"
    try:
        kept = json.loads(path.read_text()).get("runs", {})
    except (OSError, ValueError):
        kept = {}
    kept.update(runs)
    ordered = {k: kept[k] for k in KINDS if k in kept}
    path.write_text(dumps({"benchmark": NAME, "runs": ordered}) + "\n")
    (RESULTS / f"{NAME}.md").write_text(markdown(ordered))


# ---- main


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pbx", choices=(*KINDS, "both"), default="both")
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--queues", type=int, default=50)
    parser.add_argument("--edits", type=int, default=500, help="measured edits per PBX")
    parser.add_argument("--native", type=int, default=300,
                        help="measured changes sent straight to the PBX")
    parser.add_argument("--warmup", type=int, default=20, help="edits not measured, first")
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--rate", type=int, default=100, help="REGISTERs per second")
    parser.add_argument("--target-ms", type=float, default=100.0)
    parser.add_argument("--profile", action="store_true",
                        help="cProfile over the edits (slows them: the results are written "
                        "as skill_edit_profile.*, the committed ones stay)")
    parser.add_argument("--keep-logs", action="store_true")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    if shutil.which("sipp") is None and not os.environ.get("TELEPHONY_SIPP"):
        print("SIPp is not installed (Debian/Ubuntu: apt-get install sip-tester)", file=sys.stderr)
        return 2
    kinds = KINDS if args.pbx == "both" else (args.pbx,)
    workdir = Path(tempfile.mkdtemp(prefix="skill-edit-"))
    runs: dict[str, dict[str, Any]] = {}
    failed = False
    for kind in kinds:
        try:
            run = asyncio.run(run_kind(kind, args, workdir))
        except (RunFailed, PbxError, PbxPortError, AmiError, EslError, SippError, OSError,
                RuntimeError, aiohttp.ClientError) as exc:
            print(f"[{kind}] the run failed: {exc}", file=sys.stderr)
            failed = True
            continue
        run.update({"python": platform.python_version(), "platform": platform.platform(),
                    "nproc": os.cpu_count(), "sipp": sipp_version()})
        runs[kind] = run
        e = run["edit_to_seen_ms"]
        print(f"[{kind}] edit -> seen: p50 {e.get('p50')} p90 {e.get('p90')} p99 {e.get('p99')} "
              f"max {e.get('max')} ms (target p99 < {args.target_ms:g}); native p50 "
              f"{run['native']['sent_to_seen_ms'].get('p50')} ms; ratio "
              f"{run['ratio_to_native']}", flush=True)
        if args.profile:
            print(run.get("profile", ""))
    if runs:
        if args.profile:
            RESULTS.mkdir(parents=True, exist_ok=True)
            (RESULTS / f"{NAME}_profile.md").write_text(markdown(runs))
        else:
            write_results(runs)
            print(f"wrote {RESULTS / (NAME + '.json')} and {RESULTS / (NAME + '.md')}")
    if args.keep_logs:
        print(f"logs kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    if failed or not runs:
        return 2
    return 0 if all(r["met"] for r in runs.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
