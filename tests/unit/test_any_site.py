"""Any site file, however wrong, is a Site that renders or a ConfigError: nothing else."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from sites import sites

from telephony.asterisk.render import render
from telephony.config import ConfigError, parse_site
from telephony.config.dst import notes

values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30)
    | st.sampled_from(["voicemail", "08:00-10:00", "24:00-25:00", "::1", "10.0.0.0/8", "+46",
                       "${UNSET}", "${X:-7}", "asa", "general", "0123", "Europe/Stockholm"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner,
                                                                 max_size=3),
    max_leaves=6,
)


def _paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += _paths(value, (*path, i))
    return out


@st.composite
def damaged_sites(draw: st.DrawFn) -> dict[str, Any]:
    """A valid site with one to three values replaced, added or removed."""
    data = draw(sites(max_agents=3))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(data)[1:]))
        parent: Any = data
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["replace", "remove", "add"]))
        if action == "remove":
            del parent[path[-1]]
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.text(max_size=12))] = draw(values)
        else:
            parent[path[-1]] = draw(values)
    return data


@settings(max_examples=200, deadline=None)
@given(damaged_sites())
def test_a_damaged_site_is_refused_cleanly_or_renders(data: dict[str, Any]) -> None:
    text = yaml.safe_dump(data, allow_unicode=True)
    try:
        site = parse_site(text, {"X": "8"})
    except ConfigError as exc:
        assert exc.problems
        assert all(p.message for p in exc.problems)
        return
    files = render(site)
    assert set(files) == {"pjsip.conf", "extensions.conf", "queues.conf", "queuerules.conf",
                          "manager.conf", "voicemail.conf"}
    for text in files.values():
        text.encode("utf-8")
    notes(site, datetime(2026, 1, 1, tzinfo=UTC))


@settings(max_examples=100, deadline=None)
@given(sites(max_agents=3))
def test_every_generated_site_is_valid_and_renders_the_same_twice(data: dict[str, Any]) -> None:
    site = parse_site(yaml.safe_dump(data, allow_unicode=True), {})
    assert render(site) == render(parse_site(yaml.safe_dump(copy.deepcopy(data)), {}))
