"""Ports the test kit hands to SIPp (no SIPp, no PBX)."""

from __future__ import annotations

import socket

from telephony.testing.sipp import LOCALHOST, MEDIA_PORTS, free_media_port


def test_a_media_port_comes_with_its_three_neighbours_free() -> None:
    # SIPp -mp P binds P (RTP), P+1 (RTCP), P+2 and P+3 (video): all must be bindable.
    base = free_media_port()
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(MEDIA_PORTS)]
    try:
        for offset, sock in enumerate(socks):
            sock.bind((LOCALHOST, base + offset))
    finally:
        for sock in socks:
            sock.close()
