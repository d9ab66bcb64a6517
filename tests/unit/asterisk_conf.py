"""A reader for rendered Asterisk files that keeps what Asterisk would make of names."""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass
class Section:
    name: str
    lines: list[str] = field(default_factory=list)

    def values(self, key: str) -> list[str]:
        return [ln.split("=", 1)[1] for ln in self.lines if ln.split("=", 1)[0].strip() == key]


def sections(text: str) -> list[Section]:
    """Every `[name]` section in order, with its lines (comments and blanks dropped).

    Lines are split on newline only: that is all Asterisk's config parser splits on.
    """
    out: list[Section] = []
    for raw in text.split("\n"):
        line = raw.split(";", 1)[0].rstrip() if not raw.startswith("#") else ""
        if not line.strip():
            continue
        header = re.fullmatch(r"\[([^\]]+)\](\(\+\))?", line)
        if header:
            out.append(Section(header.group(1)))
        elif out:
            out[-1].lines.append(line)
    return out


def extension_key(name: str) -> str:
    """How Asterisk compares a literal extension name: '-' is ignored."""
    return name.replace("-", "")


def extensions(section: Section) -> list[tuple[str, str]]:
    """(extension name, priority) of each `exten =>` line."""
    out = []
    for line in section.lines:
        match = re.match(r"exten\s*=>\s*([^,]+),([^,]+),", line)
        if match:
            out.append((match.group(1), match.group(2)))
    return out


def contexts_used(text: str) -> set[str]:
    """Contexts named by Goto, Gosub, include, DIALPLAN_EXISTS, Local/ and hint:."""
    used = set(re.findall(r"(?:Goto|Gosub)\(([^,()]+),[^,()]+,[^,()]+\)", text))
    used |= set(re.findall(r"include => (\S+)", text))
    used |= set(re.findall(r"DIALPLAN_EXISTS\(([^,]+),", text))
    return used
