"""Routing: every new lead, from any entry, pushed where the routing rules say, once.

- :mod:`~bridge.routing.rules`: a rule's conditions against a lead;
- :mod:`~bridge.routing.hours`: a rule's delay and business hours, as a due time;
- :mod:`~bridge.routing.plan`: the rules in order for one lead, the fallback, the skips;
- :mod:`~bridge.routing.engine`: recording each lead's routing and queuing its pushes
  through the outbox (its claims, budget, retries and idempotency);
- :mod:`~bridge.routing.signals`: new leads routed when their transaction commits;
- :mod:`~bridge.routing.fallback`: where a lead goes when no rule matched.
"""

from .engine import route_leads, route_unrouted, sweep
from .fallback import fallback_targets
from .plan import Plan, plan_lead
from .rules import LoadedRule, facts_of, load_leads, load_rules
from .signals import connect_signals, route_task
from .targets import Target

__all__ = [
    "LoadedRule",
    "Plan",
    "Target",
    "connect_signals",
    "facts_of",
    "fallback_targets",
    "load_leads",
    "load_rules",
    "plan_lead",
    "route_leads",
    "route_task",
    "route_unrouted",
    "sweep",
]
