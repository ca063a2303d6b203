"""Where a lead goes when no routing rule matched it: its intake source's default routing.

A lead that came through the intake API carries its source's name (``Lead.source``); the
source may name default accounts with their push options (``IntakeSource.default_accounts``,
``default_push_options``, read by :func:`bridge.intake.defaults.default_targets`).
"""

from __future__ import annotations

from bridge.intake.defaults import default_targets
from bridge.models import Lead

from .targets import Target


def fallback_targets(lead: Lead) -> list[Target]:
    """The pushes a lead gets when no rule matched it: its intake source's default accounts."""
    return [Target(account, "push", options) for account, options in default_targets(lead)]
