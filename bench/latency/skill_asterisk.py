"""The Asterisk side of bench/skill_latency.py: the hand-written skill queue, and reading
the penalties app_queue rings by.

The baseline is what an Asterisk admin writes by hand for the same two phones: a queue
with static members at fixed penalties (the expert 0, the other 1), the same strategy
and ring time as ours, no penalty rules, and `Queue()` straight from the number (app_queue
rings the lowest penalty that has someone free). Ours, as rendered: the number's
`Goto` to the queue's context, `Set(QUEUE_MAX_PENALTY=0)`, `Queue(q,r,,,max_wait)`, the
queue's `defaultrule` raising the limit every level_wait seconds, members added by the
engine with penalty = level - 1.

The baseline goes into the `#tryinclude`d local files the rendered config leaves for
local additions (`[tel-numbers](+)` appends to the rendered context trunk calls reach);
the files carry a mark and only marked files are overwritten or removed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from telephony.config.models import SkillQueue

PLAIN_QUEUE = "bench-experts"
PLAIN_NUMBER = "9000"
QUEUES_LOCAL = "queues-local.conf"
EXTENSIONS_LOCAL = "extensions-local.conf"
MARK = "; Written by bench/skill_latency.py; removed when the benchmark ends."


@dataclass(frozen=True, slots=True)
class Baseline:
    """The local files (name -> text) of the hand-written skill queue."""

    files: dict[str, str]

    def write(self, config_dir: Path) -> None:
        """Write the files beside the rendered config; refuse to overwrite foreign ones."""
        for name, text in self.files.items():
            target = config_dir / name
            if target.exists() and not target.read_text(encoding="utf-8").startswith(MARK):
                raise SystemExit(f"{target} exists and was not written by the benchmark")
            target.write_text(text, encoding="utf-8")
            target.chmod(0o600)

    def remove(self, config_dir: Path) -> None:
        """Remove the files this benchmark wrote (only those carrying its mark)."""
        for name in self.files:
            target = config_dir / name
            try:
                if target.read_text(encoding="utf-8").startswith(MARK):
                    target.unlink()
            except FileNotFoundError:
                pass


def baseline(queue: SkillQueue, devices: Sequence[str]) -> Baseline:
    """Static members at penalties 0, 1, ... in the order given (the expert first)."""
    members = "\n".join(
        f"member => PJSIP/{device},{penalty}" for penalty, device in enumerate(devices)
    )
    queues = f"""{MARK}
[{PLAIN_QUEUE}]
strategy={queue.strategy.value}
timeout={queue.ring_timeout}
ringinuse=no
{members}
"""
    extensions = f"""{MARK}
[tel-numbers](+)
exten => {PLAIN_NUMBER},1,Queue({PLAIN_QUEUE},r)
"""
    return Baseline({QUEUES_LOCAL: queues, EXTENSIONS_LOCAL: extensions})


# `queue show` names a member by its name, then "(interface from state interface)" when
# the name differs from the interface; a penalty other than 0 follows:
#   "      chen-soft (PJSIP/chen-soft from hint:1003@tel-state) with penalty 1 (...)"
#   "      PJSIP/dana-soft with penalty 1 (ringinuse disabled) (Not in use) ..."
_MEMBER = re.compile(
    r"^\s+(\S+)(?: \((\S+?)(?: from \S+)?\))?(?: with penalty (\d+))?", re.MULTILINE
)


def penalties(queue_show: str) -> dict[str, int]:
    """Member interface -> penalty, from `queue show <queue>` (no penalty shown = 0)."""
    out = {}
    for match in _MEMBER.finditer(queue_show):
        interface = match[2] or match[1]
        if "/" in interface:
            out[interface] = int(match[3] or 0)
    return out
