"""The admin index dashboard: account health, the outbox queue, recent failures, and charts.

Every figure comes from a few aggregate queries: counts are grouped in the database (by hour or
day in the project's TIME_ZONE), never by loading rows, and each query is served by an index
(``delivery_state_created_idx`` for the charts, the queue and the failures; ``syncrun_latest_idx``
for the syncs; Lead's ``received_at``), so the page stays fast with millions of deliveries. The
number of queries does not grow with the number of accounts or deliveries.

What a user sees follows their view permissions: delivery figures only for those who may view
deliveries, accounts, syncs and leads likewise. The admin index shows the dashboard above the
app list (``index_view``); a small script in the page refreshes it every
``REFRESH_SECONDS`` from ``refresh_view``, which answers with the figures and the re-rendered
fragment.
"""

from __future__ import annotations

import operator
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import reduce

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.exceptions import NotRegistered
from django.db.models import Count, Max, Min, OuterRef, Q, Subquery
from django.db.models.functions import TruncDate, TruncHour
from django.http import JsonResponse
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from bridge import charts
from bridge.admin.accounts import account_links, account_status, health_badge
from bridge.admin.outbox import STATE_COLOURS, record_link, state_badge, sync_status_badge
from bridge.models import Delivery, Lead, ProviderAccount, SyncRun, SyncState

State = Delivery.State

#: The states the delivery charts show, bottom of the stack first.
CHART_STATES = (State.DELIVERED, State.FAILED, State.DEAD, State.PENDING)
#: What is still to be sent: queued, waiting for a retry, or in flight.
QUEUE_STATES = (State.PENDING, State.FAILED, State.SENDING)
FAILURE_STATES = (State.FAILED, State.DEAD)

REFRESH_SECONDS = 30
RECENT_FAILURES = 10
#: An account's "last error" is its latest failed or dead delivery within this window.
LAST_ERROR_WINDOW = timedelta(days=7)
#: Resources are listed when they were synced within this window.
SYNC_LOOKBACK = timedelta(days=7)
#: How often a resource is synced when ``BRIDGE_SYNC_INTERVALS`` does not say (minutes).
DEFAULT_SYNC_INTERVAL_MINUTES = 15
#: Lead sources charted one by one; the rest are added up as "N other sources".
TOP_LEAD_SOURCES = 5


# --- time buckets ------------------------------------------------------------------------


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


# --- the queue and the failures ----------------------------------------------------------


@dataclass
class Queue:
    """What is still to be sent, by state, and how long the oldest pending one has waited."""

    counts: dict[str, int]
    oldest_pending_at: datetime | None
    now: datetime

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def oldest_pending_seconds(self) -> int | None:
        if self.oldest_pending_at is None:
            return None
        return max(0, int((self.now - self.oldest_pending_at).total_seconds()))


def queue_depth(now: datetime) -> Queue:
    """Pending, failed-waiting-for-retry and sending deliveries, and the oldest pending one."""
    rows = (
        Delivery.objects.filter(state__in=QUEUE_STATES)
        .values_list("state")
        .annotate(n=Count("*"))
        .order_by()
    )
    counts = {state.value: 0 for state in QUEUE_STATES}
    counts.update(dict(rows))
    oldest = Delivery.objects.filter(state=State.PENDING).aggregate(at=Min("created_at"))["at"]
    return Queue(counts=counts, oldest_pending_at=oldest, now=now)


def recent_failures(limit: int = RECENT_FAILURES) -> list[Delivery]:
    """The newest failed and dead deliveries, newest first, with their account.

    One query per state, each reading only ``limit`` rows off the (state, created_at) index.
    """
    found = []
    for state in FAILURE_STATES:
        found += list(
            Delivery.objects.filter(state=state)
            .select_related("account", "content_type")
            .defer("params", "request_redacted", "response_redacted")
            .order_by("-created_at", "-id")[:limit]
        )
    found.sort(key=lambda delivery: (delivery.created_at, delivery.pk), reverse=True)
    return found[:limit]


# --- accounts and their syncs ------------------------------------------------------------


def sync_interval(resource: str) -> timedelta:
    """How often ``resource`` is expected to sync (``BRIDGE_SYNC_INTERVALS``, in minutes), for
    accounts that do not set their own (a SyncState's minutes)."""
    minutes = getattr(settings, "BRIDGE_SYNC_INTERVALS", {}).get(
        resource, DEFAULT_SYNC_INTERVAL_MINUTES
    )
    return timedelta(minutes=minutes)


@dataclass
class SyncHealth:
    """The latest run of one resource of one account, and whether it is stale."""

    run: SyncRun
    age_seconds: int
    stale: bool
    expected_every: timedelta | None = None

    @property
    def age(self) -> str:
        return format_age(self.age_seconds)

    @property
    def interval(self) -> str:
        every = self.expected_every or sync_interval(self.run.resource)
        return format_age(int(every.total_seconds()))

    @property
    def badge(self):
        return sync_status_badge(self.run.status, self.run.get_status_display())


def latest_syncs(now: datetime) -> dict[int, list[SyncHealth]]:
    """Each account's latest run per resource (synced within ``SYNC_LOOKBACK``), by account id.

    A run is stale when it failed, or when it started or finished more than twice the
    resource's interval ago (the account's own, from its sync states, when it sets one).
    """
    latest = (
        SyncRun.objects.filter(started_at__gte=now - SYNC_LOOKBACK)
        .values("account_id", "resource")
        .annotate(last=Max("started_at"))
        .order_by()
    )
    conditions = [
        Q(account_id=row["account_id"], resource=row["resource"], started_at=row["last"])
        for row in latest
    ]
    if not conditions:
        return {}
    runs = SyncRun.objects.filter(reduce(operator.or_, conditions)).order_by("resource", "-pk")
    own = {
        (account_id, resource): timedelta(minutes=minutes)
        for account_id, resource, minutes in SyncState.objects.filter(
            account_id__in={row["account_id"] for row in latest}
        ).values_list("account_id", "resource", "minutes")
    }
    found: dict[int, dict[str, SyncHealth]] = defaultdict(dict)
    for run in runs:
        if run.resource in found[run.account_id]:
            continue  # two runs started at the same instant: the later one (higher id) stands
        at = run.finished_at or run.started_at
        age = max(0, int((now - at).total_seconds()))
        every = own.get((run.account_id, run.resource)) or sync_interval(run.resource)
        stale = run.status == SyncRun.Status.FAILED or now - at > 2 * every
        found[run.account_id][run.resource] = SyncHealth(run, age, stale, every)
    return {account_id: list(by_resource.values()) for account_id, by_resource in found.items()}


@dataclass
class AccountHealth:
    """One account on the dashboard: its status, throttle, syncs and latest failure."""

    account: ProviderAccount
    status: str
    label: str
    throttled_until: datetime | None
    #: Since when the account has answered 429, until a delivery goes through.
    throttled_since: datetime | None = None
    syncs: list[SyncHealth] | None = None
    last_failure: Delivery | None = None
    show_deliveries: bool = False

    @property
    def badge(self):
        return health_badge(self.account)

    @property
    def links(self):
        return account_links(self.account)


def account_health(now: datetime, *, with_syncs: bool, with_deliveries: bool) -> list:
    """Every account with its status; its syncs and latest failure when the user may see them."""
    accounts = ProviderAccount.objects.defer("credential", "options")
    if with_deliveries:
        latest_failure = (
            Delivery.objects.filter(
                account=OuterRef("pk"),
                state__in=FAILURE_STATES,
                created_at__gte=now - LAST_ERROR_WINDOW,
            )
            .order_by("-created_at", "-id")
            .values("pk")[:1]
        )
        accounts = accounts.annotate(last_failure_id=Subquery(latest_failure))
    accounts = list(accounts)
    failures = {}
    if with_deliveries:
        ids = [a.last_failure_id for a in accounts if a.last_failure_id]
        failures = Delivery.objects.defer(
            "params", "request_redacted", "response_redacted"
        ).in_bulk(ids)
    syncs = latest_syncs(now) if with_syncs else {}
    rows = []
    for account in accounts:
        status, label = account_status(account)
        throttled = account.throttled_until
        rows.append(
            AccountHealth(
                account=account,
                status=status,
                label=label,
                throttled_until=throttled if throttled and throttled > now else None,
                throttled_since=account.throttled_since,
                syncs=syncs.get(account.pk, []) if with_syncs else None,
                last_failure=failures.get(getattr(account, "last_failure_id", None)),
                show_deliveries=with_deliveries,
            )
        )
    return rows


# --- charts ------------------------------------------------------------------------------


def _hour_categories(starts: list[datetime]) -> list[charts.Category]:
    return [
        charts.Category(
            key=start.isoformat(timespec="minutes"),
            label=f"{start:%H}:00",
            long_label=f"{start:%a} {start.day} {start:%b}, {start:%H}:00–{start:%H}:59",
        )
        for start in starts
    ]


def _day_categories(starts: list[date]) -> list[charts.Category]:
    return [
        charts.Category(
            key=day.isoformat(),
            label=f"{day.day} {day:%b}",
            long_label=f"{day:%a} {day.day} {day:%b} {day.year}",
        )
        for day in starts
    ]


def _state_series(buckets: Buckets) -> list[charts.Series]:
    labels = dict(State.choices)
    return [
        charts.Series(
            key=state.value,
            label=labels[state.value],
            colour=STATE_COLOURS[state.value],
            values=buckets.counts[state.value],
        )
        for state in CHART_STATES
    ]


def lead_source_series(buckets: Buckets, top: int = TOP_LEAD_SOURCES) -> list[charts.Series]:
    """The ``top`` busiest lead sources as series, the others summed as one more series."""
    ranked = sorted(buckets.counts.items(), key=lambda item: (-sum(item[1]), item[0]))
    series = [
        charts.Series(
            key=source or "(none)",
            label=source or "No source given",
            colour=charts.CATEGORICAL_COLOURS[index % len(charts.CATEGORICAL_COLOURS)],
            values=values,
        )
        for index, (source, values) in enumerate(ranked[:top])
    ]
    rest = ranked[top:]
    if rest:
        others = [sum(day) for day in zip(*(values for _, values in rest), strict=True)]
        series.append(
            charts.Series(
                key="(other)",
                label=f"{len(rest)} other sources" if len(rest) > 1 else "1 other source",
                colour=charts.OTHER_COLOUR,
                values=others,
            )
        )
    return series


@dataclass
class Chart:
    """A chart on the dashboard: its heading, its SVG, and its figures for the JSON."""

    id: str
    heading: str
    note: str
    svg: str
    categories: list[charts.Category]
    series: list[charts.Series]
    wide: bool = False

    def figures(self) -> dict:
        return {
            "categories": [category.key for category in self.categories],
            "series": {item.key: list(item.values) for item in self.series},
        }


def delivery_charts(now: datetime) -> list[Chart]:
    """Deliveries by state over the last 24 hours (hourly) and 30 days (daily)."""
    by_hour, by_day = deliveries_by_hour(now), deliveries_by_day(now)
    return [
        _delivery_chart(
            "chart-deliveries-24h",
            "Deliveries, last 24 hours",
            _hour_categories(by_hour.starts),
            _state_series(by_hour),
            "Hour queued",
        ),
        _delivery_chart(
            "chart-deliveries-30d",
            "Deliveries, last 30 days",
            _day_categories(by_day.starts),
            _state_series(by_day),
            "Day queued",
        ),
    ]


def _delivery_chart(chart_id, heading, categories, series, x_label) -> Chart:
    svg = charts.stacked_bar_chart(
        chart_id, heading, categories, series, x_label=x_label, y_label="Deliveries"
    )
    note = "Counted by the hour or day they were queued, in the state they are in now."
    return Chart(chart_id, heading, note, svg, categories, series)


def leads_chart(now: datetime) -> Chart:
    """Leads received per day over the last 30 days, one line per source."""
    buckets = leads_by_day(now)
    categories = _day_categories(buckets.starts)
    series = lead_source_series(buckets)
    heading = "Leads received per day, last 30 days"
    svg = charts.line_chart(
        "chart-leads-30d",
        heading,
        categories,
        series,
        x_label="Day received",
        y_label="Leads",
        width=1120,
    )
    note = f"One line per source: the {TOP_LEAD_SOURCES} busiest, the others added up."
    return Chart("chart-leads-30d", heading, note, svg, categories, series, wide=True)


# --- putting it together -----------------------------------------------------------------


@dataclass
class Dashboard:
    """Everything the dashboard shows to one user; parts they may not see are None."""

    now: datetime
    accounts: list[AccountHealth] | None = None
    queue: Queue | None = None
    failures: list[Delivery] | None = None
    charts: list[Chart] = field(default_factory=list)
    refresh_seconds: int = REFRESH_SECONDS

    @property
    def empty(self) -> bool:
        return self.accounts is None and self.queue is None and not self.charts


def _can_view(request, model) -> bool:
    """Whether the admin would let this user see ``model``'s list (view or change permission)."""
    try:
        model_admin = admin.site.get_model_admin(model)
    except NotRegistered:
        return False
    return model_admin.has_view_permission(request)


def build_dashboard(request, now: datetime | None = None) -> Dashboard:
    """The dashboard for this request's user, with only what they may view."""
    now = now or timezone.now()
    see_deliveries = _can_view(request, Delivery)
    dashboard = Dashboard(now=now, refresh_seconds=REFRESH_SECONDS)
    if _can_view(request, ProviderAccount):
        dashboard.accounts = account_health(
            now, with_syncs=_can_view(request, SyncRun), with_deliveries=see_deliveries
        )
    if see_deliveries:
        dashboard.queue = queue_depth(now)
        dashboard.failures = recent_failures()
        dashboard.charts += delivery_charts(now)
    if _can_view(request, Lead):
        dashboard.charts.append(leads_chart(now))
    return dashboard


def figures(dashboard: Dashboard) -> dict:
    """The dashboard's numbers as plain JSON data (what the charts and tables show)."""
    data: dict = {"generated_at": dashboard.now.isoformat()}
    if dashboard.queue is not None:
        queue = dashboard.queue
        data["queue"] = {
            **queue.counts,
            "total": queue.total,
            "oldest_pending_at": queue.oldest_pending_at.isoformat()
            if queue.oldest_pending_at
            else None,
            "oldest_pending_seconds": queue.oldest_pending_seconds,
        }
    if dashboard.failures is not None:
        data["failures"] = [
            {
                "id": delivery.pk,
                "account": delivery.account.name,
                "state": delivery.state,
                "error_code": delivery.error_code,
                "error_message": delivery.error_message,
                "created_at": delivery.created_at.isoformat(),
            }
            for delivery in dashboard.failures
        ]
    if dashboard.accounts is not None:
        data["accounts"] = [_account_figures(row) for row in dashboard.accounts]
    data["charts"] = {chart.id: chart.figures() for chart in dashboard.charts}
    return data


def _account_figures(row: AccountHealth) -> dict:
    figures_ = {
        "name": row.account.name,
        "status": row.status,
        "label": row.label,
        "throttled_until": row.throttled_until.isoformat() if row.throttled_until else None,
        "throttled_since": row.throttled_since.isoformat() if row.throttled_since else None,
    }
    if row.syncs is not None:
        figures_["syncs"] = [
            {
                "resource": sync.run.resource,
                "status": sync.run.status,
                "age_seconds": sync.age_seconds,
                "stale": sync.stale,
                "error": sync.run.error,
            }
            for sync in row.syncs
        ]
    if row.show_deliveries:
        failure = row.last_failure
        figures_["last_error"] = (
            {"code": failure.error_code, "message": failure.error_message, "id": failure.pk}
            if failure
            else None
        )
    return figures_


# --- presentation helpers used by the templates ------------------------------------------


def format_age(seconds: int | None) -> str:
    """A duration as staff say it: "less than a minute", "3 min", "2 h 5 min", "4 days"."""
    if seconds is None:
        return ""
    if seconds < 60:
        return "less than a minute"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{hours // 24} days"


def changelist_url(model, **filters) -> str:
    """The admin list of ``model`` filtered by ``filters`` (e.g. account=3, state="failed")."""
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    return f"{url}?{urlencode(filters)}" if filters else url


def template_context(dashboard: Dashboard) -> dict:
    """What the dashboard template needs besides the Dashboard: links, badges, record links."""
    failures = [
        {
            "delivery": delivery,
            "record": record_link(delivery),
            "badge": state_badge(delivery.state, delivery.get_state_display()),
            "url": reverse("admin:bridge_delivery_change", args=[delivery.pk]),
        }
        for delivery in dashboard.failures or []
    ]
    queue_links = {
        state.value: changelist_url(Delivery, state__exact=state.value) for state in QUEUE_STATES
    }
    return {
        "dashboard": dashboard,
        "failure_rows": failures,
        "queue_links": queue_links,
        "failures_url": changelist_url(Delivery, state__in="failed,dead"),
        "oldest_pending_age": format_age(dashboard.queue.oldest_pending_seconds)
        if dashboard.queue
        else "",
    }


# --- views -------------------------------------------------------------------------------


def index_view(request):
    """The admin index: the dashboard above the usual list of apps."""
    dashboard = build_dashboard(request)
    return admin.site.index(request, extra_context=template_context(dashboard))


def refresh_view(request):
    """The dashboard's figures and its re-rendered fragment, for the page's periodic refresh."""
    dashboard = build_dashboard(request)
    html = render_to_string(
        "admin/bridge/dashboard.html", template_context(dashboard), request=request
    )
    return JsonResponse({"figures": figures(dashboard), "html": html})
