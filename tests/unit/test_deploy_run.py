"""The deploy orchestrator and `telephony deploy`, with a recording fake PBX kind."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest

from telephony import cli
from telephony.config import Site, load_or_report
from telephony.deploy import run
from telephony.deploy.files import DeployError, FileChange, Plan, read_text
from telephony.deploy.run import RolledBack, deploy, kind_for, redact, rollback, with_control

DEMO = Path(__file__).resolve().parents[2] / "telephony" / "examples" / "demo-site.yaml"
OURS = PurePosixPath("ours/site.conf")
MAIN = PurePosixPath("main.conf")


@pytest.fixture(scope="module")
def site() -> Site:
    loaded = load_or_report(DEMO)
    assert loaded is not None
    return loaded


class FakeKind:
    """Plans one file of ours and an include in the main file; records every call and
    fails where told."""

    name = "fake"

    def __init__(self, text: str = "ours v1\n", *, fail_validate: bool = False,
                 fail_reloads: int = 0) -> None:
        self.text = text
        self.fail_validate = fail_validate
        self.fail_reloads = fail_reloads
        self.calls: list[tuple[str, Plan | None]] = []
        self.users: list[str] = []

    def plan(self, site: Site, target: Path) -> Plan:
        self.calls.append(("plan", None))
        main = read_text(target, MAIN) or ""
        after = main if "include ours" in main else main + "include ours\n"
        return Plan((FileChange(OURS, read_text(target, OURS), self.text),
                     FileChange(MAIN, read_text(target, MAIN), after)))

    async def validate(self, site: Site, target: Path, plan: Plan) -> None:
        self.calls.append(("validate", plan))
        if self.fail_validate:
            raise DeployError("validate", "the scratch PBX logged an error")

    async def reload(self, site: Site, target: Path, plan: Plan) -> None:
        self.calls.append(("reload", plan))
        self.users.append(site.pbx.control_username)
        if self.fail_reloads > 0:
            self.fail_reloads -= 1
            raise DeployError("live check", "missing after the reload: endpoint x")


class ReachableKind(FakeKind):
    """A fake kind with a preflight check of the running PBX."""

    def __init__(self, *, reachable: bool) -> None:
        super().__init__()
        self.reachable = reachable

    async def preflight(self, site: Site) -> None:
        self.calls.append(("preflight", None))
        if not self.reachable:
            raise DeployError("pbx.control_port", "cannot connect")


@pytest.fixture
def target(tmp_path: Path) -> Path:
    directory = tmp_path / "etc"
    directory.mkdir()
    (directory / "main.conf").write_text("theirs\n")
    return directory


def _files(target: Path) -> dict[str, str]:
    return {str(p.relative_to(target)): p.read_text() for p in sorted(target.rglob("*"))
            if p.is_file() and ".telephony-deploy" not in p.parts}


async def test_a_deploy_validates_then_writes_then_reloads(site: Site, target: Path) -> None:
    kind = FakeKind()
    result = await deploy(site, target, dry_run=False, kind=kind)
    assert [c[0] for c in kind.calls] == ["plan", "validate", "reload"]
    assert _files(target) == {"main.conf": "theirs\ninclude ours\n", "ours/site.conf": "ours v1\n"}
    assert result.written == (OURS, MAIN) and result.validated and result.reloaded


async def test_a_dry_run_returns_the_diff_and_writes_nothing(site: Site, target: Path) -> None:
    kind = FakeKind()
    result = await deploy(site, target, dry_run=True, kind=kind)
    assert "+include ours\n" in result.diff
    assert [c[0] for c in kind.calls] == ["plan"]
    assert _files(target) == {"main.conf": "theirs\n"}
    assert not (target / ".telephony-deploy").exists()


async def test_a_plan_without_change_validates_and_reloads_nothing(site: Site,
                                                                   target: Path) -> None:
    await deploy(site, target, dry_run=False, kind=FakeKind())
    kind = FakeKind()
    result = await deploy(site, target, dry_run=False, kind=kind)
    assert not result.changed and result.written == ()
    assert [c[0] for c in kind.calls] == ["plan"]


async def test_a_failed_validation_writes_nothing(site: Site, target: Path) -> None:
    with pytest.raises(DeployError) as refused:
        await deploy(site, target, dry_run=False, kind=FakeKind(fail_validate=True))
    assert not isinstance(refused.value, RolledBack)
    assert _files(target) == {"main.conf": "theirs\n"}


async def test_a_reachable_pbx_is_checked_before_validating(site: Site, target: Path) -> None:
    kind = ReachableKind(reachable=True)
    await deploy(site, target, dry_run=False, kind=kind)
    assert [c[0] for c in kind.calls] == ["plan", "preflight", "validate", "reload"]


async def test_an_unreachable_pbx_refuses_the_deploy_with_nothing_written(
    site: Site, target: Path,
) -> None:
    kind = ReachableKind(reachable=False)
    with pytest.raises(DeployError, match="pbx.control_port: cannot connect"):
        await deploy(site, target, dry_run=False, kind=kind)
    assert [c[0] for c in kind.calls] == ["plan", "preflight"]
    assert _files(target) == {"main.conf": "theirs\n"}


async def test_writing_files_only_does_not_ask_the_pbx(site: Site, target: Path) -> None:
    kind = ReachableKind(reachable=False)
    await deploy(site, target, dry_run=False, live=False, kind=kind)
    assert [c[0] for c in kind.calls] == ["plan", "validate"]


async def test_no_validate_skips_the_scratch_pbx(site: Site, target: Path) -> None:
    kind = FakeKind()
    result = await deploy(site, target, dry_run=False, validate=False, kind=kind)
    assert [c[0] for c in kind.calls] == ["plan", "reload"] and not result.validated


async def test_no_reload_writes_the_files_only(site: Site, target: Path) -> None:
    kind = FakeKind()
    result = await deploy(site, target, dry_run=False, live=False, kind=kind)
    assert [c[0] for c in kind.calls] == ["plan", "validate"] and not result.reloaded
    assert (target / OURS).read_text() == "ours v1\n"


async def test_a_failed_live_reload_puts_the_previous_files_back_and_reloads_them(
    site: Site, target: Path,
) -> None:
    await deploy(site, target, dry_run=False, kind=FakeKind())
    before = _files(target)
    kind = FakeKind("ours v2\n", fail_reloads=1)
    with pytest.raises(RolledBack) as failed:
        await deploy(site, target, dry_run=False, kind=kind)
    assert failed.value.restored_live
    assert failed.value.what == "live check"
    assert "put back and reloaded" in failed.value.message
    assert _files(target) == before
    back = kind.calls[-1]
    assert back[0] == "reload" and back[1] is not None
    assert {(str(c.path), c.after) for c in back[1].changed} == {("ours/site.conf", "ours v1\n")}


async def test_a_first_deploy_rolled_back_removes_our_files(site: Site, target: Path) -> None:
    with pytest.raises(RolledBack):
        await deploy(site, target, dry_run=False, kind=FakeKind(fail_reloads=1))
    assert _files(target) == {"main.conf": "theirs\n"}


async def test_a_roll_back_whose_reload_fails_too_says_so(site: Site, target: Path) -> None:
    with pytest.raises(RolledBack) as failed:
        await deploy(site, target, dry_run=False, kind=FakeKind(fail_reloads=2))
    assert not failed.value.restored_live
    assert "reloading them failed too" in failed.value.message
    assert _files(target) == {"main.conf": "theirs\n"}


async def test_the_reload_uses_the_control_site_given(site: Site, target: Path) -> None:
    kind = FakeKind()
    control = with_control(site, "admin", "admin-secret-1")
    await deploy(site, target, dry_run=False, kind=kind, control=control)
    assert kind.users == ["admin"]
    assert control.pbx.control_secret.get_secret_value() == "admin-secret-1"
    assert site.pbx.control_username == "telephony"


async def test_rollback_restores_the_previous_set_and_reloads_it(site: Site,
                                                                 target: Path) -> None:
    await deploy(site, target, dry_run=False, kind=FakeKind())
    kind = FakeKind()
    result = await rollback(site, target, kind=kind)
    assert _files(target) == {"main.conf": "theirs\n"}
    assert result.reloaded and [c[0] for c in kind.calls] == ["reload"]


async def test_rollback_without_a_previous_deploy_is_refused(site: Site, target: Path) -> None:
    with pytest.raises(DeployError, match="no previous deploy"):
        await rollback(site, target, kind=FakeKind())


def test_redact_masks_secret_values_in_asterisk_and_freeswitch_lines() -> None:
    diff = ("--- a/x\n+++ b/x\n+secret=abc123456\n-password = hunter22\n context=x\n"
            '+<param name="password" value="s3cretvalue"/>\n+secret => zzzzzzzzz\n')
    masked = redact(diff)
    for secret in ("abc123456", "hunter22", "s3cretvalue", "zzzzzzzzz"):
        assert secret not in masked
    assert "+secret=********\n" in masked and " context=x\n" in masked
    assert '<param name="password" value="********"/>' in masked


def test_kind_for_knows_asterisk_and_refuses_an_unknown_kind() -> None:
    assert kind_for("asterisk").name == "asterisk"
    with pytest.raises(ValueError, match="no deploy for PBX kind 'sip'"):
        kind_for("sip")


# -- the command line


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeKind:
    kind = FakeKind()
    monkeypatch.setattr(run, "kind_for", lambda _name: kind)
    return kind


def test_cli_deploy_prints_what_it_wrote_and_exits_0(
    fake: FakeKind, target: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["deploy", str(DEMO), "--target", str(target)]) == 0
    out = capsys.readouterr().out
    assert f"{target}/ours/site.conf" in out and "reloaded what changed" in out


def test_cli_dry_run_prints_the_diff_and_exits_0(
    fake: FakeKind, target: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["deploy", str(DEMO), "--target", str(target), "--dry-run"]) == 0
    assert "+include ours\n" in capsys.readouterr().out
    assert _files(target) == {"main.conf": "theirs\n"}


def test_cli_refused_deploy_exits_2_naming_the_check(
    fake: FakeKind, target: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    fake.fail_validate = True
    assert cli.main(["deploy", str(DEMO), "--target", str(target)]) == 2
    assert "deploy refused: validate: the scratch PBX logged an error" in capsys.readouterr().err


def test_cli_rolled_back_deploy_exits_1(
    fake: FakeKind, target: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    fake.fail_reloads = 1
    assert cli.main(["deploy", str(DEMO), "--target", str(target)]) == 1
    err = capsys.readouterr().err
    assert "deploy failed: live check: missing after the reload" in err
    assert "put back and reloaded" in err


def test_cli_control_user_needs_its_secret_in_the_environment(
    fake: FakeKind, target: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TELEPHONY_CONTROL_SECRET", raising=False)
    assert cli.main(["deploy", str(DEMO), "--target", str(target),
                     "--control-user", "admin"]) == 2
    assert "TELEPHONY_CONTROL_SECRET" in capsys.readouterr().err
    assert fake.calls == []


def test_cli_control_user_reloads_as_that_user(
    fake: FakeKind, target: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TELEPHONY_CONTROL_SECRET", "admin-secret-1")
    assert cli.main(["deploy", str(DEMO), "--target", str(target),
                     "--control-user", "admin"]) == 0
    assert fake.users == ["admin"]


def test_cli_rollback_restores_and_exits_0(
    fake: FakeKind, target: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["deploy", str(DEMO), "--target", str(target)]) == 0
    assert cli.main(["deploy", str(DEMO), "--target", str(target), "--rollback"]) == 0
    assert "rolled back" in capsys.readouterr().out
    assert _files(target) == {"main.conf": "theirs\n"}


def test_cli_bad_site_file_exits_2(target: Path, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("site: [\n")
    assert cli.main(["deploy", str(bad), "--target", str(target)]) == 2
    assert _files(target) == {"main.conf": "theirs\n"}


async def test_a_rollback_whose_reload_fails_leaves_the_files_back_and_says_so(
    site: Site, target: Path,
) -> None:
    await deploy(site, target, dry_run=False, kind=FakeKind())
    with pytest.raises(DeployError, match="the previous files are back in place"):
        await rollback(site, target, kind=FakeKind(fail_reloads=1))
    assert _files(target) == {"main.conf": "theirs\n"}


async def test_a_rollback_onto_an_unreachable_pbx_changes_nothing(site: Site,
                                                                  target: Path) -> None:
    await deploy(site, target, dry_run=False, kind=FakeKind())
    before = _files(target)
    with pytest.raises(DeployError, match="cannot connect"):
        await rollback(site, target, kind=ReachableKind(reachable=False))
    assert _files(target) == before
