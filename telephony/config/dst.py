"""Shifts that a clock change moves: `telephony check` explains them, it does not refuse them.

Roster times are wall-clock times in the group's zone (`roster.local_instant`). On the
day clocks go forward, a boundary in the skipped hour moves forward by the gap; on the
day they go back, a boundary in the repeated hour is its first occurrence; a shift
across either change is shorter or longer than it reads. Nothing is wrong with such a
shift, but it does not do what its text says, so `check` says what it does instead,
for every such day in the coming year.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from telephony.config.models import HuntGroup, Site, Weekday
from telephony.routing.roster import local_instant

_DAYS = list(Weekday)
_STEP = timedelta(hours=12)  # offsets never change twice within 12 hours
LOOKAHEAD = timedelta(days=366)


@dataclass(frozen=True, slots=True)
class Note:
    """Something worth knowing about a valid site, at a `path.to.field`."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass(frozen=True, slots=True)
class Change:
    """A change of a zone's UTC offset (a daylight-saving change, or a new standard)."""

    at: datetime  # the UTC instant
    before: timedelta
    after: timedelta

    @property
    def window(self) -> tuple[datetime, datetime]:
        """The wall-clock times skipped (forward) or repeated (back), naive local."""
        naive = self.at.replace(tzinfo=None)
        return naive + min(self.before, self.after), naive + max(self.before, self.after)

    @property
    def forward(self) -> bool:
        return self.after > self.before

    def describe(self, zone: ZoneInfo, shift_day: date) -> str:
        naive = self.at.replace(tzinfo=None)
        way = "forward" if self.forward else "back"
        text = (f"clocks in {zone.key} go {way} from {naive + self.before:%H:%M} to "
                f"{naive + self.after:%H:%M}")
        changed_on = (naive + self.before).date()
        return text if changed_on == shift_day else f"{text} on {changed_on}"


@cache
def changes(zone: ZoneInfo, start: datetime, end: datetime) -> tuple[Change, ...]:
    """Every offset change of `zone` between two UTC instants, found to the minute."""
    found: list[Change] = []
    t = start
    offset = _offset(zone, t)
    while t < end:
        nxt = t + _STEP
        next_offset = _offset(zone, nxt)
        if next_offset != offset:
            lo, hi = t, nxt  # offset(lo) is the old one, offset(hi) the new
            while hi - lo > timedelta(minutes=1):
                mid = lo + (hi - lo) / 2
                if _offset(zone, mid) == offset:
                    lo = mid
                else:
                    hi = mid
            at = hi.replace(second=0, microsecond=0)
            found.append(Change(at, offset, next_offset))
        t, offset = nxt, next_offset
    return tuple(found)


def _offset(zone: ZoneInfo, t: datetime) -> timedelta:
    offset = t.astimezone(zone).utcoffset()
    assert offset is not None
    return offset


def notes(site: Site, now: datetime, lookahead: timedelta = LOOKAHEAD) -> list[Note]:
    """A note for each shift a clock change moves between `now` and `now + lookahead`."""
    # Whole UTC days, so that repeated checks within a day share the cached changes.
    start = datetime.combine(now.astimezone(UTC).date(), time(0), tzinfo=UTC)
    out: list[Note] = []
    for i, group in enumerate(site.hunt_groups):
        zone = site.zone(group)
        for change in changes(zone, start, start + lookahead):
            out.extend(_group_notes(group, i, zone, change))
    return out


def _group_notes(group: HuntGroup, index: int, zone: ZoneInfo, change: Change) -> Iterator[Note]:
    low, high = change.window
    day = low.date() - timedelta(days=1)  # a shift ending at 24:00 ends on the next day
    while day <= high.date():
        weekday = _DAYS[day.weekday()]
        midnight = datetime.combine(day, time(0))
        for agent, week in group.roster.items():
            for k, r in enumerate(week.get(weekday, [])):
                start = midnight + timedelta(minutes=r.start_minutes)
                end = midnight + timedelta(minutes=r.end_minutes)
                if end < low or start > high:
                    continue  # the change is not inside this shift: it runs as written
                effect = _effect(day, r.start_minutes, r.end_minutes, zone, change)
                if effect is not None:
                    path = f"hunt_groups[{index}].roster.{agent}.{weekday.value}[{k}]"
                    yield Note(path, f"on {day} ({weekday.value}) {effect}; "
                               f"{change.describe(zone, day)}")
        day += timedelta(days=1)


def _effect(day: date, start: int, end: int, zone: ZoneInfo, change: Change) -> str | None:
    """What the shift does that day, if that is not what it says."""
    real_start = local_instant(day, start, zone)
    real_end = local_instant(day, end, zone)
    length, written = real_end - real_start, timedelta(minutes=end - start)
    low, high = change.window
    if change.forward:
        # A boundary strictly inside the skipped hour moves; one at its start does not
        # (02:00 and 03:00 are the same instant when clocks go from 02:00 to 03:00).
        moved = any(low < _naive(day, m) < high for m in (start, end))
        first = ""
    else:
        # A boundary in the repeated hour is its first occurrence: as a person expects,
        # unless the shift also spans the change, which the length shows.
        moved = False
        first = " (the first)" if low <= _naive(day, start) < high else ""
    if length == written and not moved:
        return None
    text = (f"this shift runs {_clock(real_start, zone, day)}{first}-"
            f"{_clock(real_end, zone, day)}")
    if length != written:
        text += f", {_duration(length)}, not {_duration(written)}"
    return text


def _naive(day: date, minutes: int) -> datetime:
    return datetime.combine(day, time(0)) + timedelta(minutes=minutes)


def _clock(instant: datetime, zone: ZoneInfo, day: date) -> str:
    local = instant.astimezone(zone)
    if local.date() > day and local.time() == time(0):
        return "24:00"
    return f"{local:%H:%M}"


def _duration(length: timedelta) -> str:
    minutes = int(length.total_seconds()) // 60
    hours, rest = divmod(minutes, 60)
    if rest == 0:
        return f"{hours} h"
    return f"{hours} h {rest} min" if hours else f"{rest} min"
