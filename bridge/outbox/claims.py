"""Claims: which deliveries are due, taking them for a sender, and giving them back.

A claim moves a due delivery (pending, or failed and due again) to "sending" for one drain's
lease holder and counts an attempt; a delivery whose attempts are all used is marked dead
instead, saying so. The statement itself is the database seam's (``bridge.db.deliveries``).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Count, F, Min, Q
from django.utils import timezone

from bridge.db import deliveries as db_deliveries
from bridge.models import Delivery

State = Delivery.State
DUE_STATES = (State.PENDING, State.FAILED)
OPEN_STATES = (State.PENDING, State.SENDING, State.FAILED)

#: What a delivery given up for want of attempts says, before its last error.
OUT_OF_ATTEMPTS = "Not sent again: all its attempts are used (see Attempts). Last error: "


def _due(now) -> Q:
    return Q(state__in=DUE_STATES) & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))


def claim_due(account_id: int, limit: int = 1, holder: str = "") -> list[Delivery]:
    """Take up to ``limit`` due deliveries of an account for this worker.

    Rows other workers are claiming are skipped; the state change is a compare-and-set, so two
    workers never send the same delivery. Each returned delivery remembers the state it was
    claimed from (``claimed_from``), so a claim that is not sent can be given back as it was
    (:func:`release_claims`). ``holder`` (the claiming drain's lease holder) is recorded: while
    its lease lives, the delivery is not recovered. A due delivery whose attempts are all used
    is marked dead instead of claimed.
    """
    return db_deliveries.claim_rows(account_id, limit, timezone.now(), holder, OUT_OF_ATTEMPTS)


def release_claims(deliveries: Iterable[Delivery]) -> int:
    """Give claimed deliveries that were not sent back to the state they were claimed from.

    Compare-and-set on the claim, and the attempt the claim counted is taken back.
    """
    released = 0
    by_state: dict[str, list[Delivery]] = {}
    for delivery in deliveries:
        by_state.setdefault(getattr(delivery, "claimed_from", State.PENDING), []).append(delivery)
    now = timezone.now()
    for state, group in by_state.items():
        claims = Q()
        for delivery in group:
            claims |= Q(pk=delivery.pk, claimed_at=delivery.claimed_at)
        released += Delivery.objects.filter(claims, state=State.SENDING).update(
            state=state, attempts=F("attempts") - 1, updated_at=now
        )
    return released


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
