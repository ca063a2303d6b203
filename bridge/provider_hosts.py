"""Where an account may send its credential: the provider's documented hosts, or an allowlist.

A provider account's base URL decides which host receives its stored key with every call, so
it is a credential-bearing setting. The rules, applied by the model (every path) and the
account form (staff):

- the provider's documented hosts (``Provider.documented_hosts``) are always allowed;
- hosts in ``BRIDGE_ALLOWED_PROVIDER_HOSTS`` (the local fake providers on 127.0.0.1 in the
  demo and the tests; a company proxy in production) are allowed too;
- https is required everywhere except on an allowlisted host;
- any other host only when the change comes from a trusted source: a superuser in the admin,
  or the operator's environment variables (``*_BASE_URL``).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError


def allowlisted_hosts() -> frozenset[str]:
    """``BRIDGE_ALLOWED_PROVIDER_HOSTS``, lower-cased."""
    hosts = getattr(settings, "BRIDGE_ALLOWED_PROVIDER_HOSTS", ()) or ()
    return frozenset(host.strip().lower() for host in hosts if host.strip())


def host_of(url: str) -> str:
    """The host name of ``url``, lower-cased ("" when it has none)."""
    return (urlsplit(url).hostname or "").lower()


def check_scheme(url: str, provider_class=None) -> None:
    """https, unless the host is allowlisted (the local fakes speak plain http).

    ``provider_class`` is unused: the argument makes both checks callable alike.
    """
    parts = urlsplit(url)
    if parts.scheme == "https" or host_of(url) in allowlisted_hosts():
        return
    raise ValidationError(
        {
            "base_url": f"Use https: the credential travels with every call, and "
            f"{parts.scheme or 'a URL without a scheme'} is allowed only for hosts in "
            "BRIDGE_ALLOWED_PROVIDER_HOSTS."
        },
        code="insecure_scheme",
    )


def check_host(url: str, provider_class) -> None:
    """Refuse a host that is neither the provider's documented one nor allowlisted."""
    host = host_of(url)
    documented = provider_class.documented_hosts()
    if host in documented or host in allowlisted_hosts():
        return
    choices = ", ".join(sorted(documented)) or "none documented"
    raise ValidationError(
        {
            "base_url": f"{host or 'This URL'} is not one of {provider_class.name}'s hosts "
            f"({choices}). Only a superuser may point an account elsewhere, or an operator "
            "may add the host to BRIDGE_ALLOWED_PROVIDER_HOSTS."
        },
        code="host_not_allowed",
    )


def check_sandbox(provider_class, environment: str, url: str) -> None:
    """A sandbox account of a provider with no documented sandbox host must name its URL."""
    if environment != "sandbox" or url or provider_class.default_base_url("sandbox"):
        return
    raise ValidationError(
        {
            "base_url": f"{provider_class.name} documents no sandbox host, so a sandbox "
            "account without a base URL would send to production. Set the base URL of your "
            "sandbox, or choose Production."
        },
        code="sandbox_without_url",
    )
