"""Writing generated files that hold secrets: owner-only from the first byte, all or none."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


def write_files(out: Path, files: Mapping[str, str]) -> list[Path]:
    """Write `files` (name -> text) into `out`; return the paths, sorted by name.

    Every file is written to a temporary name created mode 0600 (the umask never
    shows a secret to others), and only when all are written are they renamed into
    place, so a full disk leaves the old set, not a mix of old and new.
    """
    out.mkdir(parents=True, exist_ok=True)
    staged: list[tuple[Path, Path]] = []
    try:
        for name in sorted(files):
            target = out / name
            temporary = target.with_name(f".{name}.tmp")
            staged.append((temporary, target))
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(files[name])
    except BaseException:
        for temporary, _ in staged:
            temporary.unlink(missing_ok=True)
        raise
    for temporary, target in staged:
        temporary.replace(target)
    return [target for _, target in staged]
