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


def render_to_dir(site: Site, pbx: str, out: Path) -> list[Path]:
    """Write the files (mode 0600: they hold secrets), all or none; return their paths."""
    return write_files(out, render_files(site, pbx))
