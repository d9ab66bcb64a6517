"""How long `telephony check` and `telephony render` take on large sites.

    python3 bench/site_scale.py                  # 1,000 and 5,000 agents, 5 runs each
    python3 bench/site_scale.py --agents 1000 --runs 3

Generates sites of N agents (two devices each), 50 hunt groups with weekly rosters
(every agent on one group's rota, weekday and some weekend shifts) and 50 skill
queues, then times, each run in a fresh Python process:

* in-process: the work `check` does (read + validate + cross-check the file, the
  clock-change notes) and the work `render` adds (render the five files, write them),
  timed after the imports, so interpreter start-up is not in it; in the same process
  the baselines: plain `yaml.safe_load` (what `check` used before) and PyYAML's
  C loader on the same file;
* the commands as a user runs them: `telephony check FILE` and `telephony render FILE
  --out DIR` (which checks too), wall-clock, start-up included, and start-up alone
  (`import telephony.cli`).

The target is on the in-process check + render (median of the runs): under 1 s for
1,000 agents and under 5 s for 5,000. Writes bench/results/site_scale.{json,md};
exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
TARGETS = {1000: 1.0, 5000: 5.0}  # seconds, in-process check + render
GROUPS, QUEUES = 50, 50
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]


def site(agents: int) -> dict[str, Any]:
    """A site of `agents` agents; the same every time."""
    people = []
    for i in range(agents):
        aid = f"agent-{i:05d}"
        group = f"group-{i % GROUPS:02d}"
        people.append({
            "id": aid,
            "name": f"Agent {i} Öberg-Nüñez",
            "extension": str(10000 + i),
            "direct_line": f"+4685551{i:05d}",
            "devices": [
                {"id": f"{aid}-soft", "kind": "softphone", "password": f"soft-{i:05d}-pw"},
                {"id": f"{aid}-desk", "kind": "deskphone", "password": f"desk-{i:05d}-pw"},
            ],
            "skills": {f"skill-{i % QUEUES}": 1 + i % 5, f"skill-{(i + 7) % QUEUES}": 3},
            "focus_allow": [f"+4670{i:07d}"] if i % 10 == 0 else [],
            "fallback": [{"colleague": f"agent-{(i + 1) % agents:05d}"}, {"hunt_group": group},
                         "voicemail"],
        })
    groups = []
    for g in range(GROUPS):
        roster: dict[str, Any] = {}
        for k, i in enumerate(range(g, agents, GROUPS)):
            early = k % 2 == 0
            week = {d: ["07:00-11:30", "12:00-16:00"] if early else ["08:00-12:00", "13:00-17:00"]
                    for d in WEEKDAYS}
            if k % 7 == 0:
                week["sun"] = ["00:00-06:00"]  # a night shift: clock-change notes
            roster[f"agent-{i:05d}"] = week
        groups.append({"id": f"group-{g:02d}", "name": f"Line {g}", "number": f"2{g:03d}",
                       "strategy": "rrmemory", "timezone": "Europe/Stockholm",
                       "roster": roster, "fallback": ["voicemail"]})
    queues = [{"id": f"queue-{q:02d}", "number": f"3{q:03d}", "skill": f"skill-{q}",
               "min_level": 2} for q in range(QUEUES)]
    return {"site": "scale", "timezone": "Europe/Stockholm",
            "pbx": {"ami_secret": "${TELEPHONY_AMI_SECRET:-scale-ami-secret}"},
            "agents": people, "hunt_groups": groups, "queues": queues,
            "trunks": [{"id": "pstn", "match_header": "X-Trunk: pstn"}]}


def write_site(agents: int, directory: Path) -> Path:
    path = directory / f"site-{agents}.yaml"
    # No aliases: every roster list is its own object, as a hand-written file has it.
    text = yaml.dump(site(agents), Dumper=yaml.CSafeDumper, allow_unicode=True,
                     sort_keys=False, width=120)
    path.write_text(text, encoding="utf-8")
    return path


def worker(path: Path, out: Path, baselines: bool) -> dict[str, float]:
    """One cold run in this process: the imports first, then each phase timed."""
    from datetime import UTC, datetime

    from telephony.config import load_site
    from telephony.config.dst import notes
    from telephony.config.load import collector_paused
    from telephony.config.reader import read_yaml
    from telephony.files import write_files
    from telephony.render import render_files

    clock = time.perf_counter
    t0 = clock()
    site_ = load_site(path)
    t1 = clock()
    found = notes(site_, datetime.now(UTC))
    t2 = clock()
    files = render_files(site_, "asterisk")
    t3 = clock()
    write_files(out, files)
    t4 = clock()
    result = {
        "load_validate": t1 - t0, "dst_notes": t2 - t1, "render": t3 - t2, "write": t4 - t3,
        "check": t2 - t0, "render_command_work": t4 - t2, "check_and_render": t4 - t0,
        "notes": float(len(found)),
    }
    text = path.read_text(encoding="utf-8")
    t5 = clock()
    with collector_paused():  # as check runs it; the baselines as check ran them
        read_yaml(text)
    result["read_yaml_alone"] = clock() - t5
    if baselines:  # once per size: plain safe_load alone takes 3-20 s here
        t6 = clock()
        yaml.load(text, Loader=yaml.CSafeLoader)
        t7 = clock()
        yaml.safe_load(text)
        t8 = clock()
        result |= {"baseline_c_loader": t7 - t6, "baseline_safe_load": t8 - t7}
    return result


def _wall(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=_env())
    return time.perf_counter() - started


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def measure(agents: int, runs: int, cli: bool, directory: Path) -> dict[str, Any]:
    path = write_site(agents, directory)
    inproc: list[dict[str, float]] = []
    commands: dict[str, list[float]] = {"check": [], "render": [], "startup": []}
    for run in range(runs):
        out = directory / f"out-{agents}-{run}"
        worker_args = ["--worker", str(path), str(out)] + (["--baselines"] if run == 0 else [])
        result = subprocess.run(
            [sys.executable, __file__, *worker_args],
            check=True, capture_output=True, text=True, env=_env(),
        )
        inproc.append(json.loads(result.stdout))
        if cli:
            telephony = [sys.executable, "-m", "telephony"]
            commands["startup"].append(_wall([sys.executable, "-c", "import telephony.cli"]))
            commands["check"].append(_wall([*telephony, "check", str(path)]))
            commands["render"].append(_wall([*telephony, "render", str(path), "--out",
                                             str(directory / f"cli-{agents}-{run}")]))
    phases = {key: statistics.median(r[key] for r in inproc if key in r) for key in inproc[0]}
    best = {key: min(r[key] for r in inproc if key in r) for key in inproc[0]}
    return {
        "agents": agents, "devices": 2 * agents, "hunt_groups": GROUPS, "queues": QUEUES,
        "file_bytes": path.stat().st_size, "runs": runs,
        "in_process_median": phases, "in_process_best": best,
        "commands_median": {k: statistics.median(v) for k, v in commands.items() if v},
        "target_seconds": TARGETS.get(agents),
        "met": TARGETS.get(agents) is None or phases["check_and_render"] < TARGETS[agents],
    }


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "# Site scale: check + render",
        "",
        (f"Python {report['python']}, {report['cpus']} CPUs, libyaml {report['libyaml']}; load "
        f"average {report['load_before']} before, {report['load_after']} after. Medians of "
        f"{report['sizes'][0]['runs']} cold runs (each a fresh process); the two baselines "
        "from the first run only; seconds."),
        "",
        "| | " + " | ".join(f"{s['agents']:,} agents" for s in report["sizes"]) + " |",
        "|---|" + "---:|" * len(report["sizes"]),
    ]
    sizes = report["sizes"]

    def row(label: str, cells: list[str]) -> None:
        lines.append(f"| {label} | " + " | ".join(cells) + " |")

    def seconds(label: str, group: str, key: str, bold: bool = False) -> None:
        mark = "**" if bold else ""
        row(label, [f"{mark}{s[group][key]:.3f}{mark}" for s in sizes])

    row("file size (MB)", [f"{s['file_bytes'] / 1e6:.1f}" for s in sizes])
    seconds("**check + render, in-process**", "in_process_median", "check_and_render", bold=True)
    row("target", [f"< {s['target_seconds']:.0f}" if s["target_seconds"] else "-" for s in sizes])
    row("met", ["yes" if s["met"] else "**no**" for s in sizes])
    for label, key in [
        ("check: read + validate + cross-check", "load_validate"),
        ("check: clock-change notes", "dst_notes"),
        ("render: five files", "render"),
        ("render: write (fsync, rename)", "write"),
        ("our YAML reader alone (collector paused, as check runs it)", "read_yaml_alone"),
        ("baseline: yaml.safe_load (what check ran before)", "baseline_safe_load"),
        ("baseline: yaml.load, CSafeLoader", "baseline_c_loader"),
    ]:
        seconds(label, "in_process_median", key)
    if sizes[0]["commands_median"]:
        for label, key in [
            ("`telephony check FILE` (wall, start-up included)", "check"),
            ("`telephony render FILE --out DIR` (checks too)", "render"),
            ("start-up alone (`import telephony.cli`)", "startup"),
        ]:
            seconds(label, "commands_median", key)
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--agents", default="1000,5000", help="comma-separated site sizes")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-cli", action="store_true", help="skip the command timings")
    parser.add_argument("--worker", nargs=2, metavar=("SITE", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--baselines", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(Path(args.worker[0]), Path(args.worker[1]), args.baselines)))
        return 0
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="site-scale-") as tmp:
        sizes = [measure(int(n), args.runs, not args.no_cli, Path(tmp))
                 for n in args.agents.split(",")]
    report = {
        "python": platform.python_version(), "cpus": os.cpu_count(),
        "libyaml": bool(getattr(yaml, "__with_libyaml__", False)),
        "load_before": round(load_before, 2), "load_after": round(os.getloadavg()[0], 2),
        "sizes": sizes,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "site_scale.json").write_text(json.dumps(report, indent=2) + "\n")
    text = markdown(report)
    (RESULTS / "site_scale.md").write_text(text)
    print(text)
    return 0 if all(s["met"] for s in sizes) else 1


if __name__ == "__main__":
    sys.exit(main())
