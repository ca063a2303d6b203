"""Every new lead, from any entry, is routed once its transaction commits.

``post_save`` with ``created`` notes the lead's id; one ``on_commit`` callback per transaction
routes every lead the transaction created together (an import of a thousand rows is one
routing call, not a thousand). A rolled-back transaction drops its callback, and its leads
with it. A lead saved outside any transaction is routed at once.

Where: when the bridge wakes its django-q2 workers (``BRIDGE_KICK_WORKERS``, the default),
the callback queues one routing task (``bridge.routing.route_task``), so the request that
saved the lead — an intake POST, an admin save — does one transaction and returns; a worker
routes, and the outbox's commit wakes the drain. While a routing task is queued and not
started, commits queue no other (``bridge.wakeups``): it routes every lead waiting when it
starts, so a steady stream of leads never floods the broker. Without workers to wake (tests, a
web-only process) it routes in the committing process. A lead whose routing was lost either
way (a crash, a broker down) is routed by the minute sweep (``bridge.routing.sweep``).
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from django.db import transaction
from django.db.models.signals import m2m_changed, post_save
from django.utils import timezone

from bridge import wakeups
from bridge.conf import bridge_setting
from bridge.models import Lead, RoutingRule, RoutingWake

from .engine import route_leads, unrouted_ids

logger = logging.getLogger("bridge.routing")
_state = threading.local()


class _PendingLeads:
    """The leads one transaction created: called on commit, it routes them."""

    def __init__(self):
        self.ids: list[int] = []

    def __call__(self):
        if getattr(_state, "pending", None) is self:
            _state.pending = None
        dispatch_routing(self.ids)


#: Leads routed per transaction after a large commit (an import): bounded queries and rows.
CHUNK = 500


def dispatch_routing(lead_ids: list[int]) -> None:
    """Queue a routing task for a worker (unless one is queued and has not started: it will
    route these leads too), or route them here when the bridge does not wake workers (or the
    queue refuses: routing late beats not routing)."""
    if bridge_setting("BRIDGE_KICK_WORKERS", True):
        if not claim_routing_task():
            return  # a task queued and not started yet routes these leads too
        if wakeups.queue_task(
            "bridge.routing.route_task", lead_ids, group="routing", task_name=None
        ):
            return
        wakeups.unclaim(RoutingWake.objects.filter(pk=1), "queued_at")
        logger.warning("routing: the queue refused leads %s; routing them here", lead_ids)
    route_after_commit(lead_ids)


def claim_routing_task() -> bool:
    """True when this caller is to queue the routing task: none is queued and not started."""
    claimed = wakeups.claim_row(RoutingWake, 1, "queued_at")
    if claimed is not None:
        return claimed
    _, created = RoutingWake.objects.get_or_create(pk=1, defaults={"queued_at": timezone.now()})
    return created


def route_task(lead_ids: list[int]) -> None:
    """The django-q2 task: route the leads it was queued for and every other lead committed
    since then without a routing task of its own (their commits found this one queued)."""
    wakeups.started(RoutingWake.objects.filter(pk=1), "queued_at")
    waiting = unrouted_ids(timedelta(hours=1), timedelta(0), timezone.now())
    route_after_commit(sorted(set(lead_ids) | set(waiting)))


def route_after_commit(lead_ids: list[int]) -> None:
    """Route these leads, ``CHUNK`` at a time; a failure is logged, never raised into the
    request that saved them (the leads are committed: ``manage.py routes pending`` routes what
    a failure left)."""
    for start in range(0, len(lead_ids), CHUNK):
        chunk = lead_ids[start : start + CHUNK]
        try:
            route_leads(chunk)
        except Exception:
            logger.exception("routing failed for leads %s; they stay unrouted", chunk)


def _registered(pending: _PendingLeads) -> bool:
    """Whether this transaction still holds ``pending``'s callback (not run, not rolled back)."""
    connection = transaction.get_connection()
    return any(entry[1] is pending for entry in connection.run_on_commit)


def lead_saved(sender, instance: Lead, created: bool, raw: bool = False, **kwargs) -> None:
    """post_save of Lead: a new lead joins its transaction's routing (fixtures are not routed)."""
    if not created or raw:
        return
    pending = getattr(_state, "pending", None)
    if pending is not None and _registered(pending):
        pending.ids.append(instance.pk)
        return
    pending = _PendingLeads()
    pending.ids.append(instance.pk)
    _state.pending = pending
    transaction.on_commit(pending)


def rule_tags_changed(sender, instance, action: str, reverse: bool, pk_set, **kwargs) -> None:
    """A rule's tags changed (from either side): its ``updated_at`` says so, for the cache of
    loaded rules (``rules.rules_version``)."""
    if not action.startswith("post_"):
        return
    if reverse:  # tag.routing_rules.add(…): the rules are in pk_set (None on clear)
        rules = RoutingRule.objects.filter(pk__in=pk_set) if pk_set else None
        if rules is None:
            rules = RoutingRule.objects.all()
        rules.update(updated_at=timezone.now())
    else:
        instance.touch()


def connect_signals() -> None:
    post_save.connect(lead_saved, sender=Lead, dispatch_uid="bridge.routing.lead_saved")
    m2m_changed.connect(
        rule_tags_changed,
        sender=RoutingRule.tags.through,
        dispatch_uid="bridge.routing.rule_tags_changed",
    )
