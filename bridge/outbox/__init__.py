"""The outbox: the only place that turns a Delivery row into a provider call.

Staff and the CLI *enqueue* (one bulk insert per push); django-q2 workers *drain* an account's
due deliveries within its sending budget (``bridge.budget``); a scheduled task *dispatches* due
retries and recovers deliveries stranded in "sending" by a killed worker. A delivery moves

    pending → sending → delivered
                      ↘ failed (retried at next_attempt_at) → … → dead
    pending → skipped (the same content was already delivered)

Guarantee: at-least-once delivery. A delivery is claimed by a drain's slot lease holder
(``claimed_by``) and put back only once that holder's leases have expired, i.e. its worker is
gone (:mod:`bridge.outbox.upkeep`): a slow delivery is never sent twice at once. A worker
killed after the provider answered but before the row was updated re-sends the delivery;
duplicates at the provider are prevented by each provider's idempotency key (Aéllo
``externalId``, Aloware's upsert by phone, Aiployees ``allow_dupplicate`` false, Leeloo's
look-up by phone/email before creating), and by the remote link, which turns later pushes into
updates.

One role per module, as django-q2 splits its cluster, worker, pusher, monitor and scheduler:

- this package (``__init__``): enqueue and the staff actions (retry, cancel, progress), and the
  public names of the modules below (``from bridge import outbox; outbox.drain_account``; the
  django-q2 task paths ``bridge.outbox.drain_account`` and ``bridge.outbox.dispatch_due``);
- :mod:`~bridge.outbox.claims`: which deliveries are due, claiming and giving back;
- :mod:`~bridge.outbox.deliver`: one delivery sent, and what its outcome means;
- :mod:`~bridge.outbox.writer`: a drain's outcomes and links written in batches;
- :mod:`~bridge.outbox.drain`: an account's slots sending its due deliveries; waking drains;
- :mod:`~bridge.outbox.upkeep`: the scheduled recovery of stranded deliveries.

Vendor-specific statements are the database seam's (``bridge.db.deliveries``,
``bridge.db.outcomes``); no module here branches on the database.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from bridge.conf import bridge_setting
from bridge.db import deliveries as db_deliveries
from bridge.models import Delivery, ProviderAccount, PushBatch

from .claims import DUE_STATES, OPEN_STATES, claim_due, release_claims, seconds_until_next_due
from .deliver import Prefetched, deliver, fingerprint, retry_delay
from .drain import IDLE_WAIT_SECONDS, drain_account, kick_accounts, run_until_settled
from .upkeep import dispatch_due, recover_stranded
from .writer import OutcomeWriter

__all__ = [
    "DUE_STATES",
    "IDLE_WAIT_SECONDS",
    "OPEN_STATES",
    "OutcomeWriter",
    "Prefetched",
    "batch_counts",
    "cancel",
    "claim_due",
    "deliver",
    "dispatch_due",
    "drain_account",
    "enqueue",
    "fingerprint",
    "kick_accounts",
    "recover_stranded",
    "release_claims",
    "retry_delay",
    "retry_now",
    "run_until_settled",
    "seconds_until_next_due",
]

State = Delivery.State


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
    due_at=None,
    send_at=None,
    test: bool = False,
) -> PushBatch:
    """Create one delivery per record per account, in one transaction and one insert per account.

    ``targets`` maps each account to the ids of the records going to it; ``params`` maps an
    account id to the options chosen for it. The workers are woken once the transaction
    commits. ``due_at`` (a routing rule's delay or business hours) holds the deliveries back
    until then, as a retry's ``next_attempt_at`` does: a drain already running sends them when
    they are due within its idle wait, the minute's ``dispatch_due`` otherwise. It may also
    map account ids to each account's own moment (the push page's "send at" moved into each
    account's sending hours); ``send_at`` is what staff asked for, kept on the batch.
    ``test`` marks the deliveries as the push page's "Send a test".
    """
    params = params or {}
    content_type = ContentType.objects.get_for_model(model)
    max_attempts = bridge_setting("BRIDGE_MAX_ATTEMPTS", 8)
    targets = {account: list(ids) for account, ids in targets.items()}
    with transaction.atomic():
        batch = PushBatch.objects.create(
            created_by=user if getattr(user, "pk", None) else None,
            description=description[:255] or f"{operation} {model._meta.verbose_name_plural}",
            total=sum(len(ids) for ids in targets.values()),
            skipped=skipped or {},
            send_at=send_at,
        )
        for account, ids in targets.items():
            template = Delivery(
                account=account,
                batch=batch,
                content_type=content_type,
                object_id=0,
                operation=operation,
                params=params.get(account.pk, {}),
                max_attempts=max_attempts,
                next_attempt_at=due_at.get(account.pk) if isinstance(due_at, dict) else due_at,
                is_test=test,
            )
            db_deliveries.insert_deliveries(template, ids)
        soon = [account.pk for account in targets if _due_soon(due_at, account.pk)]
        if soon:
            transaction.on_commit(lambda: kick_accounts(soon))
    return batch


def _due_soon(due_at, account_id: int) -> bool:
    """Whether an account's new deliveries are due within a drain's idle wait (so wake it)."""
    due = due_at.get(account_id) if isinstance(due_at, dict) else due_at
    return due is None or (due - timezone.now()).total_seconds() < IDLE_WAIT_SECONDS


# --- staff actions -----------------------------------------------------------------------


def retry_now(deliveries, params: dict | None = None) -> int:
    """Send these deliveries again as soon as possible (failed, dead or cancelled ones).

    ``params`` are added to each delivery's options first (Aloware's ``force_update`` for a
    contact it already has).
    """
    now = timezone.now()
    queryset = deliveries.filter(state__in=[State.FAILED, State.DEAD, State.CANCELLED])
    account_ids = set(queryset.values_list("account_id", flat=True))
    with transaction.atomic():
        if params:
            changed = list(Delivery.objects.filter(pk__in=queryset.values("pk")).only("params"))
            for delivery in changed:
                delivery.params = {**(delivery.params or {}), **params}
            Delivery.objects.bulk_update(changed, ["params"], batch_size=500)
        count = queryset.update(
            state=State.PENDING, attempts=0, next_attempt_at=now, updated_at=now
        )
    transaction.on_commit(lambda: kick_accounts(account_ids))
    return count


def not_started(batches):
    """The deliveries of ``batches`` that no worker has tried yet (a scheduled batch's)."""
    return Delivery.objects.filter(batch__in=batches, state=State.PENDING, attempts=0)


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
