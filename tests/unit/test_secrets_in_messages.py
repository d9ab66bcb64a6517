"""A secret never appears in what `telephony check` says, however the site file is broken."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from sites import SECRET_ALPHABET, sites

from telephony.cli import main
from telephony.config import ConfigError, parse_site

# Random secrets with a digit and a symbol, so that one cannot turn up in a message by
# coincidence (a secret "required" would be in "is required").
secrets = st.text(SECRET_ALPHABET, min_size=8, max_size=30).filter(
    lambda s: any(c.isdigit() for c in s) and any(not c.isalnum() for c in s)
)


PLACEHOLDER = "SECRET-PLACEHOLDER"

# Each breakage rewrites the line holding the secret: (text before the value, secret).
BREAKAGES: dict[str, Callable[[str, str], str]] = {
    "unclosed double quote": lambda key, s: f'{key}"{s}',
    "unclosed single quote": lambda key, s: f"{key}'{s}",
    "bad escape": lambda key, s: f'{key}"{s}\\q"',
    "tab before": lambda key, s: f"\t{key}{json.dumps(s)}",
    "flow mapping": lambda key, s: f"{key}{{{s}",
    "as a list": lambda key, s: f"{key}[{json.dumps(s)}]",
    "as a mapping": lambda key, s: f"{key}{{k: {json.dumps(s)}}}",
    "forbidden character": lambda key, s: f"{key}{json.dumps(s + ';x')}",
    "too short": lambda key, s: f"{key}{json.dumps(s[:7])}",
    "with a space": lambda key, s: f"{key}{json.dumps(s + ' ' + s)}",
    "control character": lambda key, s: f'{key}"{s}\\x01"',
    "raw control character": lambda key, s: f"{key}{s}\x07",
    "misspelt key": lambda key, s: key.replace("password", "pasword")
    .replace("ami_secret", "ami_secrt") + json.dumps(s),
    "key given twice": lambda key, s: f"{key}{json.dumps(s)}\n{key}{json.dumps(s)}",
    "malformed reference": lambda key, s: f"{key}{json.dumps(s + '${x')}",
    "bad tag": lambda key, s: f"{key}!!binary {json.dumps(s)}",
    "a wrong neighbour": lambda key, s: f"{key}{json.dumps(s)}\n{key.split(':')[0]}x: 1",
}


def broken(data: dict[str, Any], secret: str, where: int, breakage: str) -> str:
    holders: list[dict[str, Any]] = [data["pbx"]]
    holders += [d for a in data["agents"] for d in a["devices"]]
    holder = holders[where % len(holders)]
    holder["ami_secret" if holder is data["pbx"] else "password"] = PLACEHOLDER
    lines = yaml.safe_dump(data, allow_unicode=True).split("\n")
    [i] = [n for n, line in enumerate(lines) if PLACEHOLDER in line]
    lines[i] = BREAKAGES[breakage](lines[i][: lines[i].index(PLACEHOLDER)], secret)
    return "\n".join(lines)


@settings(max_examples=150, deadline=None)
@given(sites(max_agents=2), secrets, st.integers(0, 10), st.sampled_from(sorted(BREAKAGES)))
def test_no_broken_site_quotes_its_secret(
    data: dict[str, Any], secret: str, where: int, breakage: str
) -> None:
    try:
        parse_site(broken(data, secret, where, breakage), {})
    except ConfigError as exc:
        assert all(secret not in str(p) for p in exc.problems)


@settings(max_examples=100, deadline=None)
@given(secrets)
def test_a_secret_in_an_id_field_is_not_a_secret_but_one_in_a_secret_field_is(secret: str) -> None:
    data = {"site": "s", "pbx": {"ami_secret": secret + "\n"}}
    with pytest.raises(ConfigError) as caught:
        parse_site(yaml.safe_dump(data), {})
    assert secret not in str(caught.value)


def test_check_prints_no_secret_of_a_broken_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "site.yaml"
    path.write_text('site: x\npbx:\n  ami_secret: "Hunter2;Hunter2\\q"\n', encoding="utf-8")
    assert main(["check", str(path)]) == 2
    out = capsys.readouterr()
    assert "Hunter2" not in out.out + out.err
