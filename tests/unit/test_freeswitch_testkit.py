"""Trunk calls from the test kit as a trunk would send them, header or address, so the
same tests run on FreeSWITCH (trunks by address only) and Asterisk (no SIPp, no PBX)."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
import yaml

from telephony.config import parse_site
from telephony.testing.phones import PhoneKit, loopback_address
from telephony.testing.sipp import SippError, SippProcess, SippRun, free_media_port


def kit(demo_data: dict[str, Any], tmp_path: Path, trunks: list[dict[str, Any]]) -> PhoneKit:
    demo_data["trunks"] = trunks
    site = parse_site(yaml.safe_dump(demo_data, allow_unicode=True), {})
    return PhoneKit(site, tmp_path)


@pytest.mark.parametrize(
    ("match", "address"),
    [
        ("127.0.0.2/32", "127.0.0.2"),
        ("127.0.0.2", "127.0.0.2"),
        ("127.0.0.0/8", "127.0.0.2"),  # never 127.0.0.1, where the phones are
        ("203.0.113.0/24", None),
        ("::1", None),
    ],
)
def test_a_trunk_network_gives_a_loopback_address_to_call_from(
    match: str, address: str | None
) -> None:
    assert loopback_address(match) == address


def test_a_header_trunk_calls_from_the_phones_address_with_its_header(
    demo_data: dict[str, Any], tmp_path: Path
) -> None:
    phones = kit(demo_data, tmp_path, [{"id": "pstn", "match_header": "X-Trunk: pstn"}])
    assert phones._trunk_origin(None) == ("X-Trunk: pstn", "127.0.0.1")


def test_an_address_trunk_calls_from_its_own_loopback_address(
    demo_data: dict[str, Any], tmp_path: Path
) -> None:
    phones = kit(demo_data, tmp_path, [
        {"id": "far", "match_ip": ["203.0.113.0/24"]},
        {"id": "pstn", "match_ip": ["127.0.0.2/32"]},
    ])
    assert phones._trunk_origin(None) == (None, "127.0.0.2")
    assert phones._trunk_origin("far") == (None, "127.0.0.1")  # unreachable on loopback


def test_an_unknown_trunk_is_named(demo_data: dict[str, Any], tmp_path: Path) -> None:
    phones = kit(demo_data, tmp_path, [{"id": "pstn", "match_ip": ["127.0.0.2/32"]}])
    with pytest.raises(SippError, match="no trunk 'nope'.*known: pstn"):
        phones._trunk_origin("nope")


def test_sipp_binds_the_address_it_is_given(tmp_path: Path) -> None:
    run = SippRun(name="call", scenario="", local_port=5999, local_host="127.0.0.2")
    argv = SippProcess(run, tmp_path).argv()
    assert argv[argv.index("-i") + 1] == "127.0.0.2"


def test_media_ports_are_found_free_on_the_address_used() -> None:
    base = free_media_port(host="127.0.0.2")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.2", base))
