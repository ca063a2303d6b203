"""The dashboard's health figures: the outbox queue, recent failures, and each account's status,
throttle, latest failure and per-resource syncs.

Each figure is a few aggregate queries served by an index (``delivery_state_created_idx`` for
the queue and the failures, ``syncrun_latest_idx`` for the syncs); the number of queries does
not grow with the number of accounts or deliveries.
"""

from __future__ import annotations

import operator
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import reduce
from urllib.parse import urlsplit

from django.conf import settings
from django.db.models import Count, Max, Min, OuterRef, Q, Subquery

from bridge.admin.accounts import account_links, account_status, health_badge
from bridge.admin.outbox import sync_status_badge
from bridge.models import Delivery, ProviderAccount, SyncRun, SyncState

State = Delivery.State

#: What is still to be sent: queued, waiting for a retry, or in flight.
QUEUE_STATES = (State.PENDING, State.FAILED, State.SENDING)
FAILURE_STATES = (State.FAILED, State.DEAD)

RECENT_FAILURES = 10
#: An account's "last error" is its latest failed or dead delivery within this window.
LAST_ERROR_WINDOW = timedelta(days=7)
#: Resources are listed when they were synced within this window.
SYNC_LOOKBACK = timedelta(days=7)
#: How often a resource is synced when ``BRIDGE_SYNC_INTERVALS`` does not say (minutes).
DEFAULT_SYNC_INTERVAL_MINUTES = 15


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
    # A delivery held back on purpose (a routing rule's delay, business hours) is not late.
    waiting = Delivery.objects.filter(state=State.PENDING).exclude(next_attempt_at__gt=now)
    oldest = waiting.aggregate(at=Min("created_at"))["at"]
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
    #: No delivery is failing, but an attempt failed within the window (its delivery went
    #: through on a retry): the account's note of it is shown (``last_failure*`` fields).
    recovered_failure: bool = False
    show_deliveries: bool = False

    @property
    def badge(self):
        return health_badge(self.account)

    @property
    def syncs_at_all(self) -> bool:
        """Whether the account's provider has anything to sync (Aéllo, Aiployees and Aloware
        take pushes only: "no sync in the last 7 days" would read as a fault)."""
        return bool(self.account.provider_class.syncs)

    @property
    def where(self) -> str:
        """Where the account's calls go, as staff should read it: "local fake" for an account
        on this machine's fake providers (its environment says production or sandbox, but no
        real service is called), else the environment."""
        if on_local_host(self.account.base_url):
            return "local fake"
        return self.account.get_environment_display().lower()

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
        failure = failures.get(getattr(account, "last_failure_id", None))
        noted = account.last_failure_at
        recovered = bool(
            with_deliveries and failure is None and noted and noted >= now - LAST_ERROR_WINDOW
        )
        rows.append(
            AccountHealth(
                account=account,
                status=status,
                label=label,
                throttled_until=throttled if throttled and throttled > now else None,
                throttled_since=account.throttled_since,
                syncs=syncs.get(account.pk, []) if with_syncs else None,
                last_failure=failure,
                recovered_failure=recovered,
                show_deliveries=with_deliveries,
            )
        )
    return rows


#: Hosts of this machine: an account pointed there calls the local fake providers.
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "0.0.0.0"}  # noqa: S104 - compared, not bound


def on_local_host(base_url: str) -> bool:
    """Whether ``base_url`` points at this machine (the demo's and the tests' fakes)."""
    host = (urlsplit(base_url or "").hostname or "").lower()
    return host in LOCAL_HOSTS or host.startswith("127.")


# --- how an age reads (the sync rows here, and the queue in the template) ------------------


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
