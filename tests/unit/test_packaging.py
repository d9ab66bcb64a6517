"""The wheel carries every package and data file the installed commands need."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _pyproject() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_every_package_directory_is_listed_for_the_wheel() -> None:
    setuptools = _pyproject()["tool"]["setuptools"]  # type: ignore[index]
    listed = set(setuptools["packages"])
    on_disk = {
        ".".join(path.parent.relative_to(ROOT).parts)
        for path in (ROOT / "telephony").rglob("__init__.py")
    } | {"telephony.dialplans"}
    assert on_disk == listed


def test_every_template_and_base_file_matches_a_package_data_pattern() -> None:
    setuptools = _pyproject()["tool"]["setuptools"]  # type: ignore[index]
    patterns = setuptools["package-data"]["telephony.dialplans"]
    shipped = {
        path for pattern in patterns for path in (ROOT / "dialplans").glob(pattern)
    }
    data = {p for p in (ROOT / "dialplans").rglob("*") if p.is_file() and p.suffix != ".py"}
    assert data - shipped == set()


def test_every_web_page_script_and_style_sheet_ships_in_the_wheel() -> None:
    setuptools = _pyproject()["tool"]["setuptools"]  # type: ignore[index]
    patterns = setuptools["package-data"]["telephony.web"]
    web = ROOT / "telephony" / "web"
    shipped = {path for pattern in patterns for path in web.glob(pattern)}
    data = {p for p in web.iterdir() if p.is_file() and p.suffix != ".py"}
    assert {p.name for p in data} >= {"panel.html", "panel.js", "panel.css", "status.html"}
    assert data - shipped == set()
