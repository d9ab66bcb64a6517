"""The hand-written baseline: what an Asterisk admin would write without us.

It goes into the `#tryinclude`d local files our renderer leaves for local additions, so
the rendered files stay untouched. The dialplan appends to the rendered `tel-numbers`
context with `[tel-numbers](+)`, so trunk calls reach the baseline numbers exactly as
they reach ours (tel-from-trunk includes tel-numbers).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

PLAIN_QUEUE = "bench-plain"
PLAIN_QUEUE_NUMBER = "9000"
PLAIN_DIAL_NUMBER = "9001"

EXTENSIONS_LOCAL = "extensions-local.conf"
QUEUES_LOCAL = "queues-local.conf"

_MARK = "; Written by bench/call_latency.py; removed when the benchmark ends."


@dataclass(frozen=True, slots=True)
class Baseline:
    """The local files (name -> text) of the baseline."""

    files: dict[str, str]

    def write(self, config_dir: Path) -> list[Path]:
        """Write the files next to the rendered config; refuse to overwrite foreign ones."""
        written: list[Path] = []
        for name, text in self.files.items():
            target = config_dir / name
            if target.exists() and not target.read_text(encoding="utf-8").startswith(_MARK):
                raise RuntimeError(f"{target} exists and was not written by the benchmark")
            target.write_text(text, encoding="utf-8")
            target.chmod(0o600)
            written.append(target)
        return written

    def remove(self, config_dir: Path) -> None:
        """Remove the files this benchmark wrote (only those carrying its mark)."""
        for name in self.files:
            target = config_dir / name
            try:
                if target.read_text(encoding="utf-8").startswith(_MARK):
                    target.unlink()
            except FileNotFoundError:
                pass


def baseline(
    queue_devices: Sequence[str],
    dial_device: str,
    *,
    extra_queues: str = "",
    extra_dialplan: str = "",
) -> Baseline:
    """A plain app_queue with static PJSIP members, and a plain Dial of one device.

    `extra_queues` and `extra_dialplan` are appended to the local files (experiments).
    """
    members = "\n".join(f"member => PJSIP/{device}" for device in queue_devices)
    queues = f"""{_MARK}
[{PLAIN_QUEUE}]
strategy=rrmemory
timeout=5
ringinuse=no
{members}
{extra_queues}"""
    extensions = f"""{_MARK}
[tel-numbers](+)
exten => {PLAIN_QUEUE_NUMBER},1,Queue({PLAIN_QUEUE},r)
exten => {PLAIN_DIAL_NUMBER},1,Dial(PJSIP/{dial_device},20)
{extra_dialplan}"""
    return Baseline({QUEUES_LOCAL: queues, EXTENSIONS_LOCAL: extensions})
