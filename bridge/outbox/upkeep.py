"""Scheduled upkeep: recovering deliveries whose sender is gone, and waking due accounts.

:func:`dispatch_due` runs every minute (``bridge.schedules``): it recovers stranded
deliveries and kicks every account with due work.

A "sending" delivery is recovered only when its sender is provably gone: no live slot lease
of the holder that claimed it is left (leases are renewed by a heartbeat while the worker
lives, ``bridge.budget``). Elapsed time alone proves nothing: a Leeloo push is up to four
requests, each allowed the whole read timeout. Rows claimed before holders were recorded
(migration 0015) keep the old rule, the account's timeouts plus a margin. A stranded delivery
whose attempts are all used is marked dead instead of being sent once more, saying so.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import close_old_connections
from django.db.models import Exists, F, OuterRef, Q, TextField, Value
from django.db.models.functions import Concat
from django.utils import timezone

from bridge.models import AccountSlot, Delivery, ProviderAccount

from .claims import OUT_OF_ATTEMPTS, _due
from .drain import kick_accounts

logger = logging.getLogger("bridge.outbox")

State = Delivery.State

#: What a delivery says whose worker stopped while sending it and whose attempts are all used.
STRANDED_OUT_OF_ATTEMPTS = (
    "The worker stopped while sending and all its attempts are used: not sent again. Last error: "
)
RECOVERED = "The worker stopped while sending; sending again."


# --- scheduled upkeep --------------------------------------------------------------------


def recover_stranded() -> int:
    """Put back deliveries left in "sending" by a worker that is gone; returns how many.

    Gone means provably gone (:func:`sender_gone`: its slot leases expired),
    never a slow delivery still being sent. One whose attempts are all used is marked dead
    instead, saying so; it is counted too.
    """
    now = timezone.now()
    recovered = 0
    accounts = ProviderAccount.objects.filter(deliveries__state=State.SENDING).distinct()
    for account in accounts:
        stranded = Delivery.objects.filter(
            sender_gone(account, now), account=account, state=State.SENDING
        )
        recovered += give_up(
            stranded.filter(out_of_attempts()),
            now,
            STRANDED_OUT_OF_ATTEMPTS,
        )
        recovered += stranded.exclude(out_of_attempts()).update(
            state=State.FAILED,
            next_attempt_at=now,
            error_message=RECOVERED,
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
    # order_by(): with Delivery's default ordering, DISTINCT would be over (account, created_at,
    # id) — one account id per due delivery, and one drain task queued for each of them.
    due_accounts = list(
        Delivery.objects.filter(_due(now), account__enabled=True, account__paused=False)
        .order_by()
        .values_list("account_id", flat=True)
        .distinct()
    )
    kick_accounts(due_accounts)
    return {"recovered": recovered, "kicked": due_accounts}


# --- whose sender is gone ----------------------------------------------------------------


def sender_gone(account: ProviderAccount, now: datetime) -> Q:
    """Deliveries of ``account`` whose sender is provably gone (for "sending" rows).

    Claimed by a holder: none of that holder's slot leases is still live. Claimed with no
    holder recorded: claimed longer ago than the account's timeouts plus
    ``BRIDGE_STRANDED_MARGIN_SECONDS``.
    """
    margin = getattr(settings, "BRIDGE_STRANDED_MARGIN_SECONDS", 60.0)
    limit = now - timedelta(seconds=account.connect_timeout + account.read_timeout + margin)
    live_lease = AccountSlot.objects.filter(
        account_id=account.pk, holder=OuterRef("claimed_by"), lease_until__gt=now
    )
    return Q(claimed_by="", claimed_at__lt=limit) | (~Q(claimed_by="") & ~Exists(live_lease))


# --- out of attempts ---------------------------------------------------------------------


def out_of_attempts() -> Q:
    return Q(attempts__gte=F("max_attempts"))


def give_up(deliveries, now: datetime, reason: str = OUT_OF_ATTEMPTS) -> int:
    """Mark these deliveries dead, ``reason`` before their last error; returns how many."""
    return deliveries.update(
        state=State.DEAD,
        next_attempt_at=None,
        error_message=Concat(Value(reason), F("error_message"), output_field=TextField()),
        updated_at=now,
    )
