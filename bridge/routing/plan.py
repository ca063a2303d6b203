"""Deciding a lead's pushes: the rules in order, stop after match, the fallback, the skips.

Nothing is written here: :func:`plan_lead` returns a :class:`Plan`, which the engine records
and enqueues, and the admin's "test this rule" page shows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from bridge.models import Contact, Lead, ProviderAccount

from . import fallback
from .hours import due_time
from .rules import LoadedRule, facts_of
from .targets import Target

logger = logging.getLogger("bridge.routing")


@dataclass
class Plan:
    """What routing decided for one lead."""

    lead: Lead
    rules: list[str] = field(default_factory=list)
    fallback: bool = False
    targets: list[Target] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)

    def add(self, target: Target) -> None:
        """Queue ``target`` unless the lead cannot go there; a skip is kept with its reason."""
        reason = skip_reason(target, self.lead.contact, self.targets)
        if reason:
            self.skipped.append({**target.as_record(), "reason": reason})
        else:
            self.targets.append(target)


def unmet_requirement(provider, contact: Contact) -> str:
    """Why ``contact`` cannot go to ``provider`` (its contact requirements), "" when it can."""
    for group in provider.contact_requirements:
        if not any(getattr(contact, name, "") for name in group):
            return f"{provider.name} needs the contact's {' or '.join(group)}; it has none"
    return ""


def skip_reason(target: Target, contact: Contact, queued: list[Target]) -> str:
    """Why a target is not queued: a disabled account, an unmet requirement, a repeat."""
    account: ProviderAccount = target.account
    if not account.enabled:
        return f"account {account.name} is disabled"
    for earlier in queued:
        if earlier.account.pk == account.pk and earlier.operation == target.operation:
            return f"already sent to {account.name} by rule '{earlier.rule or 'fallback'}'"
    return unmet_requirement(account.provider_class, contact)


def timed_target(loaded: LoadedRule, rule_target, now: datetime) -> Target:
    """A rule's target with its due time: the rule's delay, then its business hours in the
    target account's time zone."""
    rule, account = loaded.rule, rule_target.account
    due = due_time(
        now,
        rule.delay_seconds,
        rule.day_numbers if rule.has_hours else None,
        rule.business_start,
        rule.business_end,
        account.zone,
    )
    return Target(
        account=account,
        operation=rule_target.operation,
        options=dict(rule_target.options or {}),
        rule=rule.name,
        due_at=due,
    )


def plan_lead(
    lead: Lead, rules: list[LoadedRule], now: datetime, use_fallback: bool = True
) -> Plan:
    """Try ``rules`` in order on ``lead``; without a match, its fallback targets."""
    plan = Plan(lead=lead)
    facts = facts_of(lead)
    for loaded in rules:
        if not loaded.matches(facts):
            continue
        plan.rules.append(loaded.rule.name)
        for rule_target in loaded.targets:
            plan.add(timed_target(loaded, rule_target, now))
        if loaded.rule.stop_after_match:
            break
    if not plan.rules and use_fallback:
        for target in fallback.fallback_targets(lead):
            plan.fallback = True
            plan.add(target)
    return plan
