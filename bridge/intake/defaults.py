"""An intake source's default routing: where its leads go when no routing rule matched.

Routing (``bridge.routing.fallback_targets``) asks here for a lead that no rule took; the
answer is the accounts the lead's source names, each with its push options.
"""

from __future__ import annotations

from bridge.models import IntakeSource, Lead, ProviderAccount


def default_targets(lead: Lead) -> list[tuple[ProviderAccount, dict]]:
    """(account, push options) for each enabled default account of the lead's intake source.

    [] when the lead's source is no intake source's name, or that source is disabled. Two
    queries at most: the source, then its accounts.
    """
    if not lead.source:
        return []
    source = IntakeSource.objects.filter(name=lead.source, enabled=True).first()
    if source is None:
        return []
    options = source.default_push_options or {}
    accounts = source.default_accounts.filter(enabled=True).order_by("name")
    return [(account, dict(options.get(str(account.pk)) or {})) for account in accounts]
