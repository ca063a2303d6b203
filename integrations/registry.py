"""The one explicit list of providers, and lookups over it.

The account form's provider choices, the admin's "Push to…" list and the fake providers all come
from here. Adding a provider is one module, one line below, its tests and its fake
(docs/adding-a-provider.md).
"""

from __future__ import annotations

from functools import cache
from importlib import import_module

from .base import EnvVars, Provider

PROVIDER_CLASSES = (
    "integrations.aello.AelloProvider",
    "integrations.leeloo.LeelooProvider",
    "integrations.aiployees.AiployeesProvider",
    "integrations.aloware.AlowareProvider",
)


@cache
def providers() -> dict[str, type[Provider]]:
    """Provider classes by id, in the order above."""
    found = {}
    for dotted in PROVIDER_CLASSES:
        module_name, class_name = dotted.rsplit(".", 1)
        cls = getattr(import_module(module_name), class_name)
        found[cls.id] = cls
    return found


def get_provider_class(provider_id: str) -> type[Provider]:
    """The class for ``provider_id``; a KeyError that lists the known ids otherwise."""
    try:
        return providers()[provider_id]
    except KeyError:
        known = ", ".join(providers())
        raise KeyError(f"Unknown provider '{provider_id}' (known: {known})") from None


def env_vars() -> dict[str, EnvVars]:
    """Each provider's environment variables for its default account, by provider id.

    ``bridge/settings.py`` reads these names while Django is still starting: this module and
    the provider modules import nothing of Django.
    """
    return {cls.id: cls.env for cls in providers().values() if cls.env is not None}


def syncing_providers() -> tuple[str, ...]:
    """Ids of the providers whose accounts the bridge pulls from (``Provider.syncs``)."""
    return tuple(cls.id for cls in providers().values() if cls.syncs)


def as_choices() -> list[tuple[str, str]]:
    """(id, display name) pairs for form and model choices."""
    return [(cls.id, cls.name) for cls in providers().values()]
