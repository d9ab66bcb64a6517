"""The FreeSWITCH runner without a FreeSWITCH: its config directory, the unpacked build,
its Event Socket console against a scripted peer, and what it reports when nothing runs."""

from __future__ import annotations

import io
import socket
import tarfile
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from telephony.config.models import PbxKind
from telephony.freeswitch.runner import console
from telephony.freeswitch.runner.conf import LIVE_FILES, base_files, write_conf
from telephony.freeswitch.runner.install import ENV_TARBALL, find, unpack
from telephony.freeswitch.runner.layout import Layout
from telephony.freeswitch.runner.local import FreeSwitchRunner
from telephony.pbx import LocalPbx, PbxError
from telephony.pbx.runner import runner_for


def quiet(_: str) -> None:
    pass


# -- the config directory


def test_base_files_parse_as_xml_and_include_the_rendered_ones() -> None:
    files = base_files()
    for text in files.values():
        ET.fromstring(text)  # raises ParseError naming the line
    root = files["freeswitch.xml"]
    for included in ("*.conf.xml", "dialplan.xml", "directory.xml", "languages.xml"):
        assert f'data="{included}"' in root


def test_the_config_directory_holds_base_and_rendered_files_and_local_additions(
    tmp_path: Path,
) -> None:
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "stray.xml").write_text("<x/>")
    (conf / "local").mkdir()
    (conf / "local" / "mine.conf.xml").write_text("<configuration/>")

    changed = write_conf(conf, {"dialplan.xml": "<include/>"})

    assert "stray.xml" in changed and not (conf / "stray.xml").exists()
    assert (conf / "local" / "mine.conf.xml").read_text() == "<configuration/>"
    assert (conf / "local" / "dialplan").is_dir() and (conf / "local" / "directory").is_dir()
    assert (conf / "dialplan.xml").read_text() == "<include/>"
    assert set(base_files()) <= {p.name for p in conf.iterdir()}


def test_writing_the_same_config_again_changes_nothing(tmp_path: Path) -> None:
    write_conf(tmp_path, {"dialplan.xml": "<include/>"})
    assert write_conf(tmp_path, {"dialplan.xml": "<include/>"}) == set()
    assert write_conf(tmp_path, {"dialplan.xml": "<include></include>"}) == {"dialplan.xml"}


def test_only_directory_and_dialplan_take_effect_without_a_restart() -> None:
    assert LIVE_FILES == {"dialplan.xml", "directory.xml"}


# -- which FreeSWITCH runs


def fake_tarball(path: Path, top: str = "freeswitch-x", binary: bool = True) -> Path:
    with tarfile.open(path, "w:xz") as archive:
        members = {f"{top}/README.txt": b"fake\n"}
        if binary:
            members[f"{top}/bin/freeswitch"] = b"#!/bin/sh\n"
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            archive.addfile(info, io.BytesIO(data))
    return path


def test_without_freeswitch_or_tarball_the_error_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("shutil.which", lambda _: None)
    with pytest.raises(PbxError, match=ENV_TARBALL):
        find(Layout(tmp_path), None, {}, quiet)


def test_an_installed_freeswitch_wins_over_the_tarball(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("shutil.which", lambda _: "/usr/bin/freeswitch")
    install = find(Layout(tmp_path), None, {ENV_TARBALL: str(tmp_path / "none")}, quiet)
    assert (install.backend, str(install.binary), install.module_dir) == (
        "path", "/usr/bin/freeswitch", None)


def test_the_tarball_is_unpacked_once_and_runs_with_its_own_modules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("shutil.which", lambda _: None)
    tarball = fake_tarball(tmp_path / "fs.tar.xz")
    env = {ENV_TARBALL: str(tarball)}
    messages: list[str] = []

    first = find(Layout(tmp_path / "home"), None, env, messages.append)
    second = find(Layout(tmp_path / "home"), None, env, messages.append)

    assert first == second and first.backend == "bundle"
    assert first.binary.read_bytes() == b"#!/bin/sh\n"
    assert first.module_dir == first.binary.parent.parent / "mod"
    assert len(messages) == 1 and "unpacking" in messages[0]


def test_once_unpacked_the_build_runs_without_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("shutil.which", lambda _: None)
    layout = Layout(tmp_path / "home")
    first = find(layout, None, {ENV_TARBALL: str(fake_tarball(tmp_path / "fs.tar.xz"))}, quiet)
    assert find(layout, None, {}, quiet) == first


def test_a_tarball_with_other_content_gets_a_directory_of_its_own(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "home")
    one = unpack(fake_tarball(tmp_path / "a.tar.xz", "a"), layout, quiet)
    other = unpack(fake_tarball(tmp_path / "b.tar.xz", "b"), layout, quiet)
    assert one.parent != other.parent


def test_a_tarball_without_freeswitch_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "home")
    with pytest.raises(PbxError, match="no bin/freeswitch"):
        unpack(fake_tarball(tmp_path / "x.tar.xz", binary=False), layout, quiet)
    assert list(layout.dist_dir.iterdir()) == []


# -- the Event Socket console, against a scripted peer


@pytest.fixture
def esl_peer() -> Iterator[tuple[int, list[bytes]]]:
    """A one-connection Event Socket peer on loopback: greets, takes `auth ClueCon`, and
    answers `api status` with a body sent in two pieces. Yields its port and what it got."""
    server = socket.create_server(("127.0.0.1", 0))
    received: list[bytes] = []

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            conn.sendall(b"Content-Type: auth/request\n\n")
            received.append(conn.recv(4096))
            if received[-1] != b"auth ClueCon\n\n":
                conn.sendall(b"Content-Type: command/reply\nReply-Text: -ERR invalid\n\n")
                return
            conn.sendall(b"Content-Type: command/reply\nReply-Text: +OK accepted\n\n")
            request = conn.recv(4096)
            if not request:
                return
            received.append(request)
            conn.sendall(b"Content-Type: api/response\nContent-Length: 11\n\nUP 0 y")
            conn.sendall(b"ears\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1], received
    finally:
        thread.join(timeout=5)
        server.close()


def test_the_console_logs_in_and_returns_an_api_body_read_in_pieces(
    esl_peer: tuple[int, list[bytes]],
) -> None:
    port, received = esl_peer
    assert console.api("127.0.0.1", port, "ClueCon", "status") == "UP 0 years\n"
    assert received == [b"auth ClueCon\n\n", b"api status\n\n"]


def test_a_refused_password_is_told_apart_from_no_answer(
    esl_peer: tuple[int, list[bytes]],
) -> None:
    port, _ = esl_peer
    assert console.login("127.0.0.1", port, "wrong") is console.LoginResult.REJECTED
    closed = socket.create_server(("127.0.0.1", 0))
    free = closed.getsockname()[1]
    closed.close()
    assert console.login("127.0.0.1", free, "ClueCon") is console.LoginResult.UNREACHABLE


def test_a_command_is_one_line(esl_peer: tuple[int, list[bytes]]) -> None:
    port, _ = esl_peer
    with console.Console("127.0.0.1", port, "ClueCon") as conn, pytest.raises(ValueError):
        conn.api("status\n\napi fsctl shutdown")


# -- the runner with nothing running


def test_the_front_picks_the_freeswitch_runner_for_a_freeswitch_site(tmp_path: Path) -> None:
    runner = runner_for(PbxKind.FREESWITCH, tmp_path, None)
    assert isinstance(runner, FreeSwitchRunner) and runner.kind is PbxKind.FREESWITCH


def test_an_unknown_backend_for_freeswitch_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PbxError, match="unknown FreeSWITCH backend 'docker'"):
        FreeSwitchRunner(tmp_path, "docker")


def test_nothing_started_means_no_status_and_no_console(tmp_path: Path) -> None:
    runner = FreeSwitchRunner(tmp_path)
    assert runner.status() is None and not runner.recorded()
    with pytest.raises(PbxError, match="not running"):
        runner.cli("status")
    runner.down()  # harmless
    assert LocalPbx(tmp_path).status() is None


def test_every_freeswitch_directory_is_under_the_state_directory(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    flags = layout.directories()
    assert {"base", "conf", "db", "log", "run", "storage", "temp"} <= set(flags)
    assert all(tmp_path in path.parents for path in flags.values())
