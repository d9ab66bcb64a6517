"""LocalPbx starts the kind of PBX the site names and acts on whichever runs."""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import pytest

from telephony.config import Site, demo_site_path, load_site
from telephony.config.models import PbxKind
from telephony.pbx import LocalPbx, PbxError, PbxInfo
from telephony.pbx import local as front


class FakeRunner:
    def __init__(self, kind: PbxKind) -> None:
        self.kind = kind
        self.running = False
        self.started = False
        self.calls: list[str] = []

    def _info(self) -> PbxInfo:
        return PbxInfo(self.kind, "fake", "127.0.0.1", 1, "127.0.0.1", 2, None, Path("/x"))

    def prepare(self) -> str:
        return "fake"

    def status(self) -> PbxInfo | None:
        return self._info() if self.running else None

    def recorded(self) -> bool:
        return self.started

    def up(self, site: Site) -> PbxInfo:
        self.running = self.started = True
        return self._info()

    def down(self) -> None:
        self.running = self.started = False
        self.calls.append("down")

    def kill(self) -> None:
        self.running = False

    def start_again(self) -> PbxInfo:
        self.running = True
        return self._info()

    def cli(self, command: str) -> str:
        return f"{self.kind.value}: {command}"

    def hangup_all(self) -> None:
        self.calls.append("hangup_all")

    def active_calls(self) -> int:
        return 0

    def contact(self, site: Site, device_id: str) -> str | None:
        return None

    def exec_foreground(self, site: Site) -> NoReturn:
        raise SystemExit(0)


@pytest.fixture
def runners(monkeypatch: pytest.MonkeyPatch) -> dict[PbxKind, FakeRunner]:
    fakes = {kind: FakeRunner(kind) for kind in PbxKind}
    monkeypatch.setattr(front, "runner_for", lambda kind, *a, **kw: fakes[kind])
    return fakes


def site_of(kind: PbxKind) -> Site:
    site = load_site(demo_site_path(), {})
    return site.model_copy(update={"pbx": site.pbx.model_copy(update={"kind": kind})})


def test_up_starts_the_kind_the_site_names(
    runners: dict[PbxKind, FakeRunner], tmp_path: Path
) -> None:
    info = LocalPbx(tmp_path).up(site_of(PbxKind.FREESWITCH))
    assert info.kind is PbxKind.FREESWITCH
    assert runners[PbxKind.FREESWITCH].running and not runners[PbxKind.ASTERISK].running


def test_a_second_kind_is_refused_while_the_first_runs(
    runners: dict[PbxKind, FakeRunner], tmp_path: Path
) -> None:
    pbx = LocalPbx(tmp_path)
    pbx.up(site_of(PbxKind.ASTERISK))
    with pytest.raises(PbxError, match="asterisk already runs"):
        pbx.up(site_of(PbxKind.FREESWITCH))


def test_status_cli_and_restart_act_on_the_kind_that_was_started(
    runners: dict[PbxKind, FakeRunner], tmp_path: Path
) -> None:
    pbx = LocalPbx(tmp_path)
    pbx.up(site_of(PbxKind.FREESWITCH))
    assert pbx.cli("status") == "freeswitch: status"
    pbx.kill()
    assert pbx.status() is None
    assert pbx.start_again().kind is PbxKind.FREESWITCH


def test_down_stops_every_kind_and_is_harmless_when_nothing_runs(
    runners: dict[PbxKind, FakeRunner], tmp_path: Path
) -> None:
    LocalPbx(tmp_path).down()
    assert all(r.calls == ["down"] for r in runners.values())


def test_console_commands_need_a_running_pbx(
    runners: dict[PbxKind, FakeRunner], tmp_path: Path
) -> None:
    with pytest.raises(PbxError, match="not running"):
        LocalPbx(tmp_path).hangup_all()
