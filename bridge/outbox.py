"""The outbox: the only place that turns a Delivery row into a provider call.

Staff and the CLI *enqueue* (one bulk insert per push); django-q2 workers *drain* an account's
due deliveries within its sending budget (``bridge.budget``); a scheduled task *dispatches* due
retries and recovers deliveries stranded in "sending" by a killed worker. A delivery moves

    pending → sending → delivered
                      ↘ failed (retried at next_attempt_at) → … → dead
    pending → skipped (the same content was already delivered)

Guarantee: at-least-once delivery. A worker killed after the provider answered but before the
row was updated re-sends the delivery; duplicates at the provider are prevented by each
provider's idempotency key (Aéllo ``externalId``, Aloware's upsert by phone, Aiployees
``allow_dupplicate`` false, Leeloo's look-up by phone/email before creating), and by the remote
link, which turns later pushes into updates.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import close_old_connections, connection, transaction
from django.db.models import Count, F, Min, Q
from django.utils import timezone

from integrations.errors import (
    AuthenticationError,
    ProviderError,
    RateLimitedError,
    TransientError,
)

from . import budget
from .models import Contact, Delivery, ProviderAccount, PushBatch, RemoteLink
from .records import record_data

logger = logging.getLogger("bridge.outbox")

State = Delivery.State
DUE_STATES = (State.PENDING, State.FAILED)
OPEN_STATES = (State.PENDING, State.SENDING, State.FAILED)


def _setting(name: str, default):
    return getattr(settings, name, default)


# --- enqueue -----------------------------------------------------------------------------


def enqueue(
    model,
    targets: dict[ProviderAccount, Iterable[int]],
    *,
    operation: str = "push",
    params: dict[int, dict] | None = None,
    user=None,
    description: str = "",
    skipped: dict | None = None,
) -> PushBatch:
    """Create one delivery per record per account, in one transaction and one bulk insert.

    ``targets`` maps each account to the ids of the records going to it; ``params`` maps an
    account id to the options chosen for it. The workers are woken once the transaction
    commits.
    """
    params = params or {}
    content_type = ContentType.objects.get_for_model(model)
    max_attempts = _setting("BRIDGE_MAX_ATTEMPTS", 8)
    rows = [
        Delivery(
            account=account,
            content_type=content_type,
            object_id=object_id,
            operation=operation,
            params=params.get(account.pk, {}),
            max_attempts=max_attempts,
        )
        for account, ids in targets.items()
        for object_id in ids
    ]
    with transaction.atomic():
        batch = PushBatch.objects.create(
            created_by=user if getattr(user, "pk", None) else None,
            description=description[:255] or f"{operation} {model._meta.verbose_name_plural}",
            total=len(rows),
            skipped=skipped or {},
        )
        for row in rows:
            row.batch = batch
        Delivery.objects.bulk_create(rows, batch_size=2000)
        account_ids = [account.pk for account in targets]
        transaction.on_commit(lambda: kick_accounts(account_ids))
    return batch


def kick_accounts(account_ids: Iterable[int]) -> None:
    """Ask the django-q2 cluster to drain these accounts (carries ids only, never secrets)."""
    if not _setting("BRIDGE_KICK_WORKERS", True):
        return
    from django_q.tasks import async_task

    for account_id in account_ids:
        async_task("bridge.outbox.drain_account", account_id, group="outbox", task_name=None)


# --- claiming ----------------------------------------------------------------------------


def _due(now) -> Q:
    return Q(state__in=DUE_STATES) & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))


def claim_due(account_id: int, limit: int = 1) -> list[Delivery]:
    """Take up to ``limit`` due deliveries of an account for this worker.

    On PostgreSQL rows other workers are claiming are skipped (``SKIP LOCKED``); everywhere,
    the state change is a compare-and-set, so two workers never send the same delivery.
    """
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            Delivery.objects.filter(_due(now), account_id=account_id)
            .order_by("next_attempt_at", "id")
            .select_for_update(skip_locked=True)
            .values_list("id", flat=True)[:limit]
        )
        if not ids:
            return []
        Delivery.objects.filter(_due(now), id__in=ids).update(
            state=State.SENDING, claimed_at=now, attempts=F("attempts") + 1, updated_at=now
        )
    return list(
        Delivery.objects.filter(id__in=ids, state=State.SENDING, claimed_at=now).select_related(
            "content_type"
        )
    )


def seconds_until_next_due(account_id: int) -> float | None:
    """How long until the account's next waiting delivery is due; None when none waits."""
    soonest = Delivery.objects.filter(account_id=account_id, state__in=DUE_STATES).aggregate(
        soonest=Min("next_attempt_at"),
        waiting=Count("id"),
    )
    if not soonest["waiting"]:
        return None
    if soonest["soonest"] is None:
        return 0.0
    return max(0.0, (soonest["soonest"] - timezone.now()).total_seconds())


# --- delivering one ----------------------------------------------------------------------


def fingerprint(operation: str, params: dict, data: dict) -> str:
    """A hash of what would be sent, to skip re-sending identical content."""
    canonical = json.dumps([operation, params, data], sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def retry_delay(attempts: int) -> float:
    """Exponential backoff with jitter: base·2^(n-1), capped, scaled by a random 0.5–1."""
    base = _setting("BRIDGE_RETRY_BASE_SECONDS", 5.0)
    cap = _setting("BRIDGE_RETRY_CAP_SECONDS", 900.0)
    return min(cap, base * 2 ** max(attempts - 1, 0)) * random.uniform(0.5, 1.0)


def _finish(delivery: Delivery, **fields) -> bool:
    """Write a delivery's outcome unless another worker or staff changed it meanwhile."""
    fields["updated_at"] = timezone.now()
    return bool(
        Delivery.objects.filter(
            pk=delivery.pk, state=State.SENDING, claimed_at=delivery.claimed_at
        ).update(**fields)
    )


def _call_fields(client) -> dict:
    call = client.last_call
    if call is None:
        return {}
    return {
        "last_http_status": call.status,
        "request_redacted": {"method": call.method, "url": call.url, **call.request},
        "response_redacted": call.response,
    }


def deliver(delivery: Delivery, client) -> str:
    """Send one claimed delivery and record the outcome; returns the new state."""
    client.last_call = None
    record = delivery.record
    if record is None:
        _finish(delivery, state=State.DEAD, error_message="The record no longer exists.")
        return State.DEAD
    data = record_data(record)
    _add_contact_remote_id(data, delivery.account_id)
    content_hash = fingerprint(delivery.operation, delivery.params, data)
    link = RemoteLink.objects.filter(
        account_id=delivery.account_id,
        content_type_id=delivery.content_type_id,
        object_id=delivery.object_id,
    ).first()
    if (
        delivery.operation == "push"
        and link is not None
        and link.pushed_hash == content_hash
        and not delivery.params.get("force")
    ):
        _finish(delivery, state=State.SKIPPED, remote_id=link.remote_id, content_hash=content_hash)
        return State.SKIPPED
    try:
        result = client.perform(
            delivery.operation, data, delivery.params, link.remote_id if link else ""
        )
    except ProviderError as error:
        return _record_failure(delivery, client, error)
    now = timezone.now()
    _finish(
        delivery,
        state=State.DELIVERED,
        remote_id=result.remote_id or "",
        content_hash=content_hash,
        delivered_at=now,
        error_code="",
        error_message="",
        next_attempt_at=None,
        **_call_fields(client),
    )
    spec = client.operation_specs().get(delivery.operation)
    if spec is not None and spec.links_record and result.remote_id:
        _link(delivery, result.remote_id, content_hash, now)
    return State.DELIVERED


def _add_contact_remote_id(data: dict, account_id: int) -> None:
    """Tell the provider who a lead's or order's contact is in this account, when known."""
    contact = data.get("contact")
    if not isinstance(contact, dict) or not contact.get("id"):
        return
    contact["remote_id"] = (
        RemoteLink.objects.filter(
            account_id=account_id,
            content_type=ContentType.objects.get_for_model(Contact),
            object_id=contact["id"],
        )
        .values_list("remote_id", flat=True)
        .first()
        or ""
    )


def _link(delivery: Delivery, remote_id: str, content_hash: str, now) -> None:
    """Remember which remote id this record is, so later pushes update and syncs match."""
    taken = (
        RemoteLink.objects.filter(account_id=delivery.account_id, remote_id=remote_id)
        .exclude(content_type_id=delivery.content_type_id, object_id=delivery.object_id)
        .exists()
    )
    if taken:
        # Another local record already maps to this remote one (a lead and its contact can be
        # the same Leeloo person or Aloware phone); the first link stands.
        return
    RemoteLink.objects.update_or_create(
        account_id=delivery.account_id,
        content_type_id=delivery.content_type_id,
        object_id=delivery.object_id,
        defaults={"remote_id": remote_id, "pushed_hash": content_hash, "last_pushed_at": now},
    )


def _record_failure(delivery: Delivery, client, error: ProviderError) -> str:
    """Decide what a failure means for the delivery (and, for 401 or 429, its account)."""
    now = timezone.now()
    common = {
        "error_code": error.code[:100],
        "error_message": str(error)[:2000],
        **_call_fields(client),
    }
    if error.status is not None:
        common["last_http_status"] = error.status
    if isinstance(error, AuthenticationError):
        # The credential is wrong: pause the account instead of burning every delivery. This
        # attempt does not count; the delivery waits for the account to be resumed.
        ProviderAccount.objects.get(pk=delivery.account_id).pause(
            f"{error.status or 'auth'}: {error.provider_message or 'credential refused'}"
        )
        _finish(
            delivery,
            state=State.PENDING,
            attempts=F("attempts") - 1,
            next_attempt_at=now,
            **common,
        )
        return State.PENDING
    if isinstance(error, RateLimitedError):
        wait = error.retry_after if error.retry_after is not None else retry_delay(1)
        until = now + timedelta(seconds=wait)
        ProviderAccount.objects.filter(pk=delivery.account_id).update(throttled_until=until)
        # Being told to slow down is not the delivery's failure: the attempt does not count.
        _finish(
            delivery,
            state=State.FAILED,
            attempts=F("attempts") - 1,
            next_attempt_at=until,
            **common,
        )
        return State.FAILED
    if isinstance(error, TransientError) and delivery.attempts < delivery.max_attempts:
        next_at = now + timedelta(seconds=retry_delay(delivery.attempts))
        _finish(delivery, state=State.FAILED, next_attempt_at=next_at, **common)
        return State.FAILED
    _finish(delivery, state=State.DEAD, next_attempt_at=None, **common)
    return State.DEAD


# --- draining an account -----------------------------------------------------------------


def drain_account(account_id: int, max_seconds: float | None = None) -> dict:
    """Send an account's due deliveries with every free slot until none is due (a task).

    Runs at most ``max_seconds`` (default: three quarters of the django-q2 timeout), then
    hands over to a fresh task so a long batch never hits the worker's timeout.
    """
    account = ProviderAccount.objects.filter(pk=account_id).first()
    if account is None or not account.sendable:
        return {"slots": 0, "states": {}}
    if max_seconds is None:
        max_seconds = settings.Q_CLUSTER.get("timeout", 120) * 0.75
    deadline = time.monotonic() + max_seconds
    outcomes: Counter = Counter()
    lock = threading.Lock()
    lease = budget.Lease(account, account.concurrency)
    with lease as slots:
        if not slots:
            return {"slots": 0, "states": {}}
        client = account.client()
        threads = [
            threading.Thread(
                target=_slot_loop,
                args=(account, client, deadline, outcomes, lock, lease.keep_alive),
                name=f"outbox-{account.name}-{n}",
                daemon=True,
            )
            for n in slots
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    if time.monotonic() >= deadline and seconds_until_next_due(account_id) == 0.0:
        kick_accounts([account_id])
    return {"slots": len(slots), "states": dict(outcomes)}


IDLE_WAIT_SECONDS = 30.0


def _slot_loop(account, client, deadline, outcomes, lock, keep_alive) -> None:
    """One slot's work: claim, pace, send, record; until nothing is due soon."""
    pacer = budget.Pacer(account)
    checked = 0.0
    try:
        while time.monotonic() < deadline:
            if time.monotonic() - checked > 1.0:
                account.refresh_from_db(fields=["paused", "enabled", "throttled_until"])
                checked = time.monotonic()
                if not account.sendable:
                    return
                if account.throttled_until and account.throttled_until > timezone.now():
                    wait = (account.throttled_until - timezone.now()).total_seconds()
                    time.sleep(min(wait, max(deadline - time.monotonic(), 0), 5.0))
                    continue
            claimed = claim_due(account.pk, 1)
            if not claimed:
                wait = seconds_until_next_due(account.pk)
                if wait is None or wait > IDLE_WAIT_SECONDS:
                    return
                time.sleep(min(max(wait, 0.05), 1.0))
                checked = 0.0
                continue
            for delivery in claimed:
                pacer.wait()
                state = deliver(delivery, client)
                with lock:
                    outcomes[state] += 1
            keep_alive()
    except Exception:
        logger.exception("outbox slot for account %s stopped on an error", account.name)
        raise
    finally:
        connection.close()


# --- scheduled upkeep --------------------------------------------------------------------


def recover_stranded() -> int:
    """Put back deliveries left in "sending" by a worker that died; returns how many."""
    now = timezone.now()
    margin = _setting("BRIDGE_STRANDED_MARGIN_SECONDS", 60.0)
    recovered = 0
    accounts = ProviderAccount.objects.filter(deliveries__state=State.SENDING).distinct()
    for account in accounts:
        limit = now - timedelta(seconds=account.connect_timeout + account.read_timeout + margin)
        recovered += Delivery.objects.filter(
            account=account, state=State.SENDING, claimed_at__lt=limit
        ).update(
            state=State.FAILED,
            next_attempt_at=now,
            error_message="The worker stopped while sending; sending again.",
            updated_at=now,
        )
    if recovered:
        logger.warning("recovered %d deliveries stranded in sending", recovered)
    return recovered


def dispatch_due() -> dict:
    """Scheduled every minute: recover stranded deliveries and wake accounts with due work."""
    close_old_connections()
    recovered = recover_stranded()
    now = timezone.now()
    due_accounts = list(
        Delivery.objects.filter(_due(now), account__enabled=True, account__paused=False)
        .values_list("account_id", flat=True)
        .distinct()
    )
    kick_accounts(due_accounts)
    return {"recovered": recovered, "kicked": due_accounts}


# --- staff actions -----------------------------------------------------------------------


def retry_now(deliveries) -> int:
    """Send these deliveries again as soon as possible (failed, dead or cancelled ones)."""
    now = timezone.now()
    queryset = deliveries.filter(state__in=[State.FAILED, State.DEAD, State.CANCELLED])
    account_ids = set(queryset.values_list("account_id", flat=True))
    count = queryset.update(state=State.PENDING, attempts=0, next_attempt_at=now, updated_at=now)
    transaction.on_commit(lambda: kick_accounts(account_ids))
    return count


def cancel(deliveries) -> int:
    """Stop deliveries that have not gone out yet."""
    return deliveries.filter(state__in=DUE_STATES).update(
        state=State.CANCELLED, updated_at=timezone.now()
    )


def batch_counts(batch: PushBatch) -> dict:
    """Deliveries of a batch counted by state, with the done/total progress."""
    counts = dict(
        batch.deliveries.values_list("state").annotate(n=Count("id")).values_list("state", "n")
    )
    total = sum(counts.values())
    open_count = sum(counts.get(state, 0) for state in OPEN_STATES)
    return {
        "total": total,
        "done": total - open_count,
        "finished": open_count == 0,
        "states": {state.value: counts.get(state.value, 0) for state in State},
    }


def run_until_settled(account_ids: Iterable[int], timeout: float = 600.0) -> None:
    """Drain accounts in this process until nothing is due soon (``push --wait``, tests)."""
    deadline = time.monotonic() + timeout
    account_ids = list(account_ids)
    while time.monotonic() < deadline:
        busy = False
        for account_id in account_ids:
            result = drain_account(account_id, max_seconds=deadline - time.monotonic())
            wait = seconds_until_next_due(account_id)
            account = ProviderAccount.objects.get(pk=account_id)
            if account.sendable and wait is not None and wait <= IDLE_WAIT_SECONDS:
                busy = True
            if result["slots"] == 0 and account.sendable and wait is not None:
                busy = True
        if not busy:
            return
        time.sleep(0.2)
