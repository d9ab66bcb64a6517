"""LocalPbx: the local PBX of a state directory, whichever kind the site asks for."""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

from telephony.config import Site
from telephony.config.models import PbxKind
from telephony.pbx.errors import PbxError, PbxInfo
from telephony.pbx.paths import default_state_dir
from telephony.pbx.runner import Runner, runner_for


class LocalPbx:
    """A local PBX for development and tests, bound to 127.0.0.1.

    `up(site)` starts the kind of PBX the site names (`pbx.kind`); everything else acts
    on whichever kind runs in this state directory. `backend` chooses how a kind runs
    (for Asterisk "path", "docker" or "rootfs"; see its runner).
    """

    def __init__(
        self, state_dir: Path | None = None, backend: str | None = None, *, timeout: float = 60.0
    ) -> None:
        self.state_dir = state_dir if state_dir is not None else default_state_dir()
        self._backend = backend
        self._timeout = timeout

    def __repr__(self) -> str:
        return f"LocalPbx(state_dir={str(self.state_dir)!r})"

    def runner(self, kind: PbxKind) -> Runner:
        """The runner for one kind of PBX in this state directory."""
        return runner_for(kind, self.state_dir, self._backend, timeout=self._timeout)

    def _runners(self) -> list[Runner]:
        runners = []
        for kind in PbxKind:
            try:
                runners.append(self.runner(kind))
            except PbxError:
                continue  # a kind this installation cannot run
        return runners

    def _started(self) -> Runner | None:
        """The runner whose PBX was started here (running or killed), if any."""
        for runner in self._runners():
            if runner.recorded():
                return runner
        return None

    def _running(self) -> Runner:
        runner = self._started()
        if runner is None or runner.status() is None:
            raise PbxError("the PBX is not running")
        return runner

    def prepare(self, kind: PbxKind = PbxKind.ASTERISK) -> str:
        """Build or reuse what `kind` needs to start; how it will run."""
        return self.runner(kind).prepare()

    def status(self) -> PbxInfo | None:
        """Where the PBX answers, or None when none runs."""
        runner = self._started()
        return None if runner is None else runner.status()

    def up(self, site: Site) -> PbxInfo:
        """Start the site's kind of PBX with its config, or reload the one running."""
        started = self._started()
        if (
            started is not None
            and started.kind is not site.pbx.kind
            and started.status() is not None
        ):
            raise PbxError(
                f"a local {started.kind.value} already runs in {self.state_dir}; "
                "run `telephony pbx down` before starting "
                f"{site.pbx.kind.value}"
            )
        return self.runner(site.pbx.kind).up(site)

    def down(self) -> None:
        """Stop whatever PBX runs here; harmless when none does."""
        for runner in self._runners():
            runner.down()

    def kill(self) -> None:
        """SIGKILL the PBX without clean-up (restart tests)."""
        runner = self._started()
        if runner is not None:
            runner.kill()

    def start_again(self) -> PbxInfo:
        """Start the PBX killed by kill() again, with the same config."""
        runner = self._started()
        if runner is None:
            raise PbxError("no PBX was started in this state directory: run `telephony pbx up`")
        return runner.start_again()

    def cli(self, command: str) -> str:
        """One of the running PBX's own console commands (Asterisk CLI, fs_cli)."""
        return self._running().cli(command)

    def hangup_all(self) -> None:
        """Hang up every call on the running PBX."""
        self._running().hangup_all()

    def active_calls(self) -> int:
        """How many channels are up on the running PBX."""
        return self._running().active_calls()

    def contact(self, site: Site, device_id: str) -> str | None:
        """Where a device of the running PBX's site is registered, or None."""
        return self._running().contact(site, device_id)

    def exec_foreground(self, site: Site) -> NoReturn:
        """Render the site and replace this process with its PBX (containers)."""
        self.runner(site.pbx.kind).exec_foreground(site)
