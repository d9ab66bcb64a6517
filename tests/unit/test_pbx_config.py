"""The base Asterisk files and how the runner writes a config directory."""

from __future__ import annotations

import stat
from pathlib import Path

from telephony.asterisk.runner.backends import PathBackend, RootfsBackend
from telephony.asterisk.runner.baseconf import DEBIAN_DIRECTORIES, base_files, write_config_dir
from telephony.asterisk.runner.paths import Layout


def directories_of(asterisk_conf: str) -> dict[str, str]:
    section = asterisk_conf.split("[directories]", 1)[1].split("[options]", 1)[0]
    pairs = [line.split("=>") for line in section.splitlines() if "=>" in line]
    return {key.strip(): value.strip() for key, value in pairs}


def test_the_path_backend_keeps_every_writable_directory_in_the_state_dir(tmp_path: Path) -> None:
    backend = PathBackend(Layout(tmp_path), binary="/usr/sbin/asterisk")
    written = directories_of(base_files(backend.directories())["asterisk.conf"])
    assert written["astetcdir"] == str(backend.config_dir)
    for key in ("astrundir", "astlogdir", "astspooldir", "astdbdir", "astcachedir"):
        assert Path(written[key]).is_relative_to(tmp_path), key


def test_the_path_backend_leaves_module_and_data_dirs_to_the_installation(
    tmp_path: Path,
) -> None:
    written = PathBackend(Layout(tmp_path), binary="/usr/sbin/asterisk").directories()
    assert "astmoddir" not in written
    assert "astdatadir" not in written


def test_the_rootfs_uses_debians_paths_without_naming_the_architecture(tmp_path: Path) -> None:
    backend = RootfsBackend(Layout(tmp_path))
    assert backend.directories() == dict(DEBIAN_DIRECTORIES)
    assert "astmoddir" not in backend.directories()
    assert backend.config_dir == tmp_path / "asterisk-rootfs" / "etc" / "asterisk"


def test_modules_that_open_other_ports_are_not_loaded() -> None:
    modules = base_files(DEBIAN_DIRECTORIES)["modules.conf"]
    for name in ("chan_iax2.so", "chan_unistim.so", "pbx_dundi.so", "res_ari.so", "pbx_ael.so"):
        assert f"noload => {name}" in modules


def test_modules_the_control_plane_needs_are_never_excluded() -> None:
    modules = base_files(DEBIAN_DIRECTORIES)["modules.conf"]
    assert "autoload = yes" in modules
    for name in ("chan_pjsip", "app_queue", "func_db", "app_voicemail", "res_pjsip_pubsub"):
        assert f"noload => {name}.so" not in modules


def test_base_files_never_include_the_site_files() -> None:
    names = set(base_files(DEBIAN_DIRECTORIES))
    assert not names & {"pjsip.conf", "extensions.conf", "queues.conf", "manager.conf"}
    assert {"asterisk.conf", "modules.conf", "logger.conf", "rtp.conf"} <= names


def test_writing_a_config_dir_removes_stray_samples(tmp_path: Path) -> None:
    (tmp_path / "sip.conf").write_text("[general]\n")
    (tmp_path / "manager.d").mkdir()
    (tmp_path / "manager.d" / "sample.conf").write_text("")
    write_config_dir(tmp_path, {"modules.conf": "[modules]\n"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["modules.conf"]


def test_written_config_files_are_readable_by_the_owner_only(tmp_path: Path) -> None:
    write_config_dir(tmp_path, {"manager.conf": "secret=x\n"})
    assert stat.S_IMODE((tmp_path / "manager.conf").stat().st_mode) == 0o600


def test_rewriting_a_config_dir_replaces_the_contents(tmp_path: Path) -> None:
    write_config_dir(tmp_path, {"queues.conf": "old\n"})
    write_config_dir(tmp_path, {"queues.conf": "new\n"})
    assert (tmp_path / "queues.conf").read_text() == "new\n"
