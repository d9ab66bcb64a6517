"""Deploying a site onto an administrator's Asterisk (include mode).

Our files go to `<target>/telephony/`, rendered without the sections that are the
administrator's (`render(site, include_mode=True)`), and each main file gets one line
`#include telephony/<file>` at its end, once. Before anything is planned the names we
generate are compared with the sections the administrator's files configure (their
includes followed, templates counted); any equal name (compared without case) is
refused, naming both places.

Validation starts a scratch Asterisk on a copy of the target (its own run, log, spool
and AstDB directories, every listening port moved to a spare loopback port in the copy
only), loads the administrator's configuration as it is, then writes the plan into the
copy and reloads exactly as the live PBX will be reloaded, and checks the same things.
A reload is `module reload` of the modules whose files changed; calls in progress keep
going (PJSIP, the dialplan and app_queue reload in place; dynamic queue members stay).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Protocol

from telephony.asterisk.deploy_conf import Section, Tree, parse_text, parse_tree
from telephony.asterisk.render import render
from telephony.config.models import Site
from telephony.deploy import ports
from telephony.deploy.files import STATE_DIR, DeployError, FileChange, Plan, read_text

SUBDIR = "telephony"
"""Our folder inside the target, and the start of every include line we add."""

MAIN_FILES = (
    "pjsip.conf", "extensions.conf", "queues.conf", "queuerules.conf", "manager.conf",
    "voicemail.conf",
)

# Files read for a main file's names: PJSIP objects also come from the config wizard.
_FAMILY: Mapping[str, tuple[str, ...]] = {
    "pjsip.conf": ("pjsip.conf", "pjsip_wizard.conf"),
}

# Sections that are settings of the PBX, not names (never ours in include mode).
_SETTINGS: Mapping[str, frozenset[str]] = {
    "pjsip.conf": frozenset({"global", "system"}),
    "extensions.conf": frozenset({"general", "globals"}),
    "queues.conf": frozenset({"general"}),
    "queuerules.conf": frozenset({"general"}),
    "manager.conf": frozenset({"general"}),
    "voicemail.conf": frozenset({"general", "zonemessages"}),
}

# The module whose reload rereads a main file; manager last: see `reload_and_check`.
RELOAD_MODULE: Mapping[str, str] = {
    "pjsip.conf": "res_pjsip.so",
    "extensions.conf": "pbx_config.so",
    "queues.conf": "app_queue.so",
    "queuerules.conf": "app_queue.so",
    "voicemail.conf": "app_voicemail.so",
    "manager.conf": "manager",
}
_RELOAD_ORDER = ("res_pjsip.so", "pbx_config.so", "app_queue.so", "app_voicemail.so", "manager")

HOST = "127.0.0.1"


# -- names on each side


@dataclass(frozen=True, slots=True)
class Named:
    """One configured name of a kind (endpoint, context, queue, manager user) and where."""

    kind: str
    name: str
    where: str


@dataclass(frozen=True, slots=True)
class Names:
    """What must exist on the PBX: endpoints, contexts, queues, manager users."""

    items: tuple[Named, ...]

    def of(self, kind: str) -> tuple[Named, ...]:
        return tuple(n for n in self.items if n.kind == kind)


def _ours(path: PurePosixPath) -> bool:
    return len(path.parts) > 1 and path.parts[0] == SUBDIR


def _skip_ours(target: Path) -> Callable[[Path], bool]:
    ours = (target / SUBDIR).resolve()
    state = (target / STATE_DIR).resolve()

    def skip(path: Path) -> bool:
        resolved = path.resolve()
        return any(resolved == top or top in resolved.parents for top in (ours, state))

    return skip


def admin_trees(target: Path) -> dict[str, Tree]:
    """The administrator's configuration, per main file (its family's files and their
    includes), our own folder left out."""
    skip = _skip_ours(target)
    trees: dict[str, Tree] = {}
    for main in MAIN_FILES:
        for name in _FAMILY.get(main, (main,)):
            trees[name] = parse_tree(target, name, skip=skip)
    return trees


def _named_sections(main: str, sections: Iterable[Section]) -> list[Section]:
    settings = _SETTINGS[main]
    return [s for s in sections if s.name.lower() not in settings and not s.addition]


def _kinds(main: str, tree_file: str, tree: Tree, sections: Iterable[Section]) -> list[Named]:
    """The names that must exist on the PBX, from one file family's sections."""
    out: list[Named] = []
    for section in sections:
        if section.template:
            continue
        where = str(section.where)
        if main == "pjsip.conf":
            kind = tree.resolved(section, "type")
            if kind == "endpoint" or (tree_file == "pjsip_wizard.conf" and kind == "wizard"):
                out.append(Named("endpoint", section.name, where))
        elif main == "extensions.conf":
            out.append(Named("context", section.name, where))
        elif main == "queues.conf":
            out.append(Named("queue", section.name, where))
        elif main == "manager.conf":
            out.append(Named("manager user", section.name, where))
    return out


def theirs(target: Path) -> Names:
    """The administrator's endpoints, contexts, queues and manager users."""
    items: list[Named] = []
    for main in MAIN_FILES:
        for name in _FAMILY.get(main, (main,)):
            tree = parse_tree(target, name, skip=_skip_ours(target))
            items += _kinds(main, name, tree, _named_sections(main, tree.sections))
    return Names(tuple(items))


def ours(plan: Plan) -> Names:
    """Our endpoints, contexts, queues and manager user, from the plan's own files (none
    when the plan removes them: a roll-back)."""
    items: list[Named] = []
    for change in plan.changes:
        if not _ours(change.path) or change.path.name not in MAIN_FILES:
            continue
        main = change.path.name
        sections = parse_text(change.after, str(change.path))
        tree = Tree(tuple(sections), (), (str(change.path),))
        items += _kinds(main, main, tree, _named_sections(main, sections))
    return Names(tuple(items))


# -- the plan


def _has_include(tree: Tree, main: str) -> bool:
    wanted = PurePosixPath(SUBDIR, main)
    return any(include == wanted for include in tree.includes)


def _with_include(before: str | None, main: str) -> str:
    line = f"#include {SUBDIR}/{main}\n"
    if not before:
        return line
    return before + ("" if before.endswith("\n") else "\n") + line


def clashes(rendered: Mapping[str, str], trees: Mapping[str, Tree]) -> list[str]:
    """Each name we would configure that the administrator's files already do, as
    `[name] at ours (ours) is already configured at theirs`."""
    found: list[str] = []
    for main, text in rendered.items():
        ours_path = f"{SUBDIR}/{main}"
        mine: dict[str, Section] = {}
        for section in _named_sections(main, parse_text(text, ours_path)):
            mine.setdefault(section.name.lower(), section)
        for family in _FAMILY.get(main, (main,)):
            for section in trees[family].sections:
                if section.name.lower() in _SETTINGS[main]:
                    continue
                own = mine.get(section.name.lower())
                if own is not None:
                    what = "template" if section.template else "section"
                    found.append(
                        f"[{own.name}] at {own.where} (ours) is already configured at "
                        f"{section.where} (the administrator's {what} [{section.name}])"
                    )
    return found


def _check_admin_settings(site: Site, trees: Mapping[str, Tree]) -> None:
    transports = [
        s for s in trees["pjsip.conf"].sections
        if not s.template and trees["pjsip.conf"].resolved(s, "type") == "transport"
    ]
    if not transports:
        raise DeployError(
            "pjsip.conf",
            "no PJSIP transport is configured: include mode uses the administrator's "
            "transport (add one, e.g. [transport-udp] type=transport protocol=udp "
            "bind=0.0.0.0:5060)",
        )
    _check_identifiers(site, trees["pjsip.conf"])
    _check_manager(site, trees["manager.conf"])


# Asterisk's own default of [global] endpoint_identifier_order.
_DEFAULT_IDENTIFIERS = "ip,username,anonymous"
# app_queue's and the manager's truth values (ast_true).
_TRUE = frozenset({"yes", "true", "y", "t", "1", "on"})


def _check_identifiers(site: Site, tree: Tree) -> None:
    """Our phones are told apart by user name and trunks by header or address: the
    administrator's identifier order must name what our site needs."""
    order, where = _DEFAULT_IDENTIFIERS, "Asterisk's default"
    for section in tree.sections:
        value = section.get("endpoint_identifier_order")
        if not section.template and tree.resolved(section, "type") == "global" and value:
            order, where = value, str(section.where)
    have = {word.strip() for word in order.split(",")}
    needed = {"username": "the site's phones"}
    if any(t.match_header for t in site.trunks):
        needed["header"] = "trunks matched by header (trunks[].match_header)"
    if any(t.match_ip for t in site.trunks):
        needed["ip"] = "trunks matched by address (trunks[].match_ip)"
    missing = [f"{word} (for {why})" for word, why in needed.items() if word not in have]
    if missing:
        raise DeployError(
            "pjsip.conf",
            f"endpoint_identifier_order is {order!r} ({where}): add "
            + " and ".join(missing) + " to the administrator's [global] section",
        )


def _check_manager(site: Site, tree: Tree) -> None:
    """The engine and the live reload reach the PBX over the AMI at the site's port."""
    general = next((s for s in tree.sections if s.name.lower() == "general"), None)
    if general is None or (general.get("enabled") or "no").lower() not in _TRUE:
        where = f" ({general.where})" if general is not None else ""
        raise DeployError(
            "manager.conf",
            f"the administrator's AMI is not enabled{where}: the engine and the live reload "
            "use it (set enabled=yes in manager.conf [general])",
        )
    port = (general.get("port") or "5038").strip()
    if port != str(site.pbx.control_port):
        raise DeployError(
            "pbx.control_port",
            f"is {site.pbx.control_port}, but the administrator's AMI listens on port "
            f"{port} ({general.where}): the engine could not reach it",
        )


def plan(site: Site, target: Path) -> Plan:
    """Our files under `target/telephony/` and one include line per main file (see the
    module docstring); DeployError for a target that is not a directory, no transport,
    an AMI port that is not the site's, or a name clash, before anything is written."""
    if not target.is_dir():
        raise DeployError(str(target), "not a directory (the PBX's configuration directory)")
    rendered = render(site, include_mode=True)
    trees = admin_trees(target)
    found = clashes(rendered, trees)
    if found:
        raise DeployError(
            "name clash",
            f"{len(found)} name(s) we generate are already configured in {target}; "
            "nothing was written:\n  " + "\n  ".join(found),
        )
    _check_admin_settings(site, trees)
    changes: list[FileChange] = []
    for main in MAIN_FILES:
        path = PurePosixPath(SUBDIR, main)
        changes.append(FileChange(path, read_text(target, path), rendered[main]))
    for main in MAIN_FILES:
        path = PurePosixPath(main)
        before = read_text(target, path)
        after = before if _has_include(trees[main], main) and before is not None else (
            _with_include(before, main))
        changes.append(FileChange(path, before, after))
    return Plan(tuple(changes))


def modules_to_reload(plan: Plan) -> list[str]:
    """The modules whose files the plan changes, in reload order (manager last)."""
    wanted = {RELOAD_MODULE[c.path.name] for c in plan.changed if c.path.name in RELOAD_MODULE}
    return [module for module in _RELOAD_ORDER if module in wanted]


# -- reload and check, through a console (AMI live, the CLI in the scratch PBX)


class Console(Protocol):
    """Runs an Asterisk CLI command and returns its output."""

    async def command(self, command: str) -> str:
        """The command's output; raises DeployError when it cannot be run."""
        ...


_CONTEXT = re.compile(r"^\[ Context '([^']+)' created by")


def endpoints_in(output: str) -> set[str]:
    """Endpoint names of `pjsip show endpoints`."""
    names: set[str] = set()
    for line in output.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "Endpoint:" and not words[1].startswith("<"):
            names.add(words[1].split("/", 1)[0])
    return names


def contexts_in(output: str) -> set[str]:
    """Context names of `dialplan show`."""
    return {m.group(1) for line in output.splitlines() if (m := _CONTEXT.match(line.strip()))}


def queues_in(output: str) -> set[str]:
    """Queue names of `queue show`."""
    names: set[str] = set()
    for line in output.splitlines():
        if line and not line[0].isspace() and " has " in line:
            names.add(line.split(" has ", 1)[0].strip())
    return names


def manager_users_in(output: str) -> set[str]:
    """User names of `manager show users`: one per line between the dashed rules."""
    names: set[str] = set()
    for line in output.splitlines():
        words = line.split()
        if len(words) == 1 and words[0] != "username" and not words[0].startswith("-"):
            names.add(words[0])
    return names


async def reload_modules(console: Console, modules: Iterable[str], where: str) -> None:
    """`module reload` each module; DeployError naming the first that did not reload."""
    for module in modules:
        out = await console.command(f"module reload {module}")
        if "reloaded successfully" not in out:
            raise DeployError(
                f"{where} reload", f"`module reload {module}` answered: {out.strip() or '(nothing)'}"
            )


async def check(console: Console, mine: Names, admins: Names, where: str) -> None:
    """Every endpoint, context, queue and manager user of both sides exists; DeployError
    listing every missing one, with the file and line that configures it."""
    present: dict[str, set[str]] = {
        "endpoint": endpoints_in(await console.command("pjsip show endpoints")),
        "context": contexts_in(await console.command("dialplan show")),
        "queue": queues_in(await console.command("queue show")),
    }
    wanted = [*mine.items, *admins.items]
    if any(n.kind == "manager user" for n in wanted):
        present["manager user"] = manager_users_in(await console.command("manager show users"))
    missing = [
        f"{n.kind} {n.name} ({'ours' if n in mine.items else 'theirs'}, {n.where})"
        for n in wanted
        if n.name.lower() not in {p.lower() for p in present.get(n.kind, set())}
    ]
    if missing:
        raise DeployError(f"{where} check", "missing after the reload: " + "; ".join(missing))


async def reload_and_check(console: Console, plan: Plan, target: Path, where: str) -> None:
    """Reload what the plan changed, then check both sides. The manager is reloaded last
    and checked after: the connection doing this may be one of its users."""
    modules = modules_to_reload(plan)
    mine, admins = ours(plan), theirs(target)
    await reload_modules(console, [m for m in modules if m != "manager"], where)
    if "manager" in modules:
        await reload_modules(console, ["manager"], where)
    await check(console, mine, admins, where)


# -- the live PBX, over AMI


class AmiConsole:
    """CLI commands over AMI (`Command`), with the site's control credentials."""

    def __init__(self, site: Site) -> None:
        from telephony.asterisk.ami import AmiClient

        self._client = AmiClient(
            HOST, site.pbx.control_port, site.pbx.control_username, site.pbx.control_secret,
            reconnect=False, ping_interval=None, wanted_events=(), action_timeout=30.0,
        )
        self._where = f"AMI at {HOST}:{site.pbx.control_port} as {site.pbx.control_username!r}"

    async def open(self) -> None:
        from telephony.asterisk.ami.errors import AmiAuthError, AmiError

        try:
            await self._client.connect()
        except AmiAuthError:
            raise DeployError(
                "pbx.control_username",
                f"{self._where} refused the login (on a first deploy the site's AMI user is "
                "not known to the running PBX yet: give an existing AMI user with "
                "--control-user and TELEPHONY_CONTROL_SECRET)",
            ) from None
        except (AmiError, OSError) as exc:
            raise DeployError("pbx.control_port", f"{self._where}: cannot connect ({exc})"
                              ) from None

    async def close(self) -> None:
        await self._client.close()

    async def command(self, command: str) -> str:
        from telephony.asterisk.ami.errors import AmiError

        try:
            return await self._client.command(command)
        except AmiError as exc:
            raise DeployError("pbx", f"`{command}` over {self._where} failed: {exc}") from None


# -- the scratch PBX


def spare_port(taken: set[int] | None = None) -> int:
    """A loopback port free for both UDP and TCP just now, not one in `taken`."""
    return ports.spare_port("validate", taken)


# Modules that open ports the scratch PBX must not take from the live one, or act on
# the outside world (an outbound registration from the scratch would steal the trunk).
SCRATCH_NOLOAD = (
    "chan_iax2.so", "chan_unistim.so", "chan_motif.so", "chan_skinny.so", "chan_mgcp.so",
    "chan_ooh323.so", "pbx_dundi.so", "res_xmpp.so", "res_hep.so", "res_pjsip_outbound_registration.so",
    "res_pjsip_outbound_publish.so", "res_pjsip_transport_websocket.so", "res_http_websocket.so",
    "res_ari.so", "res_prometheus.so", "res_snmp.so", "chan_websocket.so", "res_websocket_client.so",
)


# Ends every line the scratch copy gets from us, so a second pass finds and replaces them.
_MARKER = " ; telephony deploy scratch"


class Scratch:
    """A copy of the target's configuration prepared to run beside the live PBX: every
    PJSIP transport and the AMI on spare loopback ports (fixed per section, so the
    copy can be rewritten after a plan is applied and keep them), HTTP off, modules that
    open other ports or reach out not loaded, errors logged to its own `messages`."""

    def __init__(self, etc: Path) -> None:
        self.etc = etc
        self._ports: dict[tuple[str, str], int] = {}

    def port_for(self, key: tuple[str, str]) -> int:
        if key not in self._ports:
            self._ports[key] = spare_port(set(self._ports.values()))
        return self._ports[key]

    def fill(self, target: Path) -> None:
        """Copy the target (without our deploy state) and neutralise the copy."""
        # Links are copied as what they point at: the copy must not write through them.
        shutil.copytree(target, self.etc, dirs_exist_ok=True, ignore_dangling_symlinks=True,
                        ignore=shutil.ignore_patterns(STATE_DIR))
        self.neutralise()

    def write(self, plan: Plan) -> None:
        """Write the plan's files into the copy (absent: removed) and neutralise again."""
        for change in plan.changed:
            path = self.etc / change.path
            if change.after == "" and _ours(change.path):
                path.unlink(missing_ok=True)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(change.after, encoding="utf-8")
        self.neutralise()

    def neutralise(self) -> None:
        (self.etc / "http.conf").write_text("[general]\nenabled=no\n")
        (self.etc / "logger.conf").write_text(
            "[general]\n[logfiles]\nmessages => notice,warning,error\n")
        self._modules()
        self._manager()
        self._transports()

    def _modules(self) -> None:
        path = self.etc / "modules.conf"
        lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
        noload = [f"noload => {m}{_MARKER}" for m in SCRATCH_NOLOAD]
        kept = [line for line in lines if not line.endswith(_MARKER)]
        for i, line in enumerate(kept):
            if line.strip().lower().startswith("[modules]"):
                kept[i + 1:i + 1] = noload
                break
        else:
            kept = ["[modules]", "autoload=yes", *noload, *kept]
        path.write_text("\n".join(kept) + "\n", encoding="utf-8")

    def _manager(self) -> None:
        path = self.etc / "manager.conf"
        text = path.read_text(encoding="utf-8") if path.is_file() else ""
        port = self.port_for(("manager.conf", "general"))
        ours = [f"port={port}", f"bindaddr={HOST}", "tlsenable=no", "webenabled=no"]
        marker = _MARKER
        out: list[str] = []
        in_general = found = False
        for line in text.splitlines():
            if line.endswith(marker):
                if line.startswith(";"):
                    line = line[1:-len(marker)]  # theirs, set aside by an earlier pass
                else:
                    continue
            bare = line.split(";", 1)[0].strip()
            if bare.startswith("["):
                in_general = bare.lower().startswith("[general]")
                out.append(line)
                if in_general and not found:
                    found = True
                    out += [o + marker for o in ours]
                continue
            key = bare.split("=", 1)[0].strip().lower()
            if in_general and key in {"port", "bindaddr", "tlsenable", "tlsbindaddr",
                                      "tlsbindport", "webenabled"}:
                out.append(";" + line + marker)
                continue
            out.append(line)
        if not found:
            out = ["[general]", *[o + marker for o in ours], *out]
        path.write_text("\n".join(out) + "\n", encoding="utf-8")

    def _transports(self) -> None:
        # Our bind lines of an earlier pass go first, so sections are found where the
        # administrator's text has them; then one bind per transport, last in its
        # section (the last value of an option wins).
        for file in parse_tree(self.etc, "pjsip.conf", skip=lambda _p: False).files:
            path = self.etc / file
            lines = path.read_text(encoding="utf-8").splitlines()
            kept = [line for line in lines if not line.endswith(_MARKER)]
            if kept != lines:
                path.write_text("\n".join(kept) + "\n", encoding="utf-8")
        tree = parse_tree(self.etc, "pjsip.conf", skip=lambda _p: False)
        by_file: dict[str, list[Section]] = {}
        for section in tree.sections:
            by_file.setdefault(section.where.file, []).append(section)
        for file, sections in by_file.items():
            ordered = sorted(sections, key=lambda s: s.where.line)
            at: dict[int, str] = {}
            for i, section in enumerate(ordered):
                if section.template or tree.resolved(section, "type") != "transport":
                    continue
                end = ordered[i + 1].where.line if i + 1 < len(ordered) else -1
                port = self.port_for((file, section.name))
                at[end] = f"bind={HOST}:{port}{_MARKER}"
            if not at:
                continue
            path = self.etc / file
            out: list[str] = []
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if number in at:
                    out.append(at[number])
                out.append(line)
            if -1 in at:
                out.append(at[-1])
            path.write_text("\n".join(out) + "\n", encoding="utf-8")


_ERROR = re.compile(r"^\[[^\]]*\]\s+ERROR\[[^\]]*\](?:\[[^\]]*\])?\s*(.*)$")


def errors_in(text: str) -> list[str]:
    """The ERROR messages of an Asterisk log, without time stamp and thread."""
    return [m.group(1) for line in text.splitlines() if (m := _ERROR.match(line))]


class ScratchAsterisk:
    """An Asterisk of its own on a scratch copy: an installed `asterisk`, else the
    local runner's root file system (chroot, needs root). Started and stopped here."""

    def __init__(self) -> None:
        from telephony.asterisk.runner import rootfs
        from telephony.pbx.paths import default_state_dir

        binary = shutil.which("asterisk")
        self._chroot: Path | None = None
        if binary is None:
            root = default_state_dir() / "asterisk-rootfs"
            if rootfs.installed_version(root) is None:
                raise DeployError(
                    "validate",
                    "no Asterisk to validate with: install asterisk, or run `telephony pbx "
                    "prepare` (as root) for the local root file system, or skip with "
                    "--no-validate",
                )
            rootfs.require_root("validating in the root file system")
            rootfs.prepare_for_run(root)
            self._chroot = root
            (root / "var" / "tmp").mkdir(parents=True, exist_ok=True)
            self.work = Path(tempfile.mkdtemp(prefix="telephony-scratch-", dir=root / "var" / "tmp"))
        else:
            self.work = Path(tempfile.mkdtemp(prefix="telephony-scratch-"))
        self._binary = binary or "asterisk"
        self.etc = self.work / "etc"
        self.etc.mkdir()
        self._process: subprocess.Popen[bytes] | None = None

    def _inside(self, path: Path) -> str:
        if self._chroot is None:
            return str(path)
        return "/" + str(path.relative_to(self._chroot))

    @property
    def log_file(self) -> Path:
        return self.work / "log" / "messages"

    def _conf(self) -> str:
        return self._inside(self.etc / "asterisk.conf")

    def _argv(self, *args: str) -> list[str]:
        prefix = ["chroot", str(self._chroot)] if self._chroot is not None else []
        return [*prefix, self._binary, "-C", self._conf(), *args]

    def start(self, timeout: float = 60.0) -> None:
        """Write asterisk.conf for the copy and start; return once fully booted."""
        from telephony.asterisk.runner import rootfs
        from telephony.asterisk.runner.baseconf import asterisk_conf

        directories = {
            "astetcdir": self._inside(self.etc),
            "astrundir": self._inside(self.work / "run"),
            "astlogdir": self._inside(self.work / "log"),
            "astspooldir": self._inside(self.work / "spool"),
            "astdbdir": self._inside(self.work / "db"),
            "astkeydir": self._inside(self.work),
            "astcachedir": self._inside(self.work / "cache"),
        }
        for name in ("run", "log", "spool", "db", "cache", "keys"):
            (self.work / name).mkdir(exist_ok=True)
        (self.etc / "asterisk.conf").write_text(asterisk_conf(directories), encoding="utf-8")
        env = dict(rootfs.CHROOT_ENV) if self._chroot is not None else None
        with (self.work / "asterisk.out").open("ab") as out:
            self._process = subprocess.Popen(
                self._argv("-f", "-U", "root") if self._chroot is not None else self._argv("-f"),
                stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env,
                start_new_session=True,
            )
        control = self.work / "run" / "asterisk.ctl"
        deadline = time.monotonic() + timeout
        while not control.exists():
            if self._process.poll() is not None:
                raise DeployError("validate", "the scratch Asterisk exited while starting:\n"
                                  + self._tail())
            if time.monotonic() >= deadline:
                raise DeployError("validate", f"the scratch Asterisk did not start within "
                                  f"{timeout:g} s:\n" + self._tail())
            # No event to wait on: Asterisk creates its control socket when ready for -r.
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(0.05)
        self.cli("core waitfullybooted", timeout=max(1.0, deadline - time.monotonic()))

    def _tail(self) -> str:
        parts = []
        for path in (self.log_file, self.work / "asterisk.out"):
            with contextlib.suppress(OSError):
                parts.append("\n".join(path.read_text(errors="replace").splitlines()[-20:]))
        return "\n".join(p for p in parts if p) or "(no log)"

    def cli(self, command: str, timeout: float = 30.0) -> str:
        """`asterisk -rx command` against the scratch PBX."""
        env = None
        if self._chroot is not None:
            from telephony.asterisk.runner import rootfs
            env = dict(rootfs.CHROOT_ENV)
        try:
            result = subprocess.run(self._argv("-rx", command), capture_output=True, text=True,
                                    env=env, check=False, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise DeployError("validate", f"`{command}` took over {timeout:g} s") from None
        if result.returncode != 0:
            raise DeployError("validate", f"`{command}` failed: {result.stderr.strip()}")
        return result.stdout

    def log_size(self) -> int:
        try:
            return self.log_file.stat().st_size
        except OSError:
            return 0

    def log_since(self, offset: int) -> str:
        try:
            with self.log_file.open("rb") as handle:
                handle.seek(offset)
                return handle.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self) -> None:
        """Stop (gracefully, then kill) and remove the scratch directory."""
        process = self._process
        try:
            if process is not None and process.poll() is None:
                with contextlib.suppress(DeployError):
                    self.cli("core stop now", timeout=10)
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(10)
        finally:
            shutil.rmtree(self.work, ignore_errors=True)


class _CliConsole:
    def __init__(self, scratch: ScratchAsterisk) -> None:
        self._scratch = scratch

    async def command(self, command: str) -> str:
        return await asyncio.to_thread(self._scratch.cli, command)


# -- the kind


class AsteriskDeploy:
    """`telephony deploy` for Asterisk (see the module docstring)."""

    name = "asterisk"

    def plan(self, site: Site, target: Path) -> Plan:
        """Our files and include lines, after the clash check (see `plan`)."""
        return plan(site, target)

    async def validate(self, site: Site, target: Path, plan: Plan) -> None:
        """Load the administrator's copy into a scratch Asterisk, then the plan by the
        same reload as live; check both sides and that no new ERROR was logged (errors
        the administrator's configuration already logs on its own do not count)."""
        scratch = await asyncio.to_thread(ScratchAsterisk)
        try:
            copy = Scratch(scratch.etc)
            await asyncio.to_thread(copy.fill, target)
            await asyncio.to_thread(scratch.start)
            before = set(errors_in(scratch.log_since(0)))
            offset = scratch.log_size()
            await asyncio.to_thread(copy.write, plan)
            await reload_and_check(_CliConsole(scratch), plan, scratch.etc, "scratch")
            # Errors logged while reloading that the administrator's own start did not.
            new = [e for e in errors_in(scratch.log_since(offset)) if e not in before]
            if new:
                raise DeployError(
                    "validate", "the scratch Asterisk logged errors loading our files:\n  "
                    + "\n  ".join(dict.fromkeys(new)))
        finally:
            await asyncio.to_thread(scratch.stop)

    async def preflight(self, site: Site) -> None:
        """Log in to the running PBX's AMI and out again, before anything is written: a
        PBX that cannot be reached (or a user it does not know) refuses the deploy."""
        console = AmiConsole(site)
        await console.open()
        await console.close()

    async def reload(self, site: Site, target: Path, plan: Plan) -> None:
        """Over the site's AMI: reload only what the plan changed, then check both
        sides live."""
        console = AmiConsole(site)
        await console.open()
        try:
            await reload_and_check(console, plan, target, "live")
        finally:
            await console.close()
