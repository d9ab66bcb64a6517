"""Process helpers: start Asterisk detached, recognise it by pid, wait for it to end."""

from __future__ import annotations

import contextlib
import os
import select
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from telephony.pbx.errors import PbxError

# `sh` starts the command in the background and exits at once, so Asterisk is not
# our child: it is never left a zombie of this process, survives the CLI that
# started it, and Python never warns about a still-running Popen. `$0` carries
# the pid file path (the first argument after the script).
_SPAWN_SCRIPT = '"$@" </dev/null & echo $! >"$0"'


def spawn_detached(
    argv: Sequence[str], *, pid_file: Path, log_file: Path, env: Mapping[str, str]
) -> int:
    """Start `argv` in its own session with output appended to `log_file`; its pid."""
    pid_file.unlink(missing_ok=True)
    with log_file.open("ab") as log:
        helper = subprocess.run(
            ["sh", "-c", _SPAWN_SCRIPT, str(pid_file), *argv],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env=dict(env),
            start_new_session=True,
            check=False,
            timeout=30,
        )
    pid = read_pid(pid_file)
    if helper.returncode != 0 or pid is None:
        raise PbxError(f"could not start {argv[0]} (see {log_file})")
    return pid


def read_pid(pid_file: Path) -> int | None:
    """The pid in a pid file, or None when it is missing or not a number."""
    try:
        text = pid_file.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _stat_state(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name in parentheses may itself contain spaces or ')'.
    return stat[stat.rfind(")") + 2 :][:1] or None


def is_alive(pid: int) -> bool:
    """True while the process exists and has not exited (a zombie counts as gone)."""
    return _stat_state(pid) not in (None, "Z", "X")


def is_asterisk(pid: int, root: Path | None = None) -> bool:
    """True when `pid` is a live Asterisk process (chrooted into `root`, if given).

    Guards against a stale pid file whose number now belongs to another program.
    """
    if not is_alive(pid):
        return False
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return False
    if comm != "asterisk":
        return False
    if root is None:
        return True
    try:
        return os.readlink(f"/proc/{pid}/root") == str(root.resolve())
    except OSError:
        return False


def wait_gone(pid: int, timeout: float) -> bool:
    """Wait until the process has exited; False if it is still running at `timeout`."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    except OSError:
        fd = -1
    if fd < 0:
        # No pidfd (old kernel): fall back to checking on a short period.
        deadline = time.monotonic() + timeout
        while is_alive(pid):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        # A pidfd becomes readable once every thread has exited, even if nobody reaps
        # the process; a zombie main thread alone does not count.
        return bool(poller.poll(max(0.0, timeout) * 1000))
    finally:
        os.close(fd)


def signal_pid(pid: int, signum: int) -> None:
    """Send a signal, ignoring a process that is already gone."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def file_size(path: Path) -> int:
    """The size of a file, 0 when it does not exist."""
    try:
        return path.stat().st_size
    except OSError:
        return 0


def tail(path: Path, lines: int = 30, since: int = 0) -> str:
    """The last `lines` lines of a text file written after byte `since` ('' if none)."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            if since > size:
                since = 0  # the file was rotated or truncated meanwhile
            handle.seek(max(since, size - 64 * 1024))
            data = handle.read()
    except OSError:
        return ""
    return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:])
