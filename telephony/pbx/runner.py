"""What every local PBX runner offers, whatever the kind of PBX it runs."""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn, Protocol

from telephony.config import Site
from telephony.config.models import PbxKind
from telephony.pbx.errors import PbxInfo


class Runner(Protocol):
    """Starts and stops one kind of PBX on 127.0.0.1 with a site's rendered config."""

    kind: PbxKind

    def prepare(self) -> str:
        """Build or reuse what the PBX needs to start; the name of how it will run."""
        ...

    def status(self) -> PbxInfo | None:
        """Where the PBX answers, or None when it does not run."""
        ...

    def recorded(self) -> bool:
        """True when a PBX was started in this state directory (running or killed)."""
        ...

    def up(self, site: Site) -> PbxInfo:
        """Render the site and start the PBX, or re-render and reload a running one."""
        ...

    def down(self) -> None:
        """Stop the PBX; harmless when it does not run."""
        ...

    def kill(self) -> None:
        """SIGKILL the PBX, no clean-up (restart tests)."""
        ...

    def start_again(self) -> PbxInfo:
        """Start the PBX again with the config in place (after kill())."""
        ...

    def cli(self, command: str) -> str:
        """The output of one of this PBX's own console commands."""
        ...

    def hangup_all(self) -> None:
        """Hang up every call."""
        ...

    def active_calls(self) -> int:
        """How many channels are up."""
        ...

    def contact(self, site: Site, device_id: str) -> str | None:
        """Where one of the site's devices is registered (`sip:user@host:port`), or None."""
        ...

    def exec_foreground(self, site: Site) -> NoReturn:
        """Render the site and replace this process with the PBX (containers)."""
        ...


def runner_for(
    kind: PbxKind, state_dir: Path, backend: str | None, *, timeout: float = 60.0
) -> Runner:
    """The runner of one kind of PBX for a state directory."""
    if kind is PbxKind.ASTERISK:
        from telephony.asterisk.runner.local import AsteriskRunner

        return AsteriskRunner(state_dir, backend, timeout=timeout)
    from telephony.freeswitch.runner.local import FreeSwitchRunner

    return FreeSwitchRunner(state_dir, backend, timeout=timeout)
