"""Deploying onto an administrator's Asterisk, without a PBX: reading their files, the
plan (include lines, idempotence, clashes), the scratch copy, and the console checks."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest

from telephony.asterisk.deploy import (
    Named,
    Names,
    Scratch,
    check,
    contexts_in,
    endpoints_in,
    errors_in,
    manager_users_in,
    modules_to_reload,
    ours,
    plan,
    queues_in,
    reload_modules,
    theirs,
)
from telephony.asterisk.deploy_conf import parse_text, parse_tree, strip_comments
from telephony.asterisk.render import render
from telephony.config import Site, load_or_report
from telephony.deploy.files import DeployError, FileChange, Plan, apply

DEMO = Path(__file__).resolve().parents[2] / "telephony" / "examples" / "demo-site.yaml"


@pytest.fixture(scope="module")
def site() -> Site:
    loaded = load_or_report(DEMO)
    assert loaded is not None
    return loaded


ADMIN_PJSIP = """[global]
type=global

[transport-udp]
type=transport
protocol=udp
bind=0.0.0.0:5060

[tpl](!)
type=endpoint
context=from-admin

[admin-phone](tpl)
aors=admin-phone

[admin-phone]
type=aor
"""


@pytest.fixture
def target(tmp_path: Path) -> Path:
    directory = tmp_path / "asterisk"
    directory.mkdir()
    (directory / "pjsip.conf").write_text(ADMIN_PJSIP)
    (directory / "extensions.conf").write_text("[general]\nstatic=yes\n\n[from-admin]\n"
                                               "exten => 7000,1,Dial(PJSIP/admin-phone)\n")
    (directory / "queues.conf").write_text("[general]\n\n[admin-queue]\nstrategy=ringall\n")
    (directory / "manager.conf").write_text("[general]\nenabled=yes\nport=5038\n\n"
                                            "[admin]\nsecret=admin-secret-1\n")
    return directory


# -- reading their files


def test_comments_and_block_comments_are_stripped_keeping_line_numbers() -> None:
    lines = ["a=1 ; note", ";-- block", "still --; b=2", r"c=x\;y"]
    assert strip_comments(lines) == ["a=1 ", "", " b=2", "c=x;y"]


def test_sections_templates_and_bases_are_read_with_their_line() -> None:
    sections = parse_text("[tpl](!)\ntype=endpoint\n\n[a](tpl,other)\nx => 1\n[a](+)\n", "f")
    assert [(s.name, s.where.line, s.template, s.addition, s.bases) for s in sections] == [
        ("tpl", 1, True, False, ()),
        ("a", 4, False, False, ("tpl", "other")),
        ("a", 6, False, True, ()),
    ]
    assert sections[1].options == (("x", "1"),)


def test_includes_are_followed_relative_to_the_directory_with_globs(tmp_path: Path) -> None:
    (tmp_path / "main.conf").write_text('#include "sub/*.conf"\n#tryinclude missing.conf\n[c]\n')
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "one.conf").write_text("; one\n[one]\n")
    (tmp_path / "sub" / "two.conf").write_text("[two]\n")
    tree = parse_tree(tmp_path, "main.conf", skip=lambda _p: False)
    assert [(s.name, str(s.where)) for s in tree.sections] == [
        ("one", "sub/one.conf:2"), ("two", "sub/two.conf:1"), ("c", "main.conf:3")]
    assert PurePosixPath("missing.conf") in tree.includes


def test_a_section_type_comes_from_its_template() -> None:
    sections = parse_text("[tpl](!)\ntype=endpoint\n[a](tpl)\ncontext=x\n", "f")
    from telephony.asterisk.deploy_conf import Tree

    tree = Tree(tuple(sections), (), ("f",))
    assert tree.resolved(sections[1], "type") == "endpoint"


def test_an_include_loop_is_refused_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "a.conf").write_text("#include a.conf\n")
    with pytest.raises(DeployError, match="a.conf: #include nested"):
        parse_tree(tmp_path, "a.conf", skip=lambda _p: False)


# -- the plan


def test_plan_writes_our_files_under_telephony_and_adds_one_include_per_main_file(
    site: Site, target: Path,
) -> None:
    planned = plan(site, target)
    paths = [str(c.path) for c in planned.changed]
    assert paths[:6] == [f"telephony/{n}" for n in (
        "pjsip.conf", "extensions.conf", "queues.conf", "queuerules.conf", "manager.conf",
        "voicemail.conf")]
    by_path = {str(c.path): c for c in planned.changes}
    assert by_path["pjsip.conf"].after == ADMIN_PJSIP + "#include telephony/pjsip.conf\n"
    assert by_path["queuerules.conf"].before is None
    assert by_path["queuerules.conf"].after == "#include telephony/queuerules.conf\n"


def test_our_included_files_leave_out_the_administrators_sections(site: Site,
                                                                  target: Path) -> None:
    by_path = {str(c.path): c.after for c in plan(site, target).changes}
    for name, text in by_path.items():
        if name.startswith("telephony/"):
            names = {s.name for s in parse_text(text, name)}
            assert not names & {"general", "globals", "global", "system", "tel-udp"}, name
            assert "-local.conf" not in text


def test_normal_render_still_has_the_whole_files(site: Site) -> None:
    files = render(site)
    assert "[general]" in files["manager.conf"] and "[tel-udp]" in files["pjsip.conf"]
    assert '#tryinclude "extensions-local.conf"' in files["extensions.conf"]


def test_a_second_plan_after_applying_the_first_changes_nothing(site: Site,
                                                                target: Path) -> None:
    apply(target, plan(site, target))
    assert plan(site, target).changed == ()


def test_an_include_already_written_by_the_administrator_is_not_added_again(
    site: Site, target: Path,
) -> None:
    (target / "my-includes.conf").write_text('#include "./telephony/pjsip.conf"\n')
    (target / "pjsip.conf").write_text(ADMIN_PJSIP + "#include my-includes.conf\n")
    by_path = {str(c.path): c for c in plan(site, target).changes}
    assert not by_path["pjsip.conf"].changed


def test_a_main_file_without_a_final_newline_gets_one_before_the_include(
    site: Site, target: Path,
) -> None:
    (target / "queues.conf").write_text("[general]")
    by_path = {str(c.path): c for c in plan(site, target).changes}
    assert by_path["queues.conf"].after == "[general]\n#include telephony/queues.conf\n"


def test_a_clash_names_our_section_and_theirs_with_file_and_line(site: Site,
                                                                 target: Path) -> None:
    (target / "queues.conf").write_text("[general]\n\n[Intake]\nstrategy=ringall\n")
    with pytest.raises(DeployError) as refused:
        plan(site, target)
    assert refused.value.what == "name clash"
    assert "[intake] at telephony/queues.conf:" in refused.value.message
    assert "queues.conf:3 (the administrator's section [Intake])" in refused.value.message


def test_a_template_of_theirs_in_an_included_file_clashes_too(site: Site, target: Path) -> None:
    (target / "pjsip.conf").write_text(ADMIN_PJSIP + "#include extra/*.conf\n")
    (target / "extra").mkdir()
    (target / "extra" / "t.conf").write_text("[asa-soft](!)\ntype=endpoint\n")
    with pytest.raises(DeployError, match=r"extra/t.conf:1 \(the administrator's template"):
        plan(site, target)


def test_every_clash_is_listed(site: Site, target: Path) -> None:
    (target / "extensions.conf").write_text("[tel-numbers]\n[tel-hints]\n")
    (target / "manager.conf").write_text("[general]\n[telephony]\nsecret=x\n")
    with pytest.raises(DeployError) as refused:
        plan(site, target)
    message = refused.value.message
    assert "[tel-numbers]" in message and "[tel-hints]" in message
    assert "manager.conf:2" in message
    assert message.startswith("3 name(s)")


def test_their_settings_sections_are_no_clash(site: Site, target: Path) -> None:
    (target / "voicemail.conf").write_text("[general]\n[zonemessages]\n[default]\n")
    plan(site, target)


def test_a_clash_with_a_name_in_the_config_wizard_is_refused(site: Site, target: Path) -> None:
    (target / "pjsip_wizard.conf").write_text("[bjorn-soft]\ntype=wizard\n")
    with pytest.raises(DeployError, match=r"pjsip_wizard.conf:1"):
        plan(site, target)


def test_a_target_without_a_transport_is_refused(site: Site, target: Path) -> None:
    (target / "pjsip.conf").write_text("[admin-phone]\ntype=endpoint\n")
    with pytest.raises(DeployError, match="^pjsip.conf: no PJSIP transport"):
        plan(site, target)


def test_an_ami_on_another_port_than_the_sites_is_refused(site: Site, target: Path) -> None:
    (target / "manager.conf").write_text("[general]\nenabled=yes\nport=6038\n")
    with pytest.raises(DeployError) as refused:
        plan(site, target)
    assert refused.value.what == "pbx.control_port"
    assert "manager.conf:1" in refused.value.message


def test_a_target_that_is_not_a_directory_is_refused(site: Site, tmp_path: Path) -> None:
    with pytest.raises(DeployError, match="not a directory"):
        plan(site, tmp_path / "absent")


# -- names on each side, and what a plan reloads


def test_ours_and_theirs_list_endpoints_contexts_queues_and_manager_users(
    site: Site, target: Path,
) -> None:
    planned = plan(site, target)
    mine = ours(planned)
    assert {n.name for n in mine.of("endpoint")} == {
        "asa-soft", "asa-desk", "bjorn-soft", "chen-soft", "chen-desk", "pstn"}
    assert {n.name for n in mine.of("queue")} == {"intake", "pension"}
    assert "tel-numbers" in {n.name for n in mine.of("context")}
    assert {n.name for n in mine.of("manager user")} == {"telephony"}
    admins = theirs(target)
    assert [(n.kind, n.name, n.where) for n in admins.items] == [
        ("endpoint", "admin-phone", "pjsip.conf:13"),
        ("context", "from-admin", "extensions.conf:4"),
        ("queue", "admin-queue", "queues.conf:3"),
        ("manager user", "admin", "manager.conf:5"),
    ]


def test_a_plan_removing_our_files_has_none_of_ours() -> None:
    back = Plan((FileChange(PurePosixPath("telephony/pjsip.conf"), "[a]\ntype=endpoint\n", ""),))
    assert ours(back).items == ()


def test_only_the_modules_of_changed_files_are_reloaded_manager_last() -> None:
    changes = Plan((
        FileChange(PurePosixPath("telephony/manager.conf"), None, "x"),
        FileChange(PurePosixPath("telephony/queuerules.conf"), None, "x"),
        FileChange(PurePosixPath("telephony/queues.conf"), None, "x"),
        FileChange(PurePosixPath("pjsip.conf"), "same", "same"),
    ))
    assert modules_to_reload(changes) == ["app_queue.so", "manager"]


# -- the console's answers

ENDPOINTS = """
 Endpoint:  <Endpoint/CID.....................................>  <State.....>  <Channels.>
==========================================================================================

 Endpoint:  admin-phone                                          Unavailable   0 of inf
     InAuth:  admin-phone/admin-phone
 Endpoint:  dana-soft/1004                                       Unavailable   0 of inf
"""


def test_endpoints_are_read_from_pjsip_show_endpoints() -> None:
    assert endpoints_in(ENDPOINTS) == {"admin-phone", "dana-soft"}


def test_contexts_queues_and_manager_users_are_read_from_their_listings() -> None:
    assert contexts_in("[ Context 'tel-numbers' created by 'pbx_config' ]\n  '1' => x\n") == {
        "tel-numbers"}
    assert queues_in("intake has 0 calls (max unlimited) in 'rrmemory' strategy\n"
                     "   No Members\n") == {"intake"}
    assert manager_users_in("\nusername\n--------\nadmin\ntelephony\n-------------------\n"
                            "2 manager users configured.\n") == {"admin", "telephony"}


class _Console:
    def __init__(self, answers: dict[str, str]) -> None:
        self.answers = answers
        self.sent: list[str] = []

    async def command(self, command: str) -> str:
        self.sent.append(command)
        return self.answers.get(command, "")


async def test_a_reload_that_does_not_say_reloaded_successfully_is_an_error() -> None:
    console = _Console({"module reload res_pjsip.so": "Module 'res_pjsip.so' reloaded "
                        "successfully.", "module reload app_voicemail.so": "No such module"})
    with pytest.raises(DeployError) as failed:
        await reload_modules(console, ["res_pjsip.so", "app_voicemail.so"], "live")
    assert failed.value.what == "live reload"
    assert "app_voicemail.so` answered: No such module" in failed.value.message


async def test_the_check_lists_every_missing_name_with_its_side_and_place() -> None:
    console = _Console({"pjsip show endpoints": ENDPOINTS, "dialplan show": "",
                        "queue show": ""})
    mine = Names((Named("endpoint", "asa-soft", "telephony/pjsip.conf:9"),))
    admins = Names((Named("endpoint", "admin-phone", "pjsip.conf:13"),
                    Named("context", "from-admin", "extensions.conf:4")))
    with pytest.raises(DeployError) as failed:
        await check(console, mine, admins, "live")
    assert failed.value.message == (
        "missing after the reload: endpoint asa-soft (ours, telephony/pjsip.conf:9); "
        "context from-admin (theirs, extensions.conf:4)")


def test_errors_are_read_without_time_and_thread() -> None:
    log = ("[2026-12-01 06:49:52.856] ERROR[24594] config_options.c: Could not find option\n"
           "[2026-12-01 06:49:52.856] NOTICE[24594] sorcery.c: fine\n"
           "[2026-12-01 06:49:53.000] ERROR[1][C-00000001] app.c: in a call\n")
    assert errors_in(log) == ["config_options.c: Could not find option", "app.c: in a call"]


# -- the scratch copy


def test_the_scratch_copy_moves_transports_and_ami_to_spare_loopback_ports(
    target: Path, tmp_path: Path,
) -> None:
    (target / "modules.conf").write_text("[modules]\nautoload=yes\n")
    copy = Scratch(tmp_path / "copy")
    copy.fill(target)
    pjsip = (copy.etc / "pjsip.conf").read_text()
    bind = [line for line in pjsip.splitlines() if line.startswith("bind=127.0.0.1:")]
    assert len(bind) == 1
    # after theirs, last in the transport's section: the last value wins
    assert pjsip.index("bind=0.0.0.0:5060") < pjsip.index(bind[0]) < pjsip.index("[tpl](!)")
    manager = (copy.etc / "manager.conf").read_text()
    assert ";port=5038" in manager and "bindaddr=127.0.0.1" in manager
    assert "noload => res_pjsip_outbound_registration.so" in (copy.etc / "modules.conf"
                                                               ).read_text()
    assert (copy.etc / "http.conf").read_text() == "[general]\nenabled=no\n"
    assert (target / "pjsip.conf").read_text() == ADMIN_PJSIP  # the target untouched


def test_the_scratch_copy_keeps_its_ports_when_rewritten_after_the_plan(
    site: Site, target: Path, tmp_path: Path,
) -> None:
    copy = Scratch(tmp_path / "copy")
    copy.fill(target)
    first = (copy.etc / "pjsip.conf").read_text()
    first_manager = (copy.etc / "manager.conf").read_text()
    copy.write(plan(site, target))
    again = (copy.etc / "pjsip.conf").read_text()
    assert again == first + "#include telephony/pjsip.conf\n"
    assert (copy.etc / "manager.conf").read_text() == first_manager + (
        "#include telephony/manager.conf\n")
    assert (copy.etc / "telephony" / "pjsip.conf").is_file()


def test_an_identifier_order_without_header_is_refused_for_a_trunk_matched_by_header(
    site: Site, target: Path,
) -> None:
    trunk = site.trunks[0].model_copy(update={"match_header": "X-Trunk: pstn"})
    with_header = site.model_copy(update={"trunks": [trunk]})
    with pytest.raises(DeployError) as refused:
        plan(with_header, target)
    assert refused.value.what == "pjsip.conf"
    assert "'ip,username,anonymous' (Asterisk's default): add header" in refused.value.message


def test_an_identifier_order_without_username_is_refused_naming_where_it_is_set(
    site: Site, target: Path,
) -> None:
    (target / "pjsip.conf").write_text(
        ADMIN_PJSIP.replace("type=global\n", "type=global\nendpoint_identifier_order=ip\n"))
    with pytest.raises(DeployError, match=r"'ip' \(pjsip.conf:1\): add username"):
        plan(site, target)


def test_an_ami_that_is_not_enabled_is_refused(site: Site, target: Path) -> None:
    (target / "manager.conf").write_text("[general]\nenabled=no\n")
    with pytest.raises(DeployError, match=r"^manager.conf: the administrator's AMI is not "
                       r"enabled \(manager.conf:1\)"):
        plan(site, target)
