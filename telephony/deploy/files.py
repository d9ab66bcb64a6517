"""A deploy's file changes: planned (pure), shown as a diff, applied with the previous set
kept, and rolled back.

A plan names every file it changes under the target directory, relative to it, with the
text before (None: absent) and after. `apply` writes our own files before the main files
that include them, so a PBX reading the directory mid-way never meets an include of a
file not there yet; each file is written under a temporary name and renamed into place,
with the owner, group and mode of the file it replaces (a new file takes the target
directory's owner and group, mode 0640: PBXs run as their own user and must read it;
others must not, it holds secrets). Before anything is written the previous set (every
file the plan changes, as it was, and which were absent) is kept in `STATE_DIR` inside
the target, so `rollback` puts it back, even after the command that wrote it ended.
"""

from __future__ import annotations

import difflib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

STATE_DIR = ".telephony-deploy"
"""Inside the target: the previous set (`previous/`) and its manifest."""

_MANIFEST = "manifest.json"


class DeployError(Exception):
    """A deploy that cannot go ahead or did not work; `what` names the field, file or
    check, and nothing was left half-applied (or it was rolled back)."""

    def __init__(self, what: str, message: str) -> None:
        super().__init__(f"{what}: {message}")
        self.what = what
        self.message = message


@dataclass(frozen=True, slots=True)
class FileChange:
    """One file under the target: its text before (None: absent) and after."""

    path: PurePosixPath
    before: str | None
    after: str

    @property
    def changed(self) -> bool:
        return self.before != self.after


@dataclass(frozen=True, slots=True)
class Plan:
    """Every file a deploy would write, ours first, then the main files including them."""

    changes: tuple[FileChange, ...]

    @property
    def changed(self) -> tuple[FileChange, ...]:
        return tuple(c for c in self.changes if c.changed)

    def diff(self) -> str:
        """A unified diff of every file that would change ('' when none would)."""
        out: list[str] = []
        for change in self.changed:
            before = [] if change.before is None else change.before.splitlines(keepends=True)
            after = change.after.splitlines(keepends=True)
            out += difflib.unified_diff(
                before, after,
                fromfile="/dev/null" if change.before is None else f"a/{change.path}",
                tofile=f"b/{change.path}",
            )
            if out and not out[-1].endswith("\n"):
                out[-1] += "\n\\ No newline at end of file\n"
        return "".join(out)


def read_text(target: Path, path: PurePosixPath) -> str | None:
    """A file under the target as text, or None when absent."""
    try:
        return (target / path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError as exc:
        raise DeployError(str(target / path), f"not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise DeployError(str(target / path), exc.strerror or str(exc)) from None


def check_relative(path: PurePosixPath) -> None:
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise ValueError(f"not a path inside the target: {path}")


def apply(target: Path, plan: Plan) -> list[PurePosixPath]:
    """Write the plan's changed files, keeping the previous set first; return the paths
    written. A failed write puts back what was written and raises DeployError."""
    changed = plan.changed
    if not changed:
        return []
    for change in changed:
        check_relative(change.path)
    keep(target, [c.path for c in changed])
    written: list[PurePosixPath] = []
    try:
        for change in changed:
            _write(target, change.path, change.after)
            written.append(change.path)
    except OSError as exc:
        restore(target)
        raise DeployError(str(exc.filename or target), f"cannot write: {exc.strerror}") from None
    return written


def keep(target: Path, paths: list[PurePosixPath]) -> None:
    """Keep the files at `paths` as they are now as the previous set (replacing the one
    kept before)."""
    state = target / STATE_DIR
    fresh = Path(tempfile.mkdtemp(prefix=".previous-", dir=_state_dir(target)))
    absent: list[str] = []
    for path in paths:
        source = target / path
        if not source.exists():
            absent.append(str(path))
            continue
        copy = fresh / path
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, copy)
    (fresh / _MANIFEST).write_text(json.dumps(
        {"files": [str(p) for p in paths], "absent": absent}, indent=1) + "\n")
    old = state / "previous"
    if old.exists():
        shutil.rmtree(old)
    fresh.rename(old)


def has_previous(target: Path) -> bool:
    return (target / STATE_DIR / "previous" / _MANIFEST).is_file()


def previous_plan(target: Path) -> Plan:
    """The kept previous set as a plan back from what is there now (files absent then
    show as an empty `after`; `restore` removes them)."""
    kept = target / STATE_DIR / "previous"
    try:
        manifest = json.loads((kept / _MANIFEST).read_text())
    except FileNotFoundError:
        raise DeployError(str(target), "no previous deploy kept here to roll back to") from None
    absent = set(manifest["absent"])
    changes = []
    for name in manifest["files"]:
        path = PurePosixPath(name)
        check_relative(path)
        now = read_text(target, path)
        then = "" if name in absent else (kept / path).read_text(encoding="utf-8")
        changes.append(FileChange(path, now, then))
    return Plan(tuple(changes))


def restore(target: Path) -> list[PurePosixPath]:
    """Put the kept previous set back (main files first, so no include is left pointing
    at a removed file); return the paths restored."""
    kept = target / STATE_DIR / "previous"
    try:
        manifest = json.loads((kept / _MANIFEST).read_text())
    except FileNotFoundError:
        raise DeployError(str(target), "no previous deploy kept here to roll back to") from None
    absent = set(manifest["absent"])
    done: list[PurePosixPath] = []
    for name in reversed(manifest["files"]):
        path = PurePosixPath(name)
        check_relative(path)
        if name in absent:
            try:
                (target / path).unlink()
            except FileNotFoundError:
                pass
        else:
            _write(target, path, (kept / path).read_bytes(), like=kept / path)
        done.append(path)
    return done


def _state_dir(target: Path) -> Path:
    state = target / STATE_DIR
    state.mkdir(mode=0o700, exist_ok=True)
    return state


def _write(target: Path, path: PurePosixPath, data: str | bytes, *, like: Path | None = None
           ) -> None:
    destination = target / path
    destination.parent.mkdir(parents=True, exist_ok=True)
    model = like if like is not None else destination
    try:
        info = model.stat()
        mode, uid, gid = info.st_mode & 0o7777, info.st_uid, info.st_gid
    except FileNotFoundError:
        info = target.stat()
        mode, uid, gid = 0o640, info.st_uid, info.st_gid
    fd, temporary = tempfile.mkstemp(prefix=f".{destination.name}.", dir=destination.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        try:
            os.chown(temporary, uid, gid)
        except PermissionError:
            pass  # not root: the file stays ours, as the directory lets us
        os.replace(temporary, destination)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise
