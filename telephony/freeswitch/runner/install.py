"""Which FreeSWITCH runs: a `freeswitch` on PATH, else the relocatable build that
$TELEPHONY_FREESWITCH_TARBALL names, unpacked once into the state directory, else the
build unpacked there last (so `telephony pbx prepare --kind freeswitch` with the
variable set once is enough for later runs)."""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import tarfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from telephony.freeswitch.runner.layout import Layout
from telephony.pbx.errors import PbxError

ENV_TARBALL = "TELEPHONY_FREESWITCH_TARBALL"
BackendName = Literal["path", "bundle"]
BACKENDS: tuple[BackendName, ...] = ("path", "bundle")
_COMPLETE = ".complete"

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Installation:
    """A FreeSWITCH binary and, for the relocatable build, its module directory (an
    installed one uses its compiled-in modules)."""

    backend: BackendName
    binary: Path
    module_dir: Path | None = None


def parse_backend(value: str) -> BackendName:
    """Validate a backend name given for FreeSWITCH."""
    for name in BACKENDS:
        if value == name:
            return name
    raise PbxError(f"unknown FreeSWITCH backend {value!r}: use one of {', '.join(BACKENDS)}")


def find(
    layout: Layout,
    requested: BackendName | None,
    env: Mapping[str, str],
    progress: Progress,
) -> Installation:
    """The FreeSWITCH to run (unpacking the tarball when that is the one)."""
    on_path = shutil.which("freeswitch") if requested != "bundle" else None
    if on_path is not None:
        return Installation("path", Path(on_path))
    if requested == "path":
        raise PbxError("no `freeswitch` on PATH (--backend path)")
    tarball = env.get(ENV_TARBALL)
    if tarball:
        root = unpack(Path(tarball), layout, progress)
    else:
        found = last_unpacked(layout)
        if found is None:
            raise PbxError(
                "no `freeswitch` on PATH, no FreeSWITCH unpacked in "
                f"{layout.dist_dir}, and $TELEPHONY_FREESWITCH_TARBALL does not name the "
                "relocatable build to use (see ../shared/pbx/README.md; once is enough: "
                "`TELEPHONY_FREESWITCH_TARBALL=FILE telephony pbx prepare --kind freeswitch`)"
            )
        root = found
    return Installation("bundle", root / "bin" / "freeswitch", root / "mod")


def last_unpacked(layout: Layout) -> Path | None:
    """The bundle root of the build unpacked into the state directory last, if any."""
    if not layout.dist_dir.is_dir():
        return None
    done = [p for p in layout.dist_dir.iterdir() if (p / _COMPLETE).is_file()]
    if not done:
        return None
    newest = max(done, key=lambda p: (p / _COMPLETE).stat().st_mtime)
    return _bundle_root(newest)


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                sha.update(block)
    except OSError as exc:
        raise PbxError(f"{path}: cannot read the FreeSWITCH tarball: "
                       f"{exc.strerror or exc}") from None
    return sha.hexdigest()


@contextmanager
def _locked(lock: Path) -> Iterator[None]:
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _bundle_root(unpacked: Path) -> Path:
    """The directory holding bin/freeswitch: the unpacked one or its single child."""
    for candidate in (unpacked, *sorted(p for p in unpacked.iterdir() if p.is_dir())):
        if (candidate / "bin" / "freeswitch").is_file():
            return candidate
    raise PbxError(f"{unpacked}: the tarball holds no bin/freeswitch")


def unpack(tarball: Path, layout: Layout, progress: Progress) -> Path:
    """Unpack the tarball once per content (keyed by its sha256); the bundle's root.

    Unpacked beside the final place and renamed into it, so a half-unpacked build is
    never used; a later tarball with other content gets a directory of its own.
    """
    target = layout.dist_dir / _digest(tarball)[:16]
    if (target / _COMPLETE).exists():
        return _bundle_root(target)
    with _locked(layout.dist_lock):
        if (target / _COMPLETE).exists():
            return _bundle_root(target)
        progress(f"unpacking {tarball.name} into {target}")
        staging = layout.dist_dir / f".{target.name}.{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(target, ignore_errors=True)
        staging.mkdir(parents=True)
        try:
            with tarfile.open(tarball) as archive:
                # The data filter refuses absolute paths, links out of the tree and
                # device files: a tarball is input, not trusted code.
                archive.extractall(staging, filter="data")
            _bundle_root(staging)
            (staging / _COMPLETE).write_text(f"{tarball}\n")
            staging.rename(target)
        except (OSError, tarfile.TarError) as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise PbxError(f"{tarball}: cannot unpack: {exc}") from None
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return _bundle_root(target)
