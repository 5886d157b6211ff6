"""Time windows: is a change's planned window inside a weekly maintenance window, does
it overlap a freeze. Weekly windows are read in their own time zone, so a window of
Saturday 22:00–04:00 in Asia/Shanghai is checked against the change's instants whatever
offset they were written with; a window whose end is not after its start runs past
midnight into the next day."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from cmdbctl.models import WEEKDAYS, TimeWindow


def _occurrences(window: TimeWindow, around: datetime) -> list[tuple[datetime, datetime]]:
    zone = window.zone
    local = around.astimezone(zone).date()
    out = []
    for offset in range(-2, 3):
        day = local + timedelta(days=offset)
        if WEEKDAYS[day.weekday()] not in window.days:
            continue
        start = _at(day, window.start_minute, zone)
        end_day = day + timedelta(days=1) if window.crosses_midnight else day
        end = _at(end_day, window.end_minute, zone)
        out.append((start, end))
    return out


def _at(day: date, minute: int, zone: object) -> datetime:
    base = datetime.combine(day, time(0), tzinfo=zone)  # type: ignore[arg-type]
    return base + timedelta(minutes=minute)


def inside(start: datetime, end: datetime, windows: list[TimeWindow]) -> bool:
    """True when [start, end] lies within one occurrence of one of the windows."""
    return any(s <= start and end <= e for w in windows for s, e in _occurrences(w, start))


def overlaps(start: datetime, end: datetime, other_start: datetime, other_end: datetime) -> bool:
    return start < other_end and other_start < end
