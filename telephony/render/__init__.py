"""Rendering a site to PBX configuration files."""

from __future__ import annotations

from pathlib import Path

from telephony.config.models import Site
from telephony.files import write_files


def render_files(site: Site, pbx: str) -> dict[str, str]:
    """Every configuration file for one PBX kind, by file name."""
    if pbx == "asterisk":
        from telephony.asterisk.render import render

        return render(site)
    if pbx == "freeswitch":
        from telephony.freeswitch.render import render as render_freeswitch

        return render_freeswitch(site)
    raise ValueError(f"unknown PBX kind {pbx!r}; known: asterisk, freeswitch")


def render_to_dir(site: Site, pbx: str, out: Path, *, with_base: bool = False) -> list[Path]:
    """Write the files (mode 0600: they hold secrets), all or none; return their paths.

    `with_base` (FreeSWITCH) adds the base files the local runner puts around them, so
    `out` is a whole config directory for a FreeSWITCH of one's own.
    """
    files = render_files(site, pbx)
    if with_base:
        from telephony.freeswitch.runner.conf import base_files

        files = {**base_files(), **files}
    return write_files(out, files)
