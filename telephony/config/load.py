"""Reading a site file: YAML, `${ENV}` secrets, validation and cross-checks."""

from __future__ import annotations

import codecs
import gc
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Final

from pydantic import ValidationError

from telephony.config import messages
from telephony.config.checks import cross_check
from telephony.config.env import expand
from telephony.config.models import PbxKind, Site
from telephony.config.problems import ConfigError, Problem
from telephony.config.reader import read_yaml

# A 5,000-agent site is about 3.4 MB; this stops /dev/zero and the like early.
MAX_BYTES: Final = 32 * 1024 * 1024


def parse_site(
    text: str,
    env: Mapping[str, str] | None = None,
    source: str = "<site>",
    *,
    kind: PbxKind | None = None,
) -> Site:
    """Validate a site file's text; raise ConfigError naming every problem.

    `kind` reads the site as if its `pbx.kind` said so (the test kit runs one site on
    every PBX kind); the checks of that kind apply.
    """
    with collector_paused():
        return _parse_site(text, env, source, kind)


@contextmanager
def collector_paused() -> Iterator[None]:
    # Reading a large site allocates hundreds of thousands of dicts, lists and models
    # and frees none: the cyclic garbage collector would walk them all again and again
    # (about a sixth of the time for 5,000 agents) to find no cycles. Reference counting
    # still frees everything; the collector runs again afterwards.
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _parse_site(
    text: str, env: Mapping[str, str] | None, source: str, kind: PbxKind | None
) -> Site:
    environment = os.environ if env is None else env
    env_problems: list[Problem] = []

    def fill_in(value: str, path: Callable[[], str]) -> str:
        return expand(value, environment, lambda msg: env_problems.append(Problem(path(), msg)))

    data = read_yaml(text.removeprefix(codecs.BOM_UTF8.decode()), source, on_text=fill_in)
    if data is None:
        raise ConfigError([Problem("", f"{source}: the file is empty; a site needs at least "
                                   "site: and pbx:")])
    if not isinstance(data, dict):
        raise ConfigError([Problem("", f"{source}: the top level must be a mapping "
                                   "(site:, pbx:, agents: ...)")])
    if kind is not None and isinstance(data.get("pbx"), dict):
        data["pbx"]["kind"] = kind.value
    try:
        site = Site.model_validate(data)
    except ValidationError as exc:
        # A missing variable also fails its field; report it once, as the variable.
        seen = {p.path for p in env_problems}
        raise ConfigError(
            env_problems + [p for p in messages.problems(exc) if p.path not in seen]
        ) from None
    if env_problems:
        raise ConfigError(env_problems)
    problems = list(cross_check(site))
    if problems:
        raise ConfigError(problems)
    return site


def load_site(
    path: Path, env: Mapping[str, str] | None = None, *, kind: PbxKind | None = None
) -> Site:
    """Read and validate a site file from disk (`kind`: as in parse_site)."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ConfigError([Problem("", f"{path}: {exc.strerror or exc}")]) from None
    if len(raw) > MAX_BYTES:
        raise ConfigError([Problem("", f"{path}: larger than {MAX_BYTES // 2**20} MiB; "
                                   "not a site file")])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigError([Problem("", f"{path}: line {line}: not UTF-8 text")]) from None
    return parse_site(text, env, source=str(path), kind=kind)


def demo_site_path() -> Path:
    """The bundled demo site, used where no site file is given."""
    return Path(str(resources.files("telephony").joinpath("examples", "demo-site.yaml")))


def load_or_report(path: Path, *, kind: PbxKind | None = None) -> Site | None:
    """Load a site file for a command (as `kind`, see parse_site), or print each problem
    as `path: message` to stderr."""
    try:
        return load_site(path, kind=kind)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return None
