"""Processing stored events: each applied once, in one transaction, retried when early.

An event is *claimed* by the first statement of its transaction (a compare-and-set that adds
an attempt to a row that is still due), so two workers, a sweep and ``inbound --process`` can
race on it and only one applies it; the applier's writes and the event's new state commit
together, so a worker killed half-way leaves the event due, and the next worker or the sweep
applies it whole. Appliers are idempotent (upserts by remote id, one activity per event), so
"Process again" may run an event twice and change nothing the second time.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from bridge.conf import bridge_setting
from bridge.models import InboundEvent
from integrations.events import Event, EventShapeError
from integrations.secrets import redact_text

from . import aiployees, aloware, leeloo
from .people import Applying, NotYet, Unmatched

logger = logging.getLogger("bridge.inbox")

State = InboundEvent.State

#: What each provider's events do, by kind (integrations.events.KINDS).
APPLIERS = {"aiployees": aiployees.APPLIERS, "aloware": aloware.APPLIERS, "leeloo": leeloo.APPLIERS}


def due_filter(now) -> Q:
    """Events waiting to be processed: received, or failed with a retry time that has come."""
    return Q(state=State.RECEIVED) | Q(state=State.FAILED, next_attempt_at__lte=now)


def max_attempts() -> int:
    return bridge_setting("BRIDGE_INBOX_MAX_ATTEMPTS", 8, minimum=1)


def retry_delay(attempts: int) -> float:
    """Seconds before the next attempt: base·2^(attempts-1), capped."""
    base = bridge_setting("BRIDGE_INBOX_RETRY_BASE_SECONDS", 15.0, minimum=0)
    cap = bridge_setting("BRIDGE_INBOX_RETRY_CAP_SECONDS", 900.0, minimum=0)
    return min(cap, base * 2 ** max(attempts - 1, 0))


def without_nuls(value):
    """The decoded body with NUL characters removed: no database column takes them."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {without_nuls(key): without_nuls(item) for key, item in value.items()}
    if isinstance(value, list):
        return [without_nuls(item) for item in value]
    return value


def read_event(event: InboundEvent) -> Event:
    """What the provider's reader makes of the stored body (EventShapeError/ValueError else)."""
    reader = event.account.provider_class.events
    if reader is None:
        raise EventShapeError(f"{event.account.get_provider_display()} sends no webhooks.")
    return reader.read(without_nuls(json.loads(event.body)))


def apply_event(event: InboundEvent, last_attempt: bool) -> str:
    """Apply one event to the mirror; the state it ends in (processed or ignored)."""
    parsed = read_event(event)
    applier = APPLIERS.get(str(event.account.provider), {}).get(parsed.kind)
    if applier is None:
        return State.IGNORED
    applier(Applying(event, event.account, parsed, last_attempt))
    return State.PROCESSED


#: How often an event that lost a race (another event created the same order or contact in
#: the same instant) is applied again at once, seeing what the other committed.
CONFLICT_RETRIES = 3


def process_event(event_id: int) -> str:
    """Process one event if it is due (a django-q2 task; ids only); its state afterwards.

    Returns "not due" when another worker has it or it has ended.
    """
    for _ in range(CONFLICT_RETRIES):
        state, conflict = process_once(event_id)
        if not conflict:
            break
    return state


def process_once(event_id: int) -> tuple[str, bool]:
    """One attempt at an event: (its state afterwards, whether it lost a race)."""
    now = timezone.now()
    with transaction.atomic():
        claimed = InboundEvent.objects.filter(due_filter(now), pk=event_id).update(
            attempts=F("attempts") + 1, next_attempt_at=None
        )
        if not claimed:
            return "not due", False
        event = InboundEvent.objects.select_related("account").get(pk=event_id)
        conflict = outcome(event, now)
        event.save(update_fields=["state", "error", "next_attempt_at", "processed_at"])
    return event.state, conflict


def outcome(event: InboundEvent, now) -> bool:
    """Apply the event inside a savepoint and set its state, error and next attempt; True
    when it lost a race to a concurrent event (due again at once)."""
    last = event.attempts >= max_attempts()
    try:
        with transaction.atomic():
            event.state = apply_event(event, last)
    except NotYet as reason:
        if last:
            fail(event, f"Gave up after {event.attempts} attempts: {reason}")
        else:
            delay = retry_delay(event.attempts)
            fail(event, f"Waiting (attempt {event.attempts} of {max_attempts()}): {reason}")
            event.next_attempt_at = now + timedelta(seconds=delay)
    except (Unmatched, EventShapeError, ValueError) as reason:
        fail(event, str(reason))
    except IntegrityError:
        fail(event, "A concurrent event wrote the same record first; applied again.")
        if last:
            return False
        event.next_attempt_at = now
        return True
    except Exception as error:  # a bug or the database: this event fails, the worker goes on
        logger.exception("inbound event %s failed", event.pk)
        fail(event, redact_text(f"Internal error: {type(error).__name__}: {error}"))
        if not last:
            event.next_attempt_at = now + timedelta(seconds=retry_delay(event.attempts))
    else:
        event.error, event.next_attempt_at, event.processed_at = "", None, now
    return False


def fail(event: InboundEvent, reason: str) -> None:
    event.state, event.error, event.next_attempt_at = State.FAILED, reason[:2000], None


def due_ids(min_age_seconds: float = 0, limit: int = 500) -> list[int]:
    """Ids of due events, oldest first; received ones only once ``min_age_seconds`` old (the
    task queued on commit has them meanwhile)."""
    now = timezone.now()
    settled = Q(state=State.FAILED) | Q(received_at__lte=now - timedelta(seconds=min_age_seconds))
    return list(
        InboundEvent.objects.filter(due_filter(now))
        .filter(settled)
        .order_by("received_at", "id")
        .values_list("pk", flat=True)[:limit]
    )


def process_due(min_age_seconds: float = 0, limit: int = 500, max_seconds: float = 50) -> dict:
    """Process what is waiting (``inbound --process``, the sweep); counts by resulting state."""
    counts: dict[str, int] = {}
    started = time.monotonic()
    for event_id in due_ids(min_age_seconds, limit):
        state = process_event(event_id)
        counts[state] = counts.get(state, 0) + 1
        if time.monotonic() - started > max_seconds:
            break
    return counts


def purge_old(days: int | None = None) -> int:
    """Delete events past the retention window (their key may then be received anew);
    events still waiting are kept."""
    if days is None:
        days = bridge_setting("BRIDGE_INBOX_RETENTION_DAYS", 30, minimum=1)
    cutoff = timezone.now() - timedelta(days=days)
    old = InboundEvent.objects.filter(received_at__lt=cutoff).exclude(due_filter(timezone.now()))
    deleted, _ = old.filter(pk__in=list(old.values_list("pk", flat=True)[:10_000])).delete()
    return deleted


def sweep() -> dict:
    """The minute's job: events stranded by a killed web process or worker, due retries, and
    the retention purge."""
    stranded = bridge_setting("BRIDGE_INBOX_STRANDED_SECONDS", 30.0, minimum=0)
    counts = process_due(min_age_seconds=stranded)
    purged = purge_old()
    if purged:
        counts["purged"] = purged
    return counts


def process_again(queryset) -> int:
    """Make these events due now (staff's "Process again"); attempts start over."""
    return queryset.update(
        state=State.RECEIVED, attempts=0, next_attempt_at=None, error="", processed_at=None
    )
