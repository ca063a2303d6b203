"""What counts as broken, checked every minute: each trigger lists the conditions that hold now.

A condition is keyed ("account 3 paused") so the job opens one alert per key and resolves it
when the key is no longer found. Checks stay cheap at a million leads: a few queries per
account, each an ``EXISTS`` on an index (``delivery_account_state_idx`` for dead deliveries,
``inboundevent_due_idx`` for given-up inbound events, ``syncrun_latest_idx`` for syncs); the
words of an alert (counts, the latest failure) are read only when it opens.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from bridge.conf import bridge_setting
from bridge.models import Alert, Delivery, InboundEvent, ProviderAccount, SyncRun, SyncState

from .links import admin_change_url, admin_list_url

logger = logging.getLogger("bridge.alerts")

Kind = Alert.Kind
Severity = Alert.Severity


@dataclass(frozen=True)
class Words:
    """What an alert says: a subject line, a short message, and the admin page to open."""

    subject: str
    message: str
    link: str


@dataclass(frozen=True)
class Condition:
    """A condition that holds now; ``words()`` is called only when its alert opens."""

    key: str
    kind: str
    severity: str
    words: Callable[[], Words]


@dataclass
class Found:
    """Every condition holding now, and the kinds whose check failed (their open alerts stay
    as they are: a check that could not run says nothing about whether they resolved)."""

    conditions: dict[str, Condition]
    unchecked: set[str]


def when(moment: datetime | None) -> str:
    """A moment as staff read it in a message: the site's time zone, to the minute."""
    if moment is None:
        return "an unknown time"
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M %Z}"


# --- accounts -------------------------------------------------------------------------------


def paused(account: ProviderAccount) -> Condition:
    def words():
        return Words(
            f"Account {account.name} is paused",
            f"{account} was paused at {when(account.paused_at)}: "
            f"{account.paused_reason or 'no reason given'}. Its deliveries wait (nothing is "
            "lost) until the account is resumed (after its credential is fixed, when a refused "
            "credential paused it).",
            admin_change_url(account),
        )

    return Condition(f"account {account.pk} paused", Kind.ACCOUNT_PAUSED, Severity.CRITICAL, words)


def throttled(account: ProviderAccount) -> Condition:
    def words():
        minutes = int((timezone.now() - account.throttled_since).total_seconds() // 60)
        until = account.throttled_until
        held = f" Nothing is sent before {when(until)}." if until else ""
        return Words(
            f"Account {account.name} has answered 429 for {minutes} minutes",
            f"{account} has answered 429 (too many requests) since "
            f"{when(account.throttled_since)}.{held} Check its plan's limits or lower its "
            "requests per second.",
            admin_change_url(account),
        )

    return Condition(
        f"account {account.pk} throttled", Kind.ACCOUNT_THROTTLED, Severity.WARNING, words
    )


def dead_deliveries(account: ProviderAccount) -> Condition:
    def words():
        dead = Delivery.objects.filter(account=account, state=Delivery.State.DEAD)
        count = dead.count()
        latest = dead.order_by("-updated_at", "-id").first()
        reason = (latest.error_message or latest.error_code or "no reason recorded")[:300]
        link = (
            admin_change_url(latest)
            if count == 1
            else admin_list_url(Delivery, account__id__exact=account.pk, state__exact="dead")
        )
        noun = "delivery" if count == 1 else "deliveries"
        return Words(
            f"{count} dead {noun} to {account.name}",
            f"{count} {noun} to {account} will not be retried. Latest: delivery "
            f"#{latest.pk} ({latest.operation}): {reason}. Retry them (after fixing the "
            "cause) or cancel them.",
            link,
        )

    return Condition(
        f"account {account.pk} deliveries dead", Kind.DELIVERY_DEAD, Severity.CRITICAL, words
    )


def inbound_failing(account: ProviderAccount) -> Condition:
    def words():
        failed = given_up_events().filter(account=account)
        count = failed.count()
        latest = failed.order_by("-received_at", "-id").first()
        noun = "webhook event" if count == 1 else "webhook events"
        return Words(
            f"{count} {noun} from {account.name} failed",
            f"{count} {noun} from {account} could not be applied and will not be "
            f"retried. Latest: event #{latest.pk} ({latest.event_type or 'no type'}): "
            f"{(latest.error or 'no reason recorded')[:300]}. Fix the cause, then use "
            "“Process again”.",
            admin_list_url(InboundEvent, account__id__exact=account.pk, state__exact="failed"),
        )

    return Condition(
        f"account {account.pk} inbound failing", Kind.INBOUND_FAILING, Severity.WARNING, words
    )


def given_up_events():
    """Failed inbound events with no retry coming (a waiting one has ``next_attempt_at``)."""
    return InboundEvent.objects.filter(
        state=InboundEvent.State.FAILED, next_attempt_at__isnull=True
    )


def account_conditions(now: datetime) -> list[Condition]:
    """Paused or long-throttled enabled accounts; accounts with dead deliveries or given-up
    inbound events."""
    throttled_for = timedelta(
        minutes=bridge_setting("BRIDGE_ALERT_THROTTLED_MINUTES", 60, minimum=1)
    )
    found = []
    for account in ProviderAccount.objects.defer(
        "credential", "options", "webhook_token", "webhook_secret"
    ):
        if account.enabled and account.paused:
            found.append(paused(account))
        since = account.throttled_since
        if account.enabled and since is not None and since <= now - throttled_for:
            found.append(throttled(account))
        if Delivery.objects.filter(account=account, state=Delivery.State.DEAD).exists():
            found.append(dead_deliveries(account))
        if given_up_events().filter(account=account).exists():
            found.append(inbound_failing(account))
    return found


# --- syncs ----------------------------------------------------------------------------------


def sync_failing(state: SyncState, error: str) -> Condition:
    account = state.account

    def words():
        return Words(
            f"The {state.resource} sync of {account.name} failed twice in a row",
            f"The last two {state.resource} syncs of {account} failed. Latest error: "
            f"{(error or 'none recorded')[:300]}",
            admin_list_url(SyncRun, account__id__exact=account.pk, resource__exact=state.resource),
        )

    key = f"sync {account.pk} {state.resource} failing"
    return Condition(key, Kind.SYNC_FAILING, Severity.WARNING, words)


def sync_behind(state: SyncState, last_ok: datetime | None) -> Condition:
    account = state.account

    def words():
        since = f"since {when(last_ok)}" if last_ok else "ever"
        return Words(
            f"The {state.resource} sync of {account.name} is behind",
            f"No {state.resource} sync of {account} has succeeded {since}, though it runs "
            f"every {state.minutes} minutes. Check the sync runs and that the django-q2 "
            "cluster is running.",
            admin_list_url(SyncRun, account__id__exact=account.pk, resource__exact=state.resource),
        )

    key = f"sync {account.pk} {state.resource} behind"
    return Condition(key, Kind.SYNC_BEHIND, Severity.WARNING, words)


def sync_conditions(now: datetime) -> list[Condition]:
    """Per enabled sync of an enabled account: its last two finished runs failed, or its last
    success is older than BRIDGE_ALERT_SYNC_BEHIND_INTERVALS of its intervals (two indexed
    look-ups each, on the account's latest runs)."""
    intervals = bridge_setting("BRIDGE_ALERT_SYNC_BEHIND_INTERVALS", 3, minimum=1)
    states = SyncState.objects.filter(enabled=True, account__enabled=True).select_related("account")
    found = []
    for state in states:
        runs = SyncRun.objects.filter(account_id=state.account_id, resource=state.resource)
        last_two = list(
            runs.filter(~Q(status=SyncRun.Status.RUNNING))
            .order_by("-started_at")
            .values_list("status", "error")[:2]
        )
        if len(last_two) == 2 and all(s == SyncRun.Status.FAILED for s, _ in last_two):
            found.append(sync_failing(state, last_two[0][1]))
        last_ok = (
            runs.filter(status=SyncRun.Status.SUCCEEDED)
            .order_by("-started_at")
            .values_list("finished_at", flat=True)
            .first()
        )
        baseline = last_ok or state.account.created_at
        if baseline < now - intervals * timedelta(minutes=state.minutes):
            found.append(sync_behind(state, last_ok))
    return found


# --- all of them ----------------------------------------------------------------------------

#: Each check and the kinds it decides.
CHECKS = [
    (
        account_conditions,
        {Kind.ACCOUNT_PAUSED, Kind.ACCOUNT_THROTTLED, Kind.DELIVERY_DEAD, Kind.INBOUND_FAILING},
    ),
    (sync_conditions, {Kind.SYNC_FAILING, Kind.SYNC_BEHIND}),
]


def current_conditions(now: datetime) -> Found:
    """Every condition holding now. A check that raises is logged and its kinds marked
    unchecked, so the job neither opens nor resolves their alerts this run."""
    found = Found({}, set())
    for check, kinds in CHECKS:
        try:
            conditions = check(now)
        except Exception:
            logger.exception("alerts: the %s check failed", check.__name__)
            found.unchecked |= {str(kind) for kind in kinds}
            continue
        found.conditions.update((condition.key, condition) for condition in conditions)
    return found
