"""Presence to phones: from an agent's state change to the NOTIFY at each subscriber.

    python3 bench/presence_notify.py                       # both PBXs, 200 subscribers
    python3 bench/presence_notify.py --pbx asterisk --changes 20
    python3 bench/presence_notify.py --pbx freeswitch --subscribers 20 --native-only

Target (issue 9): from an API state change to the NOTIFY arriving at each of at least
200 SIPp subscribers (p50, p99 over every subscriber's NOTIFY), beside the same change
made natively with no engine in between, in the same run: at most 1.2x native at p50
and at p99, and p50 under 50 ms.

Per PBX kind the bench:

1. writes its own site (bench/presence/site.py: a watched agent on extension 2001 and
   one agent with a softphone per subscriber) and starts the local PBX with it,
   starting from no subscriptions (Asterisk keeps SUBSCRIBE dialogs in AstDB and
   brings them back at start: deleted and Asterisk restarted; FreeSWITCH's stored
   ones are deleted from its profile database before it starts);
2. registers every device from one SIPp process (the watched agent must not read
   offline) and starts `telephony run` on the site as its own process;
3. subscribes every subscriber's device to extension 2001 (Event: dialog) from one
   SIPp process (bench/presence/subscriber.xml, an injection CSV, digest auth) and
   waits for every subscription's first NOTIFY, the lamp dark;
4. makes the changes, one at a time, in pairs: through the engine, `PUT
   /api/agents/watched/state` {"state": "focus"} and then {"state": "back"}; natively,
   the same lamp change sent straight to the PBX (bench/presence/pbxside.py); the
   engine's pairs and the native ones strictly alternating, after warm-up pairs of
   each. A change is timed from just before the request (`time.time()`) to each
   subscriber's first NOTIFY showing the new lamp, as SIPp stamped it on reading;
   the next change starts once every subscriber has it (or after --settle-ms) and a
   quiet --gap-ms;
5. stops the engine, lets the subscribers un-subscribe (SIPp does after --quiet-ms
   without a NOTIFY), un-registers the devices, checks the PBX keeps no subscription
   (deleting any left) and stops the PBX.

Reported per path: every subscriber's latency (p50/p90/p99/max), the first and the last
subscriber of each change, the NOTIFYs each subscriber got per change, NOTIFYs the PBX
sent again (read twice by SIPp) and datagrams the kernel dropped at SIPp's socket
(their retransmission arrives ~500 ms later), with the load sampled every 10 s. Ratios
carry a 95 % interval from resampling whole changes. Results: bench/results/
presence_notify.{json,md} (a run of one kind keeps the other's; a shorter run than the
defaults writes presence_notify_partial.*, --tag T presence_notify.T.*). Exit 0 when every target is met, 1 when one
is missed, 2 when the run fails.
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
import subprocess
import sys
import tempfile
import time
import urllib.request
from bisect import bisect_left
from collections import Counter
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from latency.report import sipp_version
from latency.stats import percentile
from presence.pbxside import (
    AsteriskSide,
    FreeswitchSide,
    Side,
    clear_fs_subscriptions,
    port_presence,
)
from presence.sip import BUSY, IDLE, Notify, Subscriber, Subscribers, udp_drops
from presence.site import (
    WATCHED,
    WATCHED_EXTENSION,
    site_data,
)
from skilledit.sip import register_all, wait_until

from telephony.asterisk.ami import AmiError
from telephony.config import Site, load_site
from telephony.freeswitch.esl import EslError
from telephony.freeswitch.runner.layout import Layout as FsLayout
from telephony.pbx import LocalPbx, PbxError
from telephony.testing.sipp import SippError

RESULTS = ROOT / "bench" / "results"
NAME = "presence_notify"
KINDS = ("asterisk", "freeswitch")
ENGINE, NATIVE = "engine", "native"
PATHS = (ENGINE, NATIVE)
# Registrations and subscriptions last the whole run (SIPp refreshes neither).
EXPIRES = 3600
LATE_MS = 450.0  # a NOTIFY read this late came after a lost first copy (T1 = 500 ms)
LOAD_EVERY = 10.0
BOOTSTRAP_ROUNDS = 1000
DEFAULTS = {"subscribers": 200, "changes": 40}


class RunFailed(Exception):
    """The run could not measure (the PBX, SIPp or the engine did not come up right)."""


# ---- the engine process


class EngineProcess:
    """`telephony run SITE` as a child process, as a site runs it."""

    def __init__(self, site_file: Path, api_port: int, log: Path) -> None:
        self.site_file = site_file
        self.api = f"http://127.0.0.1:{api_port}"
        self.log = log
        self.process: asyncio.subprocess.Process | None = None

    async def start(self, timeout: float = 60.0) -> float:
        started = time.monotonic()
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        with self.log.open("ab") as out:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "telephony", "run", str(self.site_file),
                stdout=out, stderr=subprocess.STDOUT, env=env,
                # `-m` puts the working directory first on sys.path: run where no
                # `telephony` lies around, so PYTHONPATH decides the code.
                cwd=self.log.parent, start_new_session=True,
            )
        while not await asyncio.to_thread(self._healthy):
            if self.process.returncode is not None:
                raise RunFailed(f"the engine exited at start:\n{self.log_tail()}")
            if time.monotonic() - started > timeout:
                raise RunFailed(f"the engine API did not answer within {timeout:g} s")
            await asyncio.sleep(0.1)
        return time.monotonic() - started

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.api}/api/health", timeout=1) as response:
                return bool(json.loads(response.read()).get("ok"))
        except (OSError, ValueError):
            return False

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
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


# ---- one change


@dataclass
class Change:
    number: int
    path: str  # ENGINE or NATIVE
    lamp: str  # the lamp the change shows: BUSY or IDLE
    warmup: bool
    at: float = 0.0  # time.time() just before the request
    sent_ms: float = 0.0  # the request's own time (HTTP round trip, AMI / ESL reply)
    status: int | None = None  # HTTP status (engine changes)
    settled_ms: float | None = None  # when every subscriber had it, None if not all did
    drops: int = 0  # datagrams the kernel dropped at SIPp's socket meanwhile
    pbx_drops: int = 0  # ... and at the PBX's SIP socket (the subscribers' 200s)
    error: str | None = None


CHANGE_COLUMNS = ["number", "path", "lamp", "warmup", "request_ms", "http_status",
                  "settled_ms", "first_ms", "p50_ms", "last_ms", "missing", "notifies",
                  "read_twice", "drops_at_sipp", "drops_at_pbx", "error"]


def plan(pairs: int, warmup: int) -> list[tuple[str, str, bool]]:
    """(path, lamp, warm-up) per change: a busy-then-dark pair per path, the engine's and
    the native pairs strictly alternating, which path leads swapping every round."""
    out = []
    for number in range(warmup + pairs):
        order = PATHS if number % 2 == 0 else PATHS[::-1]
        for path in order:
            out += [(path, BUSY, number < warmup), (path, IDLE, number < warmup)]
    return out


@dataclass
class Bench:
    side: Side
    subscribers: Subscribers
    dialogs: frozenset[str]
    http: aiohttp.ClientSession | None
    api: str
    pbx_port: int
    settle_s: float
    gap_s: float
    load: list[float] = field(default_factory=list)

    async def change(self, change: Change) -> None:
        self.subscribers.read()  # anything before the change is not its
        drops_before = udp_drops(self.subscribers.local_port) or 0
        pbx_before = udp_drops(self.pbx_port) or 0
        change.at = time.time()
        started = time.perf_counter()
        try:
            if change.path == ENGINE:
                assert self.http is not None
                state = "focus" if change.lamp == BUSY else "back"
                async with self.http.put(f"{self.api}/api/agents/{WATCHED}/state",
                                         json={"state": state}) as response:
                    await response.read()
                    change.status = response.status
                if change.status != 200:
                    change.error = f"HTTP {change.status}"
            else:
                await self.side.native(change.lamp)
        except (AmiError, EslError, aiohttp.ClientError, RuntimeError) as exc:
            change.error = f"{type(exc).__name__}: {exc}"
        change.sent_ms = (time.perf_counter() - started) * 1000
        waiting = set(self.dialogs)
        deadline = time.monotonic() + self.settle_s
        while waiting and time.monotonic() < deadline and change.error is None:
            for notify in self.subscribers.read():
                if notify.at >= change.at and notify.lamp == change.lamp:
                    waiting.discard(notify.call_id)
            if waiting:
                await asyncio.sleep(0.02)
        if not waiting:
            change.settled_ms = (time.time() - change.at) * 1000
        await asyncio.sleep(self.gap_s)
        self.subscribers.read()
        change.drops = (udp_drops(self.subscribers.local_port) or 0) - drops_before
        change.pbx_drops = (udp_drops(self.pbx_port) or 0) - pbx_before


async def sample_load(into: list[float]) -> None:
    while True:
        into.append(round(os.getloadavg()[0], 2))
        await asyncio.sleep(LOAD_EVERY)


# ---- one PBX kind


def make_side(site: Site, state_dir: Path, as_port: bool) -> tuple[Side, str]:
    if site.pbx.kind.value == "asterisk":
        return AsteriskSide(site, as_port=as_port), "the values the port sets"
    headers, source = port_presence(site, WATCHED, WATCHED_EXTENSION, as_port=as_port)
    return FreeswitchSide(site, state_dir, headers), source


async def start_pbx(pbx: LocalPbx, site: Site, out: dict[str, Any]) -> Any:
    """Start the PBX from no subscriptions; its info."""
    kind = site.pbx.kind.value
    if kind == "freeswitch":
        database = FsLayout(pbx.state_dir).db_dir
        out["subscriptions_deleted_before_start"] = sum(
            clear_fs_subscriptions(db) for db in sorted(database.glob("sofia_reg_*.db"))
        )
    clock = time.monotonic()
    info = await asyncio.to_thread(pbx.up, site)
    out["pbx_up_s"] = round(time.monotonic() - clock, 2)
    if kind == "asterisk":
        side = AsteriskSide(site)
        await side.open()
        try:
            found = await side.clear_subscriptions()
        finally:
            await side.close()
        out["subscriptions_deleted_before_start"] = found
        if found:
            print(f"[{kind}] {found} persisted subscriptions deleted: restarting Asterisk ...",
                  flush=True)
            await asyncio.to_thread(pbx.down)
            info = await asyncio.to_thread(pbx.up, site)
    return info


def clear_fs_after_stop(pbx: LocalPbx, out: dict[str, Any]) -> None:
    """FreeSWITCH stopped: delete the subscriptions it still stored (a subscriber whose
    un-SUBSCRIBE it never took), so the next start has none."""
    database = FsLayout(pbx.state_dir).db_dir
    out["subscriptions_deleted_after_stop"] = sum(
        clear_fs_subscriptions(db) for db in sorted(database.glob("sofia_reg_*.db"))
    )


async def run_kind(kind: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    started = time.monotonic()
    site_file = workdir / f"site-{kind}.yaml"
    site_file.write_text(yaml.safe_dump(site_data(kind, args.subscribers, args.api_port),
                                        allow_unicode=True))
    site = load_site(site_file)
    pbx = LocalPbx(args.state_dir)
    if pbx.status() is not None:
        raise RunFailed(f"a PBX already runs in {pbx.state_dir}: the bench starts its own "
                        "(stop it with `telephony pbx down`, or give --state-dir)")
    devices = frozenset(d.id for a in site.agents for d in a.devices)
    subscribers = [
        Subscriber(d.username, d.password.get_secret_value(), WATCHED_EXTENSION)
        for a in site.agents if a.id != WATCHED for d in a.devices
    ]
    out: dict[str, Any] = {"kind": kind, "date": datetime.now(UTC).isoformat(timespec="seconds"),
                           "code": code_version()}
    print(f"[{kind}] starting the PBX ({len(site.agents)} agents) ...", flush=True)
    async with AsyncExitStack() as stack:
        if kind == "freeswitch":
            stack.callback(clear_fs_after_stop, pbx, out)
        stack.push_async_callback(asyncio.to_thread, pbx.down)
        info = await start_pbx(pbx, site, out)
        out["pbx_backend"] = info.backend
        side, source = make_side(site, pbx.state_dir, args.native_as_port)
        await side.open()
        stack.push_async_callback(side.close)
        stack.push_async_callback(finish, side, site, workdir, info.sip_port, out)
        out["pbx_version"] = await side.version()

        print(f"[{kind}] registering {len(devices)} devices ...", flush=True)
        registration = await register_all(site, workdir, info.sip_port, rate=args.rate,
                                          expires=EXPIRES, timeout=120.0)
        reported = await wait_until(lambda: side.registered(devices), len(devices), 60.0)
        if reported < len(devices):
            raise RunFailed(f"only {reported} of {len(devices)} devices registered "
                            f"(SIPp exit {registration.exit_code})")

        engine: EngineProcess | None = None
        if not args.native_only:
            engine = EngineProcess(site_file, args.api_port, workdir / f"engine-{kind}.log")
            stack.push_async_callback(engine.stop)
            print(f"[{kind}] starting the engine (telephony run) ...", flush=True)
            out["engine_start_s"] = round(await engine.start(), 2)
        out["hint"] = await side.prepare(WATCHED, WATCHED_EXTENSION)
        out["native"] = side.native_words
        out["native_headers"] = source

        print(f"[{kind}] subscribing {len(subscribers)} devices to {WATCHED_EXTENSION} ...",
              flush=True)
        subs = Subscribers(workdir, info.sip_port, subscribers, rate=args.rate,
                           expires=EXPIRES, quiet_ms=args.quiet_ms,
                           buffer_bytes=args.buffer_kb * 1024 if args.buffer_kb else None)
        await subs.start()
        stack.push_async_callback(end_subscribers, subs, args.quiet_ms / 1000 + 15.0)
        dialogs = await subscribed(subs, len(subscribers), 60.0)
        out["subscriptions"] = {
            "subscribers": len(subscribers), "with_first_notify": len(dialogs),
            "challenged": subs.challenged, "pbx_reports": await side.subscriptions(),
            "first_lamps": dict(Counter(str(subs.by_dialog[d][-1].lamp) for d in dialogs)),
        }
        if len(dialogs) < len(subscribers):
            raise RunFailed(f"only {len(dialogs)} of {len(subscribers)} subscriptions got a "
                            f"NOTIFY\n{subs.diagnostics()}")

        async with aiohttp.ClientSession() as http:
            bench = Bench(side, subs, dialogs, None if engine is None else http,
                          engine.api if engine else "", info.sip_port, args.settle_ms / 1000,
                          args.gap_ms / 1000)
            loader = asyncio.create_task(sample_load(bench.load))
            changes = []
            steps = plan(args.changes // 2, args.warmup)
            if args.native_only:
                steps = [s for s in steps if s[0] == NATIVE]
            print(f"[{kind}] {len(steps)} changes ({args.warmup} warm-up pairs per path) ...",
                  flush=True)
            try:
                for number, (path, lamp, warmup) in enumerate(steps):
                    change = Change(number, path, lamp, warmup)
                    await bench.change(change)
                    changes.append(change)
                    if change.error:
                        print(f"[{kind}] change {number} ({path} {lamp}): {change.error}",
                              file=sys.stderr)
            finally:
                loader.cancel()
        out["engine_log_tail"] = engine.log_tail(8) if engine else ""
        if engine is not None:
            await engine.stop()
        out.update(analyse(changes, subs.notifies, dialogs, args))
        out["load_during"] = bench.load
        out["duration_s"] = round(time.monotonic() - started, 1)
    return out


async def subscribed(subs: Subscribers, wanted: int, timeout: float) -> frozenset[str]:
    """The dialogs that got their first NOTIFY, once all have (or at the timeout)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        subs.read()
        if len(subs.by_dialog) >= wanted or not subs.running:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)  # the initial NOTIFYs' stragglers, before the first change
    subs.read()
    return frozenset(subs.by_dialog)


async def end_subscribers(subs: Subscribers, timeout: float) -> None:
    """Let every subscriber un-subscribe (after its quiet time), else stop SIPp."""
    if await subs.wait_exit(timeout) is None:
        print("subscribers: SIPp still running, stopped", file=sys.stderr)
        await subs.stop()


async def finish(side: Side, site: Site, workdir: Path, sip_port: int,
                 out: dict[str, Any]) -> None:
    """After the subscribers are gone: devices un-registered, no subscription kept."""
    print(f"[{side.kind}] cleaning up ...", flush=True)
    try:
        gone = await register_all(site, workdir, sip_port, rate=500, expires=0, timeout=60.0)
        out["unregistered"] = gone.devices
        deadline = time.monotonic() + 5.0
        left = await side.subscriptions()
        while left and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            left = await side.subscriptions()
        out["subscriptions_left"] = left
        if left and side.kind == "asterisk":
            await side.clear_subscriptions()
    except (AmiError, EslError, SippError, RuntimeError, OSError) as exc:
        print(f"[{side.kind}] cleanup: {exc}", file=sys.stderr)


# ---- the numbers


@dataclass
class Window:
    """What the subscribers got for one change."""

    change: Change
    latencies: list[float]  # ms, one per subscriber that got the new lamp
    missing: int
    notifies: int  # every NOTIFY read in the window, first copies
    again: int  # further copies of them, whenever read (the PBX sent them again)

    def as_list(self) -> list[Any]:
        c, lat = self.change, self.latencies

        def ms(value: float | None) -> float | None:
            return None if value is None else round(value, 2)

        return [c.number, c.path, c.lamp, c.warmup, ms(c.sent_ms), c.status, ms(c.settled_ms),
                ms(lat[0] if lat else None), ms(percentile(lat, 50) if lat else None),
                ms(lat[-1] if lat else None), self.missing, self.notifies, self.again,
                c.drops, c.pbx_drops, c.error]


def windows(changes: Sequence[Change], notifies: Sequence[Notify],
            dialogs: frozenset[str]) -> list[Window]:
    """Each change's NOTIFYs: those first read from its start until the next change's.
    A copy of a NOTIFY read again counts for the change of its first copy."""
    copies = Counter((n.call_id, n.cseq) for n in notifies)
    firsts: dict[tuple[str, int], Notify] = {}
    for n in sorted(notifies, key=lambda n: n.at):
        firsts.setdefault((n.call_id, n.cseq), n)
    ordered = sorted(firsts.values(), key=lambda n: n.at)
    times = [n.at for n in ordered]
    out = []
    for index, change in enumerate(changes):
        end = changes[index + 1].at if index + 1 < len(changes) else math.inf
        span = ordered[bisect_left(times, change.at):bisect_left(times, end)]
        inside = [n for n in span if n.call_id in dialogs]
        first: dict[str, float] = {}
        for n in inside:
            if n.lamp == change.lamp and n.call_id not in first:
                first[n.call_id] = (n.at - change.at) * 1000
        out.append(Window(change, sorted(first.values()), len(dialogs) - len(first),
                          len(inside), sum(copies[(n.call_id, n.cseq)] - 1 for n in inside)))
    return out


def summary(values: Sequence[float]) -> dict[str, float | int]:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50": round(percentile(values, 50), 2),
        "p90": round(percentile(values, 90), 2),
        "p99": round(percentile(values, 99), 2),
        "max": round(max(values), 2),
        "mean": round(sum(values) / len(values), 2),
    }


def cluster_interval(ours: Sequence[Sequence[float]], base: Sequence[Sequence[float]],
                     q: float, seed: int = 1) -> tuple[float, float]:
    """95 % interval of percentile(ours, q) / percentile(base, q), resampling whole
    changes (a change's subscribers share its fate: one slow fan-out delays them all)."""
    if not ours or not base:
        return (math.nan, math.nan)
    rng = random.Random(seed)
    ratios = []
    for _ in range(BOOTSTRAP_ROUNDS):
        a = [x for w in rng.choices(ours, k=len(ours)) for x in w]
        b = [x for w in rng.choices(base, k=len(base)) for x in w]
        if a and b:
            ratios.append(percentile(a, q) / percentile(b, q))
    ratios.sort()
    return (round(percentile(ratios, 2.5), 3), round(percentile(ratios, 97.5), 3))


def analyse(changes: Sequence[Change], notifies: Sequence[Notify], dialogs: frozenset[str],
            args: argparse.Namespace) -> dict[str, Any]:
    found = windows(changes, notifies, dialogs)
    measured = [w for w in found if not w.change.warmup]
    paths: dict[str, Any] = {}
    for path in PATHS:
        mine = [w for w in measured if w.change.path == path]
        if not mine:
            continue
        every = [x for w in mine for x in w.latencies]
        paths[path] = {
            "changes": len(mine),
            "errors": sum(w.change.error is not None for w in mine),
            "subscriber_ms": summary(every),
            "by_lamp_ms": {lamp: summary([x for w in mine if w.change.lamp == lamp
                                          for x in w.latencies]) for lamp in (BUSY, IDLE)},
            "first_subscriber_ms": summary([w.latencies[0] for w in mine if w.latencies]),
            "last_subscriber_ms": summary([w.latencies[-1] for w in mine if w.latencies]),
            "request_ms": summary([w.change.sent_ms for w in mine]),
            "missing": sum(w.missing for w in mine),
            "notifies_per_subscriber": round(
                sum(w.notifies for w in mine) / (len(mine) * len(dialogs)), 3),
            "read_twice": sum(w.again for w in mine),
            "kernel_drops": sum(w.change.drops for w in mine),
            "kernel_drops_at_pbx": sum(w.change.pbx_drops for w in mine),
            "late": sum(x >= LATE_MS for x in every),
            "late_limit_ms": LATE_MS,
            "http_status": dict(Counter(str(w.change.status) for w in mine))
            if path == ENGINE else None,
        }
    out: dict[str, Any] = {
        "subscribers": len(dialogs),
        "plan": {"changes_per_path": args.changes, "warmup_pairs_per_path": args.warmup,
                 "settle_ms": args.settle_ms, "gap_ms": args.gap_ms,
                 "sipp_buffer": f"{args.buffer_kb} KB" if args.buffer_kb else "SIPp's default",
                 "native_only": args.native_only, "native_as_port": args.native_as_port},
        "targets": {"ratio": args.target_ratio, "engine_p50_ms": args.target_p50_ms},
        "paths": paths,
        "change_columns": CHANGE_COLUMNS,
        "changes": [w.as_list() for w in found],
    }
    if ENGINE in paths and NATIVE in paths:
        ours = [w.latencies for w in measured if w.change.path == ENGINE]
        base = [w.latencies for w in measured if w.change.path == NATIVE]
        e, n = paths[ENGINE]["subscriber_ms"], paths[NATIVE]["subscriber_ms"]
        ratio = {q: round(e[q] / n[q], 3) if n.get(q) else None for q in ("p50", "p99")}
        interval = {q: cluster_interval(ours, base, float(q[1:])) for q in ("p50", "p99")}
        met = {
            "ratio_p50": ratio["p50"] is not None and ratio["p50"] <= args.target_ratio,
            "ratio_p99": ratio["p99"] is not None and ratio["p99"] <= args.target_ratio,
            "engine_p50": e.get("p50", math.inf) < args.target_p50_ms,
            "complete": not any(paths[p]["missing"] or paths[p]["errors"] for p in PATHS),
        }
        out.update({"ratio": ratio, "ratio_ci95": interval, "met": met,
                    "all_met": all(met.values())})
    else:
        out["all_met"] = False
    return out


# ---- the report


def fmt(block: dict[str, Any], key: str) -> str:
    value = block.get(key)
    return "-" if value is None else f"{value:.1f}" if isinstance(value, float) else str(value)


def row(label: str, block: dict[str, Any]) -> str:
    return (f"| {label} | {block.get('n', 0)} | "
            + " | ".join(fmt(block, k) for k in ("p50", "p90", "p99", "max", "mean")) + " |")


def verdict(ok: bool) -> str:
    return "MET" if ok else "MISSED"


def markdown(runs: dict[str, dict[str, Any]]) -> str:
    lines = [
        ("# Presence to phones: state change -> NOTIFY at each subscriber "
         "(bench/presence_notify.py)"),
        "",
        ("Target: from an API state change to the NOTIFY at each of at least 200 subscribers, "
         "at most 1.2x the same change made natively (no engine) at p50 and p99, and p50 "
         "under 50 ms."),
    ]
    for kind in KINDS:
        run = runs.get(kind)
        if run is None:
            continue
        paths, sub, plan_ = run["paths"], run["subscriptions"], run["plan"]
        ratio = run.get("ratio", {})
        head = (f"ratio p50 {ratio.get('p50')}, p99 {ratio.get('p99')}: "
                f"{verdict(run['all_met'])}") if ratio else "native only"
        dirty = ", ".join(run["code"]["telephony_uncommitted"])
        lines += [
            "",
            f"## {kind}: {head}",
            "",
            (f"- {run['date']}; {kind} {run['pbx_version']} ({run['pbx_backend']} backend); "
             f"Python {run['python']}, SIPp {run['sipp']}; nproc {run['nproc']}; load "
             f"(1 min) during the changes {load_range(run['load_during'])}; run took "
             f"{run['duration_s']:.0f} s"),
            (f"- Code: commit {run['code']['commit']}, uncommitted under telephony/ in the "
             f"shared tree: {dirty or 'none'}"),
            (f"- {sub['subscribers']} subscribers (one device each, one SIPp process, SIPp "
             f"socket buffer: {plan_['sipp_buffer']}) to extension {WATCHED_EXTENSION}, Event: "
             f"dialog; first lamps {sub['first_lamps']}; the PBX reported "
             f"{sub['pbx_reports']} subscriptions; {run['subscriptions_deleted_before_start']} "
             f"deleted before the start, {run.get('subscriptions_left', '?')} left at the end"
             + (f" ({run['subscriptions_deleted_after_stop']} deleted once it stopped)"
                if run.get("subscriptions_deleted_after_stop") else "")),
            f"- Hint / native headers: `{run['hint']}`",
            (f"- Native change: {run['native']} ({run['native_headers']}); engine change: "
             f"PUT /api/agents/{WATCHED}/state focus / back, `telephony run` as its own process"),
            (f"- Changes: {plan_['changes_per_path']} per path after "
             f"{plan_['warmup_pairs_per_path']} warm-up pairs, pairs alternating; each waits "
             f"for every subscriber (at most {plan_['settle_ms']} ms) and {plan_['gap_ms']} ms"),
            "",
            "| ms | n | p50 | p90 | p99 | max | mean |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for path, block in paths.items():
            lines += [
                row(f"**{path}: change -> NOTIFY, every subscriber**", block["subscriber_ms"]),
                row(f"{path}: to busy", block["by_lamp_ms"][BUSY]),
                row(f"{path}: to dark", block["by_lamp_ms"][IDLE]),
                row(f"{path}: first subscriber of a change", block["first_subscriber_ms"]),
                row(f"{path}: last subscriber of a change", block["last_subscriber_ms"]),
                row(f"{path}: the request itself", block["request_ms"]),
            ]
        lines += ["", ("| path | changes | errors | missing | NOTIFYs per subscriber per "
                       "change | read twice | kernel drops at SIPp / at the PBX | later "
                       "than 450 ms |"),
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for path, block in paths.items():
            lines.append(
                f"| {path} | {block['changes']} | {block['errors']} | {block['missing']} | "
                f"{block['notifies_per_subscriber']} | {block['read_twice']} | "
                f"{block['kernel_drops']} / {block['kernel_drops_at_pbx']} | {block['late']} |"
            )
        if ratio:
            ci = run["ratio_ci95"]
            met = run["met"]
            e = paths[ENGINE]["subscriber_ms"]
            lines += [
                "",
                (f"Engine / native: p50 {ratio['p50']} (95 % CI {ci['p50'][0]}-{ci['p50'][1]}) "
                 f"{verdict(met['ratio_p50'])}, p99 {ratio['p99']} (CI {ci['p99'][0]}-"
                 f"{ci['p99'][1]}) {verdict(met['ratio_p99'])} (target <= "
                 f"{run['targets']['ratio']}); engine p50 {e.get('p50')} ms "
                 f"{verdict(met['engine_p50'])} (target < {run['targets']['engine_p50_ms']} ms);"
                 f" every subscriber got every change: {'yes' if met['complete'] else 'no'}."),
            ]
    return "\n".join(lines) + "\n"


def load_range(samples: Sequence[float]) -> str:
    if not samples:
        return "?"
    return f"{min(samples):.2f}-{max(samples):.2f}"


def code_version() -> dict[str, Any]:
    def git(*argv: str) -> str:
        return subprocess.run(["git", *argv], cwd=ROOT, check=False, capture_output=True,
                              text=True).stdout
    changed = git("status", "--porcelain", "--", "telephony", "dialplans").splitlines()
    return {"commit": git("rev-parse", "--short", "HEAD").strip(),
            "telephony_uncommitted": sorted(line[3:] for line in changed)}


def dumps(value: Any, depth: int = 0) -> str:
    """JSON with one line per dict entry and per row of a list of lists."""
    pad = " " * (depth + 1)
    if isinstance(value, dict) and value:
        items = [f"{pad}{json.dumps(k)}: {dumps(v, depth + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * depth + "}"
    if isinstance(value, list) and value and all(isinstance(v, list) for v in value):
        return "[\n" + ",\n".join(pad + json.dumps(v) for v in value) + "\n" + " " * depth + "]"
    return json.dumps(value)


def write_results(runs: dict[str, dict[str, Any]], name: str) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    try:
        kept = json.loads(path.read_text()).get("runs", {})
    except (OSError, ValueError):
        kept = {}
    kept.update(runs)
    ordered = {k: kept[k] for k in KINDS if k in kept}
    path.write_text(dumps({"benchmark": NAME, "runs": ordered}) + "\n")
    (RESULTS / f"{name}.md").write_text(markdown(ordered))


# ---- main


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pbx", choices=(*KINDS, "both"), default="both")
    parser.add_argument("--subscribers", type=int, default=DEFAULTS["subscribers"])
    parser.add_argument("--changes", type=int, default=DEFAULTS["changes"],
                        help="measured changes per path (engine, native), in busy/dark pairs")
    parser.add_argument("--warmup", type=int, default=2, help="warm-up pairs per path")
    parser.add_argument("--settle-ms", type=int, default=5000,
                        help="longest wait for every subscriber's NOTIFY of a change")
    parser.add_argument("--gap-ms", type=int, default=300, help="quiet time after a change")
    parser.add_argument("--quiet-ms", type=int, default=8000,
                        help="a subscriber un-subscribes after this long without a NOTIFY")
    parser.add_argument("--rate", type=int, default=100, help="REGISTERs / SUBSCRIBEs per s")
    parser.add_argument("--buffer-kb", type=int, default=0,
                        help="SIPp's socket buffers (-buff_size); 0: SIPp's default")
    parser.add_argument("--api-port", type=int, default=18095)
    parser.add_argument("--state-dir", type=Path, default=None,
                        help="state dir of the PBX the bench starts (default: $TELEPHONY_HOME "
                        "or ~/.cache/telephony); none may run there")
    parser.add_argument("--native-only", action="store_true",
                        help="no engine: native changes alone (results *_partial)")
    parser.add_argument("--native-as-port", action="store_true",
                        help="native changes send all the port's publication does (Asterisk: "
                        "PRESENCE_STATE and the key lamps too; FreeSWITCH: the PIDF event "
                        "first), which leaves the engine's own cost in the ratio")
    parser.add_argument("--target-ratio", type=float, default=1.2)
    parser.add_argument("--target-p50-ms", type=float, default=50.0)
    parser.add_argument("--tag", default="",
                        help="write presence_notify.TAG.* (another setting, beside the default's)")
    parser.add_argument("--keep-logs", action="store_true")
    args = parser.parse_args()
    if args.changes < 2 or args.changes % 2:
        parser.error("--changes must be an even number >= 2 (busy/dark pairs)")
    return args


async def run_guarded(kind: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """run_kind, cancelled (and so cleaned up) on SIGTERM or SIGINT."""
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    return await run_kind(kind, args, workdir)


def main() -> int:
    args = parse_args()
    if shutil.which("sipp") is None and not os.environ.get("TELEPHONY_SIPP"):
        print("SIPp is not installed (Debian/Ubuntu: apt-get install sip-tester)", file=sys.stderr)
        return 2
    kinds = KINDS if args.pbx == "both" else (args.pbx,)
    full = (args.subscribers >= DEFAULTS["subscribers"] and args.changes >= DEFAULTS["changes"]
            and not args.native_only)
    name = (NAME if full else f"{NAME}_partial") + (f".{args.tag}" if args.tag else "")
    workdir = Path(tempfile.mkdtemp(prefix="presence-notify-"))
    runs: dict[str, dict[str, Any]] = {}
    failed = False
    for kind in kinds:
        try:
            run = asyncio.run(run_guarded(kind, args, workdir))
        except asyncio.CancelledError:
            print(f"[{kind}] stopped", file=sys.stderr)
            failed = True
            break
        except (RunFailed, PbxError, AmiError, EslError, SippError, OSError, RuntimeError,
                aiohttp.ClientError) as exc:
            print(f"[{kind}] the run failed: {exc}", file=sys.stderr)
            failed = True
            continue
        run.update({"python": platform.python_version(), "platform": platform.platform(),
                    "nproc": os.cpu_count(), "sipp": sipp_version()})
        runs[kind] = run
        for path, block in run["paths"].items():
            s = block["subscriber_ms"]
            print(f"[{kind}] {path}: p50 {s.get('p50')} p90 {s.get('p90')} p99 {s.get('p99')} "
                  f"max {s.get('max')} ms over {s.get('n')}; missing {block['missing']}, read "
                  f"twice {block['read_twice']}, kernel drops {block['kernel_drops']}, "
                  f"NOTIFYs per subscriber {block['notifies_per_subscriber']}", flush=True)
        if "ratio" in run:
            print(f"[{kind}] engine / native {run['ratio']} (CI {run['ratio_ci95']}); "
                  f"{run['met']}", flush=True)
    if runs:
        write_results(runs, name)
        print(f"wrote {RESULTS / (name + '.json')} and {RESULTS / (name + '.md')}")
    if args.keep_logs:
        print(f"logs kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    if failed or not runs:
        return 2
    return 0 if all(r["all_met"] for r in runs.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
