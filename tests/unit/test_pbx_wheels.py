"""A wheel of the running package for the container image: what goes in, its digest, repacking."""

from __future__ import annotations

import base64
import csv
import hashlib
import importlib.metadata
import io
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from telephony.asterisk.runner.wheels import (
    Checkout,
    Installed,
    _wheel_tag,
    checkout_inputs,
    digest,
    installed_files,
    package_source,
    repack,
    source_digest,
)
from telephony.pbx import PbxError

PYPROJECT = """\
[project]
name = "telephony"
version = "0.1.0"
readme = "README.md"

[tool.setuptools]
package-dir = { "telephony" = "telephony", "telephony.dialplans" = "dialplans" }
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def make_checkout(root: Path) -> Path:
    write(root / "pyproject.toml", PYPROJECT)
    write(root / "README.md", "# telephony\n")
    write(root / "telephony" / "__init__.py", "")
    write(root / "telephony" / "asterisk" / "Dockerfile", "FROM x\n")
    write(root / "dialplans" / "asterisk" / "pjsip.conf.j2", "[global]\n")
    return root


def make_installed(site: Path, *, name: str = "fake-pkg", version: str = "1.0") -> Path:
    """A site-packages with one installed distribution, as pip leaves it."""
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    write(site / "fakepkg" / "__init__.py", "VALUE = 42\n")
    write(site / "fakepkg" / "data" / "Dockerfile", "FROM x\n")
    write(site / "fakepkg" / "__pycache__" / "__init__.cpython-311.pyc", "bytecode")
    write(info / "METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    write(info / "WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
    write(info / "entry_points.txt", "[console_scripts]\nfake = fakepkg:main\n")
    write(info / "INSTALLER", "pip\n")
    write(info / "REQUESTED", "")
    write(info / "direct_url.json", '{"url": "file:///somewhere"}\n')
    listed = [
        "fakepkg/__init__.py", "fakepkg/data/Dockerfile",
        "fakepkg/__pycache__/__init__.cpython-311.pyc", "../../../bin/fake",
        *(f"{info.name}/{n}" for n in ("METADATA", "WHEEL", "entry_points.txt", "INSTALLER",
                                        "REQUESTED", "direct_url.json", "RECORD")),
    ]  # fmt: skip
    write(info / "RECORD", "".join(f"{entry},,\n" for entry in listed))
    return info


def dist_at(info: Path) -> importlib.metadata.Distribution:
    return importlib.metadata.PathDistribution(info)


# -- where the package comes from


def test_a_package_inside_a_telephony_checkout_is_built_from_the_checkout(tmp_path: Path) -> None:
    root = make_checkout(tmp_path / "src")
    assert package_source(root / "telephony" / "__init__.py") == Checkout(root.resolve())


def test_a_package_neither_in_a_checkout_nor_installed_is_refused(tmp_path: Path) -> None:
    module = write(tmp_path / "loose" / "telephony" / "__init__.py", "")
    with pytest.raises(PbxError, match="cannot tell where the running telephony package"):
        package_source(module)


# -- what the wheel is made from


def test_checkout_inputs_are_the_project_files_and_every_mapped_package_dir(tmp_path: Path) -> None:
    root = make_checkout(tmp_path)
    write(root / "tests" / "test_x.py", "")
    assert checkout_inputs(root) == [
        "README.md",
        "dialplans/asterisk/pjsip.conf.j2",
        "pyproject.toml",
        "telephony/__init__.py",
        "telephony/asterisk/Dockerfile",
    ]


def test_checkout_inputs_leave_out_byte_code_caches_and_build_leftovers(tmp_path: Path) -> None:
    root = make_checkout(tmp_path)
    write(root / "telephony" / "__pycache__" / "x.cpython-311.pyc", "")
    write(root / "telephony" / "stale.pyc", "")
    write(root / "telephony" / ".mypy_cache" / "x.json", "")
    write(root / "telephony.egg-info" / "PKG-INFO", "")
    assert "telephony/stale.pyc" not in checkout_inputs(root)
    assert all("cache" not in name for name in checkout_inputs(root))


def test_installed_files_leave_out_scripts_byte_code_and_the_installers_records(
    tmp_path: Path,
) -> None:
    info = make_installed(tmp_path)
    names = [name for name, _ in installed_files(dist_at(info))]
    assert names == [
        "fake_pkg-1.0.dist-info/METADATA",
        "fake_pkg-1.0.dist-info/WHEEL",
        "fake_pkg-1.0.dist-info/entry_points.txt",
        "fakepkg/__init__.py",
        "fakepkg/data/Dockerfile",
    ]


# -- the digest the image is labelled with


def test_the_digest_changes_with_a_files_content(tmp_path: Path) -> None:
    root = make_checkout(tmp_path)
    before = source_digest(Checkout(root))
    write(root / "telephony" / "__init__.py", "CHANGED = True\n")
    assert source_digest(Checkout(root)) != before


def test_the_digest_ignores_timestamps_and_order(tmp_path: Path) -> None:
    root = make_checkout(tmp_path)
    before = source_digest(Checkout(root))
    (root / "README.md").touch()
    assert source_digest(Checkout(root)) == before
    assert digest([("a", b"1"), ("b", b"2")]) == digest([("b", b"2"), ("a", b"1")])


def test_the_digest_tells_a_renamed_file_apart() -> None:
    assert digest([("a", b"1")]) != digest([("b", b"1")])


# -- repacking an installed distribution


def test_a_repacked_wheel_is_named_by_name_version_and_tag(tmp_path: Path) -> None:
    wheel = repack(dist_at(make_installed(tmp_path / "site")), tmp_path)
    assert wheel.name == "fake_pkg-1.0-py3-none-any.whl"


def test_a_repacked_wheels_record_lists_every_file_with_its_hash(tmp_path: Path) -> None:
    wheel = repack(dist_at(make_installed(tmp_path / "site")), tmp_path)
    with zipfile.ZipFile(wheel) as archive:
        record = archive.read("fake_pkg-1.0.dist-info/RECORD").decode()
        rows = list(csv.reader(io.StringIO(record)))
        assert sorted(row[0] for row in rows) == sorted(archive.namelist())
        for name, hashed, size in rows:
            if name.endswith("RECORD"):
                assert (hashed, size) == ("", "")
                continue
            content = archive.read(name)
            expected = base64.urlsafe_b64encode(hashlib.sha256(content).digest()).rstrip(b"=")
            assert (hashed, size) == (f"sha256={expected.decode()}", str(len(content)))


def test_repacking_twice_gives_the_same_bytes(tmp_path: Path) -> None:
    dist = dist_at(make_installed(tmp_path / "site"))
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, second = repack(dist, tmp_path / "a"), repack(dist, tmp_path / "b")
    assert first.read_bytes() == second.read_bytes()


def test_pip_installs_a_repacked_wheel(tmp_path: Path) -> None:
    wheel = repack(dist_at(make_installed(tmp_path / "site")), tmp_path)
    target = tmp_path / "target"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
         "--disable-pip-version-check", "--target", str(target), str(wheel)],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (target / "fakepkg" / "data" / "Dockerfile").read_text() == "FROM x\n"
    assert (target / "fake_pkg-1.0.dist-info" / "entry_points.txt").exists()


def test_an_installed_distribution_is_digested_by_its_files(tmp_path: Path) -> None:
    info = make_installed(tmp_path)
    before = source_digest(Installed(dist_at(info)))
    write(tmp_path / "fakepkg" / "__init__.py", "VALUE = 43\n")
    assert source_digest(Installed(dist_at(info))) != before


def test_several_wheel_tags_are_compressed_into_one_name() -> None:
    wheel = "Wheel-Version: 1.0\nTag: py2-none-any\nTag: py3-none-any\n"
    assert _wheel_tag(wheel) == "py2.py3-none-any"


def test_a_wheel_file_without_tags_is_refused() -> None:
    with pytest.raises(PbxError, match="names no tag"):
        _wheel_tag("Wheel-Version: 1.0\n")
