"""`telephony deploy` onto an administrator's running Asterisk (include mode).

Each test starts its own Asterisk (the local runner's root file system, or an installed
`asterisk`) on an administrator-like configuration directory: their own transport,
endpoints built on a template, context, queue, manager user and voicemail, on spare
loopback ports. The shared session PBX is not used.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from telephony.asterisk.deploy import AsteriskDeploy, ScratchAsterisk, spare_port
from telephony.asterisk.runner.baseconf import base_files
from telephony.cli import main
from telephony.config import Site, load_or_report
from telephony.config.models import PbxKind
from telephony.deploy.files import STATE_DIR, DeployError, FileChange, Plan
from telephony.deploy.run import RolledBack, deploy, with_control
from telephony.testing.phones import PhoneKit

pytestmark = [pytest.mark.pbx, pytest.mark.pbx_kinds("asterisk")]

SITE_FILE = Path(__file__).with_name("site.yaml")
ADMIN_USER = "admin"
ADMIN_SECRET = "admin-ami-secret"


@pytest.fixture(autouse=True)
def clean_pbx() -> None:
    """These tests run their own Asterisk: the suite's clean-up of the shared PBX is
    replaced with nothing."""


def admin_files(sip_port: int, ami_port: int) -> dict[str, str]:
    """An administrator's configuration: the runner's base files and their own main files."""
    files = base_files({})
    files.pop("asterisk.conf")  # written by ScratchAsterisk.start for its directories
    files.update({
        "pjsip.conf": f"""; the administrator's PJSIP
[global]
type=global
endpoint_identifier_order=ip,username

[transport-udp]
type=transport
protocol=udp
bind=127.0.0.1:{sip_port}

[phone-tpl](!)
type=endpoint
context=from-admin
disallow=all
allow=ulaw,alaw
direct_media=no
rtp_symmetric=yes
force_rport=yes
rewrite_contact=yes

[admin-phone](phone-tpl)
auth=admin-phone
aors=admin-phone

[admin-phone]
type=auth
auth_type=userpass
username=admin-phone
password=admin-phone-pw

[admin-phone]
type=aor
max_contacts=1
remove_existing=yes

[admin-desk](phone-tpl)
auth=admin-desk
aors=admin-desk

[admin-desk]
type=auth
auth_type=userpass
username=admin-desk
password=admin-desk-pw

[admin-desk]
type=aor
max_contacts=1
remove_existing=yes
#tryinclude pjsip-extra.conf
""",
        "extensions.conf": """[general]
static=yes
writeprotect=no

[globals]
ADMIN_VAR=1

[from-admin]
exten => 7000,1,Dial(PJSIP/admin-phone,20)
 same => n,Hangup()
exten => 7100,1,Queue(admin-queue,,,,10)
 same => n,Hangup()
""",
        "queues.conf": """[general]
persistentmembers=yes

[admin-queue]
strategy=ringall
timeout=10
""",
        "manager.conf": f"""[general]
enabled=yes
bindaddr=127.0.0.1
port={ami_port}

[{ADMIN_USER}]
secret={ADMIN_SECRET}
permit=127.0.0.1/255.255.255.255
read=all
write=all
""",
        "voicemail.conf": """[general]
format=wav

[default]
100 => 1234,Admin Box
""",
    })
    return files


ADMIN_SITE = """
site: admin-phones
pbx: {{sip_port: {sip}, control_port: {ami}, control_secret: unused-secret}}
agents:
  - id: admin
    name: Admin
    extension: "7000"
    direct_line: "+4600007000"
    devices:
      - {{id: admin-phone, kind: softphone, password: admin-phone-pw}}
      - {{id: admin-desk, kind: deskphone, password: admin-desk-pw}}
"""


@dataclass(frozen=True, slots=True)
class AdminPbx:
    """The administrator's running Asterisk, its directory and our site pointed at it."""

    asterisk: ScratchAsterisk
    target: Path
    sip_port: int
    site: Site
    admin_site: Site
    workdir: Path

    @property
    def control(self) -> Site:
        """Our site with the administrator's AMI user: a first deploy reloads as them."""
        return with_control(self.site, ADMIN_USER, ADMIN_SECRET)

    def site_with(self, *replacements: tuple[str, str]) -> Site:
        """Our site with text replaced in the site file (a changed deploy)."""
        return _site(self.workdir, self.site.pbx.control_port, replacements)

    def snapshot(self) -> dict[str, bytes]:
        """Every file under the target, by relative path."""
        return {
            str(p.relative_to(self.target)): p.read_bytes()
            for p in sorted(self.target.rglob("*")) if p.is_file()
        }

    def phones(self, site: Site, name: str) -> PhoneKit:
        return PhoneKit(site, self.workdir / name, sip_port=self.sip_port)


def _site(workdir: Path, ami_port: int, replacements: tuple[tuple[str, str], ...] = ()) -> Site:
    text = SITE_FILE.read_text(encoding="utf-8").replace(
        "control_port: 5038", f"control_port: {ami_port}")
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    path = workdir / f"site-{abs(hash(text))}.yaml"
    path.write_text(text, encoding="utf-8")
    site = load_or_report(path, kind=PbxKind.ASTERISK)
    assert site is not None
    return site


@pytest.fixture
def admin_pbx(pbx_kind: PbxKind, tmp_path: Path) -> Iterator[AdminPbx]:
    """A fresh administrator's Asterisk for one test (about a second to start); it must
    start: a failure to start fails the test."""
    assert pbx_kind is PbxKind.ASTERISK
    taken: set[int] = set()
    sip, ami = spare_port(taken), spare_port(taken)
    asterisk = ScratchAsterisk()
    try:
        for name, text in admin_files(sip, ami).items():
            (asterisk.etc / name).write_text(text, encoding="utf-8")
        asterisk.start()
        admin_path = tmp_path / "admin-site.yaml"
        admin_path.write_text(ADMIN_SITE.format(sip=sip, ami=ami), encoding="utf-8")
        admin_site = load_or_report(admin_path, kind=PbxKind.ASTERISK)
        assert admin_site is not None
        yield AdminPbx(asterisk, asterisk.etc, sip, _site(tmp_path, ami), admin_site, tmp_path)
    finally:
        asterisk.stop()


@pytest.fixture
async def kits(admin_pbx: AdminPbx) -> AsyncIterator[tuple[PhoneKit, PhoneKit]]:
    """SIP phones of the administrator and of our site, on the administrator's transport."""
    theirs = admin_pbx.phones(admin_pbx.admin_site, "theirs")
    ours = admin_pbx.phones(admin_pbx.site, "ours")
    try:
        yield theirs, ours
    finally:
        await ours.close()
        await theirs.close()


async def _theirs_take_a_call(theirs: PhoneKit) -> None:
    phone = await theirs.register("admin-phone", on_call="answer")
    call = await theirs.call("7000", from_device="admin-desk", hold_seconds=None)
    await phone.wait_answered(timeout=10)
    await call.wait_answered()
    await call.hangup()


async def _ours_take_a_call(ours: PhoneKit) -> None:
    bjorn = await ours.register("bjorn-soft", on_call="answer")
    call = await ours.call("1002", from_device="dana-soft", hold_seconds=None)
    await bjorn.wait_answered(timeout=10)
    await call.wait_answered()
    await call.hangup()


async def test_deploy_from_the_command_line_then_theirs_and_ours_take_calls(
    admin_pbx: AdminPbx, kits: tuple[PhoneKit, PhoneKit], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("TELEPHONY_CONTROL_SECRET", ADMIN_SECRET)
    site_file = next(admin_pbx.workdir.glob("site-*.yaml"))
    code = await asyncio.to_thread(main, [
        "deploy", str(site_file), "--target", str(admin_pbx.target),
        "--control-user", ADMIN_USER,
    ])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "reloaded what changed" in out.out
    assert (admin_pbx.target / "pjsip.conf").read_text().endswith(
        "#tryinclude pjsip-extra.conf\n#include telephony/pjsip.conf\n")
    theirs, ours = kits
    await _theirs_take_a_call(theirs)
    await _ours_take_a_call(ours)


async def test_deploying_twice_changes_nothing(admin_pbx: AdminPbx) -> None:
    first = await deploy(admin_pbx.site, admin_pbx.target, dry_run=False,
                         control=admin_pbx.control)
    assert first.reloaded
    before = admin_pbx.snapshot()
    again = await deploy(admin_pbx.site, admin_pbx.target, dry_run=False)
    assert not again.changed and again.written == ()
    assert admin_pbx.snapshot() == before


async def test_a_clash_is_refused_naming_both_and_nothing_is_written(
    admin_pbx: AdminPbx,
) -> None:
    # A template of theirs, in a file their pjsip.conf includes, named like our device.
    (admin_pbx.target / "pjsip-extra.conf").write_text("; extra\n[asa-soft](!)\ntype=endpoint\n")
    before = admin_pbx.snapshot()
    with pytest.raises(DeployError) as refused:
        await deploy(admin_pbx.site, admin_pbx.target, dry_run=False, control=admin_pbx.control)
    message = str(refused.value)
    assert "[asa-soft] at telephony/pjsip.conf:" in message
    assert "pjsip-extra.conf:2" in message
    assert admin_pbx.snapshot() == before
    assert not (admin_pbx.target / STATE_DIR).exists()


async def test_dry_run_prints_the_diff_and_writes_nothing(admin_pbx: AdminPbx) -> None:
    before = admin_pbx.snapshot()
    result = await deploy(admin_pbx.site, admin_pbx.target, dry_run=True)
    assert "+#include telephony/pjsip.conf\n" in result.diff
    assert "+++ b/telephony/extensions.conf" in result.diff
    assert "test-asa-soft" not in result.diff and "test-ami-secret" not in result.diff
    assert admin_pbx.snapshot() == before
    assert not (admin_pbx.target / STATE_DIR).exists()


async def test_a_call_in_progress_survives_a_deploy_that_changes_dialplan_queues_and_endpoint(
    admin_pbx: AdminPbx, kits: tuple[PhoneKit, PhoneKit],
) -> None:
    await deploy(admin_pbx.site, admin_pbx.target, dry_run=False, control=admin_pbx.control)
    _, ours = kits
    bjorn = await ours.register("bjorn-soft", on_call="answer")
    call = await ours.call("1002", from_device="dana-soft", hold_seconds=None)
    await bjorn.wait_answered(timeout=10)
    await call.wait_answered()

    # Dana (the caller) renamed: her endpoint's callerid, the dialplan and the
    # mailboxes change; the hunt group's strategy changes the queues.
    changed = admin_pbx.site_with(("name: Dana Berg", "name: Dana Lind"),
                                  ("strategy: rrmemory", "strategy: ringall"))
    result = await deploy(changed, admin_pbx.target, dry_run=False)
    assert {str(c.path) for c in result.plan.changed} == {
        "telephony/pjsip.conf", "telephony/extensions.conf", "telephony/queues.conf",
        "telephony/voicemail.conf",
    }
    assert result.reloaded
    assert "Dana Lind" in admin_pbx.asterisk.cli("pjsip show endpoint dana-soft")

    assert call.status == 200 and not any(m.method == "BYE" for m in call.messages)
    channels = admin_pbx.asterisk.cli("core show channels count")
    assert channels.lstrip().startswith("2 active channel"), channels
    await call.hangup()
    await call.wait_ended()


NEW_AGENT = """  - id: erik
    name: Erik Ek
    extension: "1009"
    direct_line: "+46855501009"
    devices:
      - {id: erik-soft, kind: softphone, password: test-erik-soft}
hunt_groups:
"""


class _BrokenEndpoint(AsteriskDeploy):
    """Our deploy with an option PJSIP does not know in a new endpoint (erik-soft):
    Asterisk refuses to create it, so it is missing after the reload. (A changed
    endpoint that fails keeps its old configuration live: only the scratch PBX's log
    shows that, which is what validation is for.)"""

    def plan(self, site: Site, target: Path) -> Plan:
        planned = super().plan(site, target)
        changes = []
        for change in planned.changes:
            if str(change.path) == "telephony/pjsip.conf":
                after = change.after.replace("[erik-soft]\ntype=endpoint\n",
                                             "[erik-soft]\ntype=endpoint\nno_such_option=1\n", 1)
                assert after != change.after
                change = FileChange(change.path, change.before, after)
            changes.append(change)
        return Plan(tuple(changes))


async def test_a_broken_deploy_is_rolled_back_and_the_pbx_still_takes_calls(
    admin_pbx: AdminPbx, kits: tuple[PhoneKit, PhoneKit],
) -> None:
    await deploy(admin_pbx.site, admin_pbx.target, dry_run=False, control=admin_pbx.control)
    before = admin_pbx.snapshot()
    changed = admin_pbx.site_with(("hunt_groups:\n", NEW_AGENT))
    with pytest.raises(RolledBack) as failed:
        await deploy(changed, admin_pbx.target, dry_run=False, validate=False,
                     kind=_BrokenEndpoint())
    assert "endpoint erik-soft (ours, telephony/pjsip.conf:" in str(failed.value)
    assert failed.value.restored_live
    assert {k: v for k, v in admin_pbx.snapshot().items() if not k.startswith(STATE_DIR)} == {
        k: v for k, v in before.items() if not k.startswith(STATE_DIR)}
    theirs, ours = kits
    await _theirs_take_a_call(theirs)
    await _ours_take_a_call(ours)


async def test_a_broken_deploy_is_refused_by_the_scratch_pbx_with_nothing_written(
    admin_pbx: AdminPbx,
) -> None:
    before = admin_pbx.snapshot()
    with_erik = admin_pbx.site_with(("hunt_groups:\n", NEW_AGENT))
    with pytest.raises(DeployError) as refused:
        await deploy(with_erik, admin_pbx.target, dry_run=False,
                     control=admin_pbx.control, kind=_BrokenEndpoint())
    assert not isinstance(refused.value, RolledBack)
    assert refused.value.what in {"scratch check", "validate"}
    assert admin_pbx.snapshot() == before


async def test_rollback_from_the_command_line_puts_the_administrators_files_back_live(
    admin_pbx: AdminPbx, kits: tuple[PhoneKit, PhoneKit], capsys: pytest.CaptureFixture[str],
) -> None:
    original = admin_pbx.snapshot()
    await deploy(admin_pbx.site, admin_pbx.target, dry_run=False, control=admin_pbx.control)
    assert "bjorn-soft" in admin_pbx.asterisk.cli("pjsip show endpoints")
    site_file = next(admin_pbx.workdir.glob("site-*.yaml"))
    # The site's own AMI user is known now: it reloads the roll-back.
    code = await asyncio.to_thread(main, [
        "deploy", str(site_file), "--target", str(admin_pbx.target), "--rollback"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "rolled back: reloaded what changed" in out.out
    assert {k: v for k, v in admin_pbx.snapshot().items() if not k.startswith(STATE_DIR)} == (
        original)
    assert "bjorn-soft" not in admin_pbx.asterisk.cli("pjsip show endpoints")
    theirs, _ = kits
    await _theirs_take_a_call(theirs)


async def test_a_deploy_onto_a_pbx_that_does_not_let_it_in_is_refused_with_nothing_written(
    admin_pbx: AdminPbx,
) -> None:
    before = admin_pbx.snapshot()
    # The site's own AMI user is not known to the PBX before a first deploy.
    with pytest.raises(DeployError) as refused:
        await deploy(admin_pbx.site, admin_pbx.target, dry_run=False)
    assert refused.value.what == "pbx.control_username"
    assert "--control-user" in refused.value.message
    assert admin_pbx.snapshot() == before


def _basic_pbx() -> Path:
    """Asterisk's own example of a small office PBX (asterisk-config's basic-pbx: a
    trunk with an outbound registration, phones on templates, queues, voicemail)."""
    from telephony.pbx.paths import default_state_dir

    for place in (default_state_dir() / "asterisk-rootfs" / "usr/share/asterisk/conf/basic-pbx",
                  Path("/usr/share/asterisk/conf/basic-pbx")):
        if (place / "pjsip.conf").is_file():
            return place
    pytest.fail("no basic-pbx example of Asterisk's (asterisk-config) to deploy onto",
                pytrace=False)


@pytest.fixture
def basic_pbx(pbx_kind: PbxKind, tmp_path: Path) -> Iterator[tuple[ScratchAsterisk, Site, int]]:
    """Asterisk's basic-pbx example running with an AMI user added, its transport and
    AMI moved to spare loopback ports (as the scratch copy does it)."""
    from telephony.asterisk.deploy import Scratch

    assert pbx_kind is PbxKind.ASTERISK
    example = tmp_path / "example"
    shutil.copytree(_basic_pbx(), example)
    (example / "manager.conf").write_text(
        f"[general]\nenabled=yes\n\n[{ADMIN_USER}]\nsecret={ADMIN_SECRET}\n"
        "permit=127.0.0.1/255.255.255.255\nread=all\nwrite=all\n")
    asterisk = ScratchAsterisk()
    try:
        copy = Scratch(asterisk.etc)
        copy.fill(example)
        asterisk.start()
        ami = copy.port_for(("manager.conf", "general"))
        sip = copy.port_for(("pjsip.conf", "transport-udp-nat"))
        yield asterisk, _site(tmp_path, ami), sip
    finally:
        asterisk.stop()


async def test_a_validated_deploy_onto_asterisks_basic_pbx_example_takes_our_calls(
    basic_pbx: tuple[ScratchAsterisk, Site, int], tmp_path: Path,
) -> None:
    asterisk, site, sip = basic_pbx
    result = await deploy(site, asterisk.etc, dry_run=False,
                          control=with_control(site, ADMIN_USER, ADMIN_SECRET))
    assert result.validated and result.reloaded
    endpoints = asterisk.cli("pjsip show endpoints")
    assert "1101" in endpoints and "bjorn-soft" in endpoints  # theirs and ours
    async with PhoneKit(site, tmp_path / "ours", sip_port=sip) as ours:
        await _ours_take_a_call(ours)


async def test_after_a_deploy_the_engine_logs_in_as_the_site_and_a_hunt_group_call_is_answered(
    admin_pbx: AdminPbx, kits: tuple[PhoneKit, PhoneKit],
) -> None:
    from telephony.engine.run import open_port
    from telephony.port import Join

    await deploy(admin_pbx.site, admin_pbx.target, dry_run=False, control=admin_pbx.control)
    _, ours = kits
    bjorn = await ours.register("bjorn-soft", on_call="answer")
    port = await open_port(admin_pbx.site)
    try:
        await port.apply(Join("intake", "bjorn", "test"))
        snapshot = await port.snapshot()
        assert [(m.queue, m.agent) for m in snapshot.members] == [("intake", "bjorn")]
        call = await ours.call("2000", from_device="dana-soft", hold_seconds=None)
        await bjorn.wait_answered(timeout=10)
        await call.wait_answered()
        await call.hangup()
    finally:
        await port.close()
