"""`telephony render --pbx freeswitch`: deterministic XML that keeps every value in place."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml

from telephony.cli import main
from telephony.config import ConfigError, parse_site
from telephony.config.checks import TRUNK_HEADER_ON_FREESWITCH
from telephony.config.models import PbxKind, RingStrategy
from telephony.freeswitch import names
from telephony.freeswitch.render import FILES, render
from telephony.freeswitch.strategies import REFUSED, STRATEGIES
from telephony.port.model import Family, Key
from telephony.render import render_files

ENV = {"TELEPHONY_AMI_SECRET": "a-long-esl-secret"}


@pytest.fixture
def fs_data(demo_data: dict[str, Any]) -> dict[str, Any]:
    """The demo site on FreeSWITCH: its header trunk becomes an address trunk."""
    demo_data["pbx"]["kind"] = "freeswitch"
    demo_data["trunks"] = [{"id": "pstn", "match_ip": ["203.0.113.0/24", "2001:db8::7"]}]
    return demo_data


def site_text(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, allow_unicode=True)


def rendered(data: dict[str, Any]) -> dict[str, str]:
    return render(parse_site(site_text(data), ENV))


def xml(data: dict[str, Any], name: str) -> ET.Element:
    return ET.fromstring(rendered(data)[name])


def problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_site(site_text(data), ENV)
    return [str(p) for p in caught.value.problems]


def test_rendering_twice_is_byte_identical(fs_data: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    path.write_text(site_text(fs_data), encoding="utf-8")
    for out in ("a", "b"):
        assert main(["render", str(path), "--out", str(tmp_path / out)]) == 0
    for name in FILES:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_render_for_freeswitch_writes_the_six_files(
    fs_data: dict[str, Any], tmp_path: Path
) -> None:
    fs_data["pbx"]["kind"] = "asterisk"  # --pbx decides, whatever the file says
    path = tmp_path / "site.yaml"
    path.write_text(site_text(fs_data), encoding="utf-8")
    assert main(["render", str(path), "--pbx", "freeswitch", "--out", str(tmp_path / "o")]) == 0
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == sorted(FILES)


def test_render_files_dispatches_by_kind(fs_data: dict[str, Any]) -> None:
    site = parse_site(site_text(fs_data), ENV)
    assert render_files(site, "freeswitch") == render(site)


def test_every_rendered_file_parses_as_xml(fs_data: dict[str, Any]) -> None:
    for text in rendered(fs_data).values():
        ET.fromstring(text)  # raises ParseError naming the line


def test_names_with_markup_and_non_ascii_survive_as_text(fs_data: dict[str, Any]) -> None:
    name = "Ågot & <Söder> 'Kå'"
    fs_data["agents"][0]["name"] = name
    fs_data["hunt_groups"][0]["name"] = "Members & <friends>"
    directory = xml(fs_data, "directory.xml")
    values = [v.get("value") for v in directory.iter("variable")
              if v.get("name") == "effective_caller_id_name"]
    assert values.count(name) == 3  # her two devices and her mailbox
    assert "Members & <friends>" in values


def test_secrets_with_markup_survive_as_text(fs_data: dict[str, Any]) -> None:
    fs_data["pbx"]["control_secret"] = "s&cr<t>'esl'"
    fs_data["agents"][0]["devices"][0]["password"] = "p&ss<w>rd'1"
    esl = xml(fs_data, "event_socket.conf.xml")
    assert {p.get("name"): p.get("value") for p in esl.iter("param")}["password"] == (
        "s&cr<t>'esl'")
    directory = xml(fs_data, "directory.xml")
    user = next(u for u in directory.iter("user") if u.get("id") == "asa-soft")
    assert {p.get("name"): p.get("value") for p in user.iter("param")}["password"] == (
        "p&ss<w>rd'1")


def test_each_device_is_a_user_of_the_site_domain_with_its_own_password(
    fs_data: dict[str, Any]
) -> None:
    directory = xml(fs_data, "directory.xml")
    [domain] = [d for d in directory.iter("domain") if d.get("name") == "fund-demo"]
    users = {u.get("id"): u for u in domain.iter("user")}
    assert sorted(users) == ["asa-desk", "asa-soft", "bjorn-soft", "chen-desk", "chen-soft"]
    asa = {v.get("name"): v.get("value") for v in users["asa-desk"].iter("variable")}
    assert asa["effective_caller_id_number"] == "1001"
    params = {p.get("name"): p.get("value") for p in users["asa-desk"].iter("param")}
    assert params["password"] == "demo-asa-desk"


def test_every_leg_of_an_agents_devices_is_the_agents_extension_to_presence(
    fs_data: dict[str, Any]
) -> None:
    directory = xml(fs_data, "directory.xml")
    [domain] = [d for d in directory.iter("domain") if d.get("name") == "fund-demo"]
    for user_id, presence in [("asa-soft", "1001@fund-demo"), ("asa-desk", "1001@fund-demo"),
                              ("bjorn-soft", "1002@fund-demo")]:
        user = next(u for u in domain.iter("user") if u.get("id") == user_id)
        params = {p.get("name"): p.get("value") for p in user.iter("param")}
        variables = {v.get("name"): v.get("value") for v in user.iter("variable")}
        # Rung (user/<device>: the dial-string) and calling (the channel variable) alike.
        assert params["dial-string"] == (
            "{^^:sip_invite_domain=${dialed_domain}:presence_id=" + presence + "}"
            "${sofia_contact(telephony/${dialed_user}@${dialed_domain})}")
        assert variables["presence_id"] == presence
    # No other dial-string: the domain's would name the device.
    assert [p for p in domain.find("params") or [] if p.get("name") == "dial-string"] == []


def test_the_profile_manages_presence_for_the_site_domain(fs_data: dict[str, Any]) -> None:
    sofia = xml(fs_data, "sofia.conf.xml")
    params = {p.get("name"): p.get("value") for p in sofia.iter("param")}
    assert params["manage-presence"] == "true"
    assert params["presence-hosts"] == "fund-demo"
    assert params["force-subscription-domain"] == "fund-demo"
    assert params["auth-subscriptions"] == "true"
    assert params["presence-hold-state"] == "confirmed"  # a held call reads busy


def test_phone_keys_toggle_duty_and_focus_from_the_agents_own_devices_only(
    fs_data: dict[str, Any]
) -> None:
    dialplan = xml(fs_data, "dialplan.xml")
    duty = extension(dialplan, names.FROM_INTERNAL, "key-duty-asa")
    conditions = list(duty.iter("condition"))
    assert conditions[0].get("expression") == r"^(?:\*501001)$"
    assert (conditions[1].get("field"), conditions[1].get("expression")) == (
        "${tel_from_agent}", "^asa$")
    assert actions(duty)[0] == (
        "event", "Event-Subclass=telephony::key,Event-Name=CUSTOM,tel-agent=asa,tel-key=duty")
    assert actions(duty, "anti-action") == [("hangup", "CALL_REJECTED")]
    focus = extension(dialplan, names.FROM_INTERNAL, "key-focus-asa")
    assert next(focus.iter("condition")).get("expression") == r"^(?:\*511001)$"
    done = actions(focus)
    # Off when in focus now, else on until turned off; the stamp tells the port.
    assert ("db", "delete/telephony_focus/asa") in done
    assert ("db", "insert/telephony_focus/asa/0") in actions(focus, "anti-action")
    assert ("db", "insert/telephony_meta/version/${create_uuid()}") in done
    key_event = "Event-Subclass=telephony::key,Event-Name=CUSTOM,tel-agent=asa,tel-key=focus"
    assert ("event", key_event) in done
    # Only from our own phones: trunks never reach a key.
    trunk = [c for c in dialplan.iter("context") if c.get("name") == names.FROM_TRUNK]
    assert not [e for c in trunk for e in c.iter("extension")
                if (e.get("name") or "").startswith("key-")]


def test_an_agent_on_no_hunt_group_roster_has_no_duty_key(fs_data: dict[str, Any]) -> None:
    for group in fs_data["hunt_groups"]:
        group["roster"].pop("bjorn", None)
    dialplan = xml(fs_data, "dialplan.xml")
    keys = {e.get("name") for c in dialplan.iter("context") for e in c.iter("extension")}
    assert "key-focus-bjorn" in keys and "key-duty-bjorn" not in keys
    assert "key-duty-asa" in keys


def test_mailboxes_live_in_a_domain_no_phone_authenticates_against(
    fs_data: dict[str, Any]
) -> None:
    directory = xml(fs_data, "directory.xml")
    [mailboxes] = [d for d in directory.iter("domain") if d.get("name") == "mailboxes.fund-demo"]
    assert sorted(u.get("id") or "" for u in mailboxes.iter("user")) == [
        "asa", "bjorn", "chen", "intake", "pension"]
    assert not list(mailboxes.iter("param"))  # no passwords: never a SIP user
    profile = {p.get("name"): p.get("value") for p in xml(fs_data, "sofia.conf.xml").iter("param")}
    assert profile["force-register-domain"] == "fund-demo"


def test_the_sip_profile_listens_on_the_sites_address_and_port(fs_data: dict[str, Any]) -> None:
    fs_data["pbx"].update(sip_host="::1", sip_port=7060)
    [profile] = xml(fs_data, "sofia.conf.xml").iter("profile")
    params = {p.get("name"): p.get("value") for p in profile.iter("param")}
    assert (params["sip-ip"], params["rtp-ip"], params["sip-port"]) == ("::1", "::1", "7060")
    assert params["auth-calls"] == "true"
    assert params["apply-inbound-acl"] == names.TRUNK_ACL
    assert params["context"] == names.FROM_TRUNK


def test_the_event_socket_listens_on_loopback_at_the_control_port(
    fs_data: dict[str, Any]
) -> None:
    fs_data["pbx"]["control_port"] = 17021
    params = {p.get("name"): p.get("value")
              for p in xml(fs_data, "event_socket.conf.xml").iter("param")}
    assert (params["listen-ip"], params["listen-port"]) == ("127.0.0.1", "17021")
    assert params["password"] == "a-long-esl-secret"


def test_trunk_addresses_form_the_acl_a_bare_address_as_its_own_network(
    fs_data: dict[str, Any]
) -> None:
    [acl] = xml(fs_data, "acl.conf.xml").iter("list")
    assert (acl.get("name"), acl.get("default")) == (names.TRUNK_ACL, "deny")
    assert [n.get("cidr") for n in acl.iter("node")] == ["203.0.113.0/24", "2001:db8::7/128"]


def test_a_header_trunk_is_refused_for_freeswitch_naming_the_field(
    fs_data: dict[str, Any]
) -> None:
    fs_data["trunks"] = [{"id": "pstn", "match_header": "X-Trunk: pstn",
                          "match_ip": ["203.0.113.0/24"]}]
    assert problems(fs_data) == [f"trunks[0].match_header: {TRUNK_HEADER_ON_FREESWITCH}"]


def test_a_header_trunk_is_still_fine_for_asterisk(demo_data: dict[str, Any]) -> None:
    demo_data["trunks"] = [{"id": "pstn", "match_header": "X-Trunk: pstn"}]
    assert parse_site(site_text(demo_data), ENV).trunks[0].match_header == "X-Trunk: pstn"


def test_the_demo_site_moves_to_freeswitch_by_its_kind_alone(demo_data: dict[str, Any]) -> None:
    demo_data["pbx"]["kind"] = "freeswitch"
    assert parse_site(site_text(demo_data), ENV).pbx.kind.value == "freeswitch"


def test_the_strategy_table_covers_every_strategy_once() -> None:
    assert sorted([*STRATEGIES, *REFUSED]) == sorted(s.value for s in RingStrategy)


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_a_strategy_freeswitch_honours_reaches_its_queue(
    fs_data: dict[str, Any], strategy: str
) -> None:
    fs_data["hunt_groups"][0]["strategy"] = strategy
    fs_data["queues"][0].update(strategy=strategy, level_wait=0)
    queues = {q.get("name"): {p.get("name"): p.get("value") for p in q.iter("param")}
              for q in xml(fs_data, "callcenter.conf.xml").iter("queue")}
    assert queues["intake"]["strategy"] == STRATEGIES[strategy]
    assert queues["pension"]["strategy"] == STRATEGIES[strategy]


@pytest.mark.parametrize("strategy", ["rrmemory", "rrordered"])
def test_a_skill_queue_with_levels_takes_turns_by_longest_idle(
    fs_data: dict[str, Any], strategy: str
) -> None:
    # mod_callcenter's round-robin looks at the level of the agent last offered a call
    # first, and under tier rules a level not yet allowed ends its search.
    fs_data["hunt_groups"][0]["strategy"] = strategy
    fs_data["queues"][0]["strategy"] = strategy
    assert callcenter_queue(fs_data, "pension")["strategy"] == "longest-idle-agent"
    assert callcenter_queue(fs_data, "intake")["strategy"] == "round-robin"


@pytest.mark.parametrize("strategy", sorted(REFUSED))
@pytest.mark.parametrize("where", ["hunt_groups", "queues"])
def test_a_strategy_freeswitch_cannot_honour_is_refused_naming_the_field(
    fs_data: dict[str, Any], strategy: str, where: str
) -> None:
    fs_data[where][0]["strategy"] = strategy
    assert problems(fs_data) == [f"{where}[0].strategy: {strategy}: {REFUSED[strategy]}"]


@pytest.mark.parametrize("strategy", sorted(REFUSED))
def test_a_refused_strategy_is_still_fine_for_asterisk(
    demo_data: dict[str, Any], strategy: str
) -> None:
    demo_data["hunt_groups"][0]["strategy"] = strategy
    assert parse_site(site_text(demo_data), ENV).hunt_groups[0].strategy.value == strategy


def test_queues_leave_on_max_wait_and_when_nobody_is_there(fs_data: dict[str, Any]) -> None:
    [intake] = [q for q in xml(fs_data, "callcenter.conf.xml").iter("queue")
                if q.get("name") == "intake"]
    params = {p.get("name"): p.get("value") for p in intake.iter("param")}
    assert params["max-wait-time"] == "300"
    assert params["max-wait-time-with-no-agent"] == "1"


def test_agents_ring_every_device_and_no_tiers_are_rendered(fs_data: dict[str, Any]) -> None:
    callcenter = xml(fs_data, "callcenter.conf.xml")
    agents = {a.get("name"): a for a in callcenter.iter("agent")}
    assert sorted(agents) == ["asa", "bjorn", "chen"]
    assert agents["asa"].get("contact", "").endswith(
        "user/asa-soft@fund-demo,user/asa-desk@fund-demo")
    assert agents["asa"].get("status") == "Available"
    assert agents["asa"].get("wrap-up-time") == "30"  # intake's, the group on her roster
    assert list(callcenter.iter("tier")) == []


def extension(dialplan: ET.Element, context: str, name: str) -> ET.Element:
    [found] = [e for c in dialplan.iter("context") if c.get("name") == context
               for e in c.iter("extension") if e.get("name") == name]
    return found


def actions(element: ET.Element, tag: str = "action") -> list[tuple[str, str]]:
    return [(a.get("application", ""), a.get("data", "")) for a in element.iter(tag)]


def test_extension_and_direct_line_reach_the_agent_from_every_entry(
    fs_data: dict[str, Any]
) -> None:
    dialplan = xml(fs_data, "dialplan.xml")
    for context in (names.FROM_INTERNAL, names.FROM_TRUNK, names.NUMBERS):
        asa = extension(dialplan, context, "agent-asa")
        condition = next(asa.iter("condition"))
        assert condition.get("expression") == r"^(?:1001|\+46855501001)$"


def test_a_direct_line_rings_at_once_unless_the_agent_is_in_focus(
    fs_data: dict[str, Any]
) -> None:
    asa = extension(xml(fs_data, "dialplan.xml"), names.FROM_TRUNK, "agent-asa")
    first, gate, chain = asa.iter("condition")
    assert actions(first) == []
    # Read while hunting: the focus look-up is the condition's field.
    assert (gate.get("field"), gate.get("expression"), gate.get("break")) == (
        "${db(select/telephony_focus/asa)}", "^$", "never")
    assert [a for a, _ in actions(gate)] == ["multiset", "bridge", "set"]
    assert actions(gate, "anti-action") == [("execute_extension", "s XML tel-try-agent-asa")]
    assert chain.get("field") is None  # the fallback chain follows either way
    assert [a for a in actions(chain) if a[0] != "log"] == [
        ("execute_extension", "s XML tel-try-agent-bjorn"),
        ("execute_extension", "s XML tel-try-hunt-intake"),
        ("answer", ""),
        ("voicemail", "default mailboxes.fund-demo asa"),
        ("transfer", "s XML tel-end"),
    ]


def test_an_entry_extension_does_its_job_without_moving_the_call(
    fs_data: dict[str, Any]
) -> None:
    # A transfer is one more dialplan hunt: the numbers answer where the call lands.
    dialplan = xml(fs_data, "dialplan.xml")
    for context in (names.FROM_TRUNK, names.NUMBERS):
        [entry] = [c for c in dialplan.iter("context") if c.get("name") == context]
        assert not [a for a in actions(entry) if a[0] == "transfer" and a[1] != "s XML tel-end"]


def test_the_urgent_prefix_exists_only_for_internal_callers(fs_data: dict[str, Any]) -> None:
    dialplan = xml(fs_data, "dialplan.xml")
    urgent = extension(dialplan, names.FROM_INTERNAL, "urgent-asa")
    [condition] = urgent.iter("condition")
    assert condition.get("expression") == r"^(?:\*91001|\*9\+46855501001)$"
    assert actions(urgent) == [("transfer", "ring XML tel-agent-asa")]
    [trunk] = [c for c in dialplan.iter("context") if c.get("name") == names.FROM_TRUNK]
    assert not [e for e in trunk.iter("extension") if e.get("name", "").startswith("urgent")]
    assert "*9" not in "".join(c.get("expression", "") for c in trunk.iter("condition"))


def test_the_direct_line_rings_every_device_at_once_for_its_ring_timeout(
    fs_data: dict[str, Any]
) -> None:
    dialplan = xml(fs_data, "dialplan.xml")
    for ring in (extension(dialplan, names.try_agent_context("asa"), "ring"),
                 extension(dialplan, names.FROM_TRUNK, "agent-asa")):
        assert ("bridge", "{originate_timeout=20}user/asa-soft@fund-demo,user/asa-desk@fund-demo"
                ) in actions(ring)


def test_the_focus_gate_reads_focus_allow_list_and_case_links(fs_data: dict[str, Any]) -> None:
    gate = extension(xml(fs_data, "dialplan.xml"), names.try_agent_context("asa"), "gate")
    fields = [c.get("field", "") for c in gate.iter("condition")]
    expressions = [c.get("expression", "") for c in gate.iter("condition")]
    assert ("set", "tel_until=${db(select/telephony_focus/asa)}") in actions(gate)
    assert r"^(?:\+46701234567)$" in expressions  # the allow-list
    assert "${db(select/telephony_case/${caller_id_number})}" in fields
    assert expressions[-1] == "^asa$"
    assert ("set", "tel_last=FOCUS") in actions(gate, "anti-action")


def test_the_fallback_chain_runs_in_order_and_ends_in_the_mailbox(
    fs_data: dict[str, Any]
) -> None:
    call = extension(xml(fs_data, "dialplan.xml"), names.agent_context("asa"), "call")
    assert [a for a in actions(call) if a[0] != "log"] == [
        ("execute_extension", "$1 XML tel-try-agent-asa"),
        ("execute_extension", "s XML tel-try-agent-bjorn"),
        ("execute_extension", "s XML tel-try-hunt-intake"),
        ("answer", ""),
        ("voicemail", "default mailboxes.fund-demo asa"),
        ("transfer", "s XML tel-end"),
    ]


def test_a_queue_exports_its_ring_timeout_to_the_agents_it_rings(
    fs_data: dict[str, Any]
) -> None:
    dialplan = xml(fs_data, "dialplan.xml")
    queue = extension(dialplan, names.try_hunt_context("intake"), "queue")
    entry = extension(dialplan, names.FROM_TRUNK, "hunt-intake")
    for element in (queue, entry):
        assert actions(element)[:3] == [
            ("multiset", ("hangup_after_bridge=true tel_ring_timeout=15 "
                          "cc_export_vars=tel_ring_timeout")),
            ("callcenter", "intake"),
            ("set", "tel_last=${cc_cancel_reason}"),
        ]


def test_stored_keys_map_to_mod_db_realms_and_back() -> None:
    focus = Key(Family.FOCUS, ("asa",))
    override = Key(Family.OVERRIDE, ("intake", "asa", "member"))
    assert names.location(focus) == ("telephony_focus", "asa")
    assert names.location(override) == ("telephony_override", "intake.asa.member")
    assert names.key_of(*names.location(override)) == override
    assert names.key_of("telephony_focus", "asa") == focus
    assert names.key_of("other_realm", "asa") is None
    assert names.key_of("telephony_focus", "a..b") is None


def test_contexts_cannot_collide_for_any_ids() -> None:
    prefixes = names.PER_ID_PREFIXES
    for a in prefixes:
        assert not any(b != a and b.startswith(a) for b in prefixes)
    assert not any(c.startswith(p) for c in names.FIXED_CONTEXTS for p in prefixes)


def test_an_asterisk_site_is_read_as_freeswitch_with_its_checks(
    demo_data: dict[str, Any]
) -> None:
    demo_data["trunks"] = [{"id": "pstn", "match_header": "X-Trunk: pstn"}]
    with pytest.raises(ConfigError) as caught:
        parse_site(site_text(demo_data), ENV, kind=PbxKind.FREESWITCH)
    assert [p.path for p in caught.value.problems] == ["trunks[0].match_header"]


def test_with_base_the_output_is_a_whole_freeswitch_config_directory(
    fs_data: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "site.yaml"
    path.write_text(site_text(fs_data), encoding="utf-8")
    assert main(["render", str(path), "--with-base", "--out", str(tmp_path / "conf")]) == 0
    written = {p.name for p in (tmp_path / "conf").iterdir()}
    assert {"freeswitch.xml", "modules.conf.xml", *FILES} <= written


def test_with_base_is_for_freeswitch_only(
    demo_data: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "site.yaml"
    path.write_text(site_text(demo_data), encoding="utf-8")
    assert main(["render", str(path), "--with-base", "--out", str(tmp_path / "o")]) == 2
    assert "--with-base: only for --pbx freeswitch" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_check_for_freeswitch_names_what_freeswitch_cannot_do(
    demo_data: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    demo_data["trunks"] = [{"id": "pstn", "match_header": "X-Trunk: pstn"}]
    path = tmp_path / "site.yaml"
    path.write_text(site_text(demo_data), encoding="utf-8")
    assert main(["check", str(path), "--pbx", "freeswitch"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"trunks[0].match_header: {TRUNK_HEADER_ON_FREESWITCH}"]


def test_quotes_are_escaped_too(fs_data: dict[str, Any]) -> None:
    # `check` refuses " in names; rendering escapes it all the same.
    site = parse_site(site_text(fs_data), ENV)
    agent = site.agents[0].model_copy(update={"name": 'Say "hi" & <co>'})
    directory = ET.fromstring(render(site.model_copy(update={"agents": [agent]}))[
        "directory.xml"])
    assert 'Say "hi" & <co>' in [v.get("value") for v in directory.iter("variable")]


def callcenter_queue(data: dict[str, Any], name: str) -> dict[str, str | None]:
    [queue] = [q for q in xml(data, "callcenter.conf.xml").iter("queue") if q.get("name") == name]
    return {p.get("name") or "": p.get("value") for p in queue.iter("param")}


def test_a_skill_queues_levels_join_the_ringing_one_after_another_by_tier_rules(
    fs_data: dict[str, Any]
) -> None:
    fs_data["queues"][0]["level_wait"] = 25
    pension = callcenter_queue(fs_data, "pension")
    assert (pension["tier-rules-apply"], pension["tier-rule-wait-second"]) == ("true", "25")
    assert pension["tier-rule-wait-multiply-level"] == "true"  # tier level L after L x 25 s
    # Waiting is by time alone, not only when the level before has nobody logged in.
    assert pension["tier-rule-no-agent-no-wait"] == "false"


def test_hunt_groups_and_a_skill_queue_without_level_wait_offer_every_level_at_once(
    fs_data: dict[str, Any]
) -> None:
    fs_data["queues"][0]["level_wait"] = 0
    for name in ("intake", "pension"):
        assert callcenter_queue(fs_data, name)["tier-rules-apply"] == "false"


def test_after_max_wait_a_skill_queue_overflows_along_its_fallback(
    fs_data: dict[str, Any]
) -> None:
    fs_data["queues"][0]["fallback"] = [{"hunt_group": "intake"}, "voicemail"]
    entry = extension(xml(fs_data, "dialplan.xml"), names.FROM_TRUNK, "queue-pension")
    assert [a for a in actions(entry) if a[0] != "log"][1:] == [
        ("callcenter", "pension"),
        ("set", "tel_last=${cc_cancel_reason}"),
        ("execute_extension", "s XML tel-try-hunt-intake"),
        ("answer", ""),
        ("voicemail", "default mailboxes.fund-demo pension"),
        ("transfer", "s XML tel-end"),
    ]


def test_the_callback_key_is_an_exit_key_and_the_caller_takes_the_join_time_along(
    fs_data: dict[str, Any]
) -> None:
    fs_data["trunks"][0]["dial_host"] = "198.51.100.7"
    fs_data["queues"][0]["callback_key"] = "#"
    dialplan = xml(fs_data, "dialplan.xml")
    for element in (extension(dialplan, names.FROM_TRUNK, "queue-pension"),
                    extension(dialplan, names.try_queue_context("pension"), "queue")):
        assert actions(element)[:4] == [
            ("multiset", ("hangup_after_bridge=true tel_ring_timeout=15 "
                          "cc_export_vars=tel_ring_timeout cc_exit_keys=# cc_exit_key= "
                          "tel_joined=${strepoch()}")),
            ("callcenter", "pension"),
            ("set", "tel_last=${cc_cancel_reason}"),
            ("execute_extension", "s XML tel-callback-pension"),
        ]


def test_a_plain_caller_who_left_on_the_key_is_stored_indexed_and_hung_up(
    fs_data: dict[str, Any]
) -> None:
    fs_data["trunks"][0]["dial_host"] = "198.51.100.7"
    fs_data["queues"][0]["callback_key"] = "5"
    callback = extension(xml(fs_data, "dialplan.xml"), names.callback_context("pension"),
                         "callback")
    key, number = callback.iter("condition")
    assert (key.get("field"), key.get("expression"), key.get("break")) == (
        "${cc_exit_key}", "^.$", None)  # no key pressed: back to the fallback at once
    assert (number.get("field"), number.get("expression")) == (
        "caller_id_number", r"^\+?[0-9]{1,20}$")
    stored = actions(number)
    assert stored[:3] == [
        ("group", "insert:telephony_callback.pension:${caller_id_number}"),
        ("db", "insert/telephony_callback/pension.${caller_id_number}/${tel_joined}"),
        ("db", "insert/telephony_meta/version/${create_uuid()}"),
    ]
    assert stored[-1] == ("hangup", "NORMAL_CLEARING")
    assert ("set", "tel_last=NO_CALLBACK") in actions(number, "anti-action")
    realm, key_name = names.location(Key(Family.CALLBACK, ("pension", "+46701234567")))
    assert (realm, key_name) == ("telephony_callback", "pension.+46701234567")


def test_without_a_callback_key_no_exit_key_is_set(fs_data: dict[str, Any]) -> None:
    dialplan = xml(fs_data, "dialplan.xml")
    entry = extension(dialplan, names.FROM_TRUNK, "queue-pension")
    assert "cc_exit_keys" not in actions(entry)[0][1]
    assert not [c for c in dialplan.iter("context")
                if (c.get("name") or "").startswith(names.CALLBACK)]


def test_keys_are_taken_as_sip_info_as_well_as_rfc_2833(fs_data: dict[str, Any]) -> None:
    [profile] = xml(fs_data, "sofia.conf.xml").iter("profile")
    params = {p.get("name"): p.get("value") for p in profile.iter("param")}
    assert params["liberal-dtmf"] == "true"
