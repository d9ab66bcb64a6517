"""The `telephony` command line: check, render, pbx, run, agent."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from telephony.config import ConfigError, load_site


def _cmd_check(args: argparse.Namespace) -> int:
    try:
        site = load_site(Path(args.file))
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 2
    print(
        f"{args.file}: ok ({len(site.agents)} agents, {len(site.hunt_groups)} hunt groups, "
        f"{len(site.queues)} queues)"
    )
    return 0


def _cmd_render(args: argparse.Namespace) -> int:
    from telephony.render import render_to_dir

    try:
        site = load_site(Path(args.file))
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 2
    written = render_to_dir(site, args.pbx, Path(args.out))
    for path in written:
        print(path)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="telephony", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    check = sub.add_parser("check", help="validate a site file")
    check.add_argument("file")
    check.set_defaults(func=_cmd_check)

    render = sub.add_parser("render", help="render a site file to PBX configuration")
    render.add_argument("file")
    render.add_argument("--pbx", choices=["asterisk"], default="asterisk")
    render.add_argument("--out", required=True, help="directory to write into")
    render.set_defaults(func=_cmd_render)

    from telephony.pbx.commands import register as register_pbx

    register_pbx(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
