"""Where a lead goes when no routing rule matched it.

For now nowhere: the lead engineer wires this to the lead's intake source's default routing
(``IntakeSource.default_accounts`` and ``default_push_options``) at merge.
"""

from __future__ import annotations

from bridge.models import Lead

from .targets import Target


def fallback_targets(lead: Lead) -> list[Target]:
    """The pushes a lead gets when no rule matched it (none yet)."""
    return []
