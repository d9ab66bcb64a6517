"""Where the FreeSWITCH runner keeps its files under a state directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# FreeSWITCH's own directories (its -flags), each under the instance directory.
STATE_DIRS = ("log", "run", "db", "storage", "cache", "recordings", "sounds", "scripts",
              "grammar", "htdocs", "temp", "certs")


@dataclass(frozen=True, slots=True)
class Layout:
    """The runner's files under one state directory (beside the Asterisk runner's)."""

    state_dir: Path

    @property
    def dist_dir(self) -> Path:
        """Unpacked relocatable builds, one directory per tarball digest."""
        return self.state_dir / "freeswitch-dist"

    @property
    def dist_lock(self) -> Path:
        """Held while a build is unpacked, so two unpacks never race."""
        return self.state_dir / "freeswitch-dist.lock"

    @property
    def root(self) -> Path:
        """This instance: config, databases, logs, and the runner's records."""
        return self.state_dir / "pbx" / "freeswitch"

    @property
    def conf_dir(self) -> Path:
        """The config FreeSWITCH reads (-conf): base files and the rendered site."""
        return self.root / "conf"

    @property
    def db_dir(self) -> Path:
        """mod_db, mod_callcenter, sofia and core sqlite files: kept across restarts."""
        return self.root / "db"

    @property
    def log_file(self) -> Path:
        """FreeSWITCH's own log (logfile.conf.xml)."""
        return self.root / "log" / "freeswitch.log"

    @property
    def pid_file(self) -> Path:
        """The pid of the FreeSWITCH this runner started (FreeSWITCH's own is run/)."""
        return self.root / "freeswitch.pid"

    @property
    def state_file(self) -> Path:
        """How and on which ports the last start ran, so status/down need no site file."""
        return self.root / "state.json"

    @property
    def output_log(self) -> Path:
        """FreeSWITCH's stdout and stderr."""
        return self.root / "freeswitch.out"

    def directories(self) -> dict[str, Path]:
        """FreeSWITCH's directory flags (-base, -conf, -log ...) and where they point."""
        dirs = {"base": self.root, "conf": self.conf_dir}
        dirs.update({name: self.root / name for name in STATE_DIRS})
        return dirs
