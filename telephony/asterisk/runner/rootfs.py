"""The cached Debian root file system that carries Asterisk when none is installed.

Debian stable has no asterisk package; sid has. `mmdebstrap` builds a minimal sid
tree into a temporary directory next to the cache, and only a finished build is
renamed into place, with a marker naming the Asterisk version, so a half-built tree
is never reused.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from telephony.pbx.errors import PbxError

MARKER = ".telephony-rootfs"
PACKAGES = ("asterisk", "asterisk-modules")
SUITE = "sid"
# Directories Asterisk writes to; the tree is built with the distribution's uids,
# which on the host map to unrelated users, and Asterisk runs as root here.
ASTERISK_DIRS = ("etc/asterisk", "var/lib/asterisk", "var/log/asterisk", "var/spool/asterisk")
# A clean environment for everything run inside the tree.
CHROOT_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/root",
    "LANG": "C.UTF-8",
}
_BUILD_PREFIX = "asterisk-rootfs.build-"


def require_root(what: str) -> None:
    """Raise unless running as root (chroot and mount need it)."""
    if os.geteuid() != 0:
        raise PbxError(
            f"{what} needs root (chroot, mount); install Asterisk so `asterisk` is on PATH, "
            "or use the Docker backend (TELEPHONY_PBX_BACKEND=docker)"
        )


def installed_version(root: Path) -> str | None:
    """The Asterisk version recorded when the tree was built, or None if unfinished."""
    try:
        text = (root / MARKER).read_text().strip()
    except OSError:
        return None
    return text or None


@contextlib.contextmanager
def locked(lock_file: Path) -> Iterator[None]:
    """Hold an exclusive lock on `lock_file` (created if missing) for the block."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with lock_file.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_rootfs(root: Path, lock_file: Path, progress: Callable[[str], None]) -> str:
    """Reuse the finished tree at `root`, or build it; the Asterisk version."""
    version = installed_version(root)
    if version is not None:
        return version
    require_root("building the Asterisk root file system")
    with locked(lock_file):
        # Another process may have finished the build while we waited for the lock.
        version = installed_version(root)
        if version is not None:
            return version
        if root.exists():
            _remove_tree(root)
        for stale in root.parent.glob(_BUILD_PREFIX + "*"):
            _remove_tree(stale)
        return _build(root, progress)


def _build(root: Path, progress: Callable[[str], None]) -> str:
    if shutil.which("mmdebstrap") is None:
        raise PbxError(
            "building the Asterisk root file system needs mmdebstrap (apt install mmdebstrap)"
        )
    building = Path(tempfile.mkdtemp(prefix=_BUILD_PREFIX, dir=root.parent))
    progress(f"building the Asterisk root file system in {root} (Debian {SUITE}, first run only)")
    command = [
        "mmdebstrap",
        "--variant=apt",
        # sid's Release files carry a short Valid-Until; a slightly old mirror is fine.
        '--aptopt=Acquire::Check-Valid-Until "false"',
        f"--include={','.join(PACKAGES)}",
        SUITE,
        str(building),
    ]
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            detail = "\n".join((result.stderr or result.stdout).splitlines()[-15:])
            raise PbxError(f"mmdebstrap failed (exit {result.returncode}):\n{detail}")
        version = asterisk_version(building)
        (building / MARKER).write_text(version + "\n")
        building.rename(root)
    except BaseException:
        _remove_tree(building)
        raise
    progress(f"built {root}: {version}")
    return version


def asterisk_version(root: Path) -> str:
    """`asterisk -V` inside the tree."""
    result = subprocess.run(
        ["chroot", str(root), "asterisk", "-V"],
        capture_output=True,
        text=True,
        env=CHROOT_ENV,
        check=False,
        timeout=30,
    )
    version = result.stdout.strip()
    if result.returncode != 0 or not version.startswith("Asterisk"):
        raise PbxError(f"no working asterisk in {root}: {result.stderr.strip() or version}")
    return version


def _unescape_mount_path(field: str) -> str:
    # /proc/self/mountinfo writes space, tab, newline and backslash as octal escapes.
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def mount_points() -> list[Path]:
    """Every current mount point."""
    points: list[Path] = []
    with open("/proc/self/mountinfo", encoding="utf-8") as handle:
        for line in handle:
            fields = line.split()
            if len(fields) > 4:
                points.append(Path(_unescape_mount_path(fields[4])))
    return points


def _remove_tree(path: Path) -> None:
    resolved = path.resolve()
    for point in mount_points():
        if point == resolved or resolved in point.parents:
            # Deleting through a live mount (proc, a bind mount) would be destructive.
            raise PbxError(f"refusing to delete {path}: {point} is mounted inside it")
    shutil.rmtree(path)


def proc_mounted(root: Path) -> bool:
    """True when proc is mounted at root/proc."""
    return (root / "proc").resolve() in mount_points()


def mount_proc(root: Path) -> None:
    """Mount proc inside the tree unless it already is (Asterisk reads /proc)."""
    if proc_mounted(root):
        return
    _run(["mount", "-t", "proc", "proc", str(root / "proc")])


def processes_using(root: Path) -> list[int]:
    """Pids of processes chrooted into `root` (other users of the same tree)."""
    target = str(root.resolve())
    pids: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if os.readlink(entry / "root") == target:
                pids.append(int(entry.name))
    return pids


def unmount_proc_if_unused(root: Path) -> None:
    """Unmount root/proc, unless some other process still runs inside the tree."""
    if proc_mounted(root) and not processes_using(root):
        _run(["umount", str(root / "proc")])


def prepare_for_run(root: Path) -> None:
    """What Asterisk needs in the tree before it starts."""
    mount_proc(root)
    # Without the host's /etc/hosts Asterisk's address lookups stall calls.
    shutil.copyfile("/etc/hosts", root / "etc" / "hosts")
    (root / "var/lib/asterisk/keys").mkdir(parents=True, exist_ok=True)
    (root / "run/asterisk").mkdir(parents=True, exist_ok=True)
    for name in ASTERISK_DIRS:
        _chown_root(root / name)


def _chown_root(top: Path) -> None:
    if not top.exists():
        return
    os.lchown(top, 0, 0)
    for dirpath, dirnames, filenames in os.walk(top):
        for name in (*dirnames, *filenames):
            os.lchown(os.path.join(dirpath, name), 0, 0)


def _run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=30)
    if result.returncode != 0:
        raise PbxError(f"{' '.join(command)} failed: {result.stderr.strip()}")
