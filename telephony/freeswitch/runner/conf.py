"""The config directory FreeSWITCH reads: base files (dialplans/freeswitch/base/) and
the rendered site, side by side, and the administrator's local/ additions."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path

from telephony.files import write_files
from telephony.render.templates import template_dir

LOCAL = "local"
# freeswitch.xml includes these; they exist (empty) so the includes always resolve.
LOCAL_DIRS = (LOCAL, f"{LOCAL}/dialplan", f"{LOCAL}/directory")

# What a running FreeSWITCH takes without a restart: `reloadxml` swaps the XML registry,
# and the directory and dialplan are read from it for every registration and call.
# Everything else (profile, ACL, Event Socket, mod_callcenter's queues and agents,
# modules) is read when a module loads.
LIVE_FILES = frozenset({"dialplan.xml", "directory.xml"})


def base_files() -> dict[str, str]:
    """Every base file by name."""
    base = template_dir() / "freeswitch" / "base"
    return {entry.name: entry.read_text(encoding="utf-8") for entry in sorted(base.glob("*.xml"))}


def changed_files(conf_dir: Path, files: Mapping[str, str]) -> set[str]:
    """The names whose text differs from what is in `conf_dir` (or is missing there)."""
    changed = set()
    for name, text in files.items():
        try:
            same = (conf_dir / name).read_text(encoding="utf-8") == text
        except (OSError, UnicodeDecodeError):
            same = False
        if not same:
            changed.add(name)
    return changed


def write_conf(conf_dir: Path, rendered: Mapping[str, str]) -> set[str]:
    """Make `conf_dir` hold exactly the base and rendered files (site files win over a
    base file of the same name) plus local/; the names that changed.

    The directory belongs to the runner: any other file is removed, so FreeSWITCH
    never reads a stray one.
    """
    files = {**base_files(), **rendered}
    changed = changed_files(conf_dir, files)
    write_files(conf_dir, files)
    for entry in conf_dir.iterdir():
        if entry.name in files or entry.name == LOCAL:
            continue
        changed.add(entry.name)
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    for name in LOCAL_DIRS:
        (conf_dir / name).mkdir(exist_ok=True)
    return changed
