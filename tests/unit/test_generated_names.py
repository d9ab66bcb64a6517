"""Every name the renderer makes is unique for any set of valid ids, as Asterisk sees it."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import yaml
from asterisk_conf import contexts_used, extension_key, extensions, sections
from hypothesis import given, settings
from sites import sites

from telephony.asterisk import names
from telephony.asterisk.render import render
from telephony.config import ConfigError, Site, parse_site

ENV: dict[str, str] = {}


def rendered(data: dict[str, Any]) -> tuple[Site, dict[str, str]]:
    site = parse_site(yaml.safe_dump(data, allow_unicode=True), ENV)
    return site, render(site)


def duplicates(items: list[Any]) -> list[Any]:
    return [item for item, n in Counter(items).items() if n > 1]


def test_no_per_id_prefix_is_a_prefix_of_another_or_of_a_fixed_context() -> None:
    prefixes = names.PER_ID_PREFIXES
    for a in prefixes:
        assert not [b for b in prefixes if a != b and b.startswith(a)]
        assert not [c for c in names.FIXED_CONTEXTS if c.startswith(a)]


def test_agent_hunt_x_and_group_x_get_different_contexts(demo_data: dict[str, Any]) -> None:
    # The collision this scheme removed: tel-try-<agent> vs tel-try-hunt-<group>.
    demo_data["agents"][1]["id"] = "hunt-intake"
    for step in demo_data["agents"][0]["fallback"]:
        if step == {"colleague": "bjorn"}:
            step["colleague"] = "hunt-intake"
    demo_data["hunt_groups"][0]["roster"]["hunt-intake"] = demo_data["hunt_groups"][0][
        "roster"].pop("bjorn")
    _, files = rendered(demo_data)
    contexts = [s.name for s in sections(files["extensions.conf"])]
    assert duplicates(contexts) == []


def test_agents_differing_only_by_a_dash_get_different_members(demo_data: dict[str, Any]) -> None:
    demo_data["agents"][0]["id"] = "a-b"
    demo_data["agents"][1]["id"] = "ab"
    demo_data["agents"][0]["fallback"] = ["voicemail"]
    demo_data["hunt_groups"][0]["roster"] = {}
    _, files = rendered(demo_data)
    member = next(s for s in sections(files["extensions.conf"]) if s.name == names.MEMBER)
    assert duplicates([extension_key(name) for name, _ in extensions(member)]) == []


@settings(max_examples=60, deadline=None)
@given(sites())
def test_contexts_are_unique_and_every_one_used_exists(data: dict[str, Any]) -> None:
    _, files = rendered(data)
    contexts = [s.name for s in sections(files["extensions.conf"])]
    assert duplicates(contexts) == []
    assert contexts_used(files["extensions.conf"]) <= set(contexts)


@settings(max_examples=60, deadline=None)
@given(sites())
def test_extensions_are_literal_and_unique_within_each_context(data: dict[str, Any]) -> None:
    _, files = rendered(data)
    for section in sections(files["extensions.conf"]):
        found = extensions(section)
        assert not [name for name, _ in found if name.startswith("_")], section.name
        assert duplicates([(extension_key(n), p) for n, p in found]) == [], section.name


@settings(max_examples=60, deadline=None)
@given(sites())
def test_member_and_state_interfaces_name_rendered_extensions(data: dict[str, Any]) -> None:
    site, files = rendered(data)
    by_name = {s.name: {n for n, _ in extensions(s)} for s in sections(files["extensions.conf"])}
    for agent in site.agents:
        exten, context = names.state_interface(agent).removeprefix("hint:").split("@")
        assert exten in by_name[context]
        member = names.member_interface(agent)
        if member.startswith("Local/"):
            exten, context = member.removeprefix("Local/").removesuffix("/n").split("@")
            assert exten in by_name[context]


@settings(max_examples=60, deadline=None)
@given(sites())
def test_pjsip_sections_are_unique_per_type(data: dict[str, Any]) -> None:
    _, files = rendered(data)
    found = [(s.name, s.values("type")[0]) for s in sections(files["pjsip.conf"])]
    assert duplicates(found) == []
    assert [name for name, kind in found if kind == "global"] == ["global"]
    assert "anonymous" not in {name for name, _ in found}


@settings(max_examples=60, deadline=None)
@given(sites())
def test_queue_manager_and_voicemail_names_are_unique(data: dict[str, Any]) -> None:
    _, files = rendered(data)
    for name in ("queues.conf", "manager.conf", "voicemail.conf"):
        assert duplicates([s.name for s in sections(files[name])]) == [], name
    [mailboxes] = [s for s in sections(files["voicemail.conf"]) if s.name == names.MAILBOX_CONTEXT]
    assert duplicates([ln.split("=>")[0].strip() for ln in mailboxes.lines]) == []


@pytest.mark.parametrize("value", ["anonymous", "general", "global", "system", "tel-udp", "tel-x"])
def test_ids_naming_asterisk_sections_are_refused(value: str) -> None:
    data = {"site": "s", "pbx": {"ami_secret": "a-long-secret"}, "trunks": [
        {"id": value, "match_header": "X-Trunk: pstn"}]}
    with pytest.raises(ConfigError) as caught:
        parse_site(yaml.safe_dump(data), ENV)
    [problem] = caught.value.problems
    assert str(problem).startswith(f"trunks[0].id: {value!r} is reserved: ")
