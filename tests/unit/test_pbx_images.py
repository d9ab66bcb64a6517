"""The container image: its names, its labels, and when it is built again."""

from __future__ import annotations

import json
import sys
import tomllib
from pathlib import Path

import pytest

from telephony.asterisk.runner import rootfs
from telephony.asterisk.runner.engines import Engine
from telephony.asterisk.runner.images import (
    base_labels,
    base_name,
    dockerfile_text,
    ensure_image,
    image_labels,
    image_name,
    stale_reason,
    tag_latest,
)
from telephony.asterisk.runner.paths import Layout
from telephony.asterisk.runner.wheels import Checkout, source_digest

VERSION = "Asterisk 22.10.1+dfsg+~cs6.17.60671434-1"
FAKE_CLI = Path(__file__).with_name("fake_container_cli.py")


# -- names and labels


def test_each_state_directory_has_its_own_image(tmp_path: Path) -> None:
    assert image_name(tmp_path / "a") != image_name(tmp_path / "b")
    assert image_name(tmp_path / "a") == image_name(tmp_path / "x" / ".." / "a")


def test_the_base_is_named_by_the_asterisk_version_alone() -> None:
    assert base_name(VERSION) == base_name(VERSION)
    assert base_name(VERSION) != base_name("Asterisk 23.0.0")


def test_the_image_records_the_asterisk_version_and_the_package_digest() -> None:
    assert image_labels(VERSION, "abc") == {
        "org.telephony.image": "asterisk",
        "org.telephony.asterisk-version": VERSION,
        "org.telephony.package-sha256": "abc",
    }


def test_a_missing_image_must_be_built() -> None:
    assert stale_reason(image_labels(VERSION, "abc"), None) == "no image yet"


def test_an_image_built_from_the_same_inputs_is_current() -> None:
    found = {**image_labels(VERSION, "abc"), "io.buildah.version": "1.28.2"}
    assert stale_reason(image_labels(VERSION, "abc"), found) is None


def test_a_changed_package_makes_the_image_stale_and_says_so() -> None:
    reason = stale_reason(image_labels(VERSION, "new"), image_labels(VERSION, "old"))
    assert reason == "package-sha256 old -> new"


def test_digests_are_shortened_in_the_reason() -> None:
    old, new = "a" * 64, "b" * 64
    reason = stale_reason(image_labels(VERSION, new), image_labels(VERSION, old))
    assert reason == "package-sha256 aaaaaaaaaaaa -> bbbbbbbbbbbb"


def test_a_new_asterisk_version_makes_the_image_stale() -> None:
    reason = stale_reason(image_labels("Asterisk 23", "abc"), image_labels(VERSION, "abc"))
    assert reason == f"asterisk-version {VERSION} -> Asterisk 23"


def test_an_image_without_our_labels_is_stale() -> None:
    assert stale_reason(base_labels(VERSION), {}) == (
        f"asterisk-version (none) -> {VERSION}; image (none) -> base"
    )


def test_the_packaged_dockerfile_builds_from_a_base_and_installs_a_wheel() -> None:
    text = dockerfile_text()
    assert "ARG BASE=telephony-asterisk-base:latest" in text
    assert "COPY telephony-*.whl" in text


# -- building only when needed, against a fake container CLI


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    cli = tmp_path / "fake" / "cli"
    cli.parent.mkdir()
    cli.write_text(f"#!{sys.executable}\n{FAKE_CLI.read_text()}")
    cli.chmod(0o755)
    return Engine(str(cli), "docker")


def calls(engine: Engine) -> list[str]:
    log = Path(engine.cli).with_name("calls.log")
    return log.read_text().splitlines() if log.exists() else []


def have_images(engine: Engine, images: dict[str, dict[str, str]]) -> None:
    state = {name: {"id": f"id-{name}", "labels": labels} for name, labels in images.items()}
    Path(engine.cli).with_name("images.json").write_text(json.dumps(state))


def make_tree(layout: Layout) -> None:
    layout.rootfs.mkdir(parents=True)
    (layout.rootfs / rootfs.MARKER).write_text(VERSION + "\n")
    (layout.rootfs / "etc").mkdir()
    (layout.rootfs / "etc" / "hostname").write_text("tree\n")


@pytest.fixture
def source(tmp_path: Path) -> Checkout:
    root = tmp_path / "src"
    (root / "telephony").mkdir(parents=True)
    (root / "pyproject.toml").write_text('[project]\nname = "telephony"\n')
    (root / "telephony" / "__init__.py").write_text("")
    return Checkout(root)


def test_a_current_image_is_reused_without_building(
    tmp_path: Path, engine: Engine, source: Checkout
) -> None:
    layout = Layout(tmp_path / "state")
    make_tree(layout)
    name = image_name(layout.state_dir)
    have_images(engine, {name: image_labels(VERSION, source_digest(source))})
    assert ensure_image(engine, layout, print, source) == name
    assert all(call.startswith("image inspect") for call in calls(engine))


def test_an_image_is_kept_when_its_tree_was_deleted_and_the_package_is_unchanged(
    tmp_path: Path, engine: Engine, source: Checkout
) -> None:
    layout = Layout(tmp_path / "state")
    name = image_name(layout.state_dir)
    have_images(engine, {name: image_labels("Asterisk 21", source_digest(source))})
    assert ensure_image(engine, layout, print, source) == name
    assert not layout.rootfs.exists()


def test_a_stale_image_is_built_from_the_current_base_with_the_labels_wanted(
    tmp_path: Path, engine: Engine, source: Checkout, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout = Layout(tmp_path / "state")
    make_tree(layout)
    name = image_name(layout.state_dir)
    have_images(
        engine, {name: image_labels(VERSION, "old"), base_name(VERSION): base_labels(VERSION)}
    )
    # The wheel itself is not what this test is about.
    monkeypatch.setattr(
        "telephony.asterisk.runner.wheels.build_wheel",
        lambda _source, out: (out / "telephony-0.1.0-py3-none-any.whl").write_bytes(b""),
    )
    ensure_image(engine, layout, print, source)
    [build] = [call for call in calls(engine) if call.startswith("build")]
    assert f"--build-arg BASE={base_name(VERSION)}" in build
    assert f"--label org.telephony.package-sha256={source_digest(source)}" in build
    assert f"--tag {name}" in build
    assert f"image rm id-{name}" in calls(engine)  # the old image, untagged now


def test_an_old_image_still_tagged_latest_is_kept(
    tmp_path: Path, engine: Engine, source: Checkout, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout = Layout(tmp_path / "state")
    make_tree(layout)
    name = image_name(layout.state_dir)
    have_images(
        engine, {name: image_labels(VERSION, "old"), base_name(VERSION): base_labels(VERSION)}
    )
    state = Path(engine.cli).with_name("images.json")
    images = json.loads(state.read_text())
    images["telephony-asterisk:latest"] = images[name]
    state.write_text(json.dumps(images))
    monkeypatch.setattr(
        "telephony.asterisk.runner.wheels.build_wheel",
        lambda _source, out: (out / "telephony-0.1.0-py3-none-any.whl").write_bytes(b""),
    )
    ensure_image(engine, layout, print, source)
    assert not [call for call in calls(engine) if call.startswith("image rm")]


def test_a_missing_base_is_imported_from_the_tree(
    tmp_path: Path, engine: Engine, source: Checkout, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout = Layout(tmp_path / "state")
    make_tree(layout)
    monkeypatch.setattr(
        "telephony.asterisk.runner.wheels.build_wheel",
        lambda _source, out: (out / "telephony-0.1.0-py3-none-any.whl").write_bytes(b""),
    )
    ensure_image(engine, layout, print, source)
    images = json.loads(Path(engine.cli).with_name("images.json").read_text())
    assert images[base_name(VERSION)]["labels"] == base_labels(VERSION)
    assert [call.split()[0] for call in calls(engine)].count("import") == 1


def test_latest_tags_name_the_image_and_its_base(tmp_path: Path, engine: Engine) -> None:
    have_images(engine, {"telephony-asterisk:abc": {}, base_name(VERSION): {}})
    tagged = tag_latest(engine, "telephony-asterisk:abc", VERSION)
    assert tagged == [
        ("telephony-asterisk:abc", "telephony-asterisk:latest"),
        (base_name(VERSION), "telephony-asterisk-base:latest"),
    ]


def test_the_dockerfile_ships_in_the_wheel() -> None:
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    setuptools = tomllib.loads(pyproject.read_text(encoding="utf-8"))["tool"]["setuptools"]
    assert "Dockerfile" in setuptools["package-data"]["telephony.asterisk"]
