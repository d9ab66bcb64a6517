"""Where the Jinja2 templates live: `telephony.dialplans` when installed, else `dialplans/`."""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

import jinja2


def template_dir() -> Path:
    """The directory holding the dialplan templates."""
    try:
        installed = resources.files("telephony.dialplans")
    except ModuleNotFoundError:
        # Running from a source checkout with the repository root on sys.path: the
        # top-level dialplans/ is only mapped into the package by an install.
        return Path(__file__).resolve().parents[2] / "dialplans"
    return Path(str(installed))


@cache
def environment() -> jinja2.Environment:
    """A strict Jinja2 environment: undefined names are errors, output is stable."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(template_dir()),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
