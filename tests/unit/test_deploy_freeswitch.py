"""`telephony deploy` onto an administrator's FreeSWITCH: the plan (our files, the include
lines, idempotence), clashes refused before anything is written, their Event Socket,
the live reload's commands, and the scratch copy's ports. No PBX here."""

from __future__ import annotations

import asyncio
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from telephony.config import Site, parse_site
from telephony.deploy import files
from telephony.deploy.files import DeployError, FileChange, Plan
from telephony.freeswitch.deploy import (
    ACL_LIST,
    AGENTS,
    CALLCENTER_CONF,
    DIALPLAN,
    DIRECTORY,
    PROFILE,
    QUEUES,
    FreeSwitchDeploy,
    ScratchSwitch,
    _relocate,
    apply_live,
)
from telephony.freeswitch.deploy_conf import read_tree
from telephony.testing.freeswitch_admin import (
    ADMIN_CONTEXT,
    ADMIN_PROFILE,
    AdminPorts,
    write_admin_conf,
)

SITE_FILE = Path(__file__).parents[1] / "pbx" / "site.yaml"
SECRET = "their-esl-secret"
CONTROL = 18021
THEIR_SIP = 15080


def site_data() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(SITE_FILE.read_text(encoding="utf-8"))
    data["pbx"].update(kind="freeswitch", control_port=CONTROL, control_secret=SECRET,
                       sip_port=15060)
    return data


def make_site(data: dict[str, Any] | None = None) -> Site:
    return parse_site(yaml.safe_dump(data or site_data(), allow_unicode=True), {})


@pytest.fixture
def site() -> Site:
    return make_site()


@pytest.fixture
def conf(tmp_path: Path) -> Path:
    target = tmp_path / "conf"
    write_admin_conf(target, AdminPorts(THEIR_SIP, CONTROL, SECRET))
    return target


def snapshot(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def include_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if "telephony/" in line]


def test_our_files_go_into_our_folder(site: Site, conf: Path) -> None:
    plan = FreeSwitchDeploy().plan(site, conf)
    ours = {c.path for c in plan.changes if c.path.parts[0] == "telephony"}
    assert ours == {DIALPLAN, DIRECTORY, PROFILE, ACL_LIST, QUEUES, AGENTS}
    assert all(c.before is None for c in plan.changes if c.path in ours)


def test_one_include_line_at_each_spot(site: Site, conf: Path) -> None:
    plan = FreeSwitchDeploy().plan(site, conf)
    theirs = {str(c.path): c for c in plan.changes if c.path.parts[0] != "telephony"}
    assert include_lines(theirs["freeswitch.xml"].after) == [
        '<X-PRE-PROCESS cmd="include" data="telephony/dialplan.xml"/>',
        '<X-PRE-PROCESS cmd="include" data="telephony/directory.xml"/>',
    ]
    assert include_lines(theirs["autoload_configs/sofia.conf.xml"].after) == [
        '<X-PRE-PROCESS cmd="include" data="../telephony/sip-profile.xml"/>']
    assert include_lines(theirs["autoload_configs/acl.conf.xml"].after) == [
        '<X-PRE-PROCESS cmd="include" data="../telephony/acl-list.xml"/>']
    assert include_lines(theirs["autoload_configs/callcenter.conf.xml"].after) == [
        '<X-PRE-PROCESS cmd="include" data="../telephony/callcenter-queues.xml"/>',
        '<X-PRE-PROCESS cmd="include" data="../telephony/callcenter-agents.xml"/>',
    ]


def test_nothing_else_of_theirs_changes(site: Site, conf: Path) -> None:
    plan = FreeSwitchDeploy().plan(site, conf)
    for change in plan.changes:
        if change.path.parts[0] != "telephony":
            assert change.before is not None
            removed = [line for line in change.before.splitlines()
                       if line not in change.after.splitlines()]
            assert removed == []
            added = len(change.after.splitlines()) - len(change.before.splitlines())
            assert added == len(include_lines(change.after))


def test_the_included_tree_holds_ours_inside_theirs(site: Site, conf: Path) -> None:
    files.apply(conf, FreeSwitchDeploy().plan(site, conf))
    tree = read_tree(conf)
    sofia = tree.configuration("sofia.conf")
    assert sofia is not None
    profiles = sofia.find("profiles")
    assert profiles is not None
    assert [p.attrs["name"] for p in profiles.iter("profile")] == [ADMIN_PROFILE, "telephony"]
    dialplan = tree.section("dialplan")
    assert dialplan is not None
    contexts = [c.attrs["name"] for c in dialplan.iter("context")]
    assert contexts[0] == ADMIN_CONTEXT and "tel-from-internal" in contexts
    center = tree.configuration("callcenter.conf")
    assert center is not None
    queues = center.find("queues")
    assert queues is not None
    assert {q.attrs["name"] for q in queues.iter("queue")} >= {"support@admin", "intake"}


def test_a_second_deploy_changes_nothing(site: Site, conf: Path) -> None:
    deploy = FreeSwitchDeploy()
    files.apply(conf, deploy.plan(site, conf))
    again = deploy.plan(site, conf)
    assert again.changed == ()
    assert again.diff() == ""


def test_a_changed_site_changes_only_our_files(site: Site, conf: Path) -> None:
    deploy = FreeSwitchDeploy()
    files.apply(conf, deploy.plan(site, conf))
    data = site_data()
    data["hunt_groups"][0]["max_wait"] = 25
    plan = deploy.plan(make_site(data), conf)
    assert [c.path for c in plan.changed] == [QUEUES]


def test_dry_run_diff_shows_every_change_and_writes_nothing(site: Site, conf: Path) -> None:
    before = snapshot(conf)
    diff = FreeSwitchDeploy().plan(site, conf).diff()
    assert "+++ b/telephony/dialplan.xml" in diff
    assert '+    <X-PRE-PROCESS cmd="include" data="telephony/dialplan.xml"/>' in diff
    assert snapshot(conf) == before


def test_the_dry_run_command_prints_the_diff_with_passwords_masked(
        conf: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from telephony.cli import main

    site_file = tmp_path / "site.yaml"
    site_file.write_text(yaml.safe_dump(site_data(), allow_unicode=True))
    before = snapshot(conf)
    assert main(["deploy", str(site_file), "--target", str(conf), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert '+    <X-PRE-PROCESS cmd="include" data="../telephony/sip-profile.xml"/>' in out
    assert '<param name="password" value="********"/>' in out
    assert "test-asa-soft" not in out
    assert snapshot(conf) == before


def test_a_clashing_context_is_refused_naming_both(site: Site, conf: Path) -> None:
    dialplan = conf / "dialplan" / "default.xml"
    dialplan.write_text(dialplan.read_text().replace(
        "</include>", '  <context name="tel-from-internal"/>\n</include>'))
    before = snapshot(conf)
    with pytest.raises(DeployError) as caught:
        FreeSwitchDeploy().plan(site, conf)
    message = str(caught.value)
    assert "tel-from-internal" in message
    assert "telephony/dialplan.xml" in message
    assert f"{dialplan}:" in message
    assert snapshot(conf) == before


def test_a_clashing_queue_and_agent_are_refused(site: Site, conf: Path) -> None:
    center = conf / "autoload_configs" / "callcenter.conf.xml"
    center.write_text(center.read_text().replace(
        '<queue name="support@admin">', '<queue name="intake">').replace(
        'agent name="1000@admin"', 'agent name="asa"'))
    with pytest.raises(DeployError) as caught:
        FreeSwitchDeploy().plan(site, conf)
    assert "queue 'intake'" in str(caught.value)
    assert "agent 'asa'" in str(caught.value)
    assert str(center) in str(caught.value)


def test_their_profile_on_our_port_is_refused(conf: Path) -> None:
    data = site_data()
    data["pbx"]["sip_port"] = THEIR_SIP  # their profile's port, through a $${variable}
    with pytest.raises(DeployError) as caught:
        FreeSwitchDeploy().plan(make_site(data), conf)
    assert f"{ADMIN_PROFILE!r} on 127.0.0.1:{THEIR_SIP}" in str(caught.value)


def test_a_profile_of_our_name_is_refused(site: Site, conf: Path) -> None:
    (conf / "sip_profiles" / "internal.xml").write_text(
        (conf / "sip_profiles" / "internal.xml").read_text().replace(
            f'name="{ADMIN_PROFILE}"', 'name="telephony"'))
    with pytest.raises(DeployError, match="profile 'telephony' of ours"):
        FreeSwitchDeploy().plan(site, conf)


def test_another_event_socket_port_is_refused(conf: Path) -> None:
    data = site_data()
    data["pbx"]["control_port"] = CONTROL + 1
    with pytest.raises(DeployError, match=f"listens on port {CONTROL}"):
        FreeSwitchDeploy().plan(make_site(data), conf)


def test_another_event_socket_password_is_refused_unshown(conf: Path) -> None:
    data = site_data()
    data["pbx"]["control_secret"] = "our-own-secret"
    with pytest.raises(DeployError) as caught:
        FreeSwitchDeploy().plan(make_site(data), conf)
    assert "control_secret" in str(caught.value)
    assert SECRET not in str(caught.value) and "our-own-secret" not in str(caught.value)


def test_a_missing_module_is_refused(site: Site, conf: Path) -> None:
    modules = conf / "autoload_configs" / "modules.conf.xml"
    modules.write_text(modules.read_text().replace('<load module="mod_callcenter"/>', ""))
    with pytest.raises(DeployError, match="does not load mod_callcenter"):
        FreeSwitchDeploy().plan(site, conf)


def test_without_their_callcenter_conf_ours_is_whole(site: Site, conf: Path) -> None:
    (conf / "autoload_configs" / "callcenter.conf.xml").unlink()
    plan = FreeSwitchDeploy().plan(site, conf)
    paths = {c.path for c in plan.changes}
    assert CALLCENTER_CONF in paths and QUEUES not in paths
    main = next(c for c in plan.changes if str(c.path) == "freeswitch.xml")
    assert '<X-PRE-PROCESS cmd="include" data="telephony/callcenter.conf.xml"/>' in (
        include_lines(main.after))


def test_a_commented_out_include_is_no_clash(site: Site, conf: Path) -> None:
    # FreeSWITCH's preprocessor runs X-PRE-PROCESS lines even inside XML comments, and
    # what it includes there stays inside the comment.
    extra = conf / "more" / "ctx.xml"
    extra.parent.mkdir()
    extra.write_text('<include>\n  <context name="tel-end"/>\n</include>\n')
    main = conf / "freeswitch.xml"
    main.write_text(main.read_text().replace(
        '<X-PRE-PROCESS cmd="include" data="dialplan/*.xml"/>',
        '<X-PRE-PROCESS cmd="include" data="dialplan/*.xml"/>\n    <!--\n'
        '    <X-PRE-PROCESS cmd="include" data="more/*.xml"/>\n    -->'))
    assert FreeSwitchDeploy().plan(site, conf).changed


def test_a_missing_agents_element_is_refused_naming_the_file(site: Site, conf: Path
                                                              ) -> None:
    center = conf / "autoload_configs" / "callcenter.conf.xml"
    text = center.read_text()
    center.write_text(text[:text.index("  <agents>")] + text[text.index("  <tiers>"):])
    with pytest.raises(DeployError, match=r"no callcenter.conf's <agents> \(.*callcenter"):
        FreeSwitchDeploy().plan(site, conf)


def test_a_closing_tag_sharing_its_line_is_refused(site: Site, conf: Path) -> None:
    acl = conf / "autoload_configs" / "acl.conf.xml"
    acl.write_text(acl.read_text().replace("</list>\n  </network-lists>",
                                           "</list></network-lists>"))
    with pytest.raises(DeployError, match="line of its own"):
        FreeSwitchDeploy().plan(site, conf)


class FakeSwitch:
    """Records API commands and answers +OK."""

    def __init__(self) -> None:
        self.commands: list[str] = []

    async def __call__(self, command: str) -> str:
        self.commands.append(command)
        return "+OK"


def test_a_first_deploy_starts_the_profile_and_loads_queues_and_agents(
        site: Site, conf: Path) -> None:
    switch = FakeSwitch()
    asyncio.run(apply_live(FreeSwitchDeploy().plan(site, conf), switch))
    assert switch.commands[:3] == ["reloadxml", "reloadacl", "sofia profile telephony start"]
    assert "callcenter_config queue load intake" in switch.commands
    assert "callcenter_config agent add asa callback" in switch.commands
    assert "callcenter_config agent set status asa 'Available'" in switch.commands
    assert not any("reload " in c or " del " in c for c in switch.commands)


def test_a_changed_queue_reloads_that_queue_alone(site: Site, conf: Path) -> None:
    deploy = FreeSwitchDeploy()
    files.apply(conf, deploy.plan(site, conf))
    data = site_data()
    data["hunt_groups"][0]["max_wait"] = 25
    switch = FakeSwitch()
    asyncio.run(apply_live(deploy.plan(make_site(data), conf), switch))
    assert switch.commands == ["reloadxml", "callcenter_config queue reload intake"]


def test_a_changed_agent_is_set_not_added(site: Site, conf: Path) -> None:
    deploy = FreeSwitchDeploy()
    files.apply(conf, deploy.plan(site, conf))
    data = site_data()
    data["hunt_groups"][0]["wrapup_seconds"] = 7  # asa's wrap-up (intake's roster)
    switch = FakeSwitch()
    asyncio.run(apply_live(deploy.plan(make_site(data), conf), switch))
    assert "callcenter_config agent set wrap_up_time asa 7" in switch.commands
    assert not any(" add " in c or "status" in c for c in switch.commands)


def test_going_back_stops_unloads_and_deletes(site: Site, conf: Path) -> None:
    plan = FreeSwitchDeploy().plan(site, conf)
    back = Plan(tuple(FileChange(c.path, c.after, c.before or "") for c in plan.changes))
    switch = FakeSwitch()
    asyncio.run(apply_live(back, switch))
    assert "sofia profile telephony stop" in switch.commands
    assert "callcenter_config queue unload intake" in switch.commands
    assert "callcenter_config agent del asa" in switch.commands


def test_our_files_included_again_are_loaded_again(site: Site, conf: Path) -> None:
    deploy = FreeSwitchDeploy()
    first = deploy.plan(site, conf)
    files.apply(conf, first)
    for change in first.changes:  # the administrator took our include lines out
        if change.path.parts[0] != "telephony":
            assert change.before is not None
            (conf / change.path).write_text(change.before)
    again = deploy.plan(site, conf)
    assert all(not c.changed for c in again.changes if c.path.parts[0] == "telephony")
    switch = FakeSwitch()
    asyncio.run(apply_live(again, switch))
    assert "sofia profile telephony start" in switch.commands
    assert "callcenter_config queue load intake" in switch.commands


def test_going_back_to_the_address_the_profile_runs_on_rescans(site: Site, conf: Path
                                                                ) -> None:
    deploy = FreeSwitchDeploy()
    files.apply(conf, deploy.plan(site, conf))
    data = site_data()
    data["pbx"]["sip_port"] = 15070
    moved = deploy.plan(make_site(data), conf)
    back = Plan(tuple(FileChange(c.path, c.after, c.before or "") for c in moved.changes))

    async def running_on_15060(command: str) -> str:
        if command == "sofia status profile telephony":
            return "BIND-URL         \tsip:mod_sofia@127.0.0.1:15060;transport=udp,tcp\n"
        return "+OK"

    asyncio.run(apply_live(back, running_on_15060))  # no DeployError: a rescan


def test_mod_callcenter_not_running_is_loaded_with_our_whole_config(site: Site, conf: Path
                                                                    ) -> None:
    (conf / "autoload_configs" / "callcenter.conf.xml").unlink()
    commands: list[str] = []

    async def without_callcenter(command: str) -> str:
        commands.append(command)
        return "false" if command == "module_exists mod_callcenter" else "+OK"

    asyncio.run(apply_live(FreeSwitchDeploy().plan(site, conf), without_callcenter))
    assert "load mod_callcenter" in commands
    assert not any(c.startswith("callcenter_config") for c in commands)


def test_a_refused_reload_is_a_deploy_error(site: Site, conf: Path) -> None:
    async def broken(command: str) -> str:
        return "-ERR [Error parsing XML]" if command == "reloadxml" else "+OK"

    with pytest.raises(DeployError, match="reloadxml"):
        asyncio.run(apply_live(FreeSwitchDeploy().plan(site, conf), broken))


def test_the_scratch_copy_listens_elsewhere_on_loopback(site: Site, conf: Path) -> None:
    files.apply(conf, FreeSwitchDeploy().plan(site, conf))
    _relocate(conf, read_tree(conf), 40000)
    tree = read_tree(conf)
    socket_conf = tree.configuration("event_socket.conf")
    assert socket_conf is not None
    assert socket_conf.params()["listen-port"] == "40000"
    sofia = tree.configuration("sofia.conf")
    assert sofia is not None
    profiles = sofia.find("profiles")
    assert profiles is not None
    ports = {p.params()["sip-port"] for p in profiles.iter("profile")}
    assert len(ports) == 2 and not ports & {str(THEIR_SIP), "15060"}
    assert all(p.params()["sip-ip"] == "127.0.0.1" for p in profiles.iter("profile"))


def test_their_websocket_and_tls_listeners_move_in_the_scratch_copy(conf: Path) -> None:
    profile = conf / "sip_profiles" / "internal.xml"
    profile.write_text(profile.read_text().replace(
        "  <settings>\n", '  <settings>\n    <param name="ws-binding" value=":5066"/>\n'
        '    <param name="tls-sip-port" value="5061"/>\n'))
    _relocate(conf, read_tree(conf), 40000)
    text = profile.read_text()
    assert ':5066"' not in text and '"5061"' not in text
    assert '<param name="ws-binding" value="127.0.0.1:' in text


def test_their_gateways_do_not_register_from_the_scratch_copy(site: Site, conf: Path
                                                              ) -> None:
    profile = conf / "sip_profiles" / "internal.xml"
    profile.write_text(profile.read_text().replace(
        "  <settings>", '  <gateways>\n    <gateway name="carrier">\n'
        '      <param name="register" value="true"/>\n    </gateway>\n'
        '    <gateway name="other">\n    </gateway>\n  </gateways>\n  <settings>'))
    _relocate(conf, read_tree(conf), 40000)
    tree = read_tree(conf)
    sofia = tree.configuration("sofia.conf")
    profiles = sofia.find("profiles") if sofia is not None else None
    assert profiles is not None
    gateways = [g for p in profiles.iter("profile")
                for gs in p.iter("gateways") for g in gs.iter("gateway")]
    assert len(gateways) == 2
    assert all(next(g.iter("param")).attrs == {"name": "register", "value": "false"}
               for g in gateways)


def test_modules_that_open_ports_are_left_out_of_the_scratch_copy(conf: Path) -> None:
    modules = conf / "autoload_configs" / "modules.conf.xml"
    modules.write_text(modules.read_text().replace(
        "<modules>", '<modules>\n    <load module="mod_verto"/>'))
    _relocate(conf, read_tree(conf), 40000)
    text = modules.read_text()
    assert '<load module="mod_verto"/>' not in text
    assert '<load module="mod_sofia"/>' in text


def test_a_moved_profile_is_refused_live(site: Site, conf: Path) -> None:
    deploy = FreeSwitchDeploy()
    files.apply(conf, deploy.plan(site, conf))
    data = site_data()
    data["pbx"]["sip_port"] = 15070
    switch = FakeSwitch()
    with pytest.raises(DeployError, match="restart"):
        asyncio.run(apply_live(deploy.plan(make_site(data), conf), switch))
    assert not any("restart" in c for c in switch.commands)


def test_the_reading_follows_preprocessor_comments_and_variables(conf: Path) -> None:
    (conf / "extra.xml").write_text('<include>\n  <context name="$${name}"/>\n</include>\n')
    main = conf / "freeswitch.xml"
    main.write_text(main.read_text().replace(
        '<X-PRE-PROCESS cmd="include" data="dialplan/*.xml"/>',
        '<X-PRE-PROCESS cmd="include" data="dialplan/*.xml"/>\n'
        '    <!--#set name=from-a-comment-->\n    <!--#include "extra.xml"-->'))
    dialplan = read_tree(conf).section("dialplan")
    assert dialplan is not None
    assert [c.attrs["name"] for c in dialplan.iter("context")][-1] == "from-a-comment"


def test_only_errors_of_the_log_count(tmp_path: Path) -> None:
    switch = ScratchSwitch(tmp_path / "conf", tmp_path / "state", 1, "x")
    switch.log_file.parent.mkdir(parents=True)
    switch.log_file.write_text(
        "2026-12-01 07:28:55 [INFO] switch_xml.c:1398 No files to include at x.xml\n"
        "2026-12-01 07:28:56 [ERR] sofia.c:3389 Error Creating SIP UA for profile: x\n"
        "2026-12-01 07:28:56 [ERR] mod_console.c:1 Error Opening Console\n")
    assert switch.log_errors() == [
        "2026-12-01 07:28:56 [ERR] sofia.c:3389 Error Creating SIP UA for profile: x"]


def test_our_paths_are_inside_the_target(site: Site, conf: Path) -> None:
    for change in FreeSwitchDeploy().plan(site, conf).changes:
        files.check_relative(PurePosixPath(change.path))
