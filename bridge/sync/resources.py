"""The table of resources: what each one's run stores and how many records it has linked.

The sync machinery (runs, schedules, reconcile) reads the resources from here. Which
resources an account syncs, and how each is read, is its provider's declaration
(``Provider.syncs``, ``integrations.syncing.SyncedResource``); the storing side of each
resource (its pull function: mirror models, upsert rules) is the bridge's, keyed by name.
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.contenttypes.models import ContentType

from bridge.models import (
    Channel,
    Connection,
    Contact,
    Lead,
    LeelooUser,
    Order,
    ProviderAccount,
    RemoteLink,
    SyncState,
    Tag,
    Template,
    TemplateCategory,
    Tunnel,
)
from integrations import registry
from integrations.syncing import SyncedResource

from . import catalog, orders, people
from .context import Context

#: Providers whose accounts sync: those that declare resources (``Provider.syncs``), as the
#: registry lists them at start-up (:func:`sync_providers` asks it again).
SYNC_PROVIDERS = registry.syncing_providers()
RESOURCES = tuple(SyncState.Resource.values)
#: The order ``sync`` runs them in when none is named: tags and people before what links to them.
RUN_ORDER = ("tags", "users", "people", "channels", "orders", "tunnels", "templates")
#: Resources some provider reads through a window from the cursor (``SyncedResource.window``).
WINDOWED = tuple(
    dict.fromkeys(
        resource.name
        for provider_id in SYNC_PROVIDERS
        for resource in registry.get_provider_class(provider_id).syncs
        if resource.windowed
    )
)


def sync_providers() -> tuple[str, ...]:
    """Ids of the providers whose accounts sync (the registry's, asked now)."""
    return registry.syncing_providers()


def can_sync(account: ProviderAccount) -> bool:
    """Whether this account's provider has anything to pull."""
    return account.provider in sync_providers()


def synced(account: ProviderAccount) -> tuple[str, ...]:
    """The resources the account's provider declares, in :data:`RESOURCES` order (none for a
    provider that does not sync)."""
    if not can_sync(account):
        return ()
    declared = account.provider_class.synced_names()
    return tuple(resource for resource in RESOURCES if resource in declared)


def declaration(account: ProviderAccount, resource: str) -> SyncedResource:
    """How the account's provider says ``resource`` is read."""
    return account.provider_class.synced_resource(resource)


PULLS: dict[str, Callable[[Context], None]] = {
    "people": people.pull_people,
    "orders": orders.pull_orders,
    "tags": catalog.pull_tags,
    "tunnels": catalog.pull_tunnels,
    "users": catalog.pull_users,
    "channels": catalog.pull_channels,
    "templates": catalog.pull_templates,
}


def _links_of(*models_):
    """Remote ids linked to these models: a lead and its contact may both be one person."""

    def count(account: ProviderAccount) -> int:
        types = ContentType.objects.get_for_models(*models_).values()
        linked = RemoteLink.objects.filter(account=account, content_type__in=types)
        if len(models_) == 1:
            return linked.count()
        return linked.values("remote_id").distinct().count()

    return count


def _rows_of(*models_):
    def count(account: ProviderAccount) -> int:
        return sum(model.objects.filter(account=account).count() for model in models_)

    return count


#: How many of a resource's records the account has linked locally (shown beside the total).
LINKED: dict[str, Callable[[ProviderAccount], int]] = {
    "people": _links_of(Contact, Lead),
    "orders": _links_of(Order),
    "tags": _links_of(Tag),
    "tunnels": _links_of(Tunnel),
    "users": _rows_of(LeelooUser),
    "channels": _rows_of(Channel, Connection),
    "templates": _rows_of(TemplateCategory, Template),
}
