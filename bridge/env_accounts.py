"""Default provider accounts configured from the environment (12-factor set-up, no admin clicks).

For every provider whose credential variable is set (``AELLO_API_KEY``, ``LEELOO_AUTH_TOKEN``,
…: each provider class declares its variables, ``env = EnvVars(…)`` in integrations/), an
account named after the provider is created or updated from ``settings.PROVIDER_ENV_ACCOUNTS``.
It runs after every ``migrate`` (post_migrate, ``bridge/apps.py``) and on demand with
``python manage.py env_accounts``; running it twice changes nothing.

The environment owns what it sets: the credential, the base URL (blank = the documented URL)
and, for Aéllo, the environment. Account options are merged, so options staff set in the admin
(a variable map, a ring group) survive; only the options a variable names are overwritten.
A bad value stops with an error that names the variable.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError

from integrations import registry
from integrations.secrets import Secret

logger = logging.getLogger("bridge.env_accounts")


class EnvAccountError(ImproperlyConfigured):
    """A provider variable holds a value the bridge cannot use; the message names it."""


def positive_integer(variable: str, value: str) -> int:
    """An id such as a campaign id: digits only, above zero."""
    text = value.strip()
    if not text.isdigit() or int(text) <= 0:
        raise EnvAccountError(f"{variable} must be a positive integer (an id), not '{text}'.")
    return int(text)


@dataclass(frozen=True)
class EnvAccountSpec:
    """Which variables configure one provider's default account."""

    provider: str
    credential: str
    base_url: str
    environment: str = ""
    #: option name -> (variable, parser turning the text into the stored value)
    options: dict[str, tuple[str, Callable[[str, str], object]]] = field(default_factory=dict)


#: The parsers a provider's ``EnvVars.options`` may name.
PARSERS: dict[str, Callable[[str, str], object]] = {"positive_integer": positive_integer}


def spec_for(provider: str, variables) -> EnvAccountSpec:
    """One provider's spec from the ``EnvVars`` declared on its class (integrations/)."""
    options = {}
    for option, (variable, parser) in variables.options.items():
        if parser not in PARSERS:
            raise ImproperlyConfigured(
                f"{provider}: {variable} names the parser '{parser}', which bridge/env_accounts.py "
                f"does not have (known: {', '.join(PARSERS)})."
            )
        options[option] = (variable, PARSERS[parser])
    return EnvAccountSpec(
        provider,
        variables.credential,
        variables.base_url,
        environment=variables.environment,
        options=options,
    )


#: Every provider's spec, in the registry's order.
SPECS = tuple(spec_for(provider, variables) for provider, variables in registry.env_vars().items())

ENVIRONMENTS = ("production", "sandbox")


@dataclass
class EnvAccountResult:
    """What happened to one provider's account: created, updated, unchanged or skipped."""

    provider: str
    action: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.provider}: {self.action}" + (f" ({self.detail})" if self.detail else "")


def _environment(spec: EnvAccountSpec, values: dict) -> str:
    value = (values.get(spec.environment) or "production").strip().lower()
    if value not in ENVIRONMENTS:
        raise EnvAccountError(
            f"{spec.environment} must be one of {', '.join(ENVIRONMENTS)}, not '{value}'."
        )
    return value


def _options(spec: EnvAccountSpec, values: dict) -> dict:
    chosen = {}
    for option, (variable, parse) in spec.options.items():
        text = (values.get(variable) or "").strip()
        if text:
            chosen[option] = parse(variable, text)
    return chosen


def _validate(account, spec: EnvAccountSpec) -> None:
    """The model's own checks (URL syntax…), reported by variable rather than by field."""
    variables = {"base_url": spec.base_url, "environment": spec.environment}
    try:
        account.full_clean()
    except ValidationError as exc:
        problems = []
        for field_name, messages in exc.message_dict.items():
            label = variables.get(field_name) or field_name
            problems.append(f"{label}: {' '.join(messages)}")
        raise EnvAccountError(
            f"The {spec.provider} account from the environment is invalid: " + "; ".join(problems)
        ) from None


def apply_spec(spec: EnvAccountSpec, values: dict, model) -> EnvAccountResult:
    """Create or update one provider's account from ``values``; skip it without a credential."""
    credential = (values.get(spec.credential) or "").strip()
    if not credential:
        return EnvAccountResult(spec.provider, "skipped", f"{spec.credential} is not set")
    wanted = {
        "credential": Secret(credential),
        "base_url": (values.get(spec.base_url) or "").strip(),
    }
    if spec.environment:
        wanted["environment"] = _environment(spec, values)
    new_options = _options(spec, values)

    account = model._default_manager.filter(name=spec.provider).first()
    if account is not None and account.provider != spec.provider:
        raise EnvAccountError(
            f"An account named '{spec.provider}' already exists for provider "
            f"'{account.provider}'; rename it so {spec.credential} can configure its own."
        )
    created = account is None
    if created:
        account = model(name=spec.provider, provider=spec.provider)
    changed = [name for name, value in wanted.items() if getattr(account, name) != value]
    options = {**(account.options or {}), **new_options}
    if options != (account.options or {}):
        changed.append("options")
    if not created and not changed:
        return EnvAccountResult(spec.provider, "unchanged", _describe(account))
    for name, value in wanted.items():
        setattr(account, name, value)
    account.options = options
    _validate(account, spec)
    account.save()
    if created:
        return EnvAccountResult(spec.provider, "created", _describe(account))
    return EnvAccountResult(spec.provider, "updated", f"{', '.join(changed)}; {_describe(account)}")


def _describe(account) -> str:
    """Where the account points, never its credential."""
    where = account.base_url or f"{account.environment} URL"
    options = ", ".join(f"{k}={v}" for k, v in sorted((account.options or {}).items()))
    return f"{where}" + (f"; options {options}" if options else "")


def apply_env_accounts(values: dict | None = None, model=None) -> list[EnvAccountResult]:
    """Apply every provider's variables (default: ``settings.PROVIDER_ENV_ACCOUNTS``).

    ``model`` lets the post_migrate hook pass the migration state's ProviderAccount.
    """
    if values is None:
        values = getattr(settings, "PROVIDER_ENV_ACCOUNTS", {}) or {}
    if model is None:
        from bridge.models import ProviderAccount as model
    return [apply_spec(spec, values, model) for spec in SPECS]


def apply_after_migrate(sender, apps=None, using="default", **kwargs) -> None:
    """post_migrate receiver: apply the variables once the accounts table exists.

    It uses the migration state's model, so a migrate to an older state does not trip over
    columns that are not there yet.
    """
    if using != "default":
        return
    try:
        model = apps.get_model("bridge", "ProviderAccount") if apps else None
    except LookupError:  # migrated back to before the accounts table
        return
    for result in apply_env_accounts(model=model):
        if result.action != "skipped":
            logger.info("provider account from the environment: %s", result)
