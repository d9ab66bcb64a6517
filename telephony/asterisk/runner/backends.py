"""Running Asterisk: an installed binary or a root file system here, a container in
`container.py`.

Each backend knows where its config directory is, how to start Asterisk with it,
how to tell whether that Asterisk still runs, and how to reach its CLI.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from telephony.asterisk.runner import rootfs
from telephony.asterisk.runner.baseconf import DEBIAN_DIRECTORIES
from telephony.asterisk.runner.paths import BackendName, Layout
from telephony.asterisk.runner.procs import (
    is_alive,
    is_asterisk,
    read_pid,
    signal_pid,
    spawn_detached,
    tail,
    wait_gone,
)
from telephony.pbx.errors import PbxError

CLI_TIMEOUT = 30.0

Progress = Callable[[str], None]


class Backend(ABC):
    """One way of running Asterisk for a state directory."""

    name: BackendName

    def __init__(self, layout: Layout) -> None:
        self.layout = layout

    @property
    @abstractmethod
    def config_dir(self) -> Path:
        """Where the .conf files go (a host path)."""

    @abstractmethod
    def directories(self) -> dict[str, str]:
        """The [directories] of asterisk.conf, as Asterisk will see them."""

    def prepare(self, progress: Progress) -> None:
        """Make the backend ready to start (build what it needs); default: nothing."""

    def publish(self, progress: Progress) -> None:
        """After an explicit `pbx prepare`: offer what was built to other tools; default: nothing."""

    @abstractmethod
    def start(self) -> int | None:
        """Start Asterisk in the background with the config in place; its pid if known."""

    @abstractmethod
    def running_pid(self) -> int | None:
        """The pid of our Asterisk if it runs (0 when it runs but has no host pid)."""

    def is_running(self) -> bool:
        """True while our Asterisk runs."""
        return self.running_pid() is not None

    def wait_exit(self, timeout: float) -> bool:
        """Wait up to `timeout` for Asterisk to end; True when it is not running."""
        pid = self.running_pid()
        return pid is None or (pid > 0 and wait_gone(pid, timeout))

    @abstractmethod
    def cli_command(self, command: str) -> list[str]:
        """argv that runs `asterisk -rx command` against our Asterisk."""

    def cli(self, command: str, timeout: float = CLI_TIMEOUT) -> str:
        """Run an Asterisk CLI command; its output. PbxError when Asterisk cannot be reached."""
        try:
            result = subprocess.run(
                self.cli_command(command),
                capture_output=True,
                text=True,
                env=self.cli_env(),
                check=False,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired as exc:
            raise PbxError(f"`asterisk -rx {command!r}` took more than {timeout:.0f} s") from exc
        out = result.stdout
        if result.returncode != 0 or out.startswith("Unable to connect to remote asterisk"):
            detail = (out + result.stderr).strip()
            raise PbxError(f"`asterisk -rx {command!r}` failed: {detail}")
        return out

    def cli_env(self) -> dict[str, str] | None:
        """Environment for CLI commands (None: inherit ours)."""
        return None

    def stop(self, timeout: float = 10.0) -> None:
        """Stop gracefully (`core stop now`), then SIGTERM, then SIGKILL."""
        pid = self.running_pid()
        if pid is None:
            return
        try:
            self.cli("core stop now", timeout=timeout)
        except PbxError:
            pass  # CLI unreachable (still starting, or wedged): the signals below still work.
        if self.wait_exit(timeout):
            return
        for signum in (signal.SIGTERM, signal.SIGKILL):
            self.send_signal(signum)
            if self.wait_exit(5.0):
                return
        raise PbxError(f"Asterisk (pid {pid}) did not stop")

    def send_signal(self, signum: int) -> None:
        """Signal our Asterisk, if it runs."""
        pid = self.running_pid()
        if pid:
            signal_pid(pid, signum)

    def kill(self) -> None:
        """SIGKILL, no cleanup (for restart tests)."""
        self.send_signal(signal.SIGKILL)
        self.wait_exit(5.0)

    def after_stop(self) -> None:
        """Clean up after Asterisk has ended; default: forget the pid."""
        self.layout.pid_file.unlink(missing_ok=True)

    @abstractmethod
    def log_file(self) -> Path:
        """Asterisk's `messages` log on the host."""

    def log_tail(self, lines: int = 30, since: int = 0) -> str:
        """The end of Asterisk's log (from byte `since` on) and captured output."""
        parts = [
            f"--- {path} ---\n{text}"
            for path, start in ((self.log_file(), since), (self.layout.output_log, 0))
            if (text := tail(path, lines, start))
        ]
        return "\n".join(parts) or "(Asterisk wrote no log)"


class _ProcessBackend(Backend):
    """Asterisk as a process of this host, tracked by a pid file."""

    def _spawn(self, argv: Sequence[str], env: Mapping[str, str]) -> int:
        self.layout.run_dir.mkdir(parents=True, exist_ok=True)
        pid = spawn_detached(
            argv, pid_file=self.layout.pid_file, log_file=self.layout.output_log, env=env
        )
        # Until `chroot` has exec'd asterisk the pid does not look like Asterisk yet;
        # wait for that (or for an early exit) so "not running" means it really ended.
        deadline = time.monotonic() + 10.0
        while not is_asterisk(pid, self._root()) and time.monotonic() < deadline:
            if wait_gone(pid, 0.01):
                break
        return pid

    def _root(self) -> Path | None:
        return None

    def running_pid(self) -> int | None:
        pid = read_pid(self.layout.pid_file)
        if pid is not None and is_asterisk(pid, self._root()):
            return pid
        return None

    def wait_exit(self, timeout: float) -> bool:
        # Not running_pid(): after SIGKILL the main thread is a zombie at once while
        # the other threads still hold the ports; the pidfd waits for all of them.
        pid = read_pid(self.layout.pid_file)
        if pid is None or (is_alive(pid) and not is_asterisk(pid, self._root())):
            return True  # never started, or the number now belongs to another program
        return wait_gone(pid, timeout)


class PathBackend(_ProcessBackend):
    """The `asterisk` on PATH, with every writable directory under the state dir."""

    name: BackendName = "path"

    def __init__(self, layout: Layout, binary: str | None = None) -> None:
        super().__init__(layout)
        self._binary = binary

    @property
    def binary(self) -> str:
        """The asterisk executable."""
        found = self._binary or shutil.which("asterisk")
        if found is None:
            raise PbxError("no `asterisk` on PATH (TELEPHONY_PBX_BACKEND=path)")
        return found

    @property
    def root(self) -> Path:
        """The private directory tree."""
        return self.layout.path_root

    @property
    def config_dir(self) -> Path:
        return self.root / "etc"

    @property
    def asterisk_conf(self) -> Path:
        """Our asterisk.conf, passed with -C."""
        return self.config_dir / "asterisk.conf"

    def directories(self) -> dict[str, str]:
        # Module, data and binary directories keep the installation's compiled-in paths.
        return {
            "astetcdir": str(self.config_dir),
            "astrundir": str(self.root / "run"),
            "astlogdir": str(self.root / "log"),
            "astspooldir": str(self.root / "spool"),
            "astdbdir": str(self.root / "db"),
            # Asterisk appends "/keys" itself.
            "astkeydir": str(self.root),
            "astcachedir": str(self.root / "cache"),
        }

    def _make_dirs(self) -> None:
        for path in self.directories().values():
            Path(path).mkdir(parents=True, exist_ok=True)

    def start(self) -> int:
        self._make_dirs()
        argv = [self.binary, "-f", "-C", str(self.asterisk_conf)]
        return self._spawn(argv, os.environ)

    def cli_command(self, command: str) -> list[str]:
        return [self.binary, "-C", str(self.asterisk_conf), "-rx", command]

    def log_file(self) -> Path:
        return self.root / "log" / "messages"

    def foreground_argv(self) -> list[str]:
        """argv to run Asterisk in the foreground with our config (for containers)."""
        self._make_dirs()
        return [self.binary, "-f", "-C", str(self.asterisk_conf)]


class RootfsBackend(_ProcessBackend):
    """Asterisk from the cached Debian sid tree, run with chroot on the host network."""

    name: BackendName = "rootfs"

    @property
    def root(self) -> Path:
        """The root file system."""
        return self.layout.rootfs

    @property
    def config_dir(self) -> Path:
        return self.root / "etc" / "asterisk"

    def directories(self) -> dict[str, str]:
        return dict(DEBIAN_DIRECTORIES)

    def prepare(self, progress: Progress) -> None:
        rootfs.ensure_rootfs(self.root, self.layout.rootfs_lock, progress)

    def _root(self) -> Path:
        return self.root

    def start(self) -> int:
        rootfs.require_root("the rootfs PBX backend")
        if rootfs.installed_version(self.root) is None:
            raise PbxError(
                f"no Asterisk root file system at {self.root}: run `telephony pbx prepare`"
            )
        rootfs.prepare_for_run(self.root)
        argv = ["chroot", str(self.root), "asterisk", "-f", "-U", "root"]
        return self._spawn(argv, rootfs.CHROOT_ENV)

    def cli_command(self, command: str) -> list[str]:
        return ["chroot", str(self.root), "asterisk", "-rx", command]

    def cli_env(self) -> dict[str, str]:
        return dict(rootfs.CHROOT_ENV)

    def after_stop(self) -> None:
        super().after_stop()
        if self.root.exists() and os.geteuid() == 0:
            rootfs.unmount_proc_if_unused(self.root)

    def log_file(self) -> Path:
        return self.root / "var" / "log" / "asterisk" / "messages"


def make_backend(name: BackendName, layout: Layout) -> Backend:
    """The backend object for a name."""
    if name == "path":
        return PathBackend(layout)
    if name == "docker":
        # Imported here: the container backend builds on this module's Backend.
        from telephony.asterisk.runner.container import ContainerBackend

        return ContainerBackend(layout)
    return RootfsBackend(layout)
