"""Business hours as a model stores them: days of the week, a start and an end time.

A routing rule holds them (when its pushes may go out) and so does a provider account (when
any push to it may go out, e.g. an AI caller that phones a lead the moment it arrives). Both
keep the same three fields and check them the same way here; when a moment falls outside,
``bridge.routing.hours`` finds the next window.
"""

from __future__ import annotations

#: Day names as staff type them, Monday first (``datetime.weekday()`` order).
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def split_list(value: str) -> list[str]:
    """A comma-separated field as a list of its non-blank items, stripped."""
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def parse_days(value: str) -> list[int]:
    """ "mon,wed-fri" → [0, 2, 3, 4]; a ValueError names the first day it cannot read."""
    numbers: set[int] = set()
    for item in split_list(value.lower()):
        first, _, last = item.partition("-")
        if first not in DAYS or (last and last not in DAYS):
            bad = first if first not in DAYS else last
            raise ValueError(f"'{bad}' is not a day (use {', '.join(DAYS)}, or a range mon-fri)")
        start, end = DAYS.index(first), DAYS.index(last or first)
        if end < start:
            raise ValueError(f"'{item}': a range runs forward (e.g. mon-fri)")
        numbers.update(range(start, end + 1))
    return sorted(numbers)


class BusinessHoursMixin:
    """For a model with ``business_days`` (text), ``business_start`` and ``business_end``."""

    @property
    def day_numbers(self) -> list[int]:
        return parse_days(self.business_days) if self.business_days else []

    @property
    def has_hours(self) -> bool:
        return bool(self.business_days)

    def _hours_errors(self) -> dict:
        """Errors by field (days, start and end go together; a window within one day); the
        days are normalised ("mon-wed" → "mon,tue,wed") when they read."""
        given = [bool(self.business_days), self.business_start is not None]
        given.append(self.business_end is not None)
        if not any(given):
            return {}
        if not all(given):
            missing = [
                name
                for name, present in zip(
                    ("business_days", "business_start", "business_end"), given, strict=True
                )
                if not present
            ]
            return {name: "business hours need the days, a start and an end." for name in missing}
        try:
            self.business_days = ",".join(DAYS[n] for n in parse_days(self.business_days))
        except ValueError as exc:
            return {"business_days": f"{exc}."}
        if not self.business_days:
            return {"business_days": "give at least one day (e.g. mon-fri)."}
        if self.business_start >= self.business_end:
            return {"business_end": "must be after the start (a window within one day)."}
        return {}
