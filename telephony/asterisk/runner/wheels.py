"""A wheel of the running telephony package, for installing it into the container image.

The image must run the same code as the host, whether that comes from a source
checkout (editable or on sys.path) or from a wheel installed into some venv:

- from a checkout, the wheel's inputs (pyproject.toml, the readme and every package
  directory it maps) are copied to a scratch directory and built there with
  `pip wheel`, so the build never writes `build/` or `*.egg-info` into a checkout
  other people work in;
- from an installed distribution, the files its RECORD lists are packed again into
  a wheel (the installer's own files and byte code left out, RECORD rewritten).

`source_digest` hashes the same files the wheel is made from (not the zip, whose
timestamps change from build to build), so an unchanged package keeps its image.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import importlib.metadata
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import telephony
from telephony.pbx.errors import PbxError

PROJECT = "telephony"
# Written by the installer about this one installation; a wheel must not carry them.
_INSTALLER_FILES = frozenset({"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"})
# Zip entries get a fixed time, so packing the same files twice gives the same bytes.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_WHEEL_BUILD_TIMEOUT = 300.0


@dataclass(frozen=True, slots=True)
class Checkout:
    """telephony imported from a source tree (an editable install, or the tree on sys.path)."""

    root: Path


@dataclass(frozen=True, slots=True)
class Installed:
    """telephony installed from a wheel: its files are those the distribution's RECORD lists."""

    dist: importlib.metadata.Distribution


PackageSource = Checkout | Installed


def package_source(module_file: Path | None = None) -> PackageSource:
    """Where the running telephony package comes from."""
    module = (module_file or Path(telephony.__file__)).resolve()
    root = module.parent.parent
    if _is_our_checkout(root):
        return Checkout(root)
    for dist in importlib.metadata.distributions(name=PROJECT):
        if any(_locate(dist, path) == module for path in dist.files or ()):
            return Installed(dist)
    raise PbxError(
        f"cannot tell where the running telephony package ({module.parent}) was installed "
        "from: it is neither in a source checkout nor listed by an installed distribution"
    )


def _is_our_checkout(root: Path) -> bool:
    try:
        data = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return False
    project = data.get("project")
    return isinstance(project, dict) and project.get("name") == PROJECT


def _locate(dist: importlib.metadata.Distribution, path: importlib.metadata.PackagePath) -> Path:
    return Path(str(dist.locate_file(path))).resolve()


# -- the files a wheel is made from


def _skipped(parts: Sequence[str]) -> bool:
    """Byte code, caches and hidden files never belong in the wheel or its digest."""
    return any(
        part == "__pycache__" or part.startswith(".") or part.endswith(".egg-info")
        for part in parts
    ) or parts[-1].endswith((".pyc", ".pyo"))


def checkout_inputs(root: Path) -> list[str]:
    """The files (relative, POSIX) a wheel of the checkout at `root` is built from."""
    data = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    project = data.get("project", {})
    readme = project.get("readme")
    readme_file = readme.get("file") if isinstance(readme, dict) else readme
    setuptools = data.get("tool", {}).get("setuptools", {})
    package_dirs = set(setuptools.get("package-dir", {}).values()) or {PROJECT}
    names = {"pyproject.toml"}
    names.update(
        name
        for name in (readme_file, "setup.py", "setup.cfg", "MANIFEST.in")
        if isinstance(name, str) and (root / name).is_file()
    )
    for directory in package_dirs:
        for path in (root / directory).rglob("*"):
            relative = path.relative_to(root)
            if path.is_file() and not _skipped(relative.parts):
                names.add(relative.as_posix())
    return sorted(names)


def installed_files(dist: importlib.metadata.Distribution) -> list[tuple[str, Path]]:
    """(name in the wheel, file on disk) for every file of the installed distribution.

    Console scripts (installed outside site-packages, `../../bin/...`) are left out:
    the installer makes them again from entry_points.txt.
    """
    files: list[tuple[str, Path]] = []
    for path in dist.files or ():
        posix = PurePosixPath(str(path))
        if posix.parts[0] == ".." or _skipped(posix.parts):
            continue
        if posix.parent.name.endswith(".dist-info") and posix.name in _INSTALLER_FILES:
            continue
        files.append((posix.as_posix(), _locate(dist, path)))
    return sorted(files)


def digest(files: Iterable[tuple[str, bytes]]) -> str:
    """sha256 over names and contents, independent of order and of timestamps."""
    outer = hashlib.sha256()
    for name, content in sorted(files):
        outer.update(f"{name}\0{hashlib.sha256(content).hexdigest()}\n".encode())
    return outer.hexdigest()


def source_digest(source: PackageSource) -> str:
    """The digest of the files a wheel of `source` is made from."""
    if isinstance(source, Checkout):
        return digest(
            (name, (source.root / name).read_bytes()) for name in checkout_inputs(source.root)
        )
    return digest((name, path.read_bytes()) for name, path in installed_files(source.dist))


# -- building the wheel


def build_wheel(source: PackageSource, out_dir: Path) -> Path:
    """A wheel of `source` in `out_dir` (which must exist); its path."""
    if isinstance(source, Checkout):
        return _build_from_checkout(source.root, out_dir)
    return repack(source.dist, out_dir)


def _build_from_checkout(root: Path, out_dir: Path) -> Path:
    with tempfile.TemporaryDirectory(prefix="telephony-wheel-src.") as scratch:
        copy = Path(scratch) / "src"
        for name in checkout_inputs(root):
            target = copy / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / name, target)
        command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet",
                   "--wheel-dir", str(out_dir), str(copy)]  # fmt: skip
        try:
            result = subprocess.run(
                command, capture_output=True, text=True, check=False,
                timeout=_WHEEL_BUILD_TIMEOUT,
            )  # fmt: skip
        except subprocess.TimeoutExpired as exc:
            raise PbxError(f"pip wheel {root} took more than {_WHEEL_BUILD_TIMEOUT:.0f} s") from exc
    wheels = sorted(out_dir.glob(f"{PROJECT}-*.whl"))
    if result.returncode != 0 or len(wheels) != 1:
        detail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-15:])
        raise PbxError(f"building a wheel of {root} failed (exit {result.returncode}):\n{detail}")
    return wheels[0]


def _record_hash(content: bytes) -> str:
    raw = base64.urlsafe_b64encode(hashlib.sha256(content).digest()).rstrip(b"=")
    return f"sha256={raw.decode()}"


def _wheel_tag(wheel_metadata: str) -> str:
    """The compressed tag set of a WHEEL file, e.g. `py3-none-any`."""
    tags = [line.split(":", 1)[1].strip() for line in wheel_metadata.splitlines()
            if line.startswith("Tag:")]  # fmt: skip
    if not tags:
        raise PbxError("the installed distribution's WHEEL file names no tag")
    columns = zip(*(tag.split("-") for tag in tags), strict=True)
    return "-".join(".".join(dict.fromkeys(column)) for column in columns)


def _wheel_name(name: str, version: str, tag: str) -> str:
    # The binary distribution format's escaping: a name's runs of -_. become one
    # underscore (lower case); a version keeps its dots.
    project = re.sub(r"[-_.]+", "_", name).lower()
    return f"{project}-{version.replace('-', '_')}-{tag}.whl"


def repack(dist: importlib.metadata.Distribution, out_dir: Path) -> Path:
    """Pack an installed distribution's files into a wheel in `out_dir`; its path."""
    files = installed_files(dist)
    info_dirs = {
        PurePosixPath(name).parent for name, _ in files if name.endswith(".dist-info/WHEEL")
    }
    if len(info_dirs) != 1:
        raise PbxError(f"the installed {dist.metadata['Name']} has no single .dist-info/WHEEL")
    info_dir = info_dirs.pop()
    tag = _wheel_tag(dist.read_text("WHEEL") or "")
    target = out_dir / _wheel_name(dist.metadata["Name"], dist.version, tag)
    record: list[tuple[str, str, str]] = []
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for arcname, path in files:
            content = path.read_bytes()
            entry = zipfile.ZipInfo(arcname, date_time=_ZIP_TIME)
            entry.external_attr = (os.stat(path).st_mode & 0o777 | 0o100000) << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, content)
            record.append((arcname, _record_hash(content), str(len(content))))
        record_name = f"{info_dir}/RECORD"
        record.append((record_name, "", ""))
        text = io.StringIO()
        csv.writer(text, lineterminator="\n").writerows(record)
        entry = zipfile.ZipInfo(record_name, date_time=_ZIP_TIME)
        entry.external_attr = 0o100644 << 16
        archive.writestr(entry, text.getvalue(), compress_type=zipfile.ZIP_DEFLATED)
    return target
