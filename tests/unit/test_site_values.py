"""Values in a site file: each field takes what it says and refuses the rest with a reason."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from telephony.asterisk.render import render
from telephony.config import ConfigError, demo_site_path, parse_site

ENV = {"TELEPHONY_AMI_SECRET": "a-long-ami-secret"}
DEMO = yaml.safe_load(demo_site_path().read_text(encoding="utf-8"))


def demo_text(demo_data: dict[str, Any]) -> str:
    return yaml.safe_dump(demo_data, allow_unicode=True, sort_keys=False)


def problems_of(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_site(text, ENV if env is None else env)
    return [str(p) for p in caught.value.problems]


def edited(demo_data: dict[str, Any], old: str, new: str) -> str:
    text = demo_text(demo_data)
    assert old in text
    return text.replace(old, new, 1)


# -- text fields: YAML 1.1 traps -------------------------------------------------------

@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("1001", ("YAML reads this unquoted value as a number (dropping a leading + or 0): "
                 "put it in quotes")),
        ("+46855501001", ("YAML reads this unquoted value as a number (dropping a leading + or "
                         "0): put it in quotes")),
        ("0123", ("YAML 1.1 reads this unquoted value as an octal number (a leading 0 means "
                 "octal): put it in quotes")),
        ("10:01", ("YAML 1.1 reads this unquoted value as a base-60 number (1:30 is 90): put it "
                  "in quotes")),
    ],
)
def test_an_unquoted_number_is_refused_with_a_hint_to_quote_it(
    demo_data: dict[str, Any], written: str, message: str
) -> None:
    text = edited(demo_data, "extension: '1001'", f"extension: {written}")
    assert problems_of(text) == [f"agents[0].extension: {message}"]


@pytest.mark.parametrize("word", ["no", "Off", "yes", "ON"])
def test_a_name_yaml_reads_as_a_boolean_is_refused(demo_data: dict[str, Any], word: str) -> None:
    text = edited(demo_data, "name: Björn Lind", f"name: {word}")
    assert problems_of(text) == [
        ("agents[1].name: YAML 1.1 reads this unquoted value as true/false (yes, no, on and off "
        "are booleans): put it in quotes")
    ]


def test_a_quoted_number_is_text(demo_data: dict[str, Any]) -> None:
    site = parse_site(edited(demo_data, "extension: '1001'", 'extension: "0123"'), ENV)
    assert site.agents[0].extension == "0123"


def test_an_empty_required_text_is_named(demo_data: dict[str, Any]) -> None:
    text = edited(demo_data, "extension: '1001'", "extension:")
    assert problems_of(text) == ["agents[0].extension: must not be empty"]


# -- integers ----------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("true", "must be a whole number, not true/false"),
        ("20.0", "must be a whole number, written without a decimal point"),
        ('"20"', "must be a whole number, written without quotes"),
        ("0x14", ("YAML 1.1 reads this unquoted value as a hexadecimal number: write a plain "
                 "decimal number")),
        ("024", ("YAML 1.1 reads this unquoted value as an octal number (a leading 0 means "
                "octal): write a plain decimal number")),
        ("0:20", "must be a whole number, written without quotes"),  # "0:20" is text to YAML
        ("1:20", ("YAML 1.1 reads this unquoted value as a base-60 number (1:30 is 90): write a "
                 "plain decimal number")),
        ("1_0", ("YAML 1.1 reads this unquoted value as a number (the _ are dropped): write a "
                "plain decimal number")),
    ],
)
def test_an_integer_field_takes_only_a_plain_integer(
    demo_data: dict[str, Any], written: str, message: str
) -> None:
    text = edited(demo_data, "ring_timeout: 15", f"ring_timeout: {written}")
    assert problems_of(text) == [f"hunt_groups[0].ring_timeout: {message}"]


def test_an_integer_may_come_from_the_environment(demo_data: dict[str, Any]) -> None:
    text = edited(demo_data, "sip_port: 5060", "sip_port: ${SIP_PORT:-5060}")
    assert parse_site(text, {**ENV, "SIP_PORT": "7060"}).pbx.sip_port == 7060


def test_an_environment_value_that_is_not_a_number_is_refused(demo_data: dict[str, Any]) -> None:
    text = edited(demo_data, "sip_port: 5060", "sip_port: ${SIP_PORT}")
    assert problems_of(text, {**ENV, "SIP_PORT": "56k"}) == [
        "pbx.sip_port: must be a whole number; the environment gives something else"
    ]


def test_an_integer_out_of_range_is_refused(demo_data: dict[str, Any]) -> None:
    text = edited(demo_data, "sip_port: 5060", "sip_port: 70000")
    assert problems_of(text) == ["pbx.sip_port: Input should be less than or equal to 65535"]


# -- roster ranges -----------------------------------------------------------------------

@pytest.mark.parametrize("written", ["{start: '08:00', end_minutes: 600}", "13:00", "800", "[]"])
def test_a_range_is_only_hh_mm_hh_mm_text(demo_data: dict[str, Any], written: str) -> None:
    demo_data["hunt_groups"][0]["roster"]["asa"]["mon"] = ["PLACEHOLDER"]
    text = demo_text(demo_data).replace("- PLACEHOLDER", f"- {written}")
    assert problems_of(text) == [
        'hunt_groups[0].roster.asa.mon[0]: must be a time range in quotes, e.g. "08:00-10:00"'
    ]


def test_a_range_may_have_spaces_around_the_dash(demo_data: dict[str, Any]) -> None:
    demo_data["hunt_groups"][0]["roster"]["asa"]["mon"] = ["08:00 - 10:00"]
    site = parse_site(demo_text(demo_data), ENV)
    monday = next(ranges for day, ranges in site.hunt_groups[0].roster["asa"].items()
                  if day.value == "mon")
    assert [str(r) for r in monday] == ["08:00-10:00"]


# -- fallback steps ----------------------------------------------------------------------

def test_a_misspelt_step_gets_one_message(demo_data: dict[str, Any]) -> None:
    demo_data["hunt_groups"][0]["fallback"] = [{"colleage": "bjorn"}]
    assert problems_of(demo_text(demo_data)) == [
        ("hunt_groups[0].fallback[0]: must be voicemail, or one of colleague: ID, hunt_group: ID, "
        "queue: ID")
    ]


def test_voicemail_one_is_not_true(demo_data: dict[str, Any]) -> None:
    demo_data["hunt_groups"][0]["fallback"] = [{"voicemail": 1}]
    assert problems_of(demo_text(demo_data)) == [
        "hunt_groups[0].fallback[0].voicemail: write `- voicemail` (or voicemail: true)"
    ]


# -- addresses ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("host", "bind"),
    [("0.0.0.0", "0.0.0.0:5060"), ("::", "[::]:5060"), ("::1", "[::1]:5060"),
     ("2001:DB8::0:1", "[2001:db8::1]:5060"), ("192.0.2.10", "192.0.2.10:5060")],
)
def test_sip_host_is_an_ip_address_and_ipv6_binds_in_brackets(
    demo_data: dict[str, Any], host: str, bind: str
) -> None:
    demo_data["pbx"]["sip_host"] = host
    pjsip = render(parse_site(demo_text(demo_data), ENV))["pjsip.conf"]
    assert f"\nbind={bind}\n" in pjsip


@pytest.mark.parametrize("host", ["pbx.example.org", "127.0.0.256", "fe80::1%eth0", "01.2.3.4"])
def test_sip_host_that_is_not_an_ip_address_is_refused(
    demo_data: dict[str, Any], host: str
) -> None:
    demo_data["pbx"]["sip_host"] = host
    [problem] = problems_of(demo_text(demo_data))
    assert problem.startswith("pbx.sip_host: ")


def test_a_trunk_network_with_host_bits_names_the_network(demo_data: dict[str, Any]) -> None:
    demo_data["trunks"][0] = {"id": "pstn", "match_ip": ["203.0.113.5/24"]}
    assert problems_of(demo_text(demo_data)) == [
        "trunks[0].match_ip[0]: '203.0.113.5/24' has host bits set: the network is 203.0.113.0/24"
    ]


def test_trunk_addresses_and_networks_render_as_written(demo_data: dict[str, Any]) -> None:
    demo_data["trunks"][0] = {"id": "pstn", "match_ip": ["203.0.113.0/24", "2001:db8::/32",
                                                         "198.51.100.7"]}
    pjsip = render(parse_site(demo_text(demo_data), ENV))["pjsip.conf"]
    assert "match=203.0.113.0/24\nmatch=2001:db8::/32\nmatch=198.51.100.7\n" in pjsip


def test_a_trunk_host_name_is_refused(demo_data: dict[str, Any]) -> None:
    demo_data["trunks"][0] = {"id": "pstn", "match_ip": ["sip.example.net"]}
    assert problems_of(demo_text(demo_data)) == [
        ("trunks[0].match_ip[0]: 'sip.example.net' is not an IP address or network "
        "(e.g. 203.0.113.0/24)")
    ]


# -- names -------------------------------------------------------------------------------

def test_a_name_of_79_bytes_fits(demo_data: dict[str, Any]) -> None:
    demo_data["agents"][0]["name"] = "Å" * 39 + "a"
    assert parse_site(demo_text(demo_data), ENV).agents[0].name == "Å" * 39 + "a"


def test_a_name_over_79_bytes_is_refused_not_cut(demo_data: dict[str, Any]) -> None:
    demo_data["agents"][0]["name"] = "Å" * 40
    assert problems_of(demo_text(demo_data)) == [
        "agents[0].name: is 80 bytes in UTF-8; Asterisk keeps 79 (letters such as Å take 2)"
    ]


@settings(max_examples=100, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=60))
def test_any_accepted_name_fits_asterisk_and_stays_on_its_line(name: str) -> None:
    data = copy.deepcopy(DEMO)
    data["agents"][0]["name"] = name
    try:
        site = parse_site(demo_text(data), ENV)
    except ConfigError as exc:
        assert [p.path for p in exc.problems] == ["agents[0].name"]
        return
    name = site.agents[0].name  # YAML folds some line breaks (NEL) it reads in a scalar
    assert len(name.encode()) <= 79
    files = render(site)
    assert f'\ncallerid="{name}" <1001>\n' in files["pjsip.conf"]
    assert f"\nasa => 0000,{name}\n" in files["voicemail.conf"]


# -- ports -------------------------------------------------------------------------------

def test_the_api_and_the_pbx_control_connection_cannot_share_a_port(demo_data: dict[str, Any]) -> None:
    demo_data["api"]["port"] = demo_data["pbx"]["control_port"]
    assert problems_of(demo_text(demo_data)) == [
        "api.port: 5038 is already pbx.control_port (both listen on TCP)"
    ]


def test_an_allowed_caller_listed_twice_is_named(demo_data: dict[str, Any]) -> None:
    demo_data["agents"][0]["focus_allow"] = ["+46701234567", "+46701234567"]
    assert problems_of(demo_text(demo_data)) == [
        "agents[0].focus_allow[1]: +46701234567 is listed twice"
    ]


# -- the PBX kind and its control connection ---------------------------------------------

def test_older_ami_names_are_read_as_the_control_connection(demo_data: dict[str, Any]) -> None:
    pbx = demo_data["pbx"]
    pbx["ami_port"] = pbx.pop("control_port", 5038)
    pbx["ami_username"] = pbx.pop("control_username", "telephony")
    pbx["ami_secret"] = pbx.pop("control_secret")
    site = parse_site(demo_text(demo_data), {})
    assert (site.pbx.control_port, site.pbx.control_username) == (5038, "telephony")


def test_a_setting_given_under_both_names_is_refused(demo_data: dict[str, Any]) -> None:
    demo_data["pbx"]["ami_secret"] = "another-secret"
    assert problems_of(demo_text(demo_data)) == [
        "pbx: give control_secret or its older name ami_secret, not both"
    ]


def test_the_control_port_defaults_to_the_kinds_own(demo_data: dict[str, Any]) -> None:
    demo_data["pbx"].pop("control_port", None)
    assert parse_site(demo_text(demo_data), {}).pbx.control_port == 5038
    demo_data["pbx"]["kind"] = "freeswitch"
    demo_data["trunks"] = []  # the demo's header trunk is Asterisk's way
    assert parse_site(demo_text(demo_data), {}).pbx.control_port == 8021


def test_an_unknown_pbx_kind_is_named(demo_data: dict[str, Any]) -> None:
    demo_data["pbx"]["kind"] = "yate"
    [problem] = problems_of(demo_text(demo_data))
    assert problem.startswith("pbx.kind: ") and "asterisk" in problem and "freeswitch" in problem
