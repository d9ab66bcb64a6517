"""The container backend without a container engine: names, mounts, records, auto-selection."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from telephony.asterisk.runner.container import ASTDB_DIR, ContainerBackend, ContainerRecord
from telephony.asterisk.runner.engines import Engine
from telephony.asterisk.runner.paths import Layout
from telephony.pbx import LocalPbx, PbxError


def no_detection(env: Mapping[str, str]) -> Engine:
    raise AssertionError("probed for a container engine")


def backend(state_dir: Path) -> ContainerBackend:
    return ContainerBackend(Layout(state_dir), env={}, detect=no_detection)


def test_two_state_directories_never_share_a_container(tmp_path: Path) -> None:
    assert backend(tmp_path / "a").container != backend(tmp_path / "b").container


def test_astdb_lives_in_the_state_directory(tmp_path: Path) -> None:
    pbx = backend(tmp_path)
    assert pbx.directories()["astdbdir"] == ASTDB_DIR
    mounts = {mount.container: mount for mount in pbx.mounts()}
    assert mounts[ASTDB_DIR].host == tmp_path / "pbx" / "docker" / "astdb"


def test_config_logs_and_spool_are_mounted_from_the_state_directory(tmp_path: Path) -> None:
    mounts = {mount.container: mount.host for mount in backend(tmp_path).mounts()}
    assert mounts["/etc/asterisk"] == backend(tmp_path).config_dir
    assert mounts["/var/log/asterisk"] == backend(tmp_path).log_file().parent
    assert mounts["/var/spool/asterisk"].is_relative_to(tmp_path)


def test_the_hosts_file_is_mounted_read_only(tmp_path: Path) -> None:
    [hosts] = [mount for mount in backend(tmp_path).mounts() if mount.container == "/etc/hosts"]
    assert (hosts.host, hosts.read_only) == (Path("/etc/hosts"), True)


def test_a_record_reads_back_as_written(tmp_path: Path) -> None:
    record = ContainerRecord("/usr/bin/podman", "podman", "telephony-asterisk:abc")
    record.write(tmp_path / "pbx" / "container.json")
    assert ContainerRecord.read(tmp_path / "pbx" / "container.json") == record


@pytest.mark.parametrize(
    "text", ["", "[]", '{"cli": "podman", "kind": "lxc", "image": "x"}', '{"cli": "podman"}']
)
def test_a_damaged_record_reads_as_none(tmp_path: Path, text: str) -> None:
    (tmp_path / "container.json").write_text(text)
    assert ContainerRecord.read(tmp_path / "container.json") is None


def test_without_a_record_no_image_is_ready_and_no_engine_is_asked(tmp_path: Path) -> None:
    assert not backend(tmp_path).image_ready()


def test_the_recorded_cli_is_used_rather_than_a_fresh_detection(tmp_path: Path) -> None:
    ContainerRecord("/opt/podman", "podman", "img").write(Layout(tmp_path).container_record)
    engine = backend(tmp_path).engine()
    assert (engine.cli, engine.kind) == ("/opt/podman", "podman")


def test_an_image_is_not_ready_when_the_recorded_cli_is_gone(tmp_path: Path) -> None:
    ContainerRecord("/nonexistent/podman", "podman", "img").write(Layout(tmp_path).container_record)
    assert not backend(tmp_path).image_ready()


def test_asking_about_a_container_whose_cli_is_gone_names_the_cli(tmp_path: Path) -> None:
    ContainerRecord("/nonexistent/docker", "docker", "img").write(Layout(tmp_path).container_record)
    with pytest.raises(PbxError, match="/nonexistent/docker"):
        backend(tmp_path).running_pid()


def test_status_of_a_recorded_container_start_fails_when_its_cli_is_gone(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    ContainerRecord("/nonexistent/docker", "docker", "img").write(layout.container_record)
    layout.state_file.write_text('{"backend": "docker", "ami_port": 5038, "sip_port": 5060}')
    with pytest.raises(PbxError, match="cannot run /nonexistent/docker"):
        LocalPbx(tmp_path).status()


def test_down_keeps_the_record_when_the_container_cannot_be_reached(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    ContainerRecord("/nonexistent/docker", "docker", "img").write(layout.container_record)
    layout.state_file.write_text('{"backend": "docker", "ami_port": 5038, "sip_port": 5060}')
    with pytest.raises(PbxError):
        LocalPbx(tmp_path).down()
    assert layout.state_file.exists()
