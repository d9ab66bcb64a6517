"""Rendering a site to PBX configuration files."""

from __future__ import annotations

from pathlib import Path

from telephony.config.models import Site


def render_files(site: Site, pbx: str) -> dict[str, str]:
    """Every configuration file for one PBX kind, by file name."""
    if pbx == "asterisk":
        from telephony.render.asterisk import render

        return render(site)
    raise ValueError(f"unknown PBX kind {pbx!r}; known: asterisk")


def render_to_dir(site: Site, pbx: str, out: Path) -> list[Path]:
    """Write the files; each is written whole to a temporary name, then renamed in place."""
    files = render_files(site, pbx)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, text in sorted(files.items()):
        target = out / name
        tmp = target.with_name(f".{name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.chmod(0o600)  # holds SIP and AMI secrets
        tmp.replace(target)
        written.append(target)
    return written
