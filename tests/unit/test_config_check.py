"""`telephony check`: every problem as `path.to.field: message`, exit 2, nothing rendered."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from telephony.cli import main
from telephony.config import ConfigError, parse_site

ENV = {"TELEPHONY_AMI_SECRET": "a-long-ami-secret"}


def problems(data: dict[str, Any], env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_site(yaml.safe_dump(data, allow_unicode=True), ENV if env is None else env)
    return [str(p) for p in caught.value.problems]


def test_demo_site_is_valid(demo_data: dict[str, Any]) -> None:
    site = parse_site(yaml.safe_dump(demo_data, allow_unicode=True), ENV)
    assert site.agents[0].name == "Åsa Öberg"


def test_bad_extension_names_its_path(demo_data: dict[str, Any]) -> None:
    demo_data["agents"][2]["extension"] = "10 03"
    assert problems(demo_data) == [
        "agents[2].extension: '10 03' is not a number: use up to 20 digits, with an optional leading '+'"
    ]


def test_unknown_agent_in_roster(demo_data: dict[str, Any]) -> None:
    demo_data["hunt_groups"][0]["roster"]["zed"] = {"mon": ["08:00-09:00"]}
    assert problems(demo_data) == ["hunt_groups[0].roster.zed: unknown agent 'zed'"]


def test_duplicate_extension(demo_data: dict[str, Any]) -> None:
    demo_data["agents"][1]["extension"] = "1001"
    assert problems(demo_data) == [
        "agents[1].extension: number 1001 is already used by agents[0].extension"
    ]


def test_number_shared_by_hunt_group_and_direct_line(demo_data: dict[str, Any]) -> None:
    demo_data["hunt_groups"][0]["number"] = "+46855501002"
    assert problems(demo_data) == [
        "hunt_groups[0].number: number +46855501002 is already used by agents[1].direct_line"
    ]


def test_id_used_twice_across_kinds(demo_data: dict[str, Any]) -> None:
    demo_data["queues"][0]["id"] = "intake"
    assert problems(demo_data) == ["queues[0].id: id 'intake' is already used by hunt_groups[0]"]


def test_device_id_clashing_with_agent_id(demo_data: dict[str, Any]) -> None:
    demo_data["agents"][1]["devices"][0]["id"] = "asa"
    assert problems(demo_data) == ["agents[1].devices[0].id: id 'asa' is already used by agents[0]"]


def test_overlapping_roster_ranges(demo_data: dict[str, Any]) -> None:
    demo_data["hunt_groups"][0]["roster"]["bjorn"]["tue"] = ["08:00-10:00", "09:30-11:00"]
    assert problems(demo_data) == [
        "hunt_groups[0].roster.bjorn.tue[1]: 09:30-11:00 overlaps 08:00-10:00"
    ]


def test_range_ending_before_it_starts(demo_data: dict[str, Any]) -> None:
    demo_data["hunt_groups"][0]["roster"]["asa"]["mon"] = ["10:00-08:00"]
    [problem] = problems(demo_data)
    assert problem.startswith("hunt_groups[0].roster.asa.mon[0]: '10:00-08:00' ends before")


def test_unknown_weekday(demo_data: dict[str, Any]) -> None:
    demo_data["hunt_groups"][0]["roster"]["asa"]["monday"] = ["08:00-09:00"]
    [problem] = problems(demo_data)
    assert problem.startswith("hunt_groups[0].roster.asa.monday: Input should be 'mon'")


def test_unknown_time_zone(demo_data: dict[str, Any]) -> None:
    demo_data["hunt_groups"][0]["timezone"] = "Europe/Stockhol"
    assert problems(demo_data) == [
        "hunt_groups[0].timezone: 'Europe/Stockhol' is not a known time zone (e.g. Europe/Stockholm)"
    ]


def test_unknown_ring_strategy(demo_data: dict[str, Any]) -> None:
    demo_data["hunt_groups"][0]["strategy"] = "roundrobin"
    [problem] = problems(demo_data)
    assert problem.startswith("hunt_groups[0].strategy: Input should be 'ringall'")


def test_unicode_display_name_is_accepted(demo_data: dict[str, Any]) -> None:
    demo_data["agents"][0]["name"] = "Åsa Öberg-Nüñez 张"
    site = parse_site(yaml.safe_dump(demo_data, allow_unicode=True), ENV)
    assert site.agents[0].name == "Åsa Öberg-Nüñez 张"


@pytest.mark.parametrize("bad", ["Åsa\nexten => 666", "Åsa; x", "Åsa [x]", 'Åsa "x"', "Öberg, Åsa", "Åsa)", "Åsa $x"])
def test_name_that_could_break_out_is_rejected(demo_data: dict[str, Any], bad: str) -> None:
    demo_data["agents"][0]["name"] = bad
    [problem] = problems(demo_data)
    assert problem.startswith("agents[0].name: must not contain")


@pytest.mark.parametrize("bad", ["short", "pass word1", "pass;word1", "pass\nword1", 'pass"word1'])
def test_unsafe_or_weak_password_is_rejected(demo_data: dict[str, Any], bad: str) -> None:
    demo_data["agents"][1]["devices"][0]["password"] = bad
    [problem] = problems(demo_data)
    assert problem.startswith("agents[1].devices[0].password: must")


def test_secret_from_missing_environment_variable(demo_data: dict[str, Any]) -> None:
    demo_data["agents"][1]["devices"][0]["password"] = "${BJORN_PW}"
    assert problems(demo_data) == [
        "agents[1].devices[0].password: environment variable BJORN_PW is not set"
    ]


def test_secret_from_environment_variable(demo_data: dict[str, Any]) -> None:
    demo_data["agents"][1]["devices"][0]["password"] = "${BJORN_PW}"
    site = parse_site(yaml.safe_dump(demo_data), {**ENV, "BJORN_PW": "from-the-env-1"})
    assert site.agents[1].devices[0].password.get_secret_value() == "from-the-env-1"


def test_misspelt_field_is_named(demo_data: dict[str, Any]) -> None:
    demo_data["agents"][0]["extention"] = "1001"
    assert problems(demo_data) == ["agents[0].extention: unknown field (check its spelling)"]


def test_fallback_to_unknown_colleague(demo_data: dict[str, Any]) -> None:
    demo_data["agents"][0]["fallback"] = [{"colleague": "zed"}, "voicemail"]
    assert problems(demo_data) == ["agents[0].fallback[0].colleague: unknown agent 'zed'"]


def test_voicemail_must_be_the_last_fallback_step(demo_data: dict[str, Any]) -> None:
    demo_data["agents"][0]["fallback"] = ["voicemail", {"colleague": "bjorn"}]
    assert problems(demo_data) == [
        "agents[0].fallback[0]: voicemail ends the call, so it must be the last step"
    ]


def test_every_problem_is_reported_at_once(demo_data: dict[str, Any]) -> None:
    broken = copy.deepcopy(demo_data)
    broken["agents"][0]["extension"] = "x"
    broken["agents"][1]["id"] = "Björn"
    assert len(problems(broken)) == 2


def test_not_yaml_names_the_line() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_site("site: [unclosed\n", ENV)
    assert "line" in str(caught.value)


def test_check_command_exits_2_and_prints_one_line_per_problem(
    demo_data: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    demo_data["agents"][2]["extension"] = "x"
    demo_data["hunt_groups"][0]["roster"]["zed"] = {"mon": ["08:00-09:00"]}
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(demo_data, allow_unicode=True), encoding="utf-8")
    assert main(["check", str(path)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "agents[2].extension: 'x' is not a number: use up to 20 digits, with an optional leading '+'",
    ]


def test_check_command_exits_0_for_a_valid_site(
    demo_data: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(demo_data, allow_unicode=True), encoding="utf-8")
    assert main(["check", str(path)]) == 0


def test_render_writes_nothing_for_a_bad_site(
    demo_data: dict[str, Any], tmp_path: Path
) -> None:
    demo_data["agents"][0]["extension"] = "x"
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(demo_data, allow_unicode=True), encoding="utf-8")
    out = tmp_path / "out"
    assert main(["render", str(path), "--out", str(out)]) == 2
    assert not out.exists()


def test_default_covers_an_empty_environment_variable(demo_data: dict[str, Any]) -> None:
    demo_data["agents"][1]["devices"][0]["password"] = "${BJORN_PW:-the-default-1}"
    site = parse_site(yaml.safe_dump(demo_data), {**ENV, "BJORN_PW": ""})
    assert site.agents[1].devices[0].password.get_secret_value() == "the-default-1"


def test_malformed_environment_reference_is_named(demo_data: dict[str, Any]) -> None:
    demo_data["agents"][1]["devices"][0]["password"] = "${1BAD}-password"
    [problem] = problems(demo_data)
    assert problem.startswith("agents[1].devices[0].password: malformed ${...}")


def test_missing_variable_and_other_problems_are_reported_together(demo_data: dict[str, Any]) -> None:
    demo_data["agents"][1]["devices"][0]["password"] = "${BJORN_PW}"
    demo_data["agents"][0]["extension"] = "x"
    assert problems(demo_data) == [
        "agents[1].devices[0].password: environment variable BJORN_PW is not set",
        "agents[0].extension: 'x' is not a number: use up to 20 digits, with an optional leading '+'",
    ]


def test_a_yaml_error_does_not_quote_the_line(demo_data: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_site('site: x\npbx:\n  ami_secret: "hunter2hunter2\n', ENV)
    assert "hunter2" not in str(caught.value)


def test_a_bad_secret_is_not_quoted_in_the_error(demo_data: dict[str, Any]) -> None:
    demo_data["pbx"]["control_secret"] = "abc;defgh-secret"
    [problem] = problems(demo_data)
    assert "defgh" not in problem and problem.startswith("pbx.control_secret: must not contain any of")
