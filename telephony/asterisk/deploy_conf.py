"""Reading an administrator's Asterisk configuration: sections with where they are.

Enough of Asterisk's config syntax (main/config.c) to know which names a directory
already configures: `[name]`, templates `[name](!)`, sections built on templates
`[name](tpl,...)` and additions `[name](+)`, `key = value` and `key => value`,
`;` comments (`\\;` is a literal semicolon) and `;-- ... --;` block comments, and
`#include` / `#tryinclude` (relative to the configuration directory, globs allowed),
followed into the included files. `#exec` runs a program: never followed here.
"""

from __future__ import annotations

import glob
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from telephony.deploy.files import DeployError

# Include chains deeper than this are a loop (Asterisk itself stops at a cycle).
_MAX_DEPTH = 20


@dataclass(frozen=True, slots=True)
class Where:
    """A line of a file, named relative to the configuration directory when inside it."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True)
class Section:
    """One `[name]` of a config file, with its options (in order) and origin."""

    name: str
    where: Where
    template: bool
    addition: bool
    bases: tuple[str, ...]
    options: tuple[tuple[str, str], ...]

    def get(self, key: str) -> str | None:
        """The last value of `key` in this section itself (templates not followed)."""
        found = None
        for name, value in self.options:
            if name == key:
                found = value
        return found


@dataclass(slots=True)
class _Open:
    name: str
    where: Where
    template: bool
    addition: bool
    bases: tuple[str, ...]
    options: list[tuple[str, str]] = field(default_factory=list)

    def close(self) -> Section:
        return Section(self.name, self.where, self.template, self.addition, self.bases,
                       tuple(self.options))


@dataclass(frozen=True, slots=True)
class Tree:
    """Every section of a main file and the files it includes, in Asterisk's order, and
    the include directives met (as written, normalised relative to the directory)."""

    sections: tuple[Section, ...]
    includes: tuple[PurePosixPath, ...]
    files: tuple[str, ...]

    def resolved(self, section: Section, key: str) -> str | None:
        """`key` of a section, else of the templates it is built on (the last base that
        sets it wins, as Asterisk copies bases in order, then the section's own)."""
        own = section.get(key)
        if own is not None:
            return own
        value = None
        for base in section.bases:
            template = self._template(base, before=section)
            if template is not None:
                found = self.resolved(template, key)
                if found is not None:
                    value = found
        return value

    def _template(self, name: str, *, before: Section) -> Section | None:
        found = None
        for section in self.sections:
            if section is before:
                break
            if section.name == name:
                found = section
        return found


def strip_comments(lines: list[str]) -> list[str]:
    """The lines without comments, same count (so line numbers stay right)."""
    out: list[str] = []
    in_block = False
    for line in lines:
        kept: list[str] = []
        i = 0
        while i < len(line):
            if in_block:
                end = line.find("--;", i)
                if end < 0:
                    i = len(line)
                else:
                    in_block = False
                    i = end + 3
                continue
            char = line[i]
            if char == "\\" and line.startswith(";", i + 1):
                kept.append(";")
                i += 2
                continue
            if char == ";":
                if line.startswith(";--", i):
                    in_block = True
                    i += 3
                    continue
                break
            kept.append(char)
            i += 1
        out.append("".join(kept))
    return out


def _parse_header(text: str) -> tuple[str, bool, bool, tuple[str, ...]] | None:
    """`[name](opts)` as (name, template, addition, bases), or None for another line."""
    if not text.startswith("["):
        return None
    close = text.find("]")
    if close < 0:
        return None
    name = text[1:close].strip()
    rest = text[close + 1:].strip()
    template = addition = False
    bases: list[str] = []
    if rest.startswith("(") and rest.endswith(")"):
        for word in rest[1:-1].split(","):
            word = word.strip()
            if word == "!":
                template = True
            elif word == "+":
                addition = True
            elif word:
                bases.append(word)
    return name, template, addition, tuple(bases)


def _include_argument(text: str) -> tuple[str, str] | None:
    """(`include` or `tryinclude`, the file) of a directive line, or None."""
    for directive in ("#tryinclude", "#include"):
        if text.lower().startswith(directive):
            argument = text[len(directive):].strip()
            quoted = len(argument) >= 2 and argument[0] == argument[-1] == '"'
            if quoted or (argument.startswith("<") and argument.endswith(">")):
                argument = argument[1:-1]
            return directive[1:], argument.strip()
    return None


def include_target(argument: str) -> PurePosixPath:
    """An include's file, normalised as a path relative to the configuration directory
    (`telephony/pjsip.conf`, `./telephony/pjsip.conf`) or absolute."""
    path = PurePosixPath(argument)
    parts = [part for part in path.parts if part != "."]
    return PurePosixPath(*parts) if parts else path


def parse_text(text: str, name: str) -> list[Section]:
    """The sections of one file's text, includes not followed (for our own files)."""
    tree = _Parser(Path("/nonexistent"), skip=lambda _p: True)
    tree.parse_lines(text.splitlines(), name, depth=0)
    return tree.done()


def parse_tree(directory: Path, main: str, *, skip: Callable[[Path], bool]) -> Tree:
    """The sections of `directory/main` and every file it includes (an include that
    `skip` accepts is not followed: our own files). A missing main file has none."""
    parser = _Parser(directory, skip=skip)
    path = directory / main
    if path.is_file():
        parser.parse_file(path, depth=0)
    return Tree(tuple(parser.done()), tuple(parser.includes), tuple(parser.files))


class _Parser:
    def __init__(self, directory: Path, *, skip: Callable[[Path], bool]) -> None:
        self.directory = directory
        self.skip = skip
        self.sections: list[Section] = []
        self.includes: list[PurePosixPath] = []
        self.files: list[str] = []
        self.current: _Open | None = None

    def done(self) -> list[Section]:
        if self.current is not None:
            self.sections.append(self.current.close())
            self.current = None
        return self.sections

    def shown(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.directory))
        except ValueError:
            return str(path)

    def parse_file(self, path: Path, *, depth: int) -> None:
        shown = self.shown(path)
        if depth > _MAX_DEPTH:
            raise DeployError(shown, f"#include nested over {_MAX_DEPTH} deep (a loop?)")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise DeployError(shown, f"not UTF-8 text ({exc.reason})") from None
        except OSError as exc:
            raise DeployError(shown, f"cannot read: {exc.strerror or exc}") from None
        self.files.append(shown)
        self.parse_lines(text.splitlines(), shown, depth=depth)

    def parse_lines(self, lines: list[str], shown: str, *, depth: int) -> None:
        for number, line in enumerate(strip_comments(lines), start=1):
            text = line.strip()
            if not text:
                continue
            include = _include_argument(text)
            if include is not None:
                self._include(include[1], depth=depth)
                continue
            if text.startswith("#"):
                continue  # #exec and unknown directives: not followed
            header = _parse_header(text)
            if header is not None:
                if self.current is not None:
                    self.sections.append(self.current.close())
                name, template, addition, bases = header
                self.current = _Open(name, Where(shown, number), template, addition, bases)
                continue
            if self.current is None:
                continue
            key, sep, value = text.partition("=")
            if not sep:
                continue
            self.current.options.append((key.strip(), value.lstrip(">").strip()))

    def _include(self, argument: str, *, depth: int) -> None:
        target = include_target(argument)
        self.includes.append(target)
        pattern = target if target.is_absolute() else PurePosixPath(self.directory) / target
        for name in sorted(glob.glob(str(pattern))):
            path = Path(name)
            if self.skip(path) or not path.is_file():
                continue
            # Asterisk goes on after an include in the category it was in before it.
            outer, self.current = self.current, None
            self.parse_file(path, depth=depth + 1)
            if self.current is not None:
                self.sections.append(self.current.close())
            self.current = outer
