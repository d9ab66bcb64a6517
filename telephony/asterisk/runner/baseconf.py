"""The static Asterisk files every site needs (dialplans/asterisk/base/)."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from string import Template

from telephony.files import write_files
from telephony.render.templates import template_dir

# The Debian package's layout, used in the root file system and the image. astmoddir
# is left to the compiled-in default because its path names the architecture.
DEBIAN_DIRECTORIES: Mapping[str, str] = {
    "astcachedir": "/var/cache/asterisk",
    "astetcdir": "/etc/asterisk",
    "astvarlibdir": "/var/lib/asterisk",
    "astdbdir": "/var/lib/asterisk",
    "astkeydir": "/var/lib/asterisk",
    "astdatadir": "/usr/share/asterisk",
    "astagidir": "/usr/share/asterisk/agi-bin",
    "astspooldir": "/var/spool/asterisk",
    "astrundir": "/var/run/asterisk",
    "astlogdir": "/var/log/asterisk",
    "astsbindir": "/usr/sbin",
}

_TEMPLATE = "asterisk.conf"


def base_dir() -> Path:
    """Where the base files live (installed package data, or the checkout's dialplans/)."""
    return template_dir() / "asterisk" / "base"


def asterisk_conf(directories: Mapping[str, str]) -> str:
    """asterisk.conf with the given [directories]; unlisted ones keep Asterisk's defaults."""
    lines = "\n".join(f"{key} => {value}" for key, value in directories.items())
    text = base_dir().joinpath(_TEMPLATE).read_text(encoding="utf-8")
    return Template(text).substitute(directories=lines)


def base_files(directories: Mapping[str, str]) -> dict[str, str]:
    """Every base file by name, asterisk.conf filled in with `directories`."""
    files = {
        entry.name: entry.read_text(encoding="utf-8")
        for entry in base_dir().glob("*.conf")
        if entry.name != _TEMPLATE
    }
    files[_TEMPLATE] = asterisk_conf(directories)
    return dict(sorted(files.items()))


LOCAL_SUFFIX = "-local.conf"


def write_config_dir(config_dir: Path, files: Mapping[str, str]) -> None:
    """Make `config_dir` hold exactly `files` (name -> text), each replaced atomically.

    The directory belongs to the runner alone: anything else in it (Debian's samples
    such as sip.conf, iax.conf or extensions.ael, files a site no longer renders) is
    removed, so Asterisk never loads a stray file, except the administrator's local
    additions (`*-local.conf`, which the rendered files `#tryinclude`).
    """
    write_files(config_dir, files)
    for entry in config_dir.iterdir():
        if entry.name in files or entry.name.endswith(LOCAL_SUFFIX):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
