"""An account's receiver URL and what staff paste where (the account page, ``webhook_url``)."""

from __future__ import annotations

from django.urls import reverse

from bridge.conf import bridge_setting
from bridge.models import ProviderAccount


def webhook_path(account: ProviderAccount) -> str:
    """``/hooks/<account>/<token>/`` (the token revealed: only for staff pages and the CLI)."""
    return reverse(
        "bridge_webhook",
        kwargs={"account": account.name, "token": account.webhook_token.reveal()},
    )


def webhook_url(account: ProviderAccount, base: str = "") -> str:
    """The full receiver URL, on ``base`` or BRIDGE_PUBLIC_URL (the address providers reach)."""
    base = base or bridge_setting("BRIDGE_PUBLIC_URL", "http://127.0.0.1:8000")
    return base.rstrip("/") + webhook_path(account)


def auth_credential(account: ProviderAccount) -> dict[str, str]:
    """What to enter in the provider's authentication settings, when the account asks for
    a header: Basic's username and password, or the Bearer token; {} otherwise."""
    secret = account.webhook_secret.reveal()
    if account.webhook_auth == "basic":
        return {"method": "Basic", "username": account.name, "password": secret}
    if account.webhook_auth == "bearer":
        return {"method": "Bearer", "token": secret}
    return {}


def setup_steps(account: ProviderAccount) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(where to paste the URL, what the bridge maps) for the account's provider."""
    reader = account.provider_class.events
    return (reader.setup.steps, reader.setup.mapped) if reader else ((), ())
