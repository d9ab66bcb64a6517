"""Asterisk in a container (Docker or Podman), on the host network.

It behaves like the root file system backend: the rendered config, the logs, the
spool and AstDB live in the state directory and are mounted into the container, so
a kill and a fresh container keep AstDB as a restart of a real PBX does, and
`pbx down` removes the container. The CLI used and the image are recorded in the
state directory, so status, cli and down later talk to the same engine.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from telephony.asterisk.runner import engines, images, rootfs
from telephony.asterisk.runner.backends import Backend, Progress
from telephony.asterisk.runner.baseconf import DEBIAN_DIRECTORIES
from telephony.asterisk.runner.engines import Engine, Mount, run_argv
from telephony.asterisk.runner.paths import BackendName, Layout
from telephony.pbx.errors import PbxError

ENV_IMAGE = "TELEPHONY_PBX_IMAGE"
CONTAINER_PREFIX = "telephony-pbx-"
LABEL_STATE_DIR = "org.telephony.state-dir"

# AstDB gets a directory of its own inside the image's /var/lib/asterisk: mounting
# the state dir over all of /var/lib/asterisk would hide the package's files there.
ASTDB_DIR = "/var/lib/asterisk/astdb"
# Directories the Debian package creates and Asterisk expects to exist.
_LOG_SUBDIRS = ("cdr-csv", "cdr-custom")
_SPOOL_SUBDIRS = ("dictate", "meetme", "monitor", "outgoing", "system", "tmp", "voicemail")
_POLL = 0.1


@dataclass(frozen=True, slots=True)
class ContainerRecord:
    """What a state directory's container runs on: written by prepare, read by the rest."""

    cli: str
    kind: engines.EngineKind
    image: str

    @classmethod
    def read(cls, path: Path) -> ContainerRecord | None:
        """The record at `path`, or None when missing or not one of ours."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict):
            return None
        cli, kind, image = data.get("cli"), data.get("kind"), data.get("image")
        if not (isinstance(cli, str) and isinstance(image, str) and kind in ("docker", "podman")):
            return None
        return cls(cli, "podman" if kind == "podman" else "docker", image)

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self)) + "\n", encoding="utf-8")


class ContainerBackend(Backend):
    """Asterisk in a container from the telephony image, config and state mounted."""

    name: BackendName = "docker"

    def __init__(
        self,
        layout: Layout,
        *,
        env: Mapping[str, str] | None = None,
        detect: Callable[[Mapping[str, str]], Engine] = engines.detect,
    ) -> None:
        super().__init__(layout)
        self._env = os.environ if env is None else env
        self._detect = detect
        self._engine: Engine | None = None
        self.container = CONTAINER_PREFIX + images.state_key(layout.state_dir)

    # -- where things are

    @property
    def config_dir(self) -> Path:
        return self.layout.docker_root / "etc"

    def directories(self) -> dict[str, str]:
        return {**DEBIAN_DIRECTORIES, "astdbdir": ASTDB_DIR}

    @property
    def _root(self) -> Path:
        return self.layout.docker_root

    def mounts(self) -> list[Mount]:
        """What the container sees of the host: config, logs, spool, AstDB, /etc/hosts."""
        return [
            Mount(self.config_dir, "/etc/asterisk"),
            Mount(self._root / "log", "/var/log/asterisk"),
            Mount(self._root / "spool", "/var/spool/asterisk"),
            Mount(self._root / "astdb", ASTDB_DIR),
            # Without the host's names Asterisk's address lookups stall calls.
            Mount(Path("/etc/hosts"), "/etc/hosts", read_only=True),
        ]

    def log_file(self) -> Path:
        return self._root / "log" / "messages"

    # -- the engine and the image

    def _record(self) -> ContainerRecord | None:
        return ContainerRecord.read(self.layout.container_record)

    def engine(self) -> Engine:
        """The recorded engine (the one our container runs on), else the one detected."""
        if self._engine is None:
            record = self._record()
            if record is not None:
                self._engine = engines.make_engine(
                    record.cli, record.kind, runc_installed=engines.has_runc()
                )
            else:
                self._engine = self._detect(self._env)
        return self._engine

    def prepare(self, progress: Progress) -> None:
        """Find an engine, build or reuse the image, and record both."""
        engine = self._detect(self._env)
        self._engine = engine
        custom = self._env.get(ENV_IMAGE) or None
        if custom is not None:
            if images.labels_of(engine, custom) is None:
                raise PbxError(f"image {custom} ({ENV_IMAGE}) not found by {engine.cli}")
            image = custom
        else:
            image = images.ensure_image(engine, self.layout, progress)
        ContainerRecord(engine.cli, engine.kind, image).write(self.layout.container_record)

    def publish(self, progress: Progress) -> None:
        """Tag the image `:latest` for docker/compose.yaml."""
        record = self._record()
        if record is None:
            raise PbxError("no container image prepared in this state directory")
        version = rootfs.installed_version(self.layout.rootfs)
        for image, name in images.tag_latest(self.engine(), record.image, version):
            progress(f"tagged {image} as {name}")

    def image_ready(self) -> bool:
        """True when this state directory has built its image and the engine still has it."""
        record = self._record()
        if record is None:
            return False
        try:
            return images.labels_of(self.engine(), record.image) is not None
        except PbxError:
            return False  # the recorded CLI is gone or does not answer

    # -- running

    def start(self) -> None:
        record = self._record()
        if record is None:  # started without prepare (LocalPbx.up always prepares)
            self.prepare(lambda _message: None)
            record = self._record()
        if record is None:
            raise PbxError(f"cannot write {self.layout.container_record}")
        for directory in (
            self.config_dir,
            *(self._root / "log" / name for name in _LOG_SUBDIRS),
            *(self._root / "spool" / name for name in _SPOOL_SUBDIRS),
            self._root / "astdb",
        ):
            directory.mkdir(parents=True, exist_ok=True)
        engine = self.engine()
        engine.run("rm", "--force", self.container)  # left over from a crash or a kill
        argv = run_argv(
            engine,
            name=self.container,
            image=record.image,
            mounts=self.mounts(),
            labels={LABEL_STATE_DIR: str(self.layout.state_dir.resolve())},
            command=["asterisk", "-f"],
        )
        result = engines.call(argv, timeout=120.0)
        if result.returncode != 0:
            raise PbxError(f"`{engine.cli} run` failed: {result.stderr.strip()}")

    def running_pid(self) -> int | None:
        """The container's host pid while it runs (0 when the engine reports none).

        PbxError when the engine does not answer: "not running" would be a guess,
        and `pbx down` would then forget a container that may still hold the ports.
        """
        engine = self.engine()
        result = engine.run(
            "container", "inspect", "--format", "{{.State.Running}} {{.State.Pid}}",
            self.container,
        )  # fmt: skip
        if result.returncode != 0:
            if _no_such_container(result.stderr):
                return None
            raise PbxError(
                f"cannot ask {engine.cli} about container {self.container}: "
                f"{result.stderr.strip() or f'exit {result.returncode}'}"
            )
        running, _, pid = result.stdout.strip().partition(" ")
        if running != "true":
            return None
        # The host pid, for display; 0 where the engine runs in a VM and reports none.
        return int(pid) if pid.isdigit() else 0

    def wait_exit(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.is_running():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            time.sleep(min(_POLL, remaining))
        return True

    def cli_command(self, command: str) -> list[str]:
        return self.engine().argv("exec", self.container, "asterisk", "-rx", command)

    def send_signal(self, signum: int) -> None:
        self.engine().run("kill", "--signal", signal.Signals(signum).name, self.container)

    def after_stop(self) -> None:
        engine = self.engine()
        result = engine.run("rm", "--force", self.container)
        if result.returncode != 0 and not _no_such_container(result.stderr):
            raise PbxError(
                f"cannot remove container {self.container} with {engine.cli}: "
                f"{result.stderr.strip()}"
            )
        super().after_stop()

    def log_tail(self, lines: int = 30, since: int = 0) -> str:
        text = super().log_tail(lines, since)
        try:
            result = self.engine().run("logs", "--tail", str(lines), self.container)
        except PbxError:
            return text
        output = (result.stdout + result.stderr).strip()
        return f"{text}\n--- {self.container} (container output) ---\n{output}" if output else text


def _no_such_container(stderr: str) -> bool:
    # Docker: "No such container: NAME" / "No such object"; Podman: "no such container".
    return "no such" in stderr.lower()
