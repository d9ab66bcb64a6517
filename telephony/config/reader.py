"""Reading a site file's YAML: one document of mappings, lists and scalars, nothing more.

`yaml.safe_load` silently keeps the last of two equal keys (a second `asa:` in a roster
loses a shift), expands aliases without bound (a few lines can stand for billions of
values), follows an alias into the list that holds it, and recurses once per level of
nesting. Its Python constructor is also most of the time `telephony check` takes.

This reader takes the parser's events (libyaml's C parser when PyYAML has it, else
PyYAML's pure-Python one) and builds the values itself, in one loop with an explicit
stack: no recursion however deep the input, duplicate keys, alias loops, too many
values (aliases expanded) and too deep nesting refused with the path and line. Plain
scalars are typed as YAML 1.1 types them, with the surprising forms flagged
(`telephony.config.scalars`). Problems are collected where the rest of the document can
still be read (duplicate keys, odd keys, unsupported tags); anything else stops at once.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final, NoReturn

import yaml
from yaml.events import (
    AliasEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)

from telephony.config.problems import ConfigError, Problem, format_path
from telephony.config.scalars import Ambiguous, resolve_plain

# A 5,000-agent site (bench/site_scale.py) is about 325,000 values; this leaves six
# times that, and stops a billion laughs long before it costs seconds.
MAX_VALUES: Final = 2_000_000
# The deepest a site file goes is 7 levels (hunt_groups[0].roster.asa.mon[0]).
MAX_DEPTH: Final = 64

LOADERS: Final[dict[str, Any]] = {"python": yaml.SafeLoader}
if getattr(yaml, "__with_libyaml__", False):
    LOADERS["libyaml"] = yaml.CSafeLoader
DEFAULT_LOADER: Final = "libyaml" if "libyaml" in LOADERS else "python"

_YAML_TAG: Final = "tag:yaml.org,2002:"
_STR: Final = _YAML_TAG + "str"
_TEXT_TAGS: Final = frozenset({_STR, "!"})
_MAP_TAGS: Final = frozenset({None, "tag:yaml.org,2002:map"})
_SEQ_TAGS: Final = frozenset({None, "tag:yaml.org,2002:seq"})

# A hook for every text value that contains "${": (text, path) -> replacement.
TextHook = Callable[[str, Callable[[], str]], str]


class _Stop(Exception):
    """A problem after which the rest of the document cannot be trusted."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem


class _Sentinel:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


_WANT_KEY: Final = _Sentinel("<want key>")
_SKIP: Final = _Sentinel("<skip value>")  # the key was refused; drop its value
_MERGE: Final = _Sentinel("<<")
_UNSEEN: Final = _Sentinel("<unseen>")


class _Frame:
    """A mapping or list being read."""

    __slots__ = ("anchor", "count_before", "is_map", "key", "lines", "merges", "value")

    def __init__(self, is_map: bool, anchor: str | None, count_before: int) -> None:
        self.is_map = is_map
        self.value: Any = {} if is_map else []
        self.key: object = _WANT_KEY if is_map else None  # lists have no keys
        self.anchor = anchor
        self.count_before = count_before  # values counted before this one started
        self.merges: list[tuple[object, int]] = []
        self.lines: dict[str, Any] = {}  # each key's start mark, to place a duplicate's first


def read_yaml(
    text: str,
    source: str = "<site>",
    *,
    on_text: TextHook | None = None,
    loader: str = DEFAULT_LOADER,
    max_values: int = MAX_VALUES,
    max_depth: int = MAX_DEPTH,
) -> object:
    """The one document in `text` as dicts, lists and scalars; ConfigError if unusable."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        line = text.count("\n", 0, exc.start) + 1
        raise ConfigError([Problem("", f"{source}: line {line}: not valid Unicode")]) from None
    builder = _Builder(source, on_text, max_values, max_depth)
    parser: Any = None
    try:
        parser = LOADERS[loader](text)
        value = builder.document(parser.get_event)
    except _Stop as stop:
        raise ConfigError([stop.problem]) from None
    except yaml.MarkedYAMLError as exc:
        raise ConfigError([_syntax_problem(exc, text, source)]) from None
    except yaml.reader.ReaderError:
        raise ConfigError([_character_problem(text, source)]) from None
    finally:
        if parser is not None:
            parser.dispose()
    if builder.problems:
        raise ConfigError(builder.problems)
    return value


class _Builder:
    def __init__(
        self, source: str, on_text: TextHook | None, max_values: int, max_depth: int
    ) -> None:
        self.source = source
        self.on_text = on_text
        self.max_values = max_values
        self.max_depth = max_depth
        self.count = 0
        self.anchors: dict[str, tuple[object, int]] = {}
        self.anchor_lines: dict[str, int] = {}
        self.open_anchors: set[str] = set()
        self.stack: list[_Frame] = []
        self.problems: list[Problem] = []
        self.plain: dict[str, object] = {}

    def document(self, get: Callable[[], Any]) -> object:
        get()  # StreamStartEvent
        event = get()
        if isinstance(event, StreamEndEvent):
            return None
        value = self.node(get)
        get()  # DocumentEndEvent
        event = get()
        if isinstance(event, DocumentStartEvent):
            self.stop("", f"a second YAML document starts at line {_line(event)} (---): "
                      "a site file is one document")
        return value

    def node(self, get: Callable[[], Any]) -> object:
        """Read one value (however deep) from the events; the loop never recurses.

        The common cases (a plain or quoted scalar as key or value, no anchor, no tag)
        are handled inline: this loop runs once per value of the file.
        """
        stack = self.stack
        top: _Frame | None = None
        plain = self.plain
        limit = self.max_values
        value: object
        while True:
            event = get()
            kind = type(event)
            if kind is ScalarEvent:
                self.count += 1
                if self.count > limit:
                    self.counted(0)
                text: str = event.value
                tag = event.tag
                value = text
                if tag is None:
                    if event.implicit[0]:
                        # Plain scalars repeat (keys above all): resolve each text once.
                        value = plain.get(text, _UNSEEN)
                        if value is _UNSEEN:
                            value = plain[text] = resolve_plain(text)
                else:
                    value = self.tagged(event)
                if top is not None and top.key is _WANT_KEY:
                    if (value.__class__ is str and value not in top.lines and tag is None
                            and event.anchor is None and text != "<<"):
                        top.lines[text] = event.start_mark
                        top.key = text
                    else:
                        self.key(top, event, value)
                    continue
                if value.__class__ is str:
                    value = self.text(event, text)
                if event.anchor is not None:
                    self.define(event.anchor, value, 1, event)
            elif kind is MappingStartEvent or kind is SequenceStartEvent:
                top = self.start(event, top, kind is MappingStartEvent)
                continue
            elif kind is MappingEndEvent or kind is SequenceEndEvent:
                frame = stack.pop()
                value = self.end(frame)
                top = stack[-1] if stack else None
            elif kind is AliasEvent:
                if top is not None and top.key is _WANT_KEY:
                    self.stop(self.path(), f"line {_line(event)}: an alias cannot be a key")
                value = self.alias(event)
            else:  # pragma: no cover - the parser sends nothing else inside a document
                self.stop(self.path(), f"line {_line(event)}: unexpected {kind.__name__}")
            if top is None:
                return value
            if top.is_map:
                key = top.key
                if key is _MERGE:
                    top.merges.append((value, _line(event)))
                elif key is not _SKIP:
                    top.value[key] = value
                top.key = _WANT_KEY
            else:
                top.value.append(value)

    def start(self, event: Any, top: _Frame | None, is_map: bool) -> _Frame:
        if top is not None and top.key is _WANT_KEY:
            self.stop(self.path(), f"line {_line(event)}: a key must be a name, "
                      "not a list or mapping")
        if event.tag not in (_MAP_TAGS if is_map else _SEQ_TAGS):
            self.stop(self.path(), f"line {_line(event)}: the tag {_tag(event.tag)} is not "
                      "supported")
        if len(self.stack) >= self.max_depth:
            self.stop("", f"line {_line(event)}: nested more than {self.max_depth} levels deep")
        frame = _Frame(is_map, event.anchor, self.count)
        if event.anchor is not None:
            self.claim_anchor(event.anchor, event)
            self.open_anchors.add(event.anchor)
        self.counted(1)
        self.stack.append(frame)
        return frame

    def end(self, frame: _Frame) -> object:
        if frame.merges:
            self.merge(frame)
        if frame.anchor is not None:
            self.open_anchors.discard(frame.anchor)
            self.anchors[frame.anchor] = (frame.value, self.count - frame.count_before)
        value: object = frame.value
        return value

    def tagged(self, event: Any) -> object:
        if event.tag in _TEXT_TAGS:
            return event.value
        self.problem(self.path(), f"line {_line(event)}: the tag {_tag(event.tag)} is not "
                     "supported")
        return None

    def key(self, top: _Frame, event: Any, key: object) -> None:
        """A key off the fast path: a merge, not text, given twice, or with an anchor."""
        plain = event.tag is None and event.implicit[0]
        if plain and key == "<<":
            top.key = _MERGE
            return
        if not isinstance(key, str):
            if event.tag is None:
                reading = key.reading if isinstance(key, Ambiguous) else _reading(key)
                self.problem(self.path(event.value), f"line {_line(event)}: YAML reads this "
                             f"key as {reading}: put it in quotes")
            top.key = _SKIP
            return
        if key in top.lines:
            first = top.lines[key].line + 1
            self.problem(self.path(key), f"line {_line(event)}: {key!r} is given twice in this "
                         f"mapping (first on line {first}); YAML would silently keep the last")
            top.key = _SKIP
            return
        top.lines[key] = event.start_mark
        if event.anchor is not None:
            self.define(event.anchor, key, 1, event)
        top.key = key

    def text(self, event: Any, value: str) -> str:
        if event.style == '"' and not value.isascii() and not _encodable(value):
            # Only the pure-Python parser lets a "\ud800" escape through.
            self.problem(self.path(), f"line {_line(event)}: a \\u escape that is not a "
                         "character (a lone surrogate)")
        elif self.on_text is not None and "${" in value:
            return self.on_text(value, self.path)
        return value

    def define(self, name: str, value: object, size: int, event: Any) -> None:
        self.claim_anchor(name, event)
        self.anchors[name] = (value, size)

    def alias(self, event: Any) -> object:
        name: str = event.anchor
        if name in self.open_anchors:
            self.stop(self.path(), f"line {_line(event)}: alias *{name} refers to a value that "
                      "contains it (a loop)")
        found = self.anchors.get(name)
        if found is None:
            self.stop(self.path(), f"line {_line(event)}: alias *{name} has no anchor &{name} "
                      "before it")
        value, size = found
        self.counted(size)
        return value

    def claim_anchor(self, name: str, event: Any) -> None:
        if name in self.anchor_lines:
            self.stop(self.path(), f"line {_line(event)}: anchor &{name} is already defined on "
                      f"line {self.anchor_lines[name]}")
        self.anchor_lines[name] = _line(event)

    def merge(self, frame: _Frame) -> None:
        # YAML 1.1 merge keys: `<<: *week` adds the keys the mapping does not set itself;
        # with a list of mappings, earlier ones win.
        for value, line in frame.merges:
            sources = value if isinstance(value, list) else [value]
            mappings = [source for source in sources if isinstance(source, dict)]
            if len(mappings) != len(sources):
                self.problem(self.path("<<"), f"line {line}: << takes a mapping or a list of "
                             "mappings")
                continue
            for source in mappings:
                for key, item in source.items():
                    frame.value.setdefault(key, item)

    def counted(self, n: int) -> None:
        self.count += n
        if self.count > self.max_values:
            self.stop(self.path(), f"more than {self.max_values:,} values with aliases expanded "
                      "(are aliases nested in aliases?)")

    def path(self, last: str | None = None) -> str:
        parts: list[int | str] = []
        for frame in self.stack:
            if not frame.is_map:
                parts.append(len(frame.value))
            elif isinstance(frame.key, str):
                parts.append(frame.key)
        if last is not None:
            parts.append(last)
        return format_path(parts)

    def problem(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def stop(self, path: str, message: str) -> NoReturn:
        raise _Stop(Problem(path, message if path else f"{self.source}: {message}"))


def _tag(tag: str) -> str:
    return "!!" + tag.removeprefix(_YAML_TAG) if tag.startswith(_YAML_TAG) else tag


def _line(event: Any) -> int:
    return int(event.start_mark.line) + 1


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _reading(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    return "a number"


# Parser messages are kept, but anything they quote is dropped unless it is YAML's own
# punctuation or a token name: the quoted character could be part of a secret.
_QUOTED = re.compile(r"'([^']*)'|\"([^\"]*)\"")
_SAFE_QUOTED = frozenset(",[]{}:-?&*!|>%@`#")


def _sanitise(text: str) -> str:
    def keep(match: re.Match[str]) -> str:
        inner = match.group(1) if match.group(1) is not None else match.group(2)
        if inner in _SAFE_QUOTED or inner.startswith("<") and inner.endswith(">"):
            return match.group(0)
        return ""

    return " ".join(_QUOTED.sub(keep, text).split())


def _syntax_problem(exc: yaml.MarkedYAMLError, text: str, source: str) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    if mark is None:
        return Problem("", f"{source}: not valid YAML")
    lines = text.split("\n")
    line = lines[mark.line] if mark.line < len(lines) else ""
    where = f"line {mark.line + 1}, column {mark.column + 1}"
    if "\t" in line[: mark.column + 1]:
        return Problem("", f"{source}: {where}: a tab character; YAML indents with spaces only")
    what = "; ".join(_sanitise(part) for part in (exc.context, exc.problem) if part)
    return Problem("", f"{source}: {where}: not valid YAML ({what})")


# Characters YAML does not allow anywhere in a document (YAML 1.1, 5.1).
_NOT_PRINTABLE = re.compile(
    "[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)


def _character_problem(text: str, source: str) -> Problem:
    found = _NOT_PRINTABLE.search(text)
    if found is None:
        return Problem("", f"{source}: a character YAML does not allow")
    line = text.count("\n", 0, found.start()) + 1
    column = found.start() - (text.rfind("\n", 0, found.start()) + 1) + 1
    return Problem("", f"{source}: line {line}, column {column}: a control character "
                   f"(U+{ord(found.group()):04X}) that YAML does not allow")
