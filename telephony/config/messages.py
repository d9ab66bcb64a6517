"""pydantic's validation errors as `path.to.field: message` a site author can act on."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import ValidationError

from telephony.config.models import ColleagueStep, HuntGroupStep, QueueStep, VoicemailStep
from telephony.config.problems import Problem, format_path
from telephony.config.scalars import Ambiguous

# Names pydantic puts into an error's location that are not part of the site file:
# union members and validator names.
_NOT_FIELDS = frozenset(cls.__name__ for cls in (VoicemailStep, ColleagueStep, HuntGroupStep,
                                                  QueueStep))
_GENERIC = {
    "missing": "is required",
    "extra_forbidden": "unknown field (check its spelling)",
    "list_type": "must be a list",
    "dict_type": "must be a mapping (name: value lines)",
    "model_type": "must be a mapping (name: value lines)",
    "model_attributes_type": "must be a mapping (name: value lines)",
}


def problems(exc: ValidationError) -> Iterator[Problem]:
    """One problem per error, at the field's path in the site file."""
    for error in exc.errors(include_url=False, include_context=False):
        yield Problem(format_path(_path(error["loc"])), _message(error))


def _path(loc: tuple[int | str, ...]) -> Iterator[int | str]:
    for part in loc:
        if isinstance(part, str) and (
            part in _NOT_FIELDS or part == "[key]" or part.startswith("function-")
        ):
            continue
        yield part


def _message(error: Any) -> str:
    kind = error["type"]
    value = error.get("input")
    if kind == "string_type":
        return _not_text(value)
    if isinstance(value, Ambiguous) and kind != "value_error":
        return f"YAML 1.1 reads this unquoted value as {value.reading}: put it in quotes"
    if kind in _GENERIC:
        return _GENERIC[kind]
    msg = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        msg = msg.removeprefix(prefix)
    return msg


def _not_text(value: object) -> str:
    # The value itself is never quoted: in a password field it would be the secret.
    if isinstance(value, Ambiguous):
        return f"YAML 1.1 reads this unquoted value as {value.reading}: put it in quotes"
    if value is None:
        return "must not be empty"
    if isinstance(value, bool):
        return "YAML reads this unquoted word as true/false: put it in quotes"
    if isinstance(value, int | float):
        return ("YAML reads this unquoted value as a number (dropping a leading + or 0): "
                "put it in quotes")
    if isinstance(value, list):
        return "must be text, not a list"
    if isinstance(value, dict):
        return "must be text, not a mapping"
    return "must be text"
