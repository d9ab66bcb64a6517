"""`telephony check` explains the shifts a clock change moves, for the coming year."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from telephony import cli
from telephony.config import Site, parse_site
from telephony.config.dst import notes
from telephony.routing.clock import ManualClock

# 2026-03-29 and 2026-10-25 are the Sundays Stockholm changes its clocks.
JANUARY = datetime(2026, 1, 10, tzinfo=UTC)


def site_with(roster: dict[str, Any], timezone: str = "Europe/Stockholm") -> Site:
    data: dict[str, Any] = {
        "site": "s",
        "pbx": {"ami_secret": "a-long-secret"},
        "agents": [{"id": "asa", "name": "Åsa", "extension": "1001", "direct_line": "1101",
                    "devices": [{"id": "asa-soft", "kind": "softphone", "password": "pw-12345"}]}],
        "hunt_groups": [{"id": "intake", "number": "2000", "timezone": timezone,
                         "roster": {"asa": roster}}],
    }
    return parse_site(yaml.safe_dump(data, allow_unicode=True), {})


def texts(site: Site, now: datetime = JANUARY) -> list[str]:
    return [str(n) for n in notes(site, now)]


def test_a_shift_starting_in_the_skipped_hour_starts_when_the_clock_resumes() -> None:
    assert texts(site_with({"sun": ["02:00-04:00"]}))[0] == (
        "hunt_groups[0].roster.asa.sun[0]: on 2026-03-29 (sun) this shift runs 03:00-04:00, "
        "1 h, not 2 h; clocks in Europe/Stockholm go forward from 02:00 to 03:00"
    )


def test_a_shift_inside_the_skipped_hour_moves_forward_by_the_gap() -> None:
    assert texts(site_with({"sun": ["02:10-02:50"]}))[0].endswith(
        "on 2026-03-29 (sun) this shift runs 03:10-03:50; clocks in Europe/Stockholm go forward "
        "from 02:00 to 03:00"
    )


def test_a_shift_across_the_spring_change_is_an_hour_shorter() -> None:
    [spring, _] = texts(site_with({"sun": ["00:00-06:00"]}))
    assert "this shift runs 00:00-06:00, 5 h, not 6 h" in spring


def test_a_shift_across_the_autumn_change_is_an_hour_longer() -> None:
    assert texts(site_with({"sun": ["00:00-06:00"]}))[1] == (
        "hunt_groups[0].roster.asa.sun[0]: on 2026-10-25 (sun) this shift runs 00:00-06:00, "
        "7 h, not 6 h; clocks in Europe/Stockholm go back from 03:00 to 02:00"
    )


def test_a_shift_starting_in_the_repeated_hour_starts_at_its_first_occurrence() -> None:
    assert "this shift runs 02:30 (the first)-05:00, 3 h 30 min, not 2 h 30 min" in texts(
        site_with({"sun": ["02:30-05:00"]}))[1]


def test_shifts_clear_of_the_change_get_no_note() -> None:
    assert texts(site_with({"sun": ["08:00-17:00", "00:00-02:00"], "sat": ["20:00-24:00"]})) == []


def test_a_change_at_midnight_names_the_shift_day_and_the_change_day() -> None:
    # Santiago goes back from Sunday 00:00 to Saturday 23:00 on 2026-04-05.
    site = site_with({"sat": ["20:00-24:00"]}, "America/Santiago")
    assert texts(site)[0] == (
        "hunt_groups[0].roster.asa.sat[0]: on 2026-04-04 (sat) this shift runs 20:00-24:00, "
        "5 h, not 4 h; clocks in America/Santiago go back from 00:00 to 23:00 on 2026-04-05"
    )


def test_only_the_coming_twelve_months_are_noted() -> None:
    site = site_with({"sun": ["02:00-04:00"]})
    assert [n.split(" (sun)")[0][-10:] for n in texts(site, datetime(2026, 4, 1, tzinfo=UTC))] == [
        "2026-10-25", "2027-03-28"
    ]


def test_a_zone_without_clock_changes_gets_no_notes() -> None:
    assert texts(site_with({"sun": ["00:00-24:00"]}, "Asia/Tokyo")) == []


def test_check_prints_the_notes_after_ok_and_exits_0(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    demo_data: dict[str, Any],
) -> None:
    demo_data["hunt_groups"][0]["roster"]["asa"]["sun"] = ["02:00-04:00"]
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(demo_data, allow_unicode=True), encoding="utf-8")
    monkeypatch.setattr(cli, "clock", ManualClock(JANUARY))
    assert cli.main(["check", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{path}: ok (3 agents, 1 hunt groups, 1 queues)"
    assert lines[1].startswith("hunt_groups[0].roster.asa.sun[0]: on 2026-03-29 (sun)")
    assert len(lines) == 3
