"""Generated files with secrets: owner-only, the old set or the new set, never a mix."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from telephony.asterisk.runner.baseconf import write_config_dir
from telephony.files import write_files

OLD = {"a.conf": "old a\n", "b.conf": "old b\n", "c.conf": "old c\n", "d.conf": "old d\n"}
NEW = {"a.conf": "new a\n", "b.conf": "new b\n", "c.conf": "new c\n", "d.conf": "new d\n"}


def contents(directory: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(directory.iterdir())}


def test_files_are_owner_only(tmp_path: Path) -> None:
    [path] = write_files(tmp_path, {"manager.conf": "secret=x\n"})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_files_are_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o277)
    try:
        [path] = write_files(tmp_path, {"manager.conf": "secret=x\n"})
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_readable_old_file_becomes_owner_only(tmp_path: Path) -> None:
    (tmp_path / "manager.conf").write_text("old\n")
    (tmp_path / "manager.conf").chmod(0o644)
    [path] = write_files(tmp_path, {"manager.conf": "secret=x\n"})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_failed_write_leaves_the_old_files(tmp_path: Path) -> None:
    write_files(tmp_path, {"a.conf": "old a\n", "b.conf": "old b\n"})
    with pytest.raises(UnicodeEncodeError):
        write_files(tmp_path, {"a.conf": "new a\n", "b.conf": "\ud800"})  # b cannot be written
    assert contents(tmp_path) == {"a.conf": "old a\n", "b.conf": "old b\n"}


def test_a_rename_failing_half_way_puts_the_old_set_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_files(tmp_path, OLD)
    real = os.replace
    calls: list[str] = []

    def third_fails(src: str, dst: str, **kwargs: Any) -> None:
        calls.append(dst)
        if len(calls) == 3:
            raise OSError(errno.EIO, "Input/output error")
        real(src, dst, **kwargs)

    monkeypatch.setattr(os, "replace", third_fails)
    with pytest.raises(OSError) as caught:
        write_files(tmp_path, NEW)
    assert caught.value.filename == str(tmp_path / "c.conf")
    assert contents(tmp_path) == OLD  # no temporaries or backups left either


def test_a_full_disk_half_way_leaves_the_old_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_files(tmp_path, OLD)
    real = os.fsync
    synced: list[int] = []

    def full_on_the_second(fd: int) -> None:
        synced.append(fd)
        if len(synced) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(fd)

    monkeypatch.setattr(os, "fsync", full_on_the_second)
    with pytest.raises(OSError) as caught:
        write_files(tmp_path, NEW)
    assert (caught.value.errno, caught.value.filename) == (errno.ENOSPC, str(tmp_path / "b.conf"))
    assert contents(tmp_path) == OLD


def test_a_first_render_failing_half_way_leaves_no_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = os.replace
    calls: list[str] = []

    def third_fails(src: str, dst: str, **kwargs: Any) -> None:
        calls.append(dst)
        if len(calls) == 3:
            raise OSError(errno.EIO, "Input/output error")
        real(src, dst, **kwargs)

    monkeypatch.setattr(os, "replace", third_fails)
    with pytest.raises(OSError):
        write_files(tmp_path, NEW)
    assert contents(tmp_path) == {}


def test_without_hard_links_the_old_set_comes_back_from_a_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_files(tmp_path, OLD)
    (tmp_path / "a.conf").chmod(0o640)

    def no_links(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    real = os.replace
    calls: list[str] = []

    def fourth_fails(src: str, dst: str, **kwargs: Any) -> None:
        calls.append(dst)
        if len(calls) == 4:
            raise OSError(errno.EIO, "Input/output error")
        real(src, dst, **kwargs)

    monkeypatch.setattr(os, "link", no_links)
    monkeypatch.setattr(os, "replace", fourth_fails)
    with pytest.raises(OSError):
        write_files(tmp_path, NEW)
    assert contents(tmp_path) == OLD
    assert stat.S_IMODE((tmp_path / "a.conf").stat().st_mode) == 0o640


def test_a_symlink_at_a_target_is_replaced_not_followed(tmp_path: Path) -> None:
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere.conf"
    out.mkdir()
    elsewhere.write_text("not ours\n")
    (out / "pjsip.conf").symlink_to(elsewhere)
    [path] = write_files(out, {"pjsip.conf": "password=x\n"})
    assert not path.is_symlink() and path.read_text() == "password=x\n"
    assert elsewhere.read_text() == "not ours\n"


def test_temporaries_a_killed_writer_left_are_removed(tmp_path: Path) -> None:
    write_files(tmp_path, {"a.conf": "old a\n"})
    (tmp_path / ".a.conf.4242-0123abcd.tmp").write_text("half a new a")
    (tmp_path / ".a.conf.tmp").write_text("from an older version\n")
    (tmp_path / ".notes.tmp").write_text("not ours\n")
    write_files(tmp_path, {"a.conf": "new a\n"})
    assert sorted(p.name for p in tmp_path.iterdir()) == [".notes.tmp", "a.conf"]


def test_a_killed_writers_backups_are_put_back_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Killed after swapping a.conf but not b.conf: a mix, with the old a kept aside.
    write_files(tmp_path, {"a.conf": "new a\n", "b.conf": "old b\n"})
    (tmp_path / ".a.conf.4242-0123abcd.old").write_text("old a\n")

    def full_disk(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError):
        write_files(tmp_path, {"a.conf": "newer a\n", "b.conf": "newer b\n"})
    assert contents(tmp_path) == {"a.conf": "old a\n", "b.conf": "old b\n"}


def test_an_out_that_is_a_file_is_refused_with_its_path(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.write_text("a file\n")
    with pytest.raises(NotADirectoryError) as caught:
        write_files(out, NEW)
    assert caught.value.filename == str(out)
    assert out.read_text() == "a file\n"


def test_an_unwritable_directory_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = os.open

    def read_only(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if flags & os.O_CREAT:
            raise PermissionError(errno.EACCES, "Permission denied")
        return real(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", read_only)
    with pytest.raises(PermissionError) as caught:
        write_files(tmp_path, NEW)
    assert caught.value.filename == str(tmp_path / "a.conf")
    assert contents(tmp_path) == {}


def test_a_directory_at_a_target_name_fails_before_anything_changes(tmp_path: Path) -> None:
    write_files(tmp_path, {"a.conf": "old a\n"})
    (tmp_path / "b.conf").mkdir()
    with pytest.raises(IsADirectoryError):
        write_files(tmp_path, {"a.conf": "new a\n", "b.conf": "new b\n"})
    assert (tmp_path / "a.conf").read_text() == "old a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.conf", "b.conf"]


def test_pbx_config_dir_keeps_local_additions_and_drops_strays(tmp_path: Path) -> None:
    (tmp_path / "extensions-local.conf").write_text("[mine]\n")
    (tmp_path / "sip.conf").write_text("; a Debian sample\n")
    write_config_dir(tmp_path, {"extensions.conf": "[tel-numbers]\n"})
    kept = sorted(p.name for p in tmp_path.iterdir())
    assert kept == ["extensions-local.conf", "extensions.conf"]
