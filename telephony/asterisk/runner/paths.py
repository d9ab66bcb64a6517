"""Where the Asterisk runner keeps its files, and which backend runs Asterisk."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from telephony.pbx.errors import PbxError
from telephony.pbx.paths import default_state_dir

__all__ = [
    "BACKENDS", "ENV_BACKEND", "BackendName", "Layout", "choose_backend", "default_state_dir",
    "parse_backend",
]

# How Asterisk runs: an installed binary, a container, or the cached root file system.
BackendName = Literal["path", "docker", "rootfs"]
BACKENDS: tuple[BackendName, ...] = ("path", "docker", "rootfs")
ENV_BACKEND = "TELEPHONY_PBX_BACKEND"


@dataclass(frozen=True, slots=True)
class Layout:
    """The runner's files under one state directory."""

    state_dir: Path

    @property
    def rootfs(self) -> Path:
        """The cached Debian root file system with Asterisk installed."""
        return self.state_dir / "asterisk-rootfs"

    @property
    def rootfs_lock(self) -> Path:
        """Held while the root file system is built, so two builds never race."""
        return self.state_dir / "asterisk-rootfs.lock"

    @property
    def image_lock(self) -> Path:
        """Held while this state directory's container image is built."""
        return self.state_dir / "container-image.lock"

    @property
    def run_dir(self) -> Path:
        """Per-instance files: pid file, state, Asterisk's captured output."""
        return self.state_dir / "pbx"

    @property
    def pid_file(self) -> Path:
        """The pid of the Asterisk process this runner started."""
        return self.run_dir / "asterisk.pid"

    @property
    def state_file(self) -> Path:
        """Backend and ports of the last start, so status/down need no site file."""
        return self.run_dir / "state.json"

    @property
    def output_log(self) -> Path:
        """Asterisk's stdout and stderr."""
        return self.run_dir / "asterisk.out"

    @property
    def path_root(self) -> Path:
        """Private Asterisk directories when an installed `asterisk` binary is used."""
        return self.run_dir / "path"

    @property
    def docker_root(self) -> Path:
        """Host directories mounted into the Asterisk container."""
        return self.run_dir / "docker"

    @property
    def container_record(self) -> Path:
        """Which container CLI, image and container this state directory uses."""
        return self.docker_root / "container.json"


def parse_backend(value: str) -> BackendName:
    """Validate a backend name given by the user or the environment."""
    for name in BACKENDS:
        if value == name:
            return name
    raise PbxError(f"unknown PBX backend {value!r}: use one of {', '.join(BACKENDS)}")


def choose_backend(
    requested: str | None,
    env: Mapping[str, str],
    has_asterisk: Callable[[], bool],
    container_ready: Callable[[], bool],
) -> BackendName:
    """The backend to start: the requested one, else $TELEPHONY_PBX_BACKEND, else an
    `asterisk` on PATH, else a container when this state directory already has its
    image (built by an earlier `--backend docker`) and the engine still answers with
    it, else the root file system.

    An engine that merely answers is not enough: installing Podman must not move
    runs that never asked for containers off the root file system.
    """
    forced = requested or env.get(ENV_BACKEND) or None
    if forced is not None:
        return parse_backend(forced)
    if has_asterisk():
        return "path"
    if container_ready():
        return "docker"
    return "rootfs"
