"""The duty roster: who is on the line, in the group's own time zone."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from telephony.config.models import HuntGroup
from telephony.routing import roster

STOCKHOLM = ZoneInfo("Europe/Stockholm")


def group(**week: list[str]) -> HuntGroup:
    return HuntGroup.model_validate(
        {"id": "intake", "number": "2000", "roster": {"asa": week, "bjorn": {"mon": ["10:00-12:00"]}}}
    )


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_agent_is_on_duty_inside_a_range() -> None:
    # 2026-11-23 is a Monday.
    assert roster.on_duty(group(mon=["08:00-10:00"]), STOCKHOLM, at("2026-11-23T09:00+01:00")) == {"asa"}


def test_range_end_is_exclusive() -> None:
    g = group(mon=["08:00-10:00"])
    assert roster.on_duty(g, STOCKHOLM, at("2026-11-23T10:00+01:00")) == {"bjorn"}


def test_roster_uses_the_group_time_zone_not_utc() -> None:
    # 08:30 UTC is 09:30 in Stockholm in winter.
    assert "asa" in roster.on_duty(group(mon=["09:00-10:00"]), STOCKHOLM, at("2026-11-23T08:30+00:00"))


def test_shift_starts_at_local_time_after_spring_forward() -> None:
    # Sweden moves to CEST on Sunday 2026-03-29; a Monday 08:00 shift starts at 06:00 UTC.
    g = group(mon=["08:00-10:00"])
    assert roster.on_duty(g, STOCKHOLM, at("2026-03-30T06:00+00:00")) == {"asa"}
    assert roster.on_duty(g, STOCKHOLM, at("2026-03-30T05:59+00:00")) == frozenset()


def test_shift_across_the_autumn_change_lasts_its_wall_clock_length() -> None:
    # Sunday 2026-10-25 03:00 CEST becomes 02:00 CET: 00:00-06:00 local is 7 hours long.
    g = group(sun=["00:00-06:00"])
    start, end = roster.current_shift(g, STOCKHOLM, "asa", at("2026-10-25T01:00+00:00")) or (None, None)
    assert start is not None and end is not None
    assert (end - start).total_seconds() == 7 * 3600


def test_next_boundary_is_the_next_start_or_end() -> None:
    g = group(mon=["08:00-10:00"])
    assert roster.next_boundary(g, STOCKHOLM, at("2026-11-23T09:00+01:00")) == at("2026-11-23T10:00+01:00")


def test_override_lasts_until_the_agents_next_boundary() -> None:
    g = group(mon=["08:00-10:00"])
    until = roster.override_until(g, STOCKHOLM, "asa", at("2026-11-23T07:00+01:00"))
    assert until == at("2026-11-23T08:00+01:00")


def test_override_without_any_shift_lasts_until_local_midnight() -> None:
    g = group(mon=["08:00-10:00"])
    until = roster.override_until(g, STOCKHOLM, "chen", at("2026-11-23T15:00+01:00"))
    assert until == at("2026-11-24T00:00+01:00")


def test_range_ending_at_midnight() -> None:
    g = group(mon=["22:00-24:00"])
    assert roster.on_duty(g, STOCKHOLM, at("2026-11-23T23:59+01:00")) == {"asa"}
    assert roster.on_duty(g, STOCKHOLM, at("2026-11-24T00:00+01:00")) == frozenset()
