"""When a routed push may go out: after the rule's delay, inside its business hours.

Business hours are days of the week and a start and end time, read in the target account's
time zone; a moment outside them moves to the start of the next window. "Now" is always passed
in, so tests freeze it instead of sleeping.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo


def in_window(local: datetime, days: list[int], start: time, end: time) -> bool:
    """Whether a local moment is inside the window (start included, end excluded)."""
    return local.weekday() in days and start <= local.time().replace(tzinfo=None) < end


def next_window_start(
    moment: datetime, days: list[int], start: time, end: time, zone: ZoneInfo
) -> datetime:
    """``moment`` when it is inside business hours, else the next window's start (UTC).

    Walks the local calendar day by day (at most a week and a day), so a window is found
    across month, year and daylight-saving changes; the start is the local wall-clock time
    (a start skipped by a DST jump resolves as zoneinfo does, fold 0).
    """
    local = moment.astimezone(zone)
    if in_window(local, days, start, end):
        return moment
    for offset in range(8):
        day = local.date() + timedelta(days=offset)
        if day.weekday() not in days:
            continue
        opening = datetime.combine(day, start, tzinfo=zone)
        if opening > local:
            return opening.astimezone(UTC)
    raise ValueError(f"no business day in {days!r}")  # unreachable with at least one day


def due_time(
    now: datetime,
    delay_seconds: int = 0,
    days: list[int] | None = None,
    start: time | None = None,
    end: time | None = None,
    zone: ZoneInfo | None = None,
) -> datetime | None:
    """When the push is due: None for "at once", else a UTC moment in the future.

    The delay runs from ``now``; the moment it ends is then moved into business hours.
    """
    due = now + timedelta(seconds=delay_seconds)
    if days and start is not None and end is not None:
        due = next_window_start(due, days, start, end, zone or ZoneInfo("UTC"))
    return None if due <= now else due.astimezone(UTC)
