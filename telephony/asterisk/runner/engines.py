"""Which container CLI to use (Docker or Podman), and the command lines for it.

The command lines are built by pure functions, so what differs between Docker and
Podman is visible and tested without either installed. Podman here needs three
things Docker does not (measured, ../shared/notes/libraries.md):

- `--runtime runc`: crun fails on hosts with cgroups in hybrid mode;
- explicit `--ulimit nofile/nproc`: Podman's default of 1048576 is above what the
  OCI runtime may set where root lacks CAP_SYS_RESOURCE, and runc then refuses to
  start the container ("error setting rlimit ... operation not permitted"); Docker
  gets them too, as its CLI may be talking to Podman's API socket;
- `--network host` on `build` too, so apt inside a RUN step reaches the mirror.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from telephony.pbx.errors import PbxError

ENV_CLI = "TELEPHONY_CONTAINER_CLI"
CANDIDATES = ("docker", "podman")
INFO_TIMEOUT = 10.0

EngineKind = Literal["docker", "podman"]

# Podman lowers its own process limit to 32768 at start (seen with strace), and a
# container cannot get more than the process that starts it where root lacks
# CAP_SYS_RESOURCE. nproc counts every task of the uid on the host, not only the
# container's, so it must stay well above 1024 (other Asterisks, SIPp, the engine).
_NPROC_CAP = 32768
# Asterisk under load wants far more than 1024 descriptors (sockets, timers, files).
_NOFILE_CAP = 1048576


@dataclass(frozen=True, slots=True)
class Limits:
    """The ulimits a Podman container gets (soft = hard)."""

    nofile: int
    nproc: int


@dataclass(frozen=True, slots=True)
class Engine:
    """A container CLI that answered: its path and whether it is Docker or Podman."""

    cli: str
    kind: EngineKind
    # The OCI runtime Podman is told to use (None: its default); Docker picks its own.
    runtime: str | None = None
    # None: the engine's defaults.
    limits: Limits | None = None

    def argv(self, *args: str) -> list[str]:
        """A command line for this CLI (Podman's global options first)."""
        runtime = ["--runtime", self.runtime] if self.runtime else []
        return [self.cli, *runtime, *args]

    def run(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """Run the CLI with these arguments; see `call`."""
        return call(self.argv(*args), timeout=timeout)


def call(argv: Sequence[str], *, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Run a container CLI command line, output captured; PbxError when it cannot be
    started or takes longer than `timeout` (a non-zero exit is the caller's to judge)."""
    try:
        return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise PbxError(f"`{' '.join(argv)}` took more than {timeout:.0f} s") from exc
    except OSError as exc:
        raise PbxError(f"cannot run {argv[0]}: {exc.strerror or exc}") from exc


def limits_for(nofile_hard: int, nproc_hard: int) -> Limits:
    """Limits a Podman container can get from a process with these hard limits."""
    return Limits(nofile=min(nofile_hard, _NOFILE_CAP), nproc=min(nproc_hard, _NPROC_CAP))


def _hard(which: int) -> int:
    hard = resource.getrlimit(which)[1]
    return hard if hard != resource.RLIM_INFINITY else 1 << 62


def has_runc() -> bool:
    """True when the runc runtime is installed."""
    return shutil.which("runc") is not None


def make_engine(cli: str, kind: EngineKind, *, runc_installed: bool) -> Engine:
    """The Engine for a CLI of that kind, with Podman's runtime and the limits filled in.

    Docker gets the same explicit limits: its CLI may be talking to Podman's API
    socket (DOCKER_HOST), where the defaults fail just as they do for Podman.
    """
    limits = limits_for(_hard(resource.RLIMIT_NOFILE), _hard(resource.RLIMIT_NPROC))
    if kind == "docker":
        return Engine(cli, "docker", limits=limits)
    return Engine(cli, "podman", runtime="runc" if runc_installed else None, limits=limits)


def kind_of(version_output: str) -> EngineKind:
    """Docker or Podman, from `CLI --version` (podman-docker installs Podman as `docker`)."""
    return "podman" if version_output.lower().startswith("podman") else "docker"


@dataclass(frozen=True, slots=True)
class Probe:
    """How one candidate CLI answered `info`."""

    cli: str
    answered: bool
    detail: str


def pick(
    env: Mapping[str, str],
    which: Callable[[str], str | None],
    info: Callable[[str], Probe],
) -> tuple[str | None, list[Probe]]:
    """The first CLI that answers `info`: $TELEPHONY_CONTAINER_CLI alone when set,
    else docker, then podman. Also every probe made, to explain a failure."""
    wanted = env.get(ENV_CLI) or None
    candidates = (wanted,) if wanted else CANDIDATES
    probes: list[Probe] = []
    for name in candidates:
        path = which(name)
        if path is None:
            probes.append(Probe(name, False, "not installed"))
            continue
        probe = info(path)
        probes.append(probe)
        if probe.answered:
            return path, probes
    return None, probes


def _info(cli: str) -> Probe:
    try:
        result = subprocess.run(
            [cli, "info"], capture_output=True, text=True, check=False, timeout=INFO_TIMEOUT
        )
    except subprocess.TimeoutExpired:
        return Probe(cli, False, f"`info` took more than {INFO_TIMEOUT:.0f} s")
    except OSError as exc:
        return Probe(cli, False, str(exc.strerror or exc))
    lines = (result.stderr or result.stdout).strip().splitlines()
    return Probe(cli, result.returncode == 0, lines[-1] if lines else f"exit {result.returncode}")


def _version(cli: str) -> str:
    try:
        result = subprocess.run(
            [cli, "--version"], capture_output=True, text=True, check=False, timeout=INFO_TIMEOUT
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return result.stdout


def detect(env: Mapping[str, str] | None = None) -> Engine:
    """The container engine to use; PbxError naming what was tried when none answers."""
    env = os.environ if env is None else env
    cli, probes = pick(env, shutil.which, _info)
    if cli is None:
        tried = "; ".join(f"{probe.cli}: {probe.detail}" for probe in probes)
        raise PbxError(
            f"no container engine answers ({tried}); start Docker, install Podman "
            f"(apt install podman runc), or name a CLI with {ENV_CLI}"
        )
    return make_engine(cli, kind_of(_version(cli)), runc_installed=has_runc())


# -- command lines


def _resource_options(engine: Engine) -> list[str]:
    if engine.limits is None:
        return []
    nofile, nproc = engine.limits.nofile, engine.limits.nproc
    return ["--ulimit", f"nofile={nofile}:{nofile}", "--ulimit", f"nproc={nproc}:{nproc}"]


def _label_options(labels: Mapping[str, str]) -> list[str]:
    return [option for key in sorted(labels) for option in ("--label", f"{key}={labels[key]}")]


@dataclass(frozen=True, slots=True)
class Mount:
    """A host directory or file bind-mounted into the container."""

    host: Path
    container: str
    read_only: bool = False

    def option(self) -> str:
        return f"{self.host}:{self.container}{':ro' if self.read_only else ''}"


def run_argv(
    engine: Engine,
    *,
    name: str,
    image: str,
    mounts: Sequence[Mount],
    labels: Mapping[str, str],
    command: Sequence[str],
) -> list[str]:
    """`run --detach` on the host network (everything binds where the config says)."""
    volumes = [option for mount in mounts for option in ("--volume", mount.option())]
    return engine.argv(
        "run", "--detach", "--name", name, "--network", "host",
        *_resource_options(engine), *_label_options(labels), *volumes, image, *command,
    )  # fmt: skip


def build_argv(
    engine: Engine,
    *,
    context: Path,
    dockerfile: Path,
    tag: str,
    build_args: Mapping[str, str],
    labels: Mapping[str, str],
) -> list[str]:
    """`build` of `dockerfile` in `context`, tagged and labelled.

    The limits go to Podman's own `build` only: Podman's Docker-compatible API
    (a docker CLI with DOCKER_HOST on Podman's socket) answers 400 to `ulimits`
    on a build, and its builds run without them.
    """
    limits = _resource_options(engine) if engine.kind == "podman" else []
    args = [option for key in sorted(build_args)
            for option in ("--build-arg", f"{key}={build_args[key]}")]  # fmt: skip
    return engine.argv(
        "build", "--network", "host", *limits, *args,
        *_label_options(labels), "--tag", tag, "--file", str(dockerfile), str(context),
    )  # fmt: skip


def import_argv(engine: Engine, *, tag: str, labels: Mapping[str, str]) -> list[str]:
    """`import` of a root file system tarball read from stdin, tagged and labelled."""
    # A LABEL instruction: the value quoted, since versions contain spaces.
    changes = [option for key in sorted(labels)
               for option in ("--change", f"LABEL {key}={json.dumps(labels[key])}")]  # fmt: skip
    return engine.argv("import", *changes, "-", tag)
