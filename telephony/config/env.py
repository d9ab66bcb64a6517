"""`${NAME}` and `${NAME:-default}` in site-file text, filled in from the environment."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class EnvText(str):
    """Text that came through `${...}` substitution.

    The environment only holds text, so an integer field (a port, say) takes an
    `EnvText` of decimal digits, while the same digits written in quotes in the file
    are refused: quotes there mean text.
    """

    __slots__ = ()


def expand(value: str, env: Mapping[str, str], problem: Callable[[str], None]) -> str:
    """`value` with every `${...}` filled in; each thing wrong goes to `problem`."""

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        found = env.get(name, "")
        if found or default is None and name in env:
            if not _is_unicode(found):
                problem(f"environment variable {name} is not valid UTF-8")
                return ""
            return found
        if default is not None:
            return default  # as in the shell: ${VAR:-x} also covers an empty VAR
        problem(f"environment variable {name} is not set")
        return ""

    result = _ENV_RE.sub(replace, value)
    if "${" in _ENV_RE.sub("", value):
        problem("malformed ${...}: write ${NAME} or ${NAME:-default}")
    return EnvText(result)


def _is_unicode(text: str) -> bool:
    # os.environ holds undecodable bytes as lone surrogates, which no file can hold.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
