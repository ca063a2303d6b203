"""The table of resources: what each one's run pulls and how many records it has linked.

The sync machinery (runs, schedules, reconcile) reads the resources from here.
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

from . import catalog, orders, people
from .context import Context

#: Providers whose accounts sync: those that declare resources (``Provider.syncs``).
SYNC_PROVIDERS = registry.syncing_providers()
RESOURCES = tuple(SyncState.Resource.values)
#: The order ``sync`` runs them in when none is named: tags and people before what links to them.
RUN_ORDER = ("tags", "users", "people", "channels", "orders", "tunnels", "templates")
#: Resources read through a ``filter[last_message]`` window from the cursor.
WINDOWED = ("people", "channels")


def can_sync(account: ProviderAccount) -> bool:
    """Whether this account's provider has anything to pull."""
    return account.provider in SYNC_PROVIDERS


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
