"""Spare loopback ports for the scratch PBXs: outside the kernel's ephemeral range, where
an outgoing connection may take a probed port before the PBX binds it."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from telephony.deploy import ports


@pytest.fixture
def ephemeral(tmp_path: Path) -> Path:
    source = tmp_path / "ip_local_port_range"
    source.write_text("32768\t60999\n")
    return source


def test_a_spare_port_lies_above_the_ephemeral_range(ephemeral: Path) -> None:
    for _ in range(20):
        assert 61000 <= ports.spare_port("test", source=ephemeral) <= 65535


def test_a_spare_port_is_not_one_already_taken(ephemeral: Path) -> None:
    taken: set[int] = set()
    chosen = [ports.spare_port("test", taken, source=ephemeral) for _ in range(100)]
    assert len(set(chosen)) == 100
    assert taken == set(chosen)


def _hold_a_top_port() -> socket.socket:
    held = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    for port in range(65535, 65000, -1):
        try:
            held.bind((ports.LOOPBACK, port))
        except OSError:
            continue
        return held
    held.close()
    raise AssertionError("no free port near the top to hold")


def test_a_port_another_socket_holds_is_never_chosen(tmp_path: Path) -> None:
    with _hold_a_top_port() as held:
        port = held.getsockname()[1]
        source = tmp_path / "range"
        # Outside the range lie only the held port and the few above it, so a choice
        # that skipped the check would soon be the held one.
        source.write_text(f"1024 {port - 1}\n")
        for _ in range(30):
            assert ports.spare_port("test", source=source) != port


def test_an_unreadable_range_falls_back_to_linux_defaults(tmp_path: Path) -> None:
    assert ports.ephemeral_range(tmp_path / "missing") == (32768, 60999)
    (tmp_path / "junk").write_text("many\n")
    assert ports.ephemeral_range(tmp_path / "junk") == (32768, 60999)
