"""One account policy: what a provider's refusal means for the whole account.

Pushes, syncs and (next) webhooks all meet the same answers; the account's reaction is decided
here, once, and each caller only decides what the refusal means for its own work (a delivery
waits or fails, a run fails):

- an authentication failure (:class:`~integrations.errors.AuthenticationError`: a 401, or a
  provider's documented bad-token answer) **pauses** the account until staff resume it;
- a 429 (:class:`~integrations.errors.RateLimitedError`) **throttles** it until the provider's
  ``Retry-After`` (already capped by the client) or ``fallback_wait`` seconds;
- anything else, a 403 included, leaves the account alone.
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta

from django.db.models import DateTimeField, F, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from integrations.errors import AuthenticationError, ProviderError, RateLimitedError

from .models import ProviderAccount


class Reaction(enum.Enum):
    """What happened to the account."""

    NONE = "none"
    PAUSED = "paused"
    THROTTLED = "throttled"


def react_to(
    account_id: int, error: ProviderError, *, fallback_wait: float, now: datetime | None = None
) -> tuple[Reaction, datetime | None]:
    """Apply the account's reaction to ``error``; returns it, and the throttle's end if any."""
    now = now or timezone.now()
    if isinstance(error, AuthenticationError):
        pause(account_id, f"{error.status or 'auth'}: {error.provider_message or 'refused'}")
        return Reaction.PAUSED, None
    if isinstance(error, RateLimitedError):
        wait = error.retry_after if error.retry_after is not None else fallback_wait
        until = now + timedelta(seconds=wait)
        throttle(account_id, until, now)
        return Reaction.THROTTLED, until
    return Reaction.NONE, None


def pause(account_id: int, reason: str) -> None:
    """Stop sending to the account until staff resume it."""
    ProviderAccount.objects.get(pk=account_id).pause(reason)


def throttle(account_id: int, until: datetime, now: datetime) -> None:
    """Nothing goes to the account before ``until``; remember since when it answers 429."""
    ProviderAccount.objects.filter(pk=account_id).update(
        throttled_until=until,
        throttled_since=Coalesce(F("throttled_since"), Value(now, output_field=DateTimeField())),
    )


#: At most one note of a failed attempt per account in this long (a 500 storm fails many
#: deliveries a second; the dashboard needs the latest, not each).
FAILURE_NOTE_EVERY = timedelta(seconds=1)


def note_failure(
    account_id: int, error: ProviderError, delivery_id: int, now: datetime | None = None
) -> None:
    """Keep ``error`` as the account's latest failed attempt (the dashboard shows it even after
    the delivery went through on a retry, which clears the delivery's own error)."""
    now = now or timezone.now()
    parts = [f"HTTP {error.status}" if error.status else "", error.code, str(error)]
    ProviderAccount.objects.filter(pk=account_id).filter(
        Q(last_failure_at__isnull=True) | Q(last_failure_at__lt=now - FAILURE_NOTE_EVERY)
    ).update(
        last_failure_at=now,
        last_failure=" · ".join(p for p in parts if p)[:500],
        last_failure_delivery_id=delivery_id,
    )
