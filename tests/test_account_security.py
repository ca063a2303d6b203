"""Where an account's credential may go, and how it is kept at rest in development.

- Only a superuser may point an account at a host that is not the provider's documented one
  or allowlisted (BRIDGE_ALLOWED_PROVIDER_HOSTS); https everywhere else.
- Changing the provider or base URL removes the stored credential unless a new one is typed.
- A sandbox account of a provider without a documented sandbox host must name its URL.
- Development runs encrypt with a key generated per checkout, and the admin says so.
"""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.test import override_settings
from django.urls import reverse

from bridge import outbox
from bridge.devkeys import legacy_encryption_key
from bridge.env_accounts import EnvAccountError, apply_env_accounts
from bridge.models import Delivery, Lead, ProviderAccount
from integrations.base import AccountConfig
from integrations.errors import ConfigurationError
from integrations.leeloo import LeelooProvider
from integrations.secrets import Secret

from .test_provider_calls import _Server

ROOT = Path(__file__).resolve().parent.parent
STORED = "aello-stored-key-0123456789"


@pytest.fixture
def account_manager(django_user_model, client):
    """Staff with the view and change permissions on accounts, and nothing more."""
    user = django_user_model.objects.create_user("manager", password="pw", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="bridge",
            codename__in=["view_provideraccount", "change_provideraccount"],
        )
    )
    client.force_login(user)
    return client


def account_form(account: ProviderAccount, **changes) -> dict:
    """The account's change form as the admin would post it, with ``changes`` applied."""
    form = {
        "name": account.name,
        "provider": account.provider,
        "environment": account.environment,
        "base_url": account.base_url,
        "enabled": "on",
        "new_credential": "",
        "options": json.dumps(account.options),
        "concurrency": str(account.concurrency),
        "requests_per_second": str(account.requests_per_second),
        "connect_timeout": str(account.connect_timeout),
        "read_timeout": str(account.read_timeout),
    }
    form.update(changes)
    return form


def change_url(account):
    return reverse("admin:bridge_provideraccount_change", args=[account.pk])


@pytest.mark.parametrize(
    "base_url, problem",
    [
        ("https://collector.attacker.example/aello", "is not one of Aéllo Copilot's hosts"),
        ("http://10.0.0.5:8080/internal", "Use https"),
        ("http://10.0.0.5:8080/internal", "10.0.0.5 is not one of Aéllo Copilot's hosts"),
        ("https://169.254.169.254/latest/meta-data", "is not one of Aéllo Copilot's hosts"),
    ],
)
def test_staff_who_are_not_superusers_cannot_point_an_account_elsewhere(
    account_manager, make_account, base_url, problem
):
    account = make_account("aello", credential=STORED)

    response = account_manager.post(change_url(account), account_form(account, base_url=base_url))

    assert response.status_code == 200  # the form again, with the error on the field
    errors = response.context["adminform"].form.errors
    assert problem in " ".join(errors["base_url"])
    account.refresh_from_db()
    assert account.base_url == "" and account.credential.reveal() == STORED


@pytest.mark.django_db(transaction=True)
def test_a_new_base_url_removes_the_stored_credential_so_it_never_reaches_that_host(
    account_manager, make_account, make_lead
):
    """The review's attack: change the URL to a host of one's own, then push or sync."""
    own_host = _Server(lambda handler: (202, {"Content-Type": "application/json"}, b"{}"))
    try:
        account = make_account("aello", credential=STORED, read_timeout=2.0)
        # localhost is allowlisted in the tests, so the form accepts the host itself…
        url = own_host.url.replace("127.0.0.1", "localhost")
        response = account_manager.post(change_url(account), account_form(account, base_url=url))
        assert response.status_code == 302
        account.refresh_from_db()
        # …but the credential given for the documented host is gone, and the page said so.
        assert account.base_url == url and not account.credential
        page = account_manager.get(response["Location"]).content.decode()
        assert "its stored credential was removed" in page

        batch = outbox.enqueue(Lead, {account: [make_lead().pk]})
        outbox.run_until_settled([account.pk], timeout=30)
    finally:
        own_host.close()

    delivery = batch.deliveries.get()
    assert delivery.state == Delivery.State.DEAD and "no credential" in delivery.error_message
    assert own_host.received == []  # nothing at all reached it, let alone the key


def test_a_superuser_may_name_another_https_host_and_type_its_credential(
    admin_client, make_account
):
    account = make_account("aello", credential=STORED)
    proxy = "https://aello-proxy.internal.example.com"

    typed = admin_client.post(
        change_url(account),
        account_form(account, base_url=proxy, new_credential="aello-proxy-key-000111"),
    )

    assert typed.status_code == 302
    account.refresh_from_db()
    assert account.base_url == proxy and account.credential.reveal() == "aello-proxy-key-000111"
    assert "credential was removed" not in admin_client.get(typed["Location"]).content.decode()


def test_https_is_required_outside_the_allowlist_even_for_a_superuser(admin_client, make_account):
    account = make_account("aello", credential=STORED)

    response = admin_client.post(
        change_url(account), account_form(account, base_url="http://aello-proxy.example.com")
    )

    assert response.status_code == 200
    assert "Use https" in " ".join(response.context["adminform"].form.errors["base_url"])
    account.refresh_from_db()
    assert account.base_url == "" and account.credential.reveal() == STORED


def test_other_edits_and_a_switch_of_environment_keep_the_credential(account_manager, make_account):
    account = make_account("aello", credential=STORED)

    response = account_manager.post(
        change_url(account), account_form(account, environment="sandbox", concurrency="2")
    )

    assert response.status_code == 302
    account.refresh_from_db()
    assert account.environment == "sandbox" and account.concurrency == 2
    assert account.credential.reveal() == STORED


def test_a_host_in_the_allowlist_setting_is_open_to_staff(account_manager, make_account):
    account = make_account("aello", credential=STORED)
    relay = "https://relay.company.example/aello"

    refused = account_manager.post(change_url(account), account_form(account, base_url=relay))
    with override_settings(BRIDGE_ALLOWED_PROVIDER_HOSTS=["relay.company.example"]):
        accepted = account_manager.post(
            change_url(account), account_form(account, base_url=relay, new_credential="k" * 20)
        )

    assert refused.status_code == 200 and accepted.status_code == 302
    account.refresh_from_db()
    assert account.base_url == relay and account.credential.reveal() == "k" * 20


@pytest.mark.django_db
def test_environment_accounts_keep_their_base_urls_and_need_https_outside_the_allowlist():
    values = {"LEELOO_AUTH_TOKEN": "env-leeloo-0001", "LEELOO_BASE_URL": ""}
    apply_env_accounts({**values, "LEELOO_BASE_URL": "https://leeloo-relay.example.com"})
    assert ProviderAccount.objects.get(name="leeloo").credential.reveal() == "env-leeloo-0001"

    with pytest.raises(EnvAccountError) as caught:
        apply_env_accounts({**values, "LEELOO_BASE_URL": "http://leeloo-relay.example.com"})
    assert "LEELOO_BASE_URL" in str(caught.value) and "Use https" in str(caught.value)


# --- sandbox without a documented sandbox host ---------------------------------------------


@pytest.mark.parametrize("provider", ["leeloo", "aiployees", "aloware"])
def test_a_sandbox_account_without_a_documented_sandbox_needs_a_base_url(make_account, provider):
    with pytest.raises(ValidationError) as caught:
        make_account(provider, environment="sandbox")

    message = " ".join(caught.value.message_dict["base_url"])
    assert "documents no sandbox host" in message and "would send to production" in message
    assert not ProviderAccount.objects.filter(provider=provider).exists()


def test_the_admin_refuses_such_a_sandbox_account_and_says_why(admin_client):
    response = admin_client.post(
        reverse("admin:bridge_provideraccount_add"),
        {
            "name": "aloware-sandbox",
            "provider": "aloware",
            "environment": "sandbox",
            "base_url": "",
            "enabled": "on",
            "new_credential": "aloware-token-00001",
            "options": "{}",
            "concurrency": "4",
            "requests_per_second": "10",
            "connect_timeout": "5",
            "read_timeout": "30",
        },
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["base_url"]
    assert "Aloware documents no sandbox host" in " ".join(errors)
    assert not ProviderAccount.objects.filter(name="aloware-sandbox").exists()


def test_aellos_documented_sandbox_and_a_named_sandbox_url_are_accepted(make_account):
    aello = make_account("aello", name="aello-sandbox", environment="sandbox")
    leeloo = make_account(
        "leeloo", environment="sandbox", base_url="https://sandbox.leeloo.example.com"
    )
    assert aello.client().base_url == "https://api.customers.sandbox.aello-copilot.com"
    assert leeloo.client().base_url == "https://sandbox.leeloo.example.com"


def test_a_client_never_falls_back_from_sandbox_to_production():
    client = LeelooProvider(
        AccountConfig(
            name="old-row", provider="leeloo", credential=Secret("t"), environment="sandbox"
        )
    )
    with pytest.raises(ConfigurationError) as caught:
        client.request("GET", "/api/v2/tags")
    assert "documents no sandbox URL" in str(caught.value)


# --- development keys ------------------------------------------------------------------------

KEYS = (
    "import json; from bridge import settings as s; "
    "print(json.dumps({'secret': s.SECRET_KEY, 'keys': s.FIELD_ENCRYPTION_KEYS, "
    "'dev': s.FIELD_ENCRYPTION_KEY_IS_DEVELOPMENT}))"
)


def development_settings(folder: Path) -> dict:
    """Settings as a DEBUG run without keys loads them, keys kept in ``folder``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"SECRET_KEY", "FIELD_ENCRYPTION_KEY", "DJANGO_SETTINGS_MODULE"}
    }
    env.update(DEBUG="true", BRIDGE_DEV_KEYS_DIR=str(folder))
    result = subprocess.run(
        [sys.executable, "-c", KEYS], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_each_checkout_generates_its_own_development_keys_and_keeps_them(tmp_path):
    first = development_settings(tmp_path / "one")
    again = development_settings(tmp_path / "one")
    other = development_settings(tmp_path / "two")

    assert first == again  # kept: what was encrypted yesterday still opens
    assert first["dev"] is True
    assert first["keys"][0] != other["keys"][0] and first["secret"] != other["secret"]
    assert first["keys"][0] != legacy_encryption_key()
    for name in ("dev-field-encryption-key", "dev-secret-key"):
        mode = stat.S_IMODE((tmp_path / "one" / name).stat().st_mode)
        assert mode == 0o600, f"{name} is readable by others ({oct(mode)})"


def test_a_set_key_is_not_a_development_key(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update(
        DEBUG="true",
        BRIDGE_DEV_KEYS_DIR=str(tmp_path),
        SECRET_KEY="s" * 50,
        FIELD_ENCRYPTION_KEY="aGVsbG8tdGVzdC1rZXktMzItYnl0ZXMtbG9uZy0hISE=",
    )
    result = subprocess.run(
        [sys.executable, "-c", KEYS], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["dev"] is False
    assert not any(tmp_path.iterdir())


def test_the_admin_warns_while_the_development_key_is_in_use(admin_client):
    with override_settings(FIELD_ENCRYPTION_KEY_IS_DEVELOPMENT=True):
        warned = admin_client.get(reverse("admin:bridge_provideraccount_changelist"))
    with override_settings(FIELD_ENCRYPTION_KEY_IS_DEVELOPMENT=False):
        quiet = admin_client.get(reverse("admin:bridge_provideraccount_changelist"))

    assert "Development encryption key in use" in warned.content.decode()
    assert "Development encryption key in use" not in quiet.content.decode()
