"""Default provider accounts from the environment: created, updated, idempotent, validated."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from bridge.env_accounts import EnvAccountError, apply_env_accounts
from bridge.models import ProviderAccount

ALL = {
    "AELLO_API_KEY": "env-aello-key-0001",
    "AELLO_ENVIRONMENT": "sandbox",
    "AELLO_BASE_URL": "",
    "LEELOO_AUTH_TOKEN": "env-leeloo-token-0001",
    "LEELOO_BASE_URL": "http://127.0.0.1:8765/leeloo",
    "AIPLOYEES_TOKEN": "env-aiployees-token-0001",
    "AIPLOYEES_BASE_URL": "",
    "AIPLOYEES_CAMPAIGN_ID": "7",
    "ALOWARE_API_TOKEN": "env-aloware-token-0001",
    "ALOWARE_BASE_URL": "",
}
CREDENTIALS = ("AELLO_API_KEY", "LEELOO_AUTH_TOKEN", "AIPLOYEES_TOKEN", "ALOWARE_API_TOKEN")


def run(values):
    out = StringIO()
    with override_settings(PROVIDER_ENV_ACCOUNTS=values):
        call_command("env_accounts", stdout=out)
    return out.getvalue()


def accounts():
    return {account.name: account for account in ProviderAccount.objects.all()}


@pytest.mark.django_db
def test_every_set_credential_creates_an_account_named_after_its_provider():
    output = run(ALL)

    found = accounts()
    assert set(found) == {"aello", "leeloo", "aiployees", "aloware"}
    assert {name: account.provider for name, account in found.items()} == {
        "aello": "aello",
        "leeloo": "leeloo",
        "aiployees": "aiployees",
        "aloware": "aloware",
    }
    assert found["aello"].credential.reveal() == "env-aello-key-0001"
    assert found["aello"].environment == "sandbox"
    assert found["aello"].effective_base_url == "https://api.customers.sandbox.aello-copilot.com"
    assert found["leeloo"].base_url == "http://127.0.0.1:8765/leeloo"
    assert found["aiployees"].options == {"campaign_id": 7}
    assert found["aloware"].environment == "production" and found["aloware"].base_url == ""
    assert output.count(": created") == 4
    for variable in CREDENTIALS:
        assert ALL[variable] not in output


@pytest.mark.django_db
def test_running_again_changes_nothing():
    run(ALL)
    before = {name: account.updated_at for name, account in accounts().items()}

    output = run(ALL)

    assert output.count(": unchanged") == 4
    assert {name: account.updated_at for name, account in accounts().items()} == before


@pytest.mark.django_db
def test_a_changed_variable_updates_the_account_and_keeps_admin_options():
    run(ALL)
    aiployees = ProviderAccount.objects.get(name="aiployees")
    aiployees.options = {**aiployees.options, "variable_map": {"company": "company_name"}}
    aiployees.save()

    output = run(
        {**ALL, "AIPLOYEES_TOKEN": "env-aiployees-token-0002", "AIPLOYEES_CAMPAIGN_ID": "9"}
    )

    aiployees.refresh_from_db()
    assert aiployees.credential.reveal() == "env-aiployees-token-0002"
    assert aiployees.options == {"campaign_id": 9, "variable_map": {"company": "company_name"}}
    assert "aiployees: updated (credential, options" in output
    assert "env-aiployees-token-0002" not in output


@pytest.mark.django_db
def test_providers_without_a_credential_are_skipped():
    output = run({"AELLO_API_KEY": "env-aello-key-0001", "AIPLOYEES_CAMPAIGN_ID": "3"})

    assert set(accounts()) == {"aello"}
    assert accounts()["aello"].environment == "production"
    assert "aiployees: skipped (AIPLOYEES_TOKEN is not set)" in output


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("values", "variable"),
    [
        ({"AELLO_API_KEY": "k-0001", "AELLO_ENVIRONMENT": "staging"}, "AELLO_ENVIRONMENT"),
        ({"AELLO_API_KEY": "k-0001", "AELLO_BASE_URL": "not a url"}, "AELLO_BASE_URL"),
        ({"AIPLOYEES_TOKEN": "t-0001", "AIPLOYEES_CAMPAIGN_ID": "seven"}, "AIPLOYEES_CAMPAIGN_ID"),
        ({"AIPLOYEES_TOKEN": "t-0001", "AIPLOYEES_CAMPAIGN_ID": "0"}, "AIPLOYEES_CAMPAIGN_ID"),
    ],
)
def test_bad_values_stop_with_an_error_naming_the_variable(values, variable):
    with pytest.raises(CommandError) as caught:
        run(values)

    assert variable in str(caught.value)
    assert not ProviderAccount.objects.exists()


@pytest.mark.django_db
def test_an_account_of_another_provider_with_the_name_is_not_taken_over(make_account):
    make_account("leeloo", name="aello")

    with pytest.raises(EnvAccountError) as caught:
        apply_env_accounts({"AELLO_API_KEY": "env-aello-key-0001"})

    assert "already exists for provider 'leeloo'" in str(caught.value)
    assert ProviderAccount.objects.get(name="aello").provider == "leeloo"


@pytest.mark.django_db(transaction=True)
def test_migrate_applies_them():
    with override_settings(PROVIDER_ENV_ACCOUNTS={"ALOWARE_API_TOKEN": "env-aloware-token-0001"}):
        call_command("migrate", verbosity=0, interactive=False)

    aloware = ProviderAccount.objects.get(name="aloware")
    assert aloware.provider == "aloware"
    assert aloware.credential.reveal() == "env-aloware-token-0001"
