"""The dashboard's time-bucketed counts: deliveries per hour and day, leads per day.

Counts are grouped in the database, by hour or day in the project's TIME_ZONE, never by loading
rows; the delivery counts are served by ``delivery_state_created_idx``, the lead counts by
Lead's ``received_at`` index. Empty buckets are zeros. The charts (``plots``) draw these.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db.models import Count
from django.db.models.functions import TruncDate, TruncHour
from django.utils import timezone

from bridge.models import Delivery, Lead

State = Delivery.State

#: The states the delivery charts show, bottom of the stack first.
CHART_STATES = (State.DELIVERED, State.FAILED, State.DEAD, State.PENDING)


def local_hours(now: datetime, hours: int = 24) -> list[datetime]:
    """The starts of the last ``hours`` hours in the project's time zone, naive, oldest first.

    The current (partial) hour is the last one. Naive wall-clock times are the keys the
    database's ``TruncHour`` is matched on; an hour repeated when clocks go back is one bucket.
    """
    tz = timezone.get_default_timezone()
    current = now.astimezone(tz).replace(minute=0, second=0, microsecond=0)
    starts = (
        (current - timedelta(hours=back)).astimezone(tz).replace(tzinfo=None)
        for back in range(hours - 1, -1, -1)
    )
    return list(dict.fromkeys(starts))


def local_days(now: datetime, days: int = 30) -> list[date]:
    """The last ``days`` dates in the project's time zone, today last."""
    today = now.astimezone(timezone.get_default_timezone()).date()
    return [today - timedelta(days=back) for back in range(days - 1, -1, -1)]


def _aware(start) -> datetime:
    """The instant a naive local hour or a local date starts."""
    if isinstance(start, datetime):
        return timezone.make_aware(start, timezone.get_default_timezone())
    return timezone.make_aware(
        datetime.combine(start, datetime.min.time()), timezone.get_default_timezone()
    )


@dataclass
class Buckets:
    """Counts per time bucket: the bucket starts, and one list of counts per series key."""

    starts: list
    counts: dict[str, list[int]]


def _bucketed(queryset, bucket, key: str, starts: list, keys) -> Buckets:
    """Count ``queryset`` grouped by ``bucket`` (a Trunc expression) and ``key``, in the database.

    Buckets with nothing in them are zeros; rows outside ``starts`` are ignored.
    """
    rows = queryset.annotate(bucket=bucket).values("bucket", key).annotate(n=Count("*")).order_by()
    position = {start: index for index, start in enumerate(starts)}
    counts = {k: [0] * len(starts) for k in keys}
    for row in rows:
        start = row["bucket"]
        if isinstance(start, datetime):
            start = start.astimezone(timezone.get_default_timezone()).replace(tzinfo=None)
        index = position.get(start)
        if index is not None:
            counts.setdefault(row[key], [0] * len(starts))[index] += row["n"]
    return Buckets(starts=starts, counts=counts)


def deliveries_by_hour(now: datetime, hours: int = 24) -> Buckets:
    """Deliveries queued in each of the last ``hours`` hours, by their state now."""
    starts = local_hours(now, hours)
    queryset = Delivery.objects.filter(state__in=CHART_STATES, created_at__gte=_aware(starts[0]))
    trunc = TruncHour("created_at", tzinfo=timezone.get_default_timezone())
    return _bucketed(queryset, trunc, "state", starts, [s.value for s in CHART_STATES])


def deliveries_by_day(now: datetime, days: int = 30) -> Buckets:
    """Deliveries queued on each of the last ``days`` days, by their state now."""
    starts = local_days(now, days)
    queryset = Delivery.objects.filter(state__in=CHART_STATES, created_at__gte=_aware(starts[0]))
    trunc = TruncDate("created_at", tzinfo=timezone.get_default_timezone())
    return _bucketed(queryset, trunc, "state", starts, [s.value for s in CHART_STATES])


def leads_by_day(now: datetime, days: int = 30) -> Buckets:
    """Leads received on each of the last ``days`` days, by source ("" for none given)."""
    starts = local_days(now, days)
    queryset = Lead.objects.filter(received_at__gte=_aware(starts[0]))
    trunc = TruncDate("received_at", tzinfo=timezone.get_default_timezone())
    return _bucketed(queryset, trunc, "source", starts, [])
