"""The local FreeSWITCH itself: a second `up` keeps it running, state survives kill -9,
calls are counted and hung up through its console."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from telephony.config import Site
from telephony.freeswitch import names
from telephony.pbx import LocalPbx
from telephony.testing.phones import PhoneKit
from telephony.testing.plugin import PbxHandle

pytestmark = [pytest.mark.pbx, pytest.mark.pbx_kinds("freeswitch")]


@pytest.fixture(autouse=True)
def clean_pbx(pbx: PbxHandle) -> Iterator[PbxHandle]:
    """No calls at the start (replaces the suite's port-based clean-up for this module)."""
    pbx.hangup_all()
    yield pbx


def test_a_second_up_with_the_same_site_leaves_freeswitch_running(
    pbx: PbxHandle, pbx_site: Site
) -> None:
    before = pbx.info.pid
    info = LocalPbx().up(pbx_site)
    assert info.pid == before is not None
    assert (info.control_port, info.sip_port) == (pbx_site.pbx.control_port,
                                                  pbx_site.pbx.sip_port)


def test_stored_state_and_tiers_survive_kill_9(pbx: PbxHandle) -> None:
    pbx.cli(f"db insert/{names.FOCUS_REALM}/restart-probe/42")
    pbx.cli("callcenter_config tier add rota dana 1 1")
    try:
        pbx.kill()
        info = pbx.start_again()

        assert info.pid is not None
        assert pbx.cli(f"db select/{names.FOCUS_REALM}/restart-probe").strip() == "42"
        assert "rota|dana|" in pbx.cli("callcenter_config tier list rota")
    finally:
        pbx.cli(f"db delete/{names.FOCUS_REALM}/restart-probe")
        pbx.cli("callcenter_config tier del rota dana")


async def test_calls_are_counted_and_hung_up_through_the_console(
    phones: PhoneKit, pbx: PbxHandle
) -> None:
    asa = await phones.register("asa-soft", on_call="answer")
    call = await phones.call("+46855501001", caller_id="+46701249001", hold_seconds=None)
    await asa.wait_answered(await asa.wait_rang())
    await call.wait_answered()
    assert await asyncio.to_thread(pbx.active_calls) == 2  # the caller's leg and Åsa's

    await asyncio.to_thread(pbx.hangup_all)

    await call.wait_ended(timeout=5)
