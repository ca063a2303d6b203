"""Waking a worker once: at most one queued task per piece of work, however often it is asked.

Every commit that leaves work for the django-q2 cluster (a delivery due, a new lead to route)
wants a task to pick it up. One task per commit floods the broker at a steady lead rate: two
tasks per lead at 20 leads a second outran a 4-worker cluster on the ORM broker
(docs/benchmarks.md, "Speed to lead"). So a timestamp column says "a task is queued and has not
started": the first commit sets it and queues the task, later commits see it set and queue
nothing, and the task clears it as it starts, then takes everything waiting — what those
later commits left included. A commit after the clearing sets it again and queues a new task.
A mark older than :data:`STALE` (its task lost with a broker, or stuck behind a long queue)
holds nobody back, and the minute jobs (the outbox's dispatcher, the routing's sweep) catch
what any lost task left.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from bridge.db import marks

logger = logging.getLogger(__name__)

#: A queued task not started after this long no longer stops a new one from being queued.
STALE = timedelta(seconds=30)


def claim(queryset, field: str) -> bool:
    """Mark the row(s) of ``queryset`` as having a task queued; True when this call did (the
    caller queues the task), False when a recent mark says one is already waiting."""
    now = timezone.now()
    free = Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__lt": now - STALE})
    return bool(queryset.filter(free).update(**{field: now}))


def claim_row(model, pk, field: str) -> bool | None:
    """:func:`claim` for one row by its key, in one statement (``bridge.db.marks``); None when
    the row does not exist yet."""
    now = timezone.now()
    return marks.set_mark(model, pk, field, now, now - STALE)


def started(queryset, field: str) -> None:
    """The queued task has started: the next commit queues another (called first thing)."""
    queryset.exclude(**{f"{field}__isnull": True}).update(**{field: None})


def unclaim(queryset, field: str) -> None:
    """The task could not be queued after all: clear the mark, so the next commit tries again
    at once instead of waiting :data:`STALE` behind a task that does not exist."""
    queryset.update(**{field: None})


def queue_task(func: str, *args, **kwargs) -> bool:
    """Queue a django-q2 task; False, logged and not raised, when the broker refuses it.

    A broker away (Redis restarting) must not fail the request that committed the work — an
    intake lead, a webhook event, an admin push: the work is safely in the database, and the
    minute jobs (the outbox's dispatcher, the routing's and the inbox's sweeps) pick it up once
    the broker is back. Only ids travel as arguments, so the log holds no secret.
    """
    from django_q.tasks import async_task

    try:
        async_task(func, *args, **kwargs)
    except Exception as exc:  # noqa: BLE001 (each broker raises its own client's errors)
        logger.warning("could not queue %s (the minute jobs will pick the work up): %s", func, exc)
        return False
    return True
