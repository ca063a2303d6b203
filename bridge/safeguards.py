"""The outbox's safety nets: a sender that is gone, attempts that ran out, a bug mid-delivery,
and an account that keeps answering 429.

- A "sending" delivery is recovered only when its sender is provably gone: no live slot lease
  of the holder that claimed it is left (leases are renewed by a heartbeat while the worker
  lives, ``bridge.budget``). Elapsed time alone proves nothing: a Leeloo push is up to four
  requests, each allowed the whole read timeout. Rows claimed before holders were recorded
  (migration 0015) keep the old rule, the account's timeouts plus a margin.
- A delivery whose attempts are all used is marked dead instead of being claimed or recovered
  once more, saying so.
- An unexpected exception while delivering one record (a bug, not the provider's answer)
  becomes that delivery's failure, with the exception's type and its message (secrets
  scrubbed) recorded; the slot goes on with the next delivery.
- The first 429 stamps the account's ``throttled_since``; the next delivery sent clears it, so
  the dashboard shows an account that has refused us for hours.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Exists, F, OuterRef, Q, TextField, Value
from django.db.models.functions import Concat

from integrations.secrets import redact_text

from .models import AccountSlot, Delivery, ProviderAccount

logger = logging.getLogger("bridge.outbox")

State = Delivery.State

INTERNAL_ERROR = "internal_error"
#: What a delivery given up for want of attempts says, before its last error.
OUT_OF_ATTEMPTS = "Not sent again: all its attempts are used (see Attempts). Last error: "
#: The same, for a delivery whose worker stopped while sending it.
STRANDED_OUT_OF_ATTEMPTS = (
    "The worker stopped while sending and all its attempts are used: not sent again. Last error: "
)
RECOVERED = "The worker stopped while sending; sending again."


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


# --- a bug while delivering --------------------------------------------------------------


def internal_error_fields(delivery: Delivery, error: BaseException, now: datetime) -> dict:
    """The outcome of a delivery that raised an unexpected exception.

    Failed (retried with backoff) while attempts are left, dead after; the error says it is
    the bridge's, with the exception's type and message, every known secret scrubbed.
    """
    from .outbox import retry_delay

    detail = redact_text(f"{type(error).__name__}: {error}")[:1500]
    retry = delivery.attempts < delivery.max_attempts
    next_at = now + timedelta(seconds=retry_delay(delivery.attempts)) if retry else None
    return {
        "state": State.FAILED if retry else State.DEAD,
        "next_attempt_at": next_at,
        "error_code": INTERNAL_ERROR,
        "error_message": (
            "The bridge failed while sending this record (an error of its own, not the "
            f"provider's answer): {detail}"
        ),
    }


def log_internal_error(delivery: Delivery, error: BaseException) -> None:
    """Log the traceback (the logging filter scrubs secrets) for whoever fixes the bug."""
    logger.error(
        "delivery %s to account %s failed on an unexpected error",
        delivery.pk,
        delivery.account_id,
        exc_info=error,
    )


# --- answering 429 -----------------------------------------------------------------------


def clear_throttled_since(account: ProviderAccount) -> None:
    """A delivery went through: the account no longer answers only 429 (one write, once)."""
    if account.throttled_since is not None:
        ProviderAccount.objects.filter(pk=account.pk, throttled_since__isnull=False).update(
            throttled_since=None
        )
        account.throttled_since = None
