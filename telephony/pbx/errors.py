"""What the local PBX runner reports: where a running PBX answers, and why it could not."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

BackendName = Literal["path", "docker", "rootfs"]
BACKENDS: tuple[BackendName, ...] = ("path", "docker", "rootfs")


class PbxError(Exception):
    """The local PBX could not be prepared, started, reached or stopped."""


@dataclass(frozen=True, slots=True)
class PbxInfo:
    """Where a running local PBX answers, and which backend runs it."""

    backend: BackendName
    ami_host: str
    ami_port: int
    sip_host: str
    sip_port: int
    pid: int | None
    config_dir: Path
