"""FreeSwitchRunner: render a site, start FreeSWITCH on it, wait until it takes calls.

FreeSWITCH runs in the foreground of a detached process (`-nf -nc`), with every
directory it writes (-base -conf -db -log -run ...) under `<state dir>/pbx/freeswitch`.
The databases there (mod_db's stored state, mod_callcenter's agents and tiers,
registrations) outlive a stop, a crash or `kill -9`, so a restart keeps the state the
engine put in.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from telephony.asterisk.runner.probe import tcp_port_in_use
from telephony.asterisk.runner.procs import (
    file_size,
    is_alive,
    read_pid,
    signal_pid,
    spawn_detached,
    tail,
    wait_gone,
)
from telephony.config import Site
from telephony.config.models import PbxKind
from telephony.freeswitch import names
from telephony.freeswitch.runner import console
from telephony.freeswitch.runner.conf import LIVE_FILES, write_conf
from telephony.freeswitch.runner.install import (
    BackendName,
    Installation,
    find,
    parse_backend,
)
from telephony.freeswitch.runner.layout import Layout
from telephony.pbx.errors import PbxError, PbxInfo
from telephony.pbx.paths import default_state_dir

HOST = "127.0.0.1"
_SESSIONS = re.compile(r"([0-9]+) session\(s\) - peak")
_POLL = 0.1
# After `fsctl shutdown` FreeSWITCH hangs up calls and unloads modules (about 1-6 s).
_STOP_GRACE = 15.0


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def is_freeswitch(pid: int, conf_dir: Path) -> bool:
    """True when `pid` is a live FreeSWITCH reading `conf_dir` (not a recycled pid, not
    another instance)."""
    if not is_alive(pid):
        return False
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return comm == "freeswitch" and str(conf_dir).encode() in argv


def _udp_in_use(host: str, port: int) -> bool:
    """True when host:port (UDP) cannot be bound, i.e. someone else holds it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


class FreeSwitchRunner:
    """A local FreeSWITCH for development and tests: SIP where the site says, the Event
    Socket on 127.0.0.1.

    `backend` forces "path" (a `freeswitch` on PATH) or "bundle" (the relocatable build
    of $TELEPHONY_FREESWITCH_TARBALL); by default an installed one wins.
    """

    kind = PbxKind.FREESWITCH

    def __init__(
        self,
        state_dir: Path | None = None,
        backend: str | None = None,
        *,
        timeout: float = 60.0,
        progress: Callable[[str], None] = _stderr,
    ) -> None:
        self.layout = Layout(state_dir if state_dir is not None else default_state_dir())
        self._requested = parse_backend(backend) if backend else None
        self._timeout = timeout
        self._progress = progress
        # Where FreeSWITCH's log stood before this start: errors show what came after.
        self._log_offset = 0

    def __repr__(self) -> str:
        return f"FreeSwitchRunner(state_dir={str(self.layout.state_dir)!r})"

    # -- what was started here

    def _read_state(self) -> dict[str, object] | None:
        try:
            data = json.loads(self.layout.state_file.read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def _recorded(self) -> tuple[Installation, str, int, int] | None:
        """How the last start ran: installation, SIP host and port, Event Socket port."""
        state = self._read_state()
        if state is None:
            return None
        backend, binary, modules = state.get("backend"), state.get("binary"), state.get("modules")
        host, sip, control = state.get("sip_host"), state.get("sip_port"), state.get(
            "control_port")
        if not (isinstance(backend, str) and isinstance(binary, str) and isinstance(host, str)
                and isinstance(sip, int) and isinstance(control, int)):
            return None
        install = Installation(
            parse_backend(backend), Path(binary),
            Path(modules) if isinstance(modules, str) else None,
        )
        return install, host, sip, control

    def _write_state(self, install: Installation, site: Site) -> None:
        self.layout.root.mkdir(parents=True, exist_ok=True)
        state = {
            "backend": install.backend,
            "binary": str(install.binary),
            "modules": str(install.module_dir) if install.module_dir else None,
            "sip_host": site.pbx.sip_host,
            "sip_port": site.pbx.sip_port,
            "control_port": site.pbx.control_port,
        }
        self.layout.state_file.write_text(json.dumps(state) + "\n")

    def _running_pid(self) -> int | None:
        pid = read_pid(self.layout.pid_file)
        if pid is not None and is_freeswitch(pid, self.layout.conf_dir):
            return pid
        return None

    def _info(self, install: Installation, sip_host: str, sip_port: int, control: int) -> PbxInfo:
        return PbxInfo(
            kind=PbxKind.FREESWITCH,
            backend=install.backend,
            control_host=HOST,
            control_port=control,
            # As the site says; on 0.0.0.0 or :: the profile is on the machine's own
            # address (a FreeSWITCH profile listens on one), not on loopback.
            sip_host=sip_host,
            sip_port=sip_port,
            pid=self._running_pid(),
            config_dir=self.layout.conf_dir,
        )

    def _password(self) -> str:
        """The Event Socket password, from the config FreeSWITCH runs with."""
        path = self.layout.conf_dir / "event_socket.conf.xml"
        try:
            tree = ET.parse(path)
        except (OSError, ET.ParseError) as exc:
            raise PbxError(f"{path}: cannot read the Event Socket settings: {exc}") from None
        for param in tree.iter("param"):
            if param.get("name") == "password":
                return param.get("value", "")
        raise PbxError(f"{path}: no Event Socket password")

    # -- the Runner protocol

    def prepare(self) -> BackendName:
        """Find (or unpack) the FreeSWITCH to run; how it will run."""
        return find(self.layout, self._requested, os.environ, self._progress).backend

    def status(self) -> PbxInfo | None:
        """Where FreeSWITCH answers, or None when it does not run."""
        recorded = self._recorded()
        if recorded is None or self._running_pid() is None:
            return None
        return self._info(*recorded)

    def recorded(self) -> bool:
        """True when a FreeSWITCH was started in this state directory (running or killed)."""
        return self._recorded() is not None

    def up(self, site: Site) -> PbxInfo:
        """Render `site` and start FreeSWITCH, or bring a running one up to date.

        A running FreeSWITCH whose rendered directory or dialplan changed reloads its XML
        (calls stay up); any other change (profile, ACL, Event Socket, queues, agents)
        restarts it, because those are read only when a module loads. Blocks until the
        Event Socket takes the site's password and the SIP profile runs.
        """
        from telephony.freeswitch.render import render

        rendered = render(site)
        recorded = self._recorded()
        if recorded is not None and self._running_pid() is not None:
            install, host, sip, control = recorded
            if self._requested is not None and self._requested != install.backend:
                raise PbxError(
                    f"FreeSWITCH already runs from the {install.backend} backend; "
                    "run `telephony pbx down` first"
                )
            if (host, sip, control) != (site.pbx.sip_host, site.pbx.sip_port,
                                        site.pbx.control_port):
                raise PbxError(
                    f"FreeSWITCH already runs with SIP on {host}:{sip} and the Event Socket "
                    f"on port {control}; run `telephony pbx down` before changing them"
                )
            changed = write_conf(self.layout.conf_dir, rendered)
            if changed and changed <= LIVE_FILES:
                self._api("reloadxml")
            elif changed:
                self._progress(f"restarting FreeSWITCH for {', '.join(sorted(changed))}")
                self._stop()
                return self._start(install, site)
            self._wait_ready(control, self._password())
            return self._info(*recorded)

        install = find(self.layout, self._requested, os.environ, self._progress)
        self._check_ports_free(site.pbx.sip_host, site.pbx.sip_port, site.pbx.control_port)
        write_conf(self.layout.conf_dir, rendered)
        self._write_state(install, site)
        return self._start(install, site)

    def down(self) -> None:
        """Stop FreeSWITCH (its calls are hung up); harmless when it does not run."""
        if self._recorded() is None:
            return
        self._stop()
        self.layout.state_file.unlink(missing_ok=True)

    def kill(self) -> None:
        """SIGKILL FreeSWITCH, no clean-up (restart tests)."""
        pid = self._running_pid()
        if pid is not None:
            signal_pid(pid, signal.SIGKILL)
            wait_gone(pid, 5.0)

    def start_again(self) -> PbxInfo:
        """Start FreeSWITCH again with the config in place (after kill())."""
        recorded = self._recorded()
        if recorded is None:
            raise PbxError("no PBX was started in this state directory: run `telephony pbx up`")
        install, host, sip, control = recorded
        if self._running_pid() is None:
            # A just-killed FreeSWITCH's sockets can outlive its exit by a moment.
            self._check_ports_free(host, sip, control, wait=5.0)
            self._spawn(install)
        self._wait_ready(control, self._password())
        return self._info(*recorded)

    def cli(self, command: str) -> str:
        """The output of an API command, as `fs_cli -x` prints it."""
        if self._running_pid() is None:
            raise PbxError("the PBX is not running")
        return self._api(command)

    def hangup_all(self) -> None:
        """Hang up every call."""
        self.cli("hupall MANAGER_REQUEST")

    def contact(self, site: Site, device_id: str) -> str | None:
        """Where a device is registered (`sip:user@host:port`), or None."""
        from telephony.freeswitch import names

        out = self.cli(f"sofia_contact {names.PROFILE}/{device_id}@{names.domain(site)}")
        start = out.find("sip:")
        return None if start < 0 or out.startswith("error/") else out[start:].split(";")[0].strip()

    def active_calls(self) -> int:
        """How many channels are up: the core's live session count from `status` ("N
        session(s) - peak ..."). Not `show channels`: that reads a table the core
        writes in batches, so it lags calls by up to a second."""
        for line in self.cli("status").splitlines():
            match = _SESSIONS.match(line)
            if match:
                return int(match.group(1))
        raise PbxError("FreeSWITCH's status shows no session count")

    def exec_foreground(self, site: Site) -> NoReturn:
        """Render `site` and replace this process with FreeSWITCH in the foreground
        (containers: FreeSWITCH is then the container's main process)."""
        from telephony.freeswitch.render import render

        install = find(self.layout, self._requested, os.environ, self._progress)
        write_conf(self.layout.conf_dir, render(site))
        self._write_state(install, site)
        # exec keeps the pid, so status() and cli() work from a second shell.
        self.layout.pid_file.write_text(f"{os.getpid()}\n")
        argv = self._argv(install)
        os.execv(argv[0], argv)

    # -- steps

    def _api(self, command: str) -> str:
        recorded = self._recorded()
        if recorded is None:
            raise PbxError("no PBX was started in this state directory")
        try:
            return console.api(HOST, recorded[3], self._password(), command)
        except console.ConsoleError as exc:
            raise PbxError(str(exc)) from None

    def _argv(self, install: Installation) -> list[str]:
        argv = [str(install.binary), "-nf", "-nc", "-nonat", "-nocal"]
        for flag, path in self.layout.directories().items():
            path.mkdir(parents=True, exist_ok=True)
            argv += [f"-{flag}", str(path)]
        if install.module_dir is not None:
            argv += ["-mod", str(install.module_dir)]
        return argv

    def _spawn(self, install: Installation) -> int:
        self.layout.root.mkdir(parents=True, exist_ok=True)
        # Each start's captured output afresh, so error tails show this start only.
        self.layout.output_log.write_bytes(b"")
        self._log_offset = file_size(self.layout.log_file)
        # FreeSWITCH refuses to start over its own pid file when that pid is alive.
        (self.layout.root / "run" / "freeswitch.pid").unlink(missing_ok=True)
        pid = spawn_detached(
            self._argv(install), pid_file=self.layout.pid_file,
            log_file=self.layout.output_log, env=os.environ,
        )
        # Until the background shell has exec'd FreeSWITCH the pid does not look like
        # it yet; wait for that (or an early exit) so "not running" means it ended.
        deadline = time.monotonic() + 10.0
        while not is_freeswitch(pid, self.layout.conf_dir) and time.monotonic() < deadline:
            if wait_gone(pid, 0.01):
                break
        return pid

    def _start(self, install: Installation, site: Site) -> PbxInfo:
        self._spawn(install)
        try:
            self._wait_ready(site.pbx.control_port, site.pbx.control_secret.get_secret_value())
        except BaseException:
            # Never leave a half-started FreeSWITCH holding the ports.
            self._stop()
            raise
        return self._info(install, site.pbx.sip_host, site.pbx.sip_port, site.pbx.control_port)

    def _log_tail(self) -> str:
        parts = [
            f"--- {path} ---\n{text}"
            for path, start in ((self.layout.log_file, self._log_offset),
                                (self.layout.output_log, 0))
            if (text := tail(path, 30, start))
        ]
        return "\n".join(parts) or "(FreeSWITCH wrote no log)"

    def _wait_ready(self, control_port: int, password: str) -> None:
        """Until the Event Socket takes `password` and the SIP profile runs; bounded."""
        deadline = time.monotonic() + self._timeout
        while True:
            pid = read_pid(self.layout.pid_file)
            if pid is None or not is_freeswitch(pid, self.layout.conf_dir):
                raise PbxError(f"FreeSWITCH exited while starting\n{self._log_tail()}")
            outcome = console.login(HOST, control_port, password)
            if outcome is console.LoginResult.REJECTED:
                raise PbxError(
                    f"the Event Socket at {HOST}:{control_port} refused the site's "
                    "control_secret: another FreeSWITCH may hold the port"
                )
            if outcome is console.LoginResult.ACCEPTED and self._profile_running(
                control_port, password
            ):
                return
            if time.monotonic() >= deadline:
                raise PbxError(
                    f"FreeSWITCH did not get ready (Event Socket {HOST}:{control_port}, SIP "
                    f"profile {names.PROFILE}) within {self._timeout:g} s\n{self._log_tail()}"
                )
            wait_gone(pid, _POLL)  # the pause between attempts; returns early on exit

    def _profile_running(self, control_port: int, password: str) -> bool:
        try:
            listing = console.api(HOST, control_port, password, "sofia status", timeout=5.0)
        except console.ConsoleError:
            return False
        return any(
            line.split()[:1] == [names.PROFILE] and "RUNNING" in line
            for line in listing.splitlines()
        )

    def _stop(self) -> None:
        """`fsctl shutdown` (calls hung up, modules unloaded), then SIGTERM, then SIGKILL."""
        pid = self._running_pid()
        if pid is None:
            self.layout.pid_file.unlink(missing_ok=True)
            return
        try:
            self._api("fsctl shutdown")
        except PbxError:
            pass  # the Event Socket is not up (still starting, or wedged): signals work
        if not wait_gone(pid, _STOP_GRACE):
            for signum in (signal.SIGTERM, signal.SIGKILL):
                signal_pid(pid, signum)
                if wait_gone(pid, 5.0):
                    break
            else:
                raise PbxError(f"FreeSWITCH (pid {pid}) did not stop")
        self.layout.pid_file.unlink(missing_ok=True)

    def _check_ports_free(
        self, sip_host: str, sip_port: int, control_port: int, *, wait: float = 0.0
    ) -> None:
        deadline = time.monotonic() + wait
        while True:
            busy = []
            if tcp_port_in_use(HOST, control_port):
                busy.append(f"Event Socket port {HOST}:{control_port} (tcp)")
            if _udp_in_use(sip_host, sip_port):
                busy.append(f"SIP port {sip_host}:{sip_port} (udp)")
            if not busy or time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        if busy:
            raise PbxError(
                f"{' and '.join(busy)} already in use by another program "
                "(another PBX? check with `ss -ltnup`)"
            )
