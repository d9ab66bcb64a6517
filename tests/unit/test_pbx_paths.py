"""The PBX runner's pure parts: where state lives and which backend runs Asterisk."""

from __future__ import annotations

from pathlib import Path

import pytest

from telephony.asterisk.runner.paths import choose_backend, default_state_dir
from telephony.pbx import PbxError


def yes() -> bool:
    return True


def no() -> bool:
    return False


def test_telephony_home_is_the_state_dir(tmp_path: Path) -> None:
    env = {"TELEPHONY_HOME": str(tmp_path / "t"), "XDG_CACHE_HOME": str(tmp_path / "x")}
    assert default_state_dir(env) == tmp_path / "t"


def test_xdg_cache_home_holds_a_telephony_dir(tmp_path: Path) -> None:
    assert default_state_dir({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "telephony"


def test_state_dir_defaults_to_the_home_cache(tmp_path: Path) -> None:
    assert default_state_dir({}, home=tmp_path) == tmp_path / ".cache" / "telephony"


def test_empty_variables_count_as_unset(tmp_path: Path) -> None:
    env = {"TELEPHONY_HOME": "", "XDG_CACHE_HOME": ""}
    assert default_state_dir(env, home=tmp_path) == tmp_path / ".cache" / "telephony"


def test_an_installed_asterisk_is_preferred() -> None:
    assert choose_backend(None, {}, has_asterisk=yes, container_ready=yes) == "path"


def test_a_container_is_used_when_its_image_was_built_here_and_no_asterisk_is_installed() -> None:
    assert choose_backend(None, {}, has_asterisk=no, container_ready=yes) == "docker"


def test_the_rootfs_is_used_when_no_container_image_was_built_here() -> None:
    assert choose_backend(None, {}, has_asterisk=no, container_ready=no) == "rootfs"


def test_the_environment_forces_a_backend() -> None:
    env = {"TELEPHONY_PBX_BACKEND": "rootfs"}
    assert choose_backend(None, env, has_asterisk=yes, container_ready=yes) == "rootfs"


def test_an_explicit_backend_beats_the_environment() -> None:
    env = {"TELEPHONY_PBX_BACKEND": "rootfs"}
    assert choose_backend("docker", env, has_asterisk=yes, container_ready=no) == "docker"


def test_forcing_a_backend_probes_nothing() -> None:
    def fail() -> bool:
        raise AssertionError("probed")

    assert choose_backend("path", {}, has_asterisk=fail, container_ready=fail) == "path"


def test_an_unknown_backend_name_is_refused() -> None:
    with pytest.raises(PbxError, match="unknown PBX backend 'podman'"):
        choose_backend(
            None, {"TELEPHONY_PBX_BACKEND": "podman"}, has_asterisk=yes, container_ready=yes
        )
