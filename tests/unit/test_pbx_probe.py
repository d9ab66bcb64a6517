"""The runner's AMI login check, against a scripted fake AMI on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from telephony.asterisk.runner.probe import LoginResult, ami_login, tcp_port_in_use


async def fake_ami(secret: str) -> asyncio.Server:
    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"Asterisk Call Manager/11.0.0\r\n")
        block = await reader.readuntil(b"\r\n\r\n")
        ok = f"Secret: {secret}\r\n".encode() in block
        reply = b"Response: Success\r\nMessage: Authentication accepted\r\n\r\n"
        writer.write(reply if ok else b"Response: Error\r\nMessage: Authentication failed\r\n\r\n")
        await writer.drain()
        writer.close()

    return await asyncio.start_server(session, "127.0.0.1", 0)


@pytest.fixture
async def ami_port() -> AsyncIterator[int]:
    server = await fake_ami("right")
    async with server:
        yield server.sockets[0].getsockname()[1]


async def test_the_right_secret_is_accepted(ami_port: int) -> None:
    result = await asyncio.to_thread(ami_login, "127.0.0.1", ami_port, "telephony", "right")
    assert result is LoginResult.ACCEPTED


async def test_a_wrong_secret_is_rejected_not_retried(ami_port: int) -> None:
    result = await asyncio.to_thread(ami_login, "127.0.0.1", ami_port, "telephony", "wrong")
    assert result is LoginResult.REJECTED


async def test_a_closed_port_is_unreachable() -> None:
    server = await fake_ami("right")
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    result = await asyncio.to_thread(ami_login, "127.0.0.1", port, "telephony", "right")
    assert result is LoginResult.UNREACHABLE


async def test_a_listening_port_is_in_use(ami_port: int) -> None:
    assert await asyncio.to_thread(tcp_port_in_use, "127.0.0.1", ami_port)
