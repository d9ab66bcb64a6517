"""What the runner reports without a running Asterisk: stale pid files, no state."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from telephony.asterisk.runner.paths import Layout
from telephony.asterisk.runner.procs import is_asterisk, read_pid, spawn_detached, tail, wait_gone
from telephony.asterisk.runner.rootfs import _unescape_mount_path
from telephony.cli import main
from telephony.pbx import LocalPbx, PbxError


def record_start(state_dir: Path, backend: str, pid: int) -> None:
    layout = Layout(state_dir)
    layout.run_dir.mkdir(parents=True)
    layout.state_file.write_text(
        json.dumps({"backend": backend, "ami_port": 5038, "sip_port": 5060})
    )
    layout.pid_file.write_text(f"{pid}\n")


def finished_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_status_is_none_when_nothing_was_started(tmp_path: Path) -> None:
    assert LocalPbx(tmp_path).status() is None


def test_status_is_none_when_the_pid_file_names_an_ended_process(tmp_path: Path) -> None:
    record_start(tmp_path, "path", finished_pid())
    assert LocalPbx(tmp_path).status() is None


def test_status_is_none_when_the_pid_now_belongs_to_another_program(tmp_path: Path) -> None:
    record_start(tmp_path, "rootfs", os.getpid())
    assert LocalPbx(tmp_path).status() is None


def test_down_when_nothing_runs_is_harmless(tmp_path: Path) -> None:
    record_start(tmp_path, "path", finished_pid())
    LocalPbx(tmp_path).down()
    assert not Layout(tmp_path).pid_file.exists()


def test_cli_refuses_when_not_running(tmp_path: Path) -> None:
    with pytest.raises(PbxError, match="not running"):
        LocalPbx(tmp_path).cli("core show version")


def test_start_again_needs_an_earlier_start(tmp_path: Path) -> None:
    with pytest.raises(PbxError, match="pbx up"):
        LocalPbx(tmp_path).start_again()


def test_our_own_process_is_not_taken_for_asterisk() -> None:
    assert not is_asterisk(os.getpid())


def test_a_pid_file_with_garbage_reads_as_no_pid(tmp_path: Path) -> None:
    (tmp_path / "asterisk.pid").write_text("not a pid\n")
    assert read_pid(tmp_path / "asterisk.pid") is None


def test_a_detached_process_is_not_our_child_and_logs_to_the_file(tmp_path: Path) -> None:
    pid = spawn_detached(
        ["sh", "-c", "echo started"],
        pid_file=tmp_path / "p.pid",
        log_file=tmp_path / "out.log",
        env={"PATH": os.environ["PATH"]},
    )
    assert read_pid(tmp_path / "p.pid") == pid
    assert wait_gone(pid, 5.0)
    assert tail(tmp_path / "out.log") == "started"
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def test_tail_keeps_the_last_lines(tmp_path: Path) -> None:
    (tmp_path / "log").write_text("".join(f"line {i}\n" for i in range(100)))
    assert tail(tmp_path / "log", 2) == "line 98\nline 99"


def test_mount_points_with_spaces_are_unescaped() -> None:
    assert _unescape_mount_path("/a\\040b/proc") == "/a b/proc"


def test_pbx_status_exits_3_when_not_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TELEPHONY_HOME", str(tmp_path))
    assert main(["pbx", "status"]) == 3
    assert "not running" in capsys.readouterr().out


def test_pbx_up_with_an_invalid_site_lists_the_problems_and_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TELEPHONY_HOME", str(tmp_path))
    site = tmp_path / "site.yaml"
    site.write_text("site: x\npbx:\n  sip_port: 99999\n  ami_secret: s\n")
    assert main(["pbx", "up", "--config", str(site)]) == 2
    assert "pbx.sip_port: " in capsys.readouterr().err
    assert not Layout(tmp_path).state_file.exists()


def test_tail_since_an_offset_shows_only_what_came_after(tmp_path: Path) -> None:
    log = tmp_path / "messages"
    log.write_text("old run\n")
    offset = log.stat().st_size
    with log.open("a") as handle:
        handle.write("this run\n")
    assert tail(log, 30, since=offset) == "this run"
