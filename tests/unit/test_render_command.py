"""`telephony render --out`: exit 2 with one clear line, and the old set or the new set."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from telephony.cli import main


@pytest.fixture
def site_file(tmp_path: Path, demo_data: dict[str, Any]) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(demo_data, allow_unicode=True), encoding="utf-8")
    return path


def test_out_that_is_a_file_exits_2_naming_it(
    site_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    out.write_text("mine\n")
    assert main(["render", str(site_file), "--out", str(out)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"{out}: cannot write: is a file, not a directory; nothing was changed"
    ]
    assert out.read_text() == "mine\n"


def test_out_below_a_file_exits_2(
    site_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "file").write_text("mine\n")
    assert main(["render", str(site_file), "--out", str(tmp_path / "file" / "out")]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.endswith(": cannot write: Not a directory; nothing was changed")


def test_a_failure_half_way_exits_2_and_keeps_the_old_set(
    site_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], demo_data: dict[str, Any],
) -> None:
    out = tmp_path / "out"
    assert main(["render", str(site_file), "--out", str(out)]) == 0
    old = {p.name: p.read_bytes() for p in out.iterdir()}
    demo_data["agents"][0]["name"] = "Åsa Renamed"
    site_file.write_text(yaml.safe_dump(demo_data, allow_unicode=True), encoding="utf-8")
    real, calls = os.replace, []

    def third_fails(src: str, dst: str, **kwargs: Any) -> None:
        calls.append(dst)
        if len(calls) == 3:
            raise OSError(errno.EIO, "Input/output error")
        real(src, dst, **kwargs)

    monkeypatch.setattr(os, "replace", third_fails)
    capsys.readouterr()
    assert main(["render", str(site_file), "--out", str(out)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"{out / 'pjsip.conf'}: cannot write: Input/output error; nothing was changed"
    ]
    assert {p.name: p.read_bytes() for p in out.iterdir()} == old
