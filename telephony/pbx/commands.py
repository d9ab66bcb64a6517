"""`telephony pbx up|status|down|prepare|cli`: the local PBX from the command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from telephony.config import demo_site_path, load_or_report
from telephony.config.models import PbxKind
from telephony.pbx.errors import PbxError, PbxInfo
from telephony.pbx.local import LocalPbx

EXIT_ERROR = 1
EXIT_CONFIG = 2
EXIT_NOT_RUNNING = 3


def _print_info(info: PbxInfo, headline: str) -> None:
    pid = f", pid {info.pid}" if info.pid else ""
    print(f"{headline}: {info.kind.value} (backend {info.backend}{pid})")
    control = "AMI" if info.kind is PbxKind.ASTERISK else "ESL"
    print(f"{control:<7} {info.control_host}:{info.control_port}")
    print(f"SIP     {info.sip_host}:{info.sip_port}")
    print(f"config  {info.config_dir}")


def _pbx(args: argparse.Namespace) -> LocalPbx:
    backend: str | None = args.backend
    return LocalPbx(backend=backend)


def _up(site_file: Path, backend: str | None, foreground: bool = False) -> int:
    site = load_or_report(site_file)
    if site is None:
        return EXIT_CONFIG
    pbx = LocalPbx(backend=backend)
    if foreground:
        pbx.exec_foreground(site)
    was_running = pbx.status() is not None
    info = pbx.up(site)
    _print_info(info, "PBX reloaded" if was_running else "PBX running")
    if site.pbx.kind is PbxKind.ASTERISK:
        print(f"AMI user {site.pbx.control_username} (secret from the site file)")
    return 0


def demo_up(site_file: str | Path) -> int:
    """`telephony pbx up --config site_file` for other commands: 0 when the PBX runs,
    2 for an invalid site (problems on stderr), 1 when the PBX could not start."""
    try:
        return _up(Path(site_file), backend=None)
    except PbxError as exc:
        print(f"telephony pbx: {exc}", file=sys.stderr)
        return EXIT_ERROR


def _cmd_up(args: argparse.Namespace) -> int:
    site_file = Path(args.config) if args.config else demo_site_path()
    return _up(site_file, args.backend, args.foreground)


def _cmd_status(args: argparse.Namespace) -> int:
    info = _pbx(args).status()
    if info is None:
        print("PBX not running")
        return EXIT_NOT_RUNNING
    _print_info(info, "PBX running")
    return 0


def _cmd_down(args: argparse.Namespace) -> int:
    pbx = _pbx(args)
    was_running = pbx.status() is not None
    pbx.down()
    print("PBX stopped" if was_running else "PBX was not running")
    return 0


def _cmd_prepare(args: argparse.Namespace) -> int:
    pbx = _pbx(args)
    kind = PbxKind(args.kind)
    name = pbx.prepare(kind)
    print(f"PBX backend {name} ready for {kind.value} (state dir {pbx.state_dir})")
    return 0


def _cmd_cli(args: argparse.Namespace) -> int:
    pbx = _pbx(args)
    if pbx.status() is None:
        print("PBX not running", file=sys.stderr)
        return EXIT_NOT_RUNNING
    sys.stdout.write(pbx.cli(args.cli_command))
    return 0


def _run(args: argparse.Namespace) -> int:
    try:
        result: int = args.pbx_func(args)
    except PbxError as exc:
        print(f"telephony pbx: {exc}", file=sys.stderr)
        return EXIT_ERROR
    return result


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `pbx` command group to the `telephony` CLI."""
    pbx = subparsers.add_parser(
        "pbx",
        help="run a local PBX (Asterisk or FreeSWITCH, as the site says) on 127.0.0.1",
        description="Run a local PBX on 127.0.0.1, the kind the site's pbx.kind names "
        "(exit 3 from status/cli: not running).",
        epilog=(
            "Asterisk backend order when none is forced: an `asterisk` on PATH (path); else a "
            "container, if this state directory has built its image before and the "
            "container engine still has it (docker); else the cached Debian root file "
            "system (rootfs). `--backend docker` builds the image when needed, with "
            "Docker or Podman (whichever answers `info` first, or $TELEPHONY_CONTAINER_CLI). "
            "FreeSWITCH: a `freeswitch` on PATH (path), else the relocatable build that "
            "$TELEPHONY_FREESWITCH_TARBALL names, unpacked into the state directory (bundle). "
            "State directory: $TELEPHONY_HOME, else ~/.cache/telephony."
        ),
    )
    pbx.add_argument(
        "--backend",
        default=None,
        help="how to run the PBX; Asterisk: path, docker or rootfs (default: "
        "$TELEPHONY_PBX_BACKEND, else the order below); FreeSWITCH: path or bundle",
    )
    commands = pbx.add_subparsers(dest="pbx_command", required=True)

    up = commands.add_parser("up", help="render the site and start (or reload) its PBX")
    up.add_argument("--config", metavar="FILE", help="site file (default: the bundled demo)")
    up.add_argument(
        "--foreground",
        action="store_true",
        help="run the PBX in the foreground in place of this process (containers)",
    )
    up.set_defaults(pbx_func=_cmd_up)

    status = commands.add_parser("status", help="exit 0 when running, 3 when not")
    status.set_defaults(pbx_func=_cmd_status)

    down = commands.add_parser("down", help="stop the PBX (harmless when not running)")
    down.set_defaults(pbx_func=_cmd_down)

    prepare = commands.add_parser(
        "prepare",
        help="build or reuse what a PBX needs to start, starting nothing (Asterisk: the root "
        "file system; docker: and the container image, tagged telephony-asterisk:latest for "
        "docker/compose.yaml)",
    )
    prepare.add_argument(
        "--kind", choices=[k.value for k in PbxKind], default=PbxKind.ASTERISK.value,
        help="which PBX to prepare (default asterisk)",
    )
    prepare.set_defaults(pbx_func=_cmd_prepare)

    cli = commands.add_parser(
        "cli", help='run a console command of the running PBX, e.g. "core show version" '
        '(Asterisk) or "sofia status" (FreeSWITCH, as fs_cli -x)'
    )
    cli.add_argument("cli_command", metavar="COMMAND")
    cli.set_defaults(pbx_func=_cmd_cli)

    pbx.set_defaults(func=_run)
