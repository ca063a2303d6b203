"""Provider environment variables are declared beside each provider class, and only there.

``bridge/settings.py`` reads and ``bridge/env_accounts.py`` applies what the classes declare
(``env = EnvVars(…)``); ``.env.example`` documents each variable.
"""

import re
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from bridge import env_accounts
from bridge import settings as bridge_settings
from integrations import registry
from integrations.base import EnvVars

ROOT = Path(__file__).resolve().parent.parent


def declared_variables() -> list[str]:
    return [name for variables in registry.env_vars().values() for name in variables.names()]


def test_every_provider_declares_its_variables():
    assert set(registry.env_vars()) == set(registry.providers())
    assert "AIPLOYEES_CAMPAIGN_ID" in declared_variables()


def test_settings_read_exactly_the_declared_variables():
    assert list(bridge_settings.PROVIDER_ENV_ACCOUNTS) == declared_variables()


def test_env_accounts_apply_each_providers_declaration():
    specs = {spec.provider: spec for spec in env_accounts.SPECS}
    for provider, variables in registry.env_vars().items():
        spec = specs[provider]
        assert (spec.credential, spec.base_url, spec.environment) == (
            variables.credential,
            variables.base_url,
            variables.environment,
        )
        assert {name: var for name, (var, _) in spec.options.items()} == {
            name: var for name, (var, _) in variables.options.items()
        }


def test_env_example_documents_every_declared_variable():
    documented = set(re.findall(r"^([A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M))
    missing = [name for name in declared_variables() if name not in documented]
    assert missing == [], f"add a commented line for each to .env.example: {missing}"


def test_an_unknown_parser_name_is_refused_naming_the_variable():
    variables = EnvVars("X_TOKEN", "X_BASE_URL", options={"campaign_id": ("X_CAMPAIGN", "roman")})
    with pytest.raises(ImproperlyConfigured, match="X_CAMPAIGN names the parser 'roman'"):
        env_accounts.spec_for("x", variables)
