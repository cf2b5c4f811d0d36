"""When a report schedule is due, and which days its report covers: pure date arithmetic.

A schedule fires at a wall-clock hour of its time zone, so its due instants follow daylight
saving time: 08:00 in Helsinki is 06:00 UTC in summer and 05:00 UTC in winter. An hour the clock
skips (03:00 on the last Sunday of March in Helsinki) fires when the clock resumes, one hour
later; an hour it repeats (03:00 on the last Sunday of October) fires once, at the first of the
two. Monthly schedules on the 29th-31st fire on the last day of shorter months.
"""

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

WEEKLY = "weekly"
MONTHLY = "monthly"
LAST_7_DAYS = "last_7_days"
LAST_30_DAYS = "last_30_days"
PREVIOUS_MONTH = "previous_month"


@dataclass(frozen=True)
class Timing:
    frequency: str  # "weekly" | "monthly"
    hour: int  # 0-23
    time_zone: str
    weekday: int | None = None  # 0 Monday .. 6 Sunday
    day_of_month: int | None = None  # 1-31


def is_time_zone(name: str) -> bool:
    if not name or name not in available_timezones():
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def local_instant(day: date, hour: int, zone: ZoneInfo) -> datetime:
    """`hour`:00 of `day` on the wall clock of `zone`, as an aware UTC datetime.

    A skipped hour resolves to the instant the clock shows the next existing time (fold=0 takes
    the offset in force before the gap, which lands after it); a repeated hour to its first
    occurrence (fold=0).
    """
    return datetime(day.year, day.month, day.day, hour, tzinfo=zone).astimezone(UTC)


def _day_in_month(year: int, month: int, day_of_month: int) -> date:
    return date(year, month, min(day_of_month, calendar.monthrange(year, month)[1]))


def _next_month(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def next_due_after(timing: Timing, after: datetime) -> datetime:
    """The first due instant strictly after `after` (aware), in UTC."""
    zone = ZoneInfo(timing.time_zone)
    # Start a day early: `after` may be late at night in UTC but already tomorrow locally.
    day = after.astimezone(zone).date() - timedelta(days=1)
    if timing.frequency == WEEKLY:
        assert timing.weekday is not None
        day += timedelta(days=(timing.weekday - day.weekday()) % 7)
        while True:
            candidate = local_instant(day, timing.hour, zone)
            if candidate > after:
                return candidate
            day += timedelta(days=7)
    if timing.frequency == MONTHLY:
        assert timing.day_of_month is not None
        year, month = day.year, day.month
        while True:
            candidate = local_instant(
                _day_in_month(year, month, timing.day_of_month), timing.hour, zone
            )
            if candidate > after:
                return candidate
            year, month = _next_month(year, month)
    raise ValueError(f"unknown frequency {timing.frequency!r}")


def covered_period(period: str, due_at: datetime, time_zone: str) -> tuple[date, date]:
    """The days (both included) a report due at `due_at` covers: whole days before the due
    day in the schedule's time zone, never the unfinished due day itself."""
    due_day = due_at.astimezone(ZoneInfo(time_zone)).date()
    if period == LAST_7_DAYS:
        return due_day - timedelta(days=7), due_day - timedelta(days=1)
    if period == LAST_30_DAYS:
        return due_day - timedelta(days=30), due_day - timedelta(days=1)
    if period == PREVIOUS_MONTH:
        last = due_day.replace(day=1) - timedelta(days=1)
        return last.replace(day=1), last
    raise ValueError(f"unknown period {period!r}")
