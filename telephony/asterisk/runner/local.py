"""AsteriskRunner: render a site, start Asterisk on loopback, wait until AMI lets us in."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import NoReturn

from telephony.asterisk.runner.backends import Backend, PathBackend, make_backend
from telephony.asterisk.runner.baseconf import base_files, write_config_dir
from telephony.asterisk.runner.container import ContainerBackend
from telephony.asterisk.runner.paths import (
    BackendName,
    Layout,
    choose_backend,
    default_state_dir,
    parse_backend,
)
from telephony.asterisk.runner.probe import (
    LoginResult,
    ami_banner,
    ami_login,
    tcp_port_in_use,
    udp_port_in_use,
)
from telephony.asterisk.runner.procs import file_size
from telephony.config import Site
from telephony.config.models import PbxKind
from telephony.pbx.errors import PbxError, PbxInfo

HOST = "127.0.0.1"
# After a reload Asterisk may briefly still hold the old manager users.
_RELOAD_GRACE = 5.0
_POLL = 0.1


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class AsteriskRunner:
    """A local Asterisk for development and tests, bound to 127.0.0.1.

    `backend` (or $TELEPHONY_PBX_BACKEND) forces "path", "docker" or "rootfs";
    otherwise an installed `asterisk` wins, then a container whose image this state
    directory built earlier, then the rootfs (see `paths.choose_backend`).
    """

    kind = PbxKind.ASTERISK

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
        # Credentials of the last up() in this process, for start_again()'s login check.
        self._ami_login: tuple[str, str] | None = None
        # Where Asterisk's log stood before this start/reload: errors show what came after.
        self._log_offset = 0

    def __repr__(self) -> str:
        return f"AsteriskRunner(state_dir={str(self.layout.state_dir)!r})"

    # -- choosing and remembering the backend

    def _chosen(self) -> Backend:
        name = choose_backend(
            self._requested,
            os.environ,
            has_asterisk=lambda: shutil.which("asterisk") is not None,
            container_ready=ContainerBackend(self.layout).image_ready,
        )
        return make_backend(name, self.layout)

    def _read_state(self) -> dict[str, object] | None:
        try:
            data = json.loads(self.layout.state_file.read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def _recorded(self) -> tuple[Backend, int, int] | None:
        """The backend and ports of the last start in this state dir."""
        state = self._read_state()
        if state is None:
            return None
        name, ami_port, sip_port = (
            state.get("backend"),
            state.get("ami_port"),
            state.get("sip_port"),
        )
        if not (isinstance(name, str) and isinstance(ami_port, int) and isinstance(sip_port, int)):
            return None
        return make_backend(parse_backend(name), self.layout), ami_port, sip_port

    def _write_state(self, backend: BackendName, site: Site) -> None:
        self.layout.run_dir.mkdir(parents=True, exist_ok=True)
        state = {"backend": backend, "ami_port": site.pbx.control_port, "sip_port": site.pbx.sip_port}
        self.layout.state_file.write_text(json.dumps(state) + "\n")

    def _info(self, backend: Backend, ami_port: int, sip_port: int) -> PbxInfo:
        pid = backend.running_pid()
        return PbxInfo(
            backend=backend.name,
            kind=PbxKind.ASTERISK,
            control_host=HOST,
            control_port=ami_port,
            sip_host=HOST,
            sip_port=sip_port,
            pid=pid or None,
            config_dir=backend.config_dir,
        )

    # -- public API

    def prepare(self) -> BackendName:
        """Build or reuse what the chosen backend needs (the rootfs, the container image)
        and offer it to other tools (the image as `:latest`); the backend's name."""
        backend = self._chosen()
        backend.prepare(self._progress)
        backend.publish(self._progress)
        return backend.name

    def status(self) -> PbxInfo | None:
        """Where the PBX answers, or None when it is not running."""
        recorded = self._recorded()
        if recorded is None:
            return None
        backend, ami_port, sip_port = recorded
        if not backend.is_running():
            return None
        return self._info(backend, ami_port, sip_port)

    def up(self, site: Site) -> PbxInfo:
        """Render `site` and start Asterisk, or re-render and reload it when it runs.

        Blocks until AMI accepts the site's login and Asterisk has fully booted.
        """
        from telephony.asterisk.render import render

        rendered = render(site)
        recorded = self._recorded()
        if recorded is not None and recorded[0].is_running():
            backend = recorded[0]
            if self._requested is not None and self._requested != backend.name:
                raise PbxError(
                    f"the PBX already runs with the {backend.name} backend; "
                    "run `telephony pbx down` first"
                )
            if (recorded[1], recorded[2]) != (site.pbx.control_port, site.pbx.sip_port):
                raise PbxError(
                    f"the PBX already runs on AMI port {recorded[1]} and SIP port {recorded[2]}; "
                    "run `telephony pbx down` before changing ports"
                )
            self._write_config(backend, rendered)
            self._log_offset = file_size(backend.log_file())
            backend.cli("core reload")
            self._ami_login = (site.pbx.control_username, site.pbx.control_secret.get_secret_value())
            self._wait_ready(backend, site.pbx.control_port, reload=True)
            return self._info(backend, site.pbx.control_port, site.pbx.sip_port)

        backend = self._chosen()
        backend.prepare(self._progress)
        self._check_ports_free(site.pbx.control_port, site.pbx.sip_port)
        self._write_config(backend, rendered)
        self._write_state(backend.name, site)
        self._ami_login = (site.pbx.control_username, site.pbx.control_secret.get_secret_value())
        return self._start(backend, site.pbx.control_port, site.pbx.sip_port)

    def down(self) -> None:
        """Stop the PBX and clean up; harmless when it is not running."""
        recorded = self._recorded()
        if recorded is None:
            # Nothing recorded, but an earlier crash may have left proc mounted.
            make_backend("rootfs", self.layout).after_stop()
            return
        backend = recorded[0]
        backend.stop()
        backend.after_stop()
        self.layout.state_file.unlink(missing_ok=True)

    def kill(self) -> None:
        """SIGKILL Asterisk without any cleanup (for restart tests)."""
        recorded = self._recorded()
        if recorded is not None:
            recorded[0].kill()

    def start_again(self) -> PbxInfo:
        """Start Asterisk with the config already in place (after kill()) and wait for AMI."""
        recorded = self._recorded()
        if recorded is None:
            raise PbxError("no PBX was started in this state directory: run `telephony pbx up`")
        backend, ami_port, sip_port = recorded
        if backend.is_running():
            self._wait_ready(backend, ami_port)
            return self._info(backend, ami_port, sip_port)
        # A just-killed Asterisk's sockets can outlive its exit by a moment.
        self._check_ports_free(ami_port, sip_port, wait=5.0)
        return self._start(backend, ami_port, sip_port)

    def cli(self, command: str) -> str:
        """The output of `asterisk -rx command` on the running PBX."""
        recorded = self._recorded()
        if recorded is None or not recorded[0].is_running():
            raise PbxError("the PBX is not running")
        return recorded[0].cli(command)

    def recorded(self) -> bool:
        """True when this state directory has an Asterisk started (running or killed)."""
        return self._recorded() is not None

    def hangup_all(self) -> None:
        """Hang up every call on the running PBX."""
        self.cli("channel request hangup all")

    def contact(self, site: Site, device_id: str) -> str | None:
        """Where a device is registered (`sip:user@host:port`), or None."""
        prefix = f"{device_id}/sip:"
        for word in self.cli("pjsip show contacts").split():
            if word.startswith(prefix):
                return word[len(device_id) + 1 :].split(";")[0]
        return None

    def active_calls(self) -> int:
        """How many channels are up on the running PBX."""
        first = self.cli("core show channels count").lstrip().split(" ", 1)[0]
        return int(first) if first.isdigit() else 0

    def exec_foreground(self, site: Site) -> NoReturn:
        """Render `site` and replace this process with Asterisk in the foreground.

        For containers, where Asterisk should be the main process; needs the path backend.
        """
        from telephony.asterisk.render import render

        backend = self._chosen()
        if not isinstance(backend, PathBackend):
            raise PbxError("--foreground needs an installed asterisk (the path backend)")
        self._write_config(backend, render(site))
        self._write_state(backend.name, site)
        # exec keeps the pid, so status() and cli() work from a second shell.
        self.layout.pid_file.write_text(f"{os.getpid()}\n")
        argv = backend.foreground_argv()
        os.execv(argv[0], argv)

    # -- steps

    def _write_config(self, backend: Backend, rendered: Mapping[str, str]) -> None:
        # Site files win over a base file of the same name.
        write_config_dir(backend.config_dir, {**base_files(backend.directories()), **rendered})

    def _check_ports_free(self, ami_port: int, sip_port: int, *, wait: float = 0.0) -> None:
        deadline = time.monotonic() + wait
        while True:
            busy = []
            if tcp_port_in_use(HOST, ami_port):
                busy.append(f"AMI port {HOST}:{ami_port} (tcp)")
            if udp_port_in_use(HOST, sip_port):
                busy.append(f"SIP port {HOST}:{sip_port} (udp)")
            if not busy or time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        if busy:
            raise PbxError(
                f"{' and '.join(busy)} already in use by another program "
                "(another Asterisk? check with `ss -ltnup`)"
            )

    def _start(self, backend: Backend, ami_port: int, sip_port: int) -> PbxInfo:
        self.layout.run_dir.mkdir(parents=True, exist_ok=True)
        # Start each run's captured output afresh so error tails show this run only.
        self.layout.output_log.write_bytes(b"")
        self._log_offset = file_size(backend.log_file())
        backend.start()
        try:
            self._wait_ready(backend, ami_port)
        except BaseException:
            # Never leave a half-started Asterisk holding the ports.
            backend.stop()
            backend.after_stop()
            raise
        return self._info(backend, ami_port, sip_port)

    def _wait_ready(self, backend: Backend, ami_port: int, *, reload: bool = False) -> None:
        started = time.monotonic()
        deadline = started + self._timeout
        while True:
            if not backend.is_running():
                raise PbxError(
                    f"Asterisk exited while starting\n{backend.log_tail(since=self._log_offset)}"
                )
            outcome = self._probe(ami_port)
            if outcome is LoginResult.ACCEPTED:
                break
            now = time.monotonic()
            if outcome is LoginResult.REJECTED and not (reload and now - started < _RELOAD_GRACE):
                user = self._ami_login[0] if self._ami_login else "?"
                raise PbxError(
                    f"AMI at {HOST}:{ami_port} rejected the login of user {user!r}: "
                    "another Asterisk may hold the port, or manager.conf does not match the site"
                )
            if now >= deadline:
                raise PbxError(
                    f"AMI at {HOST}:{ami_port} did not answer within {self._timeout:g} s\n"
                    f"{backend.log_tail(since=self._log_offset)}"
                )
            # Doubles as the pause between attempts; returns early if Asterisk dies.
            backend.wait_exit(_POLL)
        remaining = max(1.0, deadline - time.monotonic())
        backend.cli("core waitfullybooted", timeout=remaining)

    def _probe(self, ami_port: int) -> LoginResult:
        if self._ami_login is None:
            return LoginResult.ACCEPTED if ami_banner(HOST, ami_port) else LoginResult.UNREACHABLE
        username, secret = self._ami_login
        return ami_login(HOST, ami_port, username, secret)
