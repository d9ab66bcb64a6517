"""The `telephony` command line: check, render, pbx, run, agent."""

from __future__ import annotations

import argparse
import os
import sys
import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from telephony.config import Site, demo_site_path, load_or_report
from telephony.config.models import PbxKind

if TYPE_CHECKING:
    from telephony.routing.clock import Clock

# What `check` takes "now" from for the clock-change notes (None: the system clock);
# tests put a ManualClock here.
clock: Clock | None = None


def _cmd_check(args: argparse.Namespace) -> int:
    from telephony.config.dst import notes
    from telephony.routing.clock import SystemClock

    site = _load(args.file, args.pbx)
    if site is None:
        return 2
    print(
        f"{args.file}: ok ({len(site.agents)} agents, {len(site.hunt_groups)} hunt groups, "
        f"{len(site.queues)} queues)"
    )
    for note in notes(site, (clock or SystemClock()).now()):
        print(note)
    return 0


def _cmd_render(args: argparse.Namespace) -> int:
    from telephony.files import MixedSetError
    from telephony.render import render_to_dir

    site = _load(args.file, args.pbx)
    if site is None:
        return 2
    if args.with_base and site.pbx.kind is not PbxKind.FREESWITCH:
        print("--with-base: only for --pbx freeswitch (telephony pbx up writes Asterisk's)",
              file=sys.stderr)
        return 2
    try:
        written = render_to_dir(site, site.pbx.kind.value, Path(args.out),
                                with_base=args.with_base)
    except MixedSetError as exc:
        print(f"{exc.filename}: cannot write: {exc.strerror}", file=sys.stderr)
        return 2
    except OSError as exc:
        # write_files leaves the old set whole when it raises anything else.
        print(f"{exc.filename or args.out}: cannot write: {exc.strerror or exc}; nothing was "
              "changed", file=sys.stderr)
        return 2
    for path in written:
        print(path)
    return 0


def _load(path: str, pbx: str | None = None) -> Site | None:
    """The site, read as the PBX kind `pbx` when given (its checks apply), else as its
    own pbx.kind."""
    return load_or_report(Path(path), kind=PbxKind(pbx) if pbx else None)


def _cmd_run(args: argparse.Namespace) -> int:
    import asyncio

    from telephony.engine.run import PbxGone, configure_logging, serve
    from telephony.port import PbxAuthError, PbxPortError

    site = _load(args.file, getattr(args, "pbx", None))
    if site is None or _host_refused(site, args.host):
        return 2
    configure_logging(args.verbose)
    try:
        asyncio.run(serve(site, host=args.host, port=args.port))
    except PbxAuthError as exc:
        print(f"{exc.field}: {exc}", file=sys.stderr)
        return 2
    except (PbxGone, PbxPortError) as exc:
        print(f"pbx: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"api: cannot listen: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0


def _host_refused(site: Site, host: str | None) -> bool:
    """Whether `--host` is refused (said on stderr): not an address, or beyond loopback
    on a site without API tokens."""
    from telephony.config.models import is_loopback

    if host is None:
        return False
    try:
        loopback = is_loopback(host)
    except ValueError:
        print(f"--host: {host!r} is not an IP address or localhost", file=sys.stderr)
        return True
    if not loopback and not site.api.tokens:
        print(f"--host: {host} is reachable from other machines: give api.tokens in the site "
              "file first (README: Access)", file=sys.stderr)
        return True
    return False


# Where a client reaches an API bound to every address.
_ANY_ADDRESS = {"0.0.0.0": "127.0.0.1", "::": "::1"}


def _api_base(args: argparse.Namespace) -> str:
    if args.api:
        return str(args.api)
    host, port = "127.0.0.1", 8080
    if args.config:
        site = _load(args.config)
        if site is None:
            raise SystemExit(2)
        host, port = _ANY_ADDRESS.get(site.api.host, site.api.host), site.api.port
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _cmd_api(args: argparse.Namespace) -> int:
    from telephony.engine.client import ApiError, request

    method, path, body = args.build(args)
    try:
        result = request(_api_base(args), method, path, body,
                         token=args.token or os.environ.get("TELEPHONY_API_TOKEN"))
    except ApiError as exc:
        print(exc, file=sys.stderr)
        return 1
    show = getattr(args, "show", None)
    if show is not None:
        print(show(result))
    else:
        print(" ".join(f"{k}={v}" for k, v in result.items()))
    return 0


def _cmd_token_new(args: argparse.Namespace) -> int:
    from telephony.config.tokens import new_token

    print(new_token())
    return 0


def _cmd_token_hash(args: argparse.Namespace) -> int:
    import getpass

    from telephony.config.tokens import check_token, scrypt

    if sys.stdin.isatty():
        token = getpass.getpass("token (not shown): ")
    else:
        token = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
    try:
        check_token(token)
    except ValueError as exc:
        print(f"token: {exc}", file=sys.stderr)  # says why, never what
        return 2
    print(scrypt(token).text())
    return 0


def _experts_table(result: dict[str, object]) -> str:
    experts = result.get("experts")
    if not isinstance(experts, list) or not experts:
        return f"nobody has {result.get('skill')} at level {result.get('min_level')} or above"
    rows = [("agent", "name", "level", "state", "on duty")] + [
        (str(e["agent"]), str(e["name"]), str(e["level"]), str(e["state"]),
         ", ".join(e["on_duty"]) or "-")
        for e in experts
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                     for r in rows)


def _callbacks_table(result: dict[str, object]) -> str:
    waiting = result.get("callbacks")
    if not isinstance(waiting, list) or not waiting:
        return "nobody is waiting to be called back"
    rows = [("queue", "caller", "joined", "waiting", "tries", "next try")] + [
        (str(c["queue"]), str(c["caller"]), str(c["joined"]), f"{c['waiting_seconds']} s",
         str(c.get("tries", 0)), str(c.get("next_try") or "-"))
        for c in waiting
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                     for r in rows)


def _agents_table(result: dict[str, object]) -> str:
    agents = result.get("agents")
    if not isinstance(agents, list) or not agents:
        return "no agents"
    rows = [("agent", "name", "state", "on duty", "skills")] + [
        (str(a["id"]), str(a["name"]), str(a["note"]), ", ".join(a["on_duty"]) or "-",
         ", ".join(f"{s} {n}" for s, n in sorted(a["skills"].items())) or "-")
        for a in agents
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                     for r in rows)


def _agent_line(result: dict[str, object]) -> str:
    return f"{result.get('id')}: {result.get('note')}"


def _state_body(args: argparse.Namespace) -> dict[str, object]:
    # The API checks the words and names the field that is wrong.
    body: dict[str, object] = {"state": args.state}
    words = " ".join(args.words)
    if args.state == "away":
        body["reason"] = words
    elif args.state == "focus":
        if words:
            body["until"] = words
    elif words:
        body["reason"] = words  # refused: only away takes one
    return body


def _focus_body(args: argparse.Namespace) -> dict[str, object]:
    if args.until is not None:
        return {"until": args.until}
    if args.minutes is not None:
        return {"minutes": args.minutes}  # the API refuses 0 and names the field
    return {}


def _transfer_body(args: argparse.Namespace) -> dict[str, object]:
    body: dict[str, object] = {"to": args.to, "mode": "attended" if args.attended else "blind",
                               "urgent": args.urgent}
    if args.skill is not None:
        body["skill"] = args.skill
    return body


def _seg(value: str) -> str:
    # One path segment: "intake/agents/x" or "+46 70" must not change the route.
    return urllib.parse.quote(value, safe="")


def _cmd_demo(args: argparse.Namespace) -> int:
    from telephony.pbx.commands import demo_up

    site_path = args.config or str(demo_site_path())
    site = _load(site_path)
    if site is None or _host_refused(site, args.host) or demo_up(site_path) != 0:
        return 2
    args.file = site_path
    host = args.host or site.api.host
    print(f"status page: http://{host}:{args.port or site.api.port}/  (Ctrl-C stops the engine; "
          "`telephony pbx down` stops the PBX)")
    return _cmd_run(args)


# `telephony deploy` exit codes (README): 0 done, nothing to change, or a dry run; 1 the
# live reload or check failed after writing and the previous files were put back; 2
# refused before the target was written (bad site, clash, failed validation, no PBX to
# reload, ...), or a roll-back that failed.
DEPLOY_ROLLED_BACK = 1
DEPLOY_REFUSED = 2
CONTROL_SECRET_ENV = "TELEPHONY_CONTROL_SECRET"


def _cmd_deploy(args: argparse.Namespace) -> int:
    import asyncio

    from telephony.deploy.files import DeployError
    from telephony.deploy.run import RolledBack, deploy, rollback, with_control

    site = _load(args.file, args.pbx)
    if site is None:
        return DEPLOY_REFUSED
    target = Path(args.target)
    secret = os.environ.get(CONTROL_SECRET_ENV)
    if args.control_user is not None and not secret:
        print(f"--control-user: give its secret in ${CONTROL_SECRET_ENV} (never on the "
              "command line: other users see it there)", file=sys.stderr)
        return DEPLOY_REFUSED
    control = with_control(site, args.control_user, secret if args.control_user else None)
    try:
        if args.rollback:
            result = asyncio.run(rollback(site, target, live=not args.no_reload, control=control))
        else:
            result = asyncio.run(deploy(
                site, target, dry_run=args.dry_run, validate=not args.no_validate,
                live=not args.no_reload, control=control,
            ))
    except RolledBack as exc:
        print(f"deploy failed: {exc}", file=sys.stderr)
        return DEPLOY_ROLLED_BACK
    except DeployError as exc:
        print(f"{'rollback failed' if args.rollback else 'deploy refused'}: {exc}",
              file=sys.stderr)
        return DEPLOY_REFUSED
    if args.dry_run:
        sys.stdout.write(result.diff or f"{target}: nothing would change\n")
        return 0
    if not result.changed:
        print(f"{target}: nothing to change")
        return 0
    for path in result.written:
        print(target / path)
    done = "rolled back" if args.rollback else "deployed"
    if result.reloaded:
        print(f"{done}: reloaded what changed on the running {result.kind} and checked it")
    else:
        print(f"{done}: files written only (--no-reload); the running {result.kind} reads "
              "them at its next reload")
    return 0


# Commands that never touch the local PBX runner: their parser leaves it out, since
# importing it is about 0.1 s of every `telephony check` and `render`.
_WITHOUT_PBX = frozenset({"check", "render", "token", "deploy"})


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser for every command, or for just `check` and `render` when `command` is one."""
    parser = argparse.ArgumentParser(prog="telephony", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    kinds = ["asterisk", "freeswitch"]
    check = sub.add_parser("check", help="validate a site file")
    check.add_argument("file")
    check.add_argument("--pbx", choices=kinds, default=None,
                       help="check for this PBX kind (default: the site's pbx.kind)")
    check.set_defaults(func=_cmd_check)

    render = sub.add_parser("render", help="render a site file to PBX configuration")
    render.add_argument("file")
    render.add_argument("--pbx", choices=kinds, default=None,
                        help="the PBX kind to render for (default: the site's pbx.kind)")
    render.add_argument("--out", required=True, help="directory to write into")
    render.add_argument(
        "--with-base", action="store_true",
        help="freeswitch: also write the base files around the site's (freeswitch.xml, "
        "modules, core, log, voicemail), so the directory is a whole FreeSWITCH -conf",
    )
    render.set_defaults(func=_cmd_render)

    dep = sub.add_parser(
        "deploy", help="deploy a site onto an existing PBX configuration directory (include "
        "mode): validated in a scratch PBX, reloaded live, rolled back on failure")
    dep.add_argument("file")
    dep.add_argument("--target", required=True,
                     help="the PBX's configuration directory (e.g. /etc/asterisk)")
    dep.add_argument("--pbx", choices=kinds, default=None,
                     help="the PBX kind (default: the site's pbx.kind)")
    dep.add_argument("--dry-run", action="store_true",
                     help="print the diff of every file that would change; write nothing")
    dep.add_argument("--rollback", action="store_true",
                     help="put back the files the last deploy replaced, and reload them")
    dep.add_argument("--no-validate", action="store_true",
                     help="skip the scratch PBX check before writing")
    dep.add_argument("--no-reload", action="store_true",
                     help="write the files only; do not reload or check the running PBX")
    dep.add_argument("--control-user", default=None,
                     help="reload as this existing control user (a first deploy, before the "
                     f"site's own is known to the PBX); its secret in ${CONTROL_SECRET_ENV}")
    dep.set_defaults(func=_cmd_deploy)

    token = sub.add_parser("token", help="API tokens: make one, hash one for a site file")
    token_sub = token.add_subparsers(dest="token_command", required=True)
    token_sub.add_parser("new", help="print a new random token").set_defaults(
        func=_cmd_token_new)
    token_sub.add_parser(
        "hash", help="read a token from stdin (or ask for it) and print its hash for "
        "api.tokens[].token_hash"
    ).set_defaults(func=_cmd_token_hash)

    if command not in _WITHOUT_PBX:
        from telephony.pbx.commands import register as register_pbx

        register_pbx(sub)

    run = sub.add_parser("run", help="start the engine: PBX port, roster scheduler, API")
    run.add_argument("file")
    run.add_argument("--pbx", choices=kinds, default=None,
                     help="drive this PBX kind (default: the site's pbx.kind)")
    run.add_argument("--host", help="API address (default: the site's api.host); beyond "
                     "loopback only when the site has api.tokens")
    run.add_argument("--port", type=int, help="API port (default: the site's api.port, 8080)")
    run.add_argument("-v", "--verbose", action="store_true")
    run.set_defaults(func=_cmd_run)

    demo = sub.add_parser("demo", help="start the local PBX and the engine on the demo site")
    demo.add_argument("--config", help="a site file instead of the bundled demo site")
    demo.add_argument("--host", default=None, help="API address (beyond loopback only with "
                      "api.tokens)")
    demo.add_argument("--port", type=int, default=None, help="API port (default: the site's)")
    demo.add_argument("-v", "--verbose", action="store_true")
    demo.set_defaults(func=_cmd_demo)

    def api_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--api", help="engine API base URL (default http://127.0.0.1:8080)")
        p.add_argument("--config", help="site file, to take the API port from")
        p.add_argument("--token", help="API token (default: $TELEPHONY_API_TOKEN, which "
                       "other users cannot see in the process list)")

    agent = sub.add_parser("agent", help="manual changes through the running engine")
    agent_sub = agent.add_subparsers(dest="agent_command", required=True)
    for verb, text in (("join", "join a hunt group"), ("leave", "leave a hunt group"),
                       ("pause", "pause in a hunt group"), ("unpause", "unpause in a hunt group")):
        p = agent_sub.add_parser(verb, help=f"{text} until the next shift boundary")
        p.add_argument("group")
        p.add_argument("agent")
        api_args(p)
        p.set_defaults(func=_cmd_api, build=lambda a, verb=verb: (
            "POST", f"/api/hunt-groups/{_seg(a.group)}/agents/{_seg(a.agent)}/{verb}", {}))
    focus = agent_sub.add_parser("focus", help="work undisturbed: out of hunt groups, "
                                 "direct line only for allowed callers")
    focus.add_argument("agent")
    when = focus.add_mutually_exclusive_group()
    when.add_argument("--until", help="ISO 8601 time with zone, e.g. 2026-11-23T15:00+01:00")
    when.add_argument("--minutes", type=int)
    api_args(focus)
    focus.set_defaults(func=_cmd_api, build=lambda a: (
        "PUT", f"/api/agents/{_seg(a.agent)}/focus", _focus_body(a)))
    skill = agent_sub.add_parser("skill", help="give an agent a skill at a level (1-5), "
                                 "live until the engine restarts")
    skill.add_argument("agent")
    skill.add_argument("skill")
    skill.add_argument("level", type=int)
    api_args(skill)
    skill.set_defaults(func=_cmd_api, build=lambda a: (
        "PUT", f"/api/agents/{_seg(a.agent)}/skills/{_seg(a.skill)}", {"level": a.level}))
    unskill = agent_sub.add_parser("unskill", help="take a skill from an agent")
    unskill.add_argument("agent")
    unskill.add_argument("skill")
    api_args(unskill)
    unskill.set_defaults(func=_cmd_api, build=lambda a: (
        "DELETE", f"/api/agents/{_seg(a.agent)}/skills/{_seg(a.skill)}", {}))
    skills = agent_sub.add_parser("skills", help="an agent's skills now")
    skills.add_argument("agent")
    api_args(skills)
    skills.set_defaults(func=_cmd_api, build=lambda a: (
        "GET", f"/api/agents/{_seg(a.agent)}/skills", None))
    unfocus = agent_sub.add_parser("unfocus", help="end focus now")
    unfocus.add_argument("agent")
    api_args(unfocus)
    unfocus.set_defaults(func=_cmd_api, build=lambda a: (
        "DELETE", f"/api/agents/{_seg(a.agent)}/focus", {}))
    state = agent_sub.add_parser(
        "state", help="set an agent's state: available, away REASON, focus [UNTIL], back",
        description="available or back: away and focus end; away REASON: held in every "
        "hunt group and skill queue (the direct line still rings) until back; focus "
        "[UNTIL]: until HH:MM (the next such time in the site's zone) or an ISO 8601 time, "
        "else until turned off")
    state.add_argument("agent")
    state.add_argument("state", choices=["available", "away", "focus", "back"])
    state.add_argument("words", nargs="*", metavar="REASON|UNTIL")
    api_args(state)
    state.set_defaults(func=_cmd_api, show=_agent_line, build=lambda a: (
        "PUT", f"/api/agents/{_seg(a.agent)}/state", _state_body(a)))

    agents = sub.add_parser("agents", help="every agent's state, duty and skills")
    api_args(agents)
    agents.set_defaults(func=_cmd_api, show=_agents_table, build=lambda a: (
        "GET", "/api/agents", None))

    experts = sub.add_parser("experts", help="who has a skill: available first, then the "
                             "most skilled")
    experts.add_argument("skill")
    experts.add_argument("--min-level", type=int, default=1)
    api_args(experts)
    experts.set_defaults(func=_cmd_api, show=_experts_table, build=lambda a: (
        "GET", "/api/experts?" + urllib.parse.urlencode(
            {"skill": a.skill, "min_level": a.min_level}), None))

    transfer = sub.add_parser("transfer", help="move the other party of AGENT's call to TO: "
                              "agent:ID, queue:ID or hunt_group:ID")
    transfer.add_argument("agent")
    transfer.add_argument("to")
    transfer.add_argument("--attended", action="store_true",
                          help="AGENT talks to TO first; hanging up completes the transfer")
    transfer.add_argument("--urgent", action="store_true",
                          help="ring an agent even in focus (the urgent prefix)")
    transfer.add_argument("--skill", help="the skill the caller needs (default: that of the "
                          "skill queue the call came through)")
    api_args(transfer)
    transfer.set_defaults(func=_cmd_api, build=lambda a: (
        "POST", f"/api/agents/{_seg(a.agent)}/transfer", _transfer_body(a)))

    waiting = sub.add_parser("callbacks", help="callers waiting to be called back, oldest "
                             "first")
    api_args(waiting)
    waiting.set_defaults(func=_cmd_api, show=_callbacks_table, build=lambda a: (
        "GET", "/api/callbacks", None))

    case = sub.add_parser("case", help="link callers to the agent who owns their case")
    case_sub = case.add_subparsers(dest="case_command", required=True)
    link = case_sub.add_parser("link", help="calls from NUMBER reach AGENT even in focus")
    link.add_argument("number")
    link.add_argument("agent")
    api_args(link)
    link.set_defaults(func=_cmd_api, build=lambda a: (
        "PUT", f"/api/cases/{_seg(a.number)}", {"agent": a.agent}))
    unlink = case_sub.add_parser("unlink", help="remove a caller's case link")
    unlink.add_argument("number")
    api_args(unlink)
    unlink.set_defaults(func=_cmd_api, build=lambda a: (
        "DELETE", f"/api/cases/{_seg(a.number)}", {}))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(words[0] if words else None)
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
