"""Who is on duty in a hunt group at a given moment, from its weekly roster.

Times are wall-clock times in the group's time zone (zoneinfo), so a shift that starts
at 08:00 starts at 08:00 local time on both sides of a daylight-saving change.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from telephony.config.models import HuntGroup, TimeRange, Weekday

_DAYS = list(Weekday)
_LOOKAHEAD_DAYS = 8


def local_instant(day: date, minutes: int, zone: ZoneInfo) -> datetime:
    """`minutes` after midnight of `day` on the zone's wall clock, as a UTC instant.

    A time that does not exist (clocks go forward) resolves as zoneinfo's fold=0 does:
    moved forward by the gap. A time that happens twice (clocks go back) is its first
    occurrence. `telephony check` explains both for the shifts they touch
    (telephony.config.dst).
    """
    base = datetime.combine(day, time(0), tzinfo=zone)
    return (base + timedelta(minutes=minutes)).astimezone(UTC)


def shifts(
    group: HuntGroup, zone: ZoneInfo, agent: str, around: datetime
) -> Iterator[tuple[datetime, datetime]]:
    """The agent's shifts as UTC (start, end) pairs from a day before `around` onwards."""
    week = group.roster.get(agent, {})
    first = around.astimezone(zone).date() - timedelta(days=1)
    for offset in range(_LOOKAHEAD_DAYS + 1):
        day = first + timedelta(days=offset)
        ranges: list[TimeRange] = week.get(_DAYS[day.weekday()], [])
        for r in ranges:
            start = local_instant(day, r.start_minutes, zone)
            yield start, local_instant(day, r.end_minutes, zone)


def current_shift(
    group: HuntGroup, zone: ZoneInfo, agent: str, now: datetime
) -> tuple[datetime, datetime] | None:
    """The shift the agent is in at `now`, if any."""
    for start, end in shifts(group, zone, agent, now):
        if start <= now < end:
            return start, end
    return None


def duty_end(
    group: HuntGroup, zone: ZoneInfo, agent: str, now: datetime
) -> datetime | None:
    """When the agent's duty at `now` ends, running on through shifts that start as the
    last one ends (Monday 00:00-24:00 then Tuesday 00:00-...); None when it runs on past
    the days looked ahead (on duty around the clock), and `now` when off duty."""
    spans = sorted(shifts(group, zone, agent, now))
    end: datetime | None = None
    for start, stop in spans:
        if end is None:
            if start <= now < stop:
                end = stop
        elif start <= end:
            end = max(end, stop)
        else:
            return end
    return None if end is not None else now


def on_duty(group: HuntGroup, zone: ZoneInfo, now: datetime) -> frozenset[str]:
    """The agents the roster puts on the line at `now`."""
    return frozenset(a for a in group.roster if current_shift(group, zone, a, now) is not None)


def next_boundary(
    group: HuntGroup, zone: ZoneInfo, now: datetime, agent: str | None = None
) -> datetime | None:
    """The first shift start or end after `now`, for one agent or the whole group."""
    agents = [agent] if agent is not None else list(group.roster)
    best: datetime | None = None
    for a in agents:
        for start, end in shifts(group, zone, a, now):
            for t in (start, end):
                if t > now and (best is None or t < best):
                    best = t
    return best


def override_until(group: HuntGroup, zone: ZoneInfo, agent: str, now: datetime) -> datetime:
    """How long a manual change lasts: to the agent's next shift boundary, else midnight."""
    boundary = next_boundary(group, zone, now, agent)
    if boundary is not None:
        return boundary
    tomorrow = now.astimezone(zone).date() + timedelta(days=1)
    return local_instant(tomorrow, 0, zone)
