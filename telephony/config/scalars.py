"""Plain YAML scalars: what YAML 1.1 (and PyYAML) makes of them, and which are traps.

YAML 1.1 reads `yes`, `off`, `0123`, `0x1F`, `1_000`, `10:00` and `2026-03-29` as a
boolean, an octal, hexadecimal or grouped number, a base-60 number and a date. People
(and YAML 1.2) mostly mean text or a plain decimal. No site field takes such a value,
so each comes back as an `Ambiguous`, which every field refuses with a hint to quote
it, instead of a value that would be silently misread (extension `0123` as 83).

What is left is the unsurprising part of YAML 1.1: decimal integers, `true`/`false`,
floats, `null`/`~`/empty and text, exactly as `yaml.safe_load` reads them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from yaml.constructor import SafeConstructor
from yaml.nodes import ScalarNode
from yaml.resolver import Resolver

_TAG = "tag:yaml.org,2002:"
# PyYAML's own table, first character -> [(tag, pattern)], so that what is not refused
# means exactly what it means to yaml.safe_load.
_RESOLVERS: Final = Resolver.yaml_implicit_resolvers
_DECIMAL = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")
_CONSTRUCTOR = SafeConstructor()


@dataclass(frozen=True, slots=True)
class Ambiguous:
    """A plain scalar YAML 1.1 reads as something other than the text written.

    `reading` says what YAML makes of it, for the message; `value` is what
    `yaml.safe_load` would return. The written text is deliberately not kept: it could
    be a secret, and messages never quote it.
    """

    reading: str
    value: object

    def __repr__(self) -> str:
        return f"<YAML 1.1 {self.reading}>"


def _int_reading(text: str) -> str:
    digits = text.lstrip("+-")
    if digits.startswith("0b"):
        return "a binary number"
    if digits.startswith("0x"):
        return "a hexadecimal number"
    if ":" in digits:
        return "a base-60 number (1:30 is 90)"
    if digits.startswith("0"):
        return "an octal number (a leading 0 means octal)"
    return "a number (the _ are dropped)"


def resolve_plain(text: str) -> object:
    """The value of a plain (unquoted, untagged) scalar."""
    if not text:
        return None
    resolvers = _RESOLVERS.get(text[0])
    if resolvers is None:
        return text
    for tag, pattern in resolvers:
        if not pattern.match(text):
            continue
        kind = tag.removeprefix(_TAG)
        node = ScalarNode(tag, text)
        if kind == "bool":
            value = _CONSTRUCTOR.construct_yaml_bool(node)
            if text.lower() in ("true", "false"):
                return value
            return Ambiguous("true/false (yes, no, on and off are booleans)", value)
        if kind == "int":
            if _DECIMAL.fullmatch(text):
                return int(text)
            return Ambiguous(_int_reading(text), _CONSTRUCTOR.construct_yaml_int(node))
        if kind == "float":
            return _CONSTRUCTOR.construct_yaml_float(node)
        if kind == "null":
            return None
        if kind == "timestamp":
            try:
                date = _CONSTRUCTOR.construct_yaml_timestamp(node)
            except ValueError:  # the pattern matches 2026-02-30 too
                date = None
            return Ambiguous("a date", date)
        # `<<` outside a key, `=`, and `!`, `&`, `*` on their own: PyYAML has no value
        # for these tags at all, so they stay the text they are.
        return text
    return text
