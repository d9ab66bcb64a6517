"""Generated files with secrets: owner-only, all or none, local additions kept."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from telephony.files import write_files
from telephony.pbx.baseconf import write_config_dir


def test_files_are_owner_only(tmp_path: Path) -> None:
    [path] = write_files(tmp_path, {"manager.conf": "secret=x\n"})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_failed_write_leaves_the_old_files(tmp_path: Path) -> None:
    write_files(tmp_path, {"a.conf": "old a\n", "b.conf": "old b\n"})
    with pytest.raises(UnicodeEncodeError):
        write_files(tmp_path, {"a.conf": "new a\n", "b.conf": "\ud800"})  # b cannot be written
    assert (tmp_path / "a.conf").read_text() == "old a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.conf", "b.conf"]


def test_pbx_config_dir_keeps_local_additions_and_drops_strays(tmp_path: Path) -> None:
    (tmp_path / "extensions-local.conf").write_text("[mine]\n")
    (tmp_path / "sip.conf").write_text("; a Debian sample\n")
    write_config_dir(tmp_path, {"extensions.conf": "[tel-numbers]\n"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["extensions-local.conf", "extensions.conf"]
