"""Which container CLI the docker backend uses, and the command lines it gives Docker or Podman."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from telephony.asterisk.runner.engines import (
    Engine,
    Limits,
    Mount,
    Probe,
    build_argv,
    detect,
    import_argv,
    kind_of,
    limits_for,
    make_engine,
    pick,
    run_argv,
)
from telephony.pbx import PbxError

PODMAN = Engine("/usr/bin/podman", "podman", runtime="runc", limits=Limits(20000, 32768))
DOCKER = Engine("/usr/bin/docker", "docker", limits=Limits(20000, 32768))


def installed(*names: str) -> Callable[[str], str | None]:
    """shutil.which on a machine with these CLIs in /usr/bin."""
    return lambda name: f"/usr/bin/{name}" if name in names else None


class Answering:
    """`CLI info` where only the given paths answer; remembers whom it asked."""

    def __init__(self, *paths: str) -> None:
        self.paths = paths
        self.asked: list[str] = []

    def __call__(self, cli: str) -> Probe:
        self.asked.append(cli)
        answered = cli in self.paths
        return Probe(cli, answered, "ok" if answered else "Cannot connect to the daemon")


# -- choosing the CLI


def test_docker_is_taken_when_it_answers_and_podman_is_not_asked() -> None:
    info = Answering("/usr/bin/docker", "/usr/bin/podman")
    cli, _ = pick({}, installed("docker", "podman"), info)
    assert cli == "/usr/bin/docker"
    assert info.asked == ["/usr/bin/docker"]


def test_podman_is_taken_when_a_docker_client_has_no_daemon() -> None:
    cli, probes = pick({}, installed("docker", "podman"), Answering("/usr/bin/podman"))
    assert cli == "/usr/bin/podman"
    assert [probe.answered for probe in probes] == [False, True]


def test_a_cli_that_is_not_installed_is_not_run() -> None:
    info = Answering("/usr/bin/podman")
    cli, probes = pick({}, installed("podman"), info)
    assert cli == "/usr/bin/podman"
    assert probes[0] == Probe("docker", False, "not installed")
    assert info.asked == ["/usr/bin/podman"]


def test_the_environment_names_the_only_cli_tried() -> None:
    info = Answering("/usr/bin/docker", "/usr/bin/podman")
    env = {"TELEPHONY_CONTAINER_CLI": "podman"}
    cli, _ = pick(env, installed("docker", "podman"), info)
    assert cli == "/usr/bin/podman"
    assert info.asked == ["/usr/bin/podman"]


def test_no_cli_when_none_answers_with_every_probe_kept() -> None:
    cli, probes = pick({}, installed("docker", "podman"), Answering())
    assert cli is None
    assert [probe.cli for probe in probes] == ["/usr/bin/docker", "/usr/bin/podman"]


def test_detect_names_what_it_tried_when_nothing_answers() -> None:
    env = {"TELEPHONY_CONTAINER_CLI": "/nonexistent/podman"}
    with pytest.raises(
        PbxError, match=r"/nonexistent/podman: not installed.*TELEPHONY_CONTAINER_CLI"
    ):
        detect(env)


def test_podman_is_recognised_also_when_installed_as_docker() -> None:
    assert kind_of("podman version 4.3.1\n") == "podman"
    assert kind_of("Docker version 24.0.7, build afdd53b\n") == "docker"


# -- Podman's runtime and limits


def test_podman_gets_runc_when_installed() -> None:
    assert make_engine("podman", "podman", runc_installed=True).runtime == "runc"
    assert make_engine("podman", "podman", runc_installed=False).runtime is None


def test_docker_gets_no_runtime_but_the_same_limits_as_podman() -> None:
    docker = make_engine("docker", "docker", runc_installed=True)
    podman = make_engine("podman", "podman", runc_installed=True)
    assert docker.runtime is None
    assert docker.limits == podman.limits is not None


def test_limits_never_exceed_what_this_process_may_hand_down() -> None:
    assert limits_for(20000, 96365) == Limits(nofile=20000, nproc=32768)
    assert limits_for(1024, 1024) == Limits(nofile=1024, nproc=1024)


def test_limits_are_capped_when_this_process_is_unlimited() -> None:
    assert limits_for(1 << 62, 1 << 62) == Limits(nofile=1048576, nproc=32768)


# -- command lines


def asterisk_run(engine: Engine) -> list[str]:
    return run_argv(
        engine,
        name="telephony-pbx-abc",
        image="telephony-asterisk:abc",
        mounts=[
            Mount(Path("/s/etc"), "/etc/asterisk"),
            Mount(Path("/etc/hosts"), "/etc/hosts", read_only=True),
        ],
        labels={"org.telephony.state-dir": "/s"},
        command=["asterisk", "-f"],
    )


def test_podman_run_uses_runc_host_network_and_explicit_ulimits() -> None:
    assert asterisk_run(PODMAN) == [
        "/usr/bin/podman", "--runtime", "runc", "run", "--detach",
        "--name", "telephony-pbx-abc", "--network", "host",
        "--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768",
        "--label", "org.telephony.state-dir=/s",
        "--volume", "/s/etc:/etc/asterisk", "--volume", "/etc/hosts:/etc/hosts:ro",
        "telephony-asterisk:abc", "asterisk", "-f",
    ]  # fmt: skip


def test_docker_run_uses_the_host_network_and_the_same_ulimits() -> None:
    assert asterisk_run(DOCKER) == [
        "/usr/bin/docker", "run", "--detach",
        "--name", "telephony-pbx-abc", "--network", "host",
        "--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768",
        "--label", "org.telephony.state-dir=/s",
        "--volume", "/s/etc:/etc/asterisk", "--volume", "/etc/hosts:/etc/hosts:ro",
        "telephony-asterisk:abc", "asterisk", "-f",
    ]  # fmt: skip


def test_every_podman_command_names_the_runtime() -> None:
    assert PODMAN.argv("exec", "c", "asterisk", "-rx", "core show version")[:4] == [
        "/usr/bin/podman", "--runtime", "runc", "exec",
    ]  # fmt: skip
    assert DOCKER.argv("exec", "c")[:2] == ["/usr/bin/docker", "exec"]


def test_podman_build_gets_the_same_network_and_ulimits_as_run() -> None:
    argv = build_argv(
        PODMAN,
        context=Path("/tmp/ctx"),
        dockerfile=Path("/tmp/ctx/Dockerfile"),
        tag="telephony-asterisk:abc",
        build_args={"BASE": "telephony-asterisk-base:123"},
        labels={"org.telephony.image": "asterisk"},
    )
    assert argv == [
        "/usr/bin/podman", "--runtime", "runc", "build", "--network", "host",
        "--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768",
        "--build-arg", "BASE=telephony-asterisk-base:123",
        "--label", "org.telephony.image=asterisk",
        "--tag", "telephony-asterisk:abc", "--file", "/tmp/ctx/Dockerfile", "/tmp/ctx",
    ]  # fmt: skip


def test_docker_build_leaves_the_limits_to_the_engine() -> None:
    argv = build_argv(
        DOCKER,
        context=Path("/tmp/ctx"),
        dockerfile=Path("/tmp/ctx/Dockerfile"),
        tag="t",
        build_args={},
        labels={},
    )
    assert "--ulimit" not in argv


def test_import_labels_are_quoted_because_versions_contain_spaces() -> None:
    version = "Asterisk 22.10.1+dfsg-1"
    argv = import_argv(DOCKER, tag="base:1", labels={"org.telephony.asterisk-version": version})
    assert argv == [
        "/usr/bin/docker", "import",
        "--change", f"LABEL org.telephony.asterisk-version={json.dumps(version)}",
        "-", "base:1",
    ]  # fmt: skip
