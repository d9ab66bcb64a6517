"""What a local PBX runner reports: where a running PBX answers, and why it could not."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from telephony.config.models import PbxKind


class PbxError(Exception):
    """The local PBX could not be prepared, started, reached or stopped."""


@dataclass(frozen=True, slots=True)
class PbxInfo:
    """Where a running local PBX answers, what kind it is and how it runs.

    `control_port` is where the engine talks to it: AMI for Asterisk, the Event Socket
    for FreeSWITCH, always on `control_host` (loopback). `backend` is how the runner
    of that kind runs it (for Asterisk: "path", "docker" or "rootfs").
    """

    kind: PbxKind
    backend: str
    control_host: str
    control_port: int
    sip_host: str
    sip_port: int
    pid: int | None
    config_dir: Path
