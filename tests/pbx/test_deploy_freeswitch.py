"""`telephony deploy` onto an administrator's own FreeSWITCH (real FreeSWITCH, SIPp phones).

Their FreeSWITCH runs on a configuration of their own (telephony.testing.freeswitch_admin:
their profile, context, domain and users, mod_callcenter queue and agent), on spare
loopback ports, not the session PBX of the other PBX tests. The site is the PBX tests'
site with its Event Socket pointed at theirs and its own SIP port.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import SecretStr

from telephony.config import Site, parse_site
from telephony.config.models import Device, PbxKind
from telephony.deploy import run
from telephony.deploy.files import DeployError, FileChange, Plan
from telephony.deploy.ports import spare_port
from telephony.freeswitch.deploy import DIALPLAN, FreeSwitchDeploy, ScratchSwitch
from telephony.testing.freeswitch_admin import (
    ADMIN_CALLER,
    ADMIN_CALLER_PASSWORD,
    ADMIN_ECHO,
    ADMIN_PASSWORD,
    ADMIN_QUEUE_NUMBER,
    ADMIN_USER,
    AdminPorts,
    write_admin_conf,
)
from telephony.testing.phones import PhoneKit

pytestmark = [pytest.mark.pbx, pytest.mark.pbx_kinds("freeswitch")]

SITE_FILE = Path(__file__).parent / "site.yaml"
SECRET = "their-esl-secret-9"


@pytest.fixture(autouse=True)
def clean_pbx(pbx_kind: PbxKind) -> None:
    """No session PBX here (conftest's clean_pbx would start one): theirs is ours. The
    kind makes these FreeSWITCH tests, deselected in a run of the other kinds."""
    assert pbx_kind is PbxKind.FREESWITCH


@dataclass(frozen=True, slots=True)
class Theirs:
    """Their running FreeSWITCH: its conf directory, ports, and the site deployed."""

    conf: Path
    ports: AdminPorts
    data: dict[str, Any]
    switch: ScratchSwitch

    def site(self, change: dict[str, Any] | None = None) -> Site:
        data = yaml.safe_load(yaml.safe_dump(self.data))
        for path, value in (change or {}).items():
            node = data
            keys = path.split(".")
            for key in keys[:-1]:
                node = node[int(key)] if isinstance(node, list) else node[key]
            node[keys[-1]] = value
        return parse_site(yaml.safe_dump(data, allow_unicode=True), {})

    def admin_site(self) -> Site:
        """A site object holding their two users as devices, for the phone kit."""
        base = self.site()
        agent = base.agents[0]
        devices = [
            Device.model_validate({"id": ADMIN_USER, "kind": "softphone",
                                   "password": SecretStr(ADMIN_PASSWORD)}),
            Device.model_validate({"id": ADMIN_CALLER, "kind": "softphone",
                                   "password": SecretStr(ADMIN_CALLER_PASSWORD)}),
        ]
        return base.model_copy(update={"agents": [agent.model_copy(
            update={"devices": devices})]})


@pytest.fixture(scope="module")
def theirs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Theirs]:
    """Their FreeSWITCH, started on their own configuration (fails when it cannot)."""
    with their_freeswitch(tmp_path_factory.mktemp("their-freeswitch")) as started:
        yield started


@contextmanager
def their_freeswitch(root: Path, *, callcenter: bool = True) -> Iterator[Theirs]:
    """Their configuration under `root` (without a callcenter.conf if so asked), and a
    FreeSWITCH started on it, killed at the end."""
    taken: set[int] = set()
    ports = AdminPorts(sip=spare_port("test", taken), control=spare_port("test", taken),
                       password=SECRET)
    write_admin_conf(root / "conf", ports)
    if not callcenter:
        (root / "conf" / "autoload_configs" / "callcenter.conf.xml").unlink()
    data: dict[str, Any] = yaml.safe_load(SITE_FILE.read_text(encoding="utf-8"))
    data["pbx"].update(kind="freeswitch", control_port=ports.control, control_secret=SECRET,
                       sip_port=spare_port("test", taken))
    switch = ScratchSwitch(root / "conf", root / "state", ports.control, SECRET)
    asyncio.run(switch.start())
    try:
        yield Theirs(root / "conf", ports, data, switch)
    finally:
        switch.kill()


@pytest.fixture(scope="module")
def deployed(theirs: Theirs) -> Theirs:
    """The site deployed once onto their FreeSWITCH, through `telephony deploy`'s
    orchestrator (plan, scratch validation, apply, live reload)."""
    result = asyncio.run(run.deploy(theirs.site(), theirs.conf, dry_run=False))
    assert result.validated and result.reloaded
    return theirs


def ours_kit(theirs: Theirs, site: Site, tmp_path: Path) -> PhoneKit:
    return PhoneKit(site, tmp_path / "ours", sip_port=site.pbx.sip_port)


def their_kit(theirs: Theirs, tmp_path: Path) -> PhoneKit:
    return PhoneKit(theirs.admin_site(), tmp_path / "theirs", sip_port=theirs.ports.sip)


def snapshot(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes()
            for p in sorted(directory.rglob("*")) if p.is_file()}


async def test_our_phones_take_calls_after_the_deploy(deployed: Theirs, tmp_path: Path
                                                      ) -> None:
    site = deployed.site()
    async with ours_kit(deployed, site, tmp_path) as kit:
        bjorn = await kit.register("bjorn-soft")
        call = await kit.call("1002", from_device="asa-soft", hold_seconds=1.0)
        await bjorn.wait_rang(10.0)
        await call.wait_answered(10.0)
        await call.wait_ended(15.0)


async def test_our_queues_and_agents_are_loaded(deployed: Theirs) -> None:
    listing = await deployed.switch.api("callcenter_config queue list")
    assert {"intake", "rota", "line", "pension"} <= {
        line.split("|", 1)[0] for line in listing.splitlines()}
    agents = await deployed.switch.api("callcenter_config agent list")
    asa = next(line for line in agents.splitlines() if line.startswith("asa|"))
    assert "|Available|" in asa


async def test_their_user_still_takes_calls(deployed: Theirs, tmp_path: Path) -> None:
    async with their_kit(deployed, tmp_path) as kit:
        alice = await kit.register(ADMIN_USER)
        call = await kit.call(ADMIN_ECHO, from_device=ADMIN_CALLER, hold_seconds=1.0)
        await alice.wait_rang(10.0)
        await call.wait_answered(10.0)
        await call.wait_ended(15.0)


async def test_their_queue_still_takes_calls(deployed: Theirs, tmp_path: Path) -> None:
    async with their_kit(deployed, tmp_path) as kit:
        alice = await kit.register(ADMIN_USER)
        call = await kit.call(ADMIN_QUEUE_NUMBER, from_device=ADMIN_CALLER, hold_seconds=1.0)
        await alice.wait_rang(15.0)
        await call.wait_answered(15.0)
        await call.wait_ended(15.0)


async def test_deploying_again_changes_nothing(deployed: Theirs) -> None:
    before = snapshot(deployed.conf)
    result = await run.deploy(deployed.site(), deployed.conf, dry_run=False)
    assert not result.changed and not result.reloaded
    assert snapshot(deployed.conf) == before


async def test_a_dry_run_writes_nothing(deployed: Theirs) -> None:
    before = snapshot(deployed.conf)
    result = await run.deploy(deployed.site({"hunt_groups.0.max_wait": 31}), deployed.conf,
                              dry_run=True)
    assert "callcenter-queues.xml" in result.diff and not result.reloaded
    assert snapshot(deployed.conf) == before


async def test_a_clash_is_refused_with_nothing_written(deployed: Theirs) -> None:
    before = snapshot(deployed.conf)
    clashing = deployed.site({"pbx.sip_port": deployed.ports.sip})  # their profile's port
    with pytest.raises(DeployError, match="their profile 'internal'"):
        await run.deploy(clashing, deployed.conf, dry_run=False)
    assert snapshot(deployed.conf) == before


async def test_a_call_survives_a_deploy_of_dialplan_queue_and_endpoint(
        deployed: Theirs, tmp_path: Path) -> None:
    site = deployed.site()
    async with ours_kit(deployed, site, tmp_path) as kit:
        bjorn = await kit.register("bjorn-soft")
        call = await kit.call("1002", from_device="asa-soft", hold_seconds=None)
        await bjorn.wait_rang(10.0)
        await call.wait_answered(10.0)
        changed = deployed.site({
            "agents.1.ring_timeout": 12,  # the dialplan
            "hunt_groups.1.max_wait": 22,  # a queue
            "agents.3.devices.0.password": "test-dana-soft-new",  # an endpoint
        })
        result = await run.deploy(changed, deployed.conf, dry_run=False)
        assert result.reloaded
        assert {str(p) for p in result.written} == {
            "telephony/dialplan.xml", "telephony/directory.xml",
            "telephony/callcenter-queues.xml"}
        await call.hangup(5.0)  # FreeSWITCH still holds the call: the BYE is answered
    async with PhoneKit(changed, tmp_path / "after", sip_port=site.pbx.sip_port) as kit:
        await kit.register("dana-soft")  # with the new password
    put_back = await run.deploy(site, deployed.conf, dry_run=False)
    assert put_back.reloaded


class _Broken(FreeSwitchDeploy):
    """Plans the real deploy with a dialplan FreeSWITCH cannot parse."""

    def plan(self, site: Site, target: Path) -> Plan:
        plan = super().plan(site, target)
        return Plan(tuple(
            FileChange(c.path, c.before, c.after.replace("</context>", "</contxt>", 1))
            if c.path == DIALPLAN else c for c in plan.changes))


async def test_a_broken_deploy_is_rolled_back_and_calls_still_work(
        deployed: Theirs, tmp_path: Path) -> None:
    before = snapshot(deployed.conf)
    broken = deployed.site({"agents.0.ring_timeout": 13})
    with pytest.raises(run.RolledBack) as caught:
        await run.deploy(broken, deployed.conf, dry_run=False, validate=False, kind=_Broken())
    assert caught.value.restored_live
    assert "reloadxml" in str(caught.value)
    after = snapshot(deployed.conf)
    assert {k: v for k, v in after.items() if ".telephony-deploy" not in k} == {
        k: v for k, v in before.items() if ".telephony-deploy" not in k}
    site = deployed.site()
    async with ours_kit(deployed, site, tmp_path) as kit:
        bjorn = await kit.register("bjorn-soft")
        call = await kit.call("1002", from_device="asa-soft", hold_seconds=1.0)
        await bjorn.wait_rang(10.0)
        await call.wait_answered(10.0)


async def test_validation_refuses_a_broken_plan_before_the_target_is_touched(
        deployed: Theirs) -> None:
    before = snapshot(deployed.conf)
    with pytest.raises(DeployError, match="scratch copy"):
        await run.deploy(deployed.site({"agents.0.ring_timeout": 14}), deployed.conf,
                         dry_run=False, kind=_Broken())
    assert snapshot(deployed.conf) == before


async def test_moving_our_profile_is_rolled_back_and_calls_still_work(
        deployed: Theirs, tmp_path: Path) -> None:
    site = deployed.site()
    moved = deployed.site({"pbx.sip_port": spare_port("test")})
    with pytest.raises(run.RolledBack, match="restart") as caught:
        await run.deploy(moved, deployed.conf, dry_run=False)
    assert caught.value.restored_live
    async with ours_kit(deployed, site, tmp_path) as kit:
        bjorn = await kit.register("bjorn-soft")
        call = await kit.call("1002", from_device="asa-soft", hold_seconds=1.0)
        await bjorn.wait_rang(10.0)
        await call.wait_answered(10.0)


@pytest.fixture
def theirs_without_callcenter(tmp_path: Path) -> Iterator[Theirs]:
    """Their FreeSWITCH with no callcenter.conf at all (mod_callcenter then does not
    load, though modules.conf asks for it)."""
    with their_freeswitch(tmp_path, callcenter=False) as started:
        yield started


async def test_without_their_callcenter_conf_ours_is_loaded_whole(
        theirs_without_callcenter: Theirs) -> None:
    bare = theirs_without_callcenter
    assert (await bare.switch.api("module_exists mod_callcenter")).strip() == "false"
    result = await run.deploy(bare.site(), bare.conf, dry_run=False)
    assert result.reloaded
    assert "telephony/callcenter.conf.xml" in {str(p) for p in result.written}
    listing = await bare.switch.api("callcenter_config queue list")
    assert {"intake", "rota", "line", "pension"} <= {
        line.split("|", 1)[0] for line in listing.splitlines()}
