"""`telephony run` as its own process: killing it mid-call drops nothing; a restart re-syncs."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from pbx_support import queue_members

from telephony.config import Site, demo_site_path
from telephony.port import PbxPort
from telephony.testing.phones import PhoneKit
from telephony.testing.plugin import site_path

pytestmark = pytest.mark.pbx



@pytest.fixture
def site_file(pytestconfig: pytest.Config) -> Path:
    """The site file the session's PBX runs (so the engine process sees the same one)."""
    return site_path(pytestconfig) or demo_site_path()


def _health(api: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api}/api/health", timeout=1) as response:
            return bool(json.loads(response.read())["ok"])
    except OSError:
        return False


async def _until_healthy(
    process: asyncio.subprocess.Process, api: str, timeout: float = 20
) -> None:
    async def poll() -> None:
        while not await asyncio.to_thread(_health, api):
            if process.returncode is not None:
                raise AssertionError(f"telephony run exited with {process.returncode}")
            await asyncio.sleep(0.1)
    await asyncio.wait_for(poll(), timeout)


@pytest.fixture
async def engine_process(
    clean_pbx: PbxPort, pbx_site: Site, site_file: Path
) -> AsyncIterator[Callable[[], Awaitable[asyncio.subprocess.Process]]]:
    started: list[asyncio.subprocess.Process] = []

    async def start() -> asyncio.subprocess.Process:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "telephony", "run", str(site_file),
            "--pbx", pbx_site.pbx.kind.value,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            env={**os.environ},
        )
        started.append(process)
        await _until_healthy(process, f"http://127.0.0.1:{pbx_site.api.port}")
        return process

    yield start
    for process in started:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            await process.wait()


async def test_killing_the_engine_during_a_call_drops_no_call_and_a_restart_resyncs_without_duplicates(
    engine_process: Callable[[], Awaitable[asyncio.subprocess.Process]],
    phones: PhoneKit,
    port: PbxPort,
) -> None:
    first = await engine_process()
    assert await queue_members(port, "rota") == ["chen", "dana"]
    chen = await phones.register("chen-soft", on_call="answer")
    dana = await phones.register("dana-soft", on_call="answer")
    call = await phones.call("2001", caller_id="+46701240001", hold_seconds=None)
    await call.wait_answered()

    first.kill()
    await first.wait()
    await engine_process()

    assert await queue_members(port, "rota") == ["chen", "dana"]
    assert chen.rang_count + dana.rang_count == 1
    await call.hangup()  # the call outlived both engines and ends normally
    await call.wait_ended()


async def _cli(site_file: Path, *args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "telephony", *args, "--config", str(site_file),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await process.communicate()
    return process.returncode or 0, out.decode()


async def test_agent_commands_drive_the_running_engine(
    engine_process: Callable[[], Awaitable[asyncio.subprocess.Process]], port: PbxPort,
    site_file: Path,
) -> None:
    await engine_process()

    assert (await _cli(site_file, "agent", "leave", "rota", "dana"))[0] == 0
    assert await queue_members(port, "rota") == ["chen"]
    assert (await _cli(site_file, "agent", "join", "rota", "dana"))[0] == 0
    assert await queue_members(port, "rota") == ["chen", "dana"]


async def test_agent_command_for_an_unknown_agent_names_it(
    engine_process: Callable[[], Awaitable[asyncio.subprocess.Process]], site_file: Path,
) -> None:
    await engine_process()
    code, out = await _cli(site_file, "agent", "pause", "rota", "zed")
    assert code == 1
    assert out.strip() == "agent: unknown agent 'zed'"
