"""Routing new leads: plan each once, record it, and queue the pushes through the outbox.

One transaction per call: the leads' :class:`~bridge.models.LeadRouting` rows (a unique row
per lead, so a lead is routed once however often it is saved or this is called) and the
deliveries go in together or not at all. Deliveries are grouped into one outbox batch per
rule target (same account, operation, options and due time), so an import of a thousand leads
is a few inserts, not a thousand; the outbox wakes the accounts' drains on commit.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from bridge import outbox
from bridge.models import Lead, LeadRouting

from .plan import Plan, plan_lead
from .rules import load_leads, load_rules

logger = logging.getLogger("bridge.routing")


def route_leads(lead_ids: Iterable[int], now: datetime | None = None) -> list[Plan]:
    """Route the leads among ``lead_ids`` that have not been routed yet; returns their plans.

    ``now`` is when the rules' delays and business hours count from (tests pass it in).
    A concurrent router that recorded one of the leads first makes this transaction fail on
    the unique row; it is tried once more without the leads already routed.
    """
    lead_ids = sorted(set(lead_ids))
    now = now or timezone.now()
    for attempt in (1, 2):
        try:
            return _route_once(lead_ids, now)
        except IntegrityError:
            if attempt == 2:
                raise
            logger.info("routing: leads %s were being routed elsewhere; trying again", lead_ids)
    return []  # not reached


def route_unrouted(
    since: timedelta, *, settle: timedelta = timedelta(seconds=30), now: datetime | None = None
) -> list[Plan]:
    """Route the leads created in the last ``since`` that nothing routed (returns their plans).

    A lead is routed when its transaction commits; a process killed between the commit and
    that moment leaves it unrouted. The bridge's minute sweep (:func:`sweep`) and ``routes
    pending`` call this. Leads younger than ``settle`` are left to their own commit's routing.
    """
    now = now or timezone.now()
    return route_leads(unrouted_ids(since, settle, now), now)


def unrouted_ids(since: timedelta, settle: timedelta, now: datetime) -> list[int]:
    """Ids of the leads created between ``now - since`` and ``now - settle`` not routed yet."""
    return list(
        Lead.objects.filter(
            created_at__gte=now - since, created_at__lte=now - settle, routing__isnull=True
        ).values_list("pk", flat=True)
    )


def sweep() -> int:
    """The bridge's minute job: route what a crash left unrouted in the last hour."""
    plans = route_unrouted(timedelta(hours=1))
    if plans:
        logger.warning("routing: %d lead(s) left unrouted were routed by the sweep", len(plans))
    return len(plans)


def _route_once(lead_ids: list[int], now: datetime) -> list[Plan]:
    with transaction.atomic():
        mine = unrouted_and_locked(lead_ids)
        leads = load_leads(Lead.objects.filter(pk__in=mine).order_by("id")) if mine else []
        if not leads:
            return []
        rules = load_rules()
        plans = [plan_lead(lead, rules, now) for lead in leads]
        LeadRouting.objects.bulk_create([routing_record(plan) for plan in plans])
        enqueue_plans(plans)
    for plan in plans:
        log_plan(plan)
    return plans


def unrouted_and_locked(lead_ids: list[int]) -> list[int]:
    """The unrouted leads among ``lead_ids``, locked for this transaction; leads another
    router holds are skipped (it is routing them), so two routers meeting over the same
    leads — a routing task and the sweep, or two tasks — never both try (PostgreSQL; on
    SQLite, whose writers take turns, the unique routing row settles it)."""
    unrouted = Lead.objects.filter(pk__in=lead_ids, routing__isnull=True).order_by("id")
    return list(
        unrouted.select_for_update(skip_locked=True, of=("self",)).values_list("pk", flat=True)
    )


def routing_record(plan: Plan) -> LeadRouting:
    """The lead's routing row: the rules matched, what was queued and what was skipped."""
    return LeadRouting(
        lead=plan.lead,
        rules=plan.rules,
        fallback=plan.fallback,
        targets=[target.as_record() for target in plan.targets],
        skipped=plan.skipped,
    )


def enqueue_plans(plans: list[Plan]) -> int:
    """Queue every plan's targets, one outbox batch per (rule, account, operation, options,
    due time); returns how many deliveries were queued."""
    groups: dict[tuple, list[int]] = defaultdict(list)
    targets = {}
    for plan in plans:
        for target in plan.targets:
            key = (
                target.rule,
                target.account.pk,
                target.operation,
                json.dumps(target.options, sort_keys=True, default=str),
                target.due_at,
            )
            groups[key].append(plan.lead.pk)
            targets[key] = target
    for key, lead_ids in groups.items():
        target = targets[key]
        outbox.enqueue(
            Lead,
            {target.account: lead_ids},
            operation=target.operation,
            params={target.account.pk: target.options},
            description=(f"Routing rule '{target.rule}'" if target.rule else "Routing fallback")
            + f": {len(lead_ids)} new lead(s) to {target.account.name}",
            due_at=target.due_at,
        )
    return sum(len(ids) for ids in groups.values())


def log_plan(plan: Plan) -> None:
    """One line per routed lead, and a warning per target it could not go to."""
    lead_id = plan.lead.pk
    if not plan.rules and not plan.fallback:
        logger.info("routing lead=%s: no rule matched, nothing queued", lead_id)
    for target in plan.targets:
        logger.info(
            "routing lead=%s rule=%s account=%s operation=%s due=%s",
            lead_id,
            target.rule or "(fallback)",
            target.account.name,
            target.operation,
            target.due_at.isoformat() if target.due_at else "now",
        )
    for skip in plan.skipped:
        logger.warning(
            "routing lead=%s rule=%s account=%s not queued: %s",
            lead_id,
            skip["rule"] or "(fallback)",
            skip["account"],
            skip["reason"],
        )
