"""A small site with two skill queues that offer callbacks and a trunk to dial out
through, for the callback tests (no PBX)."""

from __future__ import annotations

from telephony.config import Site, parse_site

TEXT = """
site: cb-site
pbx: {control_secret: test-secret-1}
agents:
  - id: asa
    name: Asa
    extension: "1001"
    direct_line: "+46855501001"
    devices: [{id: asa-soft, kind: softphone, password: test-asa-soft}]
    skills: {pension: 5, tax: 3}
    ring_timeout: 10
  - id: bjorn
    name: Bjorn
    extension: "1002"
    direct_line: "+46855501002"
    devices:
      - {id: bjorn-soft, kind: softphone, password: test-bjorn-soft}
      - {id: bjorn-desk, kind: deskphone, password: test-bjorn-desk}
    skills: {pension: 4}
  - id: chen
    name: Chen
    extension: "1003"
    direct_line: "+46855501003"
    devices: [{id: chen-soft, kind: softphone, password: test-chen-soft}]
    skills: {tax: 5}
queues:
  - {id: pension, number: "3001", skill: pension, min_level: 3, callback_key: "5"}
  - {id: tax, number: "3002", skill: tax, min_level: 3, callback_key: "5"}
trunks:
  - {id: pstn, match_ip: ["127.0.0.2/32"], dial_host: 127.0.0.3, dial_port: 5070}
"""


def site(text: str = TEXT) -> Site:
    return parse_site(text, {})


def without_dial_out() -> Site:
    """The same site, its trunk inbound only (and so no callback keys: check wants one)."""
    return site(
        TEXT.replace(', dial_host: 127.0.0.3, dial_port: 5070', '')
        .replace(', callback_key: "5"', '')
    )
