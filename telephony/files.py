"""Writing generated files that hold secrets: owner-only from the first byte, all or none.

`write_files` leaves the directory holding either the complete old set or the complete
new set. Each file is first written and synced under a temporary name created with
O_EXCL | O_NOFOLLOW, mode 0600 (so a planted symbolic link is never followed and the
umask never shows a secret to others). Then every existing target gets a hard-linked
backup and the temporaries are renamed over the targets, one by one; if any rename
fails, the ones already done are undone from the backups. A symbolic link at a target
name is replaced by the new file, never followed.

One writer at a time (an flock on the directory), and each writer first clears what a
killed earlier one left: its backups are put back (so the old set is whole again) and
its temporaries removed.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import secrets
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path


class MixedSetError(OSError):
    """A write failed and a file could not be put back: the directory mixes old and new."""


_TEMPORARY = re.compile(r"\.(?P<name>.+)\.(?P<tag>[0-9]+-[0-9a-f]{8})\.(?P<kind>tmp|old)")
_LEGACY_TEMPORARY = re.compile(r"\.(?P<name>.+)\.tmp")  # what older versions left


def write_files(out: Path, files: Mapping[str, str]) -> list[Path]:
    """Write `files` (name -> text) into `out`; return the paths, sorted by name.

    On failure raises OSError naming the path (`filename`), with `out` as it was; only
    if even undoing fails, MixedSetError.
    """
    names = sorted(files)
    for name in names:
        if not name or "/" in name or name.startswith(".") or "\0" in name:
            raise ValueError(f"not a plain file name: {name!r}")
    _make_directory(out)
    try:
        directory = os.open(out, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, str(out)) from None
    try:
        with _locked(directory, out):
            _clear_leftovers(directory, out, set(names))
            tag = f"{os.getpid()}-{secrets.token_hex(4)}"
            staged = _Staged(directory, out, tag)
            try:
                for name in names:
                    staged.write(name, files[name])
                staged.swap(names)
            finally:
                staged.clean_up()
            os.fsync(directory)
    finally:
        os.close(directory)
    return [out / name for name in names]


def _make_directory(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "is a file, not a directory", str(out))
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, exc.filename or str(out)) from None


@contextmanager
def _locked(directory: int, out: Path) -> Iterator[None]:
    try:
        fcntl.flock(directory, fcntl.LOCK_EX)
    except OSError as exc:
        if exc.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL):
            raise OSError(exc.errno, exc.strerror, str(out)) from None
        yield  # a file system without locks: one writer at a time is up to the caller
        return
    try:
        yield
    finally:
        fcntl.flock(directory, fcntl.LOCK_UN)


def _clear_leftovers(directory: int, out: Path, names: set[str]) -> None:
    for entry in sorted(os.listdir(directory)):
        match = _TEMPORARY.fullmatch(entry) or _LEGACY_TEMPORARY.fullmatch(entry)
        if match is None or match.group("name") not in names:
            continue
        try:
            if match.groupdict().get("kind") == "old":
                # A writer was killed between backing up and cleaning up: put the old
                # file back, so the set is whole before this writer starts.
                os.replace(entry, match.group("name"), src_dir_fd=directory,
                           dst_dir_fd=directory)
            else:
                os.unlink(entry, dir_fd=directory)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror, str(out / entry)) from None


class _Staged:
    """Temporaries written next to their targets, and the backups of the targets."""

    def __init__(self, directory: int, out: Path, tag: str) -> None:
        self.directory = directory
        self.out = out
        self.tag = tag
        self.temporaries: dict[str, str] = {}
        self.backups: dict[str, Callable[[], None]] = {}

    def write(self, name: str, text: str) -> None:
        data = text.encode("utf-8")
        temporary = f".{name}.{self.tag}.tmp"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(temporary, flags, 0o600, dir_fd=self.directory)
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror, str(self.out / name)) from None
        self.temporaries[name] = temporary
        try:
            os.fchmod(fd, 0o600)  # exactly 0600, whatever the umask took away
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror, str(self.out / name)) from None
        finally:
            os.close(fd)

    def swap(self, names: list[str]) -> None:
        for name in names:
            self.back_up(name)
        done: list[str] = []
        try:
            for name in names:
                os.replace(self.temporaries[name], name, src_dir_fd=self.directory,
                           dst_dir_fd=self.directory)
                del self.temporaries[name]
                done.append(name)
        except OSError as exc:
            self.undo(done)
            raise OSError(exc.errno, exc.strerror, str(self.out / name)) from None
        except BaseException:
            self.undo(done)
            raise

    def back_up(self, name: str) -> None:
        backup = f".{name}.{self.tag}.old"
        try:
            os.link(name, backup, src_dir_fd=self.directory, dst_dir_fd=self.directory,
                    follow_symlinks=False)
        except FileNotFoundError:
            return  # nothing to keep: undoing means removing the new file
        except OSError:
            # No hard links here (some network and FAT file systems): keep a copy.
            self.backups[name] = self.copy_of(name)
            return
        self.backups[name] = lambda: os.replace(
            backup, name, src_dir_fd=self.directory, dst_dir_fd=self.directory
        )

    def copy_of(self, name: str) -> Callable[[], None]:
        """A way to put `name` back as it is now, from a copy held in memory."""
        fd_dir = self.directory
        temporary = f".{name}.{self.tag}.tmp"
        try:
            link = os.readlink(name, dir_fd=fd_dir)
        except OSError:
            pass
        else:

            def relink() -> None:
                os.symlink(link, temporary, dir_fd=fd_dir)
                os.replace(temporary, name, src_dir_fd=fd_dir, dst_dir_fd=fd_dir)

            return relink
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd_dir)
            with os.fdopen(fd, "rb") as handle:
                mode = os.fstat(handle.fileno()).st_mode & 0o7777
                data = handle.read()
        except OSError as exc:
            raise OSError(exc.errno, f"cannot keep a copy of the old file ({exc.strerror})",
                          str(self.out / name)) from None

        def rewrite() -> None:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            out = os.open(temporary, flags, 0o600, dir_fd=fd_dir)
            try:
                os.fchmod(out, mode)
                os.write(out, data)
            finally:
                os.close(out)
            os.replace(temporary, name, src_dir_fd=fd_dir, dst_dir_fd=fd_dir)

        return rewrite

    def undo(self, done: list[str]) -> None:
        failed: OSError | None = None
        for name in reversed(done):
            restore = self.backups.pop(name, None)
            try:
                if restore is None:
                    os.unlink(name, dir_fd=self.directory)
                else:
                    restore()
            except OSError as exc:
                failed = failed or MixedSetError(
                    exc.errno, f"{exc.strerror}; could not put the old file back, so the "
                    "directory holds old and new files", str(self.out / name))
        if failed is not None:
            raise failed

    def clean_up(self) -> None:
        leftovers = list(self.temporaries.values())
        leftovers += [f".{name}.{self.tag}.old" for name in self.backups]
        for entry in leftovers:
            try:
                os.unlink(entry, dir_fd=self.directory)
            except FileNotFoundError:
                pass
