"""A deploy's file changes: the diff, applying with the previous set kept, restoring."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

import pytest

from telephony.deploy.files import (
    STATE_DIR,
    DeployError,
    FileChange,
    Plan,
    apply,
    has_previous,
    previous_plan,
    read_text,
    restore,
)

OURS = PurePosixPath("telephony/pjsip.conf")
MAIN = PurePosixPath("pjsip.conf")


def _plan(target: Path, ours: str, main_after: str) -> Plan:
    return Plan((
        FileChange(OURS, read_text(target, OURS), ours),
        FileChange(MAIN, read_text(target, MAIN), main_after),
    ))


@pytest.fixture
def target(tmp_path: Path) -> Path:
    directory = tmp_path / "etc"
    directory.mkdir()
    (directory / "pjsip.conf").write_text("[transport-udp]\ntype=transport\n")
    return directory


def test_diff_shows_a_new_file_from_dev_null_and_a_changed_file_as_a_and_b(target: Path) -> None:
    plan = _plan(target, "[asa]\n", "[transport-udp]\ntype=transport\n#include telephony/pjsip.conf\n")
    diff = plan.diff()
    assert "--- /dev/null\n+++ b/telephony/pjsip.conf\n" in diff
    assert "--- a/pjsip.conf\n+++ b/pjsip.conf\n" in diff
    assert "+#include telephony/pjsip.conf\n" in diff


def test_diff_is_empty_when_nothing_changes(target: Path) -> None:
    same = Plan((FileChange(MAIN, "x\n", "x\n"),))
    assert same.diff() == "" and same.changed == ()


def test_diff_marks_a_missing_final_newline(target: Path) -> None:
    assert "\\ No newline at end of file\n" in Plan((FileChange(MAIN, None, "x"),)).diff()


def test_apply_writes_the_changed_files_and_keeps_the_previous_set(target: Path) -> None:
    main_after = "[transport-udp]\ntype=transport\n#include telephony/pjsip.conf\n"
    written = apply(target, _plan(target, "[asa]\n", main_after))
    assert written == [OURS, MAIN]
    assert (target / OURS).read_text() == "[asa]\n"
    assert (target / MAIN).read_text() == main_after
    assert has_previous(target)
    kept = target / STATE_DIR / "previous"
    assert (kept / MAIN).read_text() == "[transport-udp]\ntype=transport\n"
    assert not (kept / OURS).exists()  # it was absent: recorded as such


def test_restore_puts_back_changed_files_and_removes_those_that_were_absent(target: Path) -> None:
    apply(target, _plan(target, "[asa]\n", "changed\n"))
    restore(target)
    assert (target / MAIN).read_text() == "[transport-udp]\ntype=transport\n"
    assert not (target / OURS).exists()


def test_previous_plan_goes_from_now_back_to_the_kept_set(target: Path) -> None:
    apply(target, _plan(target, "[asa]\n", "changed\n"))
    back = previous_plan(target)
    by_path = {c.path: c for c in back.changes}
    assert by_path[MAIN].before == "changed\n"
    assert by_path[MAIN].after == "[transport-udp]\ntype=transport\n"
    assert by_path[OURS].after == ""  # absent then: restore removes it


def test_a_second_identical_plan_changes_nothing_and_keeps_the_first_previous_set(
    target: Path,
) -> None:
    apply(target, _plan(target, "[asa]\n", "changed\n"))
    again = _plan(target, "[asa]\n", "changed\n")
    assert again.changed == ()
    assert apply(target, again) == []
    restore(target)
    assert (target / MAIN).read_text() == "[transport-udp]\ntype=transport\n"


def test_a_replaced_file_keeps_its_mode_and_a_new_file_gets_0640(target: Path) -> None:
    os.chmod(target / MAIN, 0o604)
    apply(target, _plan(target, "[asa]\n", "changed\n"))
    assert (target / MAIN).stat().st_mode & 0o777 == 0o604
    assert (target / OURS).stat().st_mode & 0o777 == 0o640


def test_a_restored_file_gets_its_mode_back(target: Path) -> None:
    os.chmod(target / MAIN, 0o604)
    apply(target, _plan(target, "[asa]\n", "changed\n"))
    os.chmod(target / MAIN, 0o600)
    restore(target)
    assert (target / MAIN).stat().st_mode & 0o777 == 0o604


@pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's owner needs root")
def test_a_replaced_file_keeps_its_owner_and_group(target: Path) -> None:
    os.chown(target / MAIN, 1234, 5678)
    apply(target, _plan(target, "[asa]\n", "changed\n"))
    info = (target / MAIN).stat()
    assert (info.st_uid, info.st_gid) == (1234, 5678)


@pytest.mark.skipif(os.geteuid() != 0, reason="changing a directory's owner needs root")
def test_a_new_file_takes_the_target_directorys_owner_and_group(target: Path) -> None:
    os.chown(target, 1234, 5678)
    apply(target, _plan(target, "[asa]\n", "changed\n"))
    info = (target / OURS).stat()
    assert (info.st_uid, info.st_gid) == (1234, 5678)


def test_restore_without_a_previous_deploy_is_refused(target: Path) -> None:
    with pytest.raises(DeployError, match="no previous deploy"):
        restore(target)
    with pytest.raises(DeployError, match="no previous deploy"):
        previous_plan(target)


def test_a_path_outside_the_target_is_refused_before_anything_is_written(target: Path) -> None:
    plan = Plan((FileChange(PurePosixPath("../escape.conf"), None, "x\n"),))
    with pytest.raises(ValueError, match="not a path inside the target"):
        apply(target, plan)
    assert not (target.parent / "escape.conf").exists()
    assert not (target / STATE_DIR).exists()


def test_read_text_names_a_file_that_is_not_utf8(target: Path) -> None:
    (target / "bad.conf").write_bytes(b"\xff\xfe")
    with pytest.raises(DeployError, match="bad.conf: not UTF-8"):
        read_text(target, PurePosixPath("bad.conf"))


def test_read_text_of_an_absent_file_is_none(target: Path) -> None:
    assert read_text(target, PurePosixPath("absent.conf")) is None
