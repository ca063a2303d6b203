"""The "Test connection" button: one harmless authenticated read where the provider has one,
the checks that need no call where it has none — over real HTTP to the fake providers."""

import socket

import pytest
from django.contrib.auth.models import Permission, User
from django.contrib.messages import get_messages
from django.urls import reverse

from bridge.models import ProviderAccount
from integrations.connection import test_connection as run_test


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize(
    "provider, path",
    [("leeloo", "/api/v2/users"), ("aiployees", "/api/user/leads")],
)
def test_a_provider_with_a_read_is_asked_once_with_the_accounts_credential(
    fake_account, fakes, provider, path
):
    account = fake_account(provider)
    result = run_test(account.client())
    assert result.ok is True, result.summary
    assert f"GET {path}" in result.summary and "Connected" in result.summary
    calls = fakes.requests_for(provider)
    assert [(c.method, c.path) for c in calls] == [("GET", path)]
    assert account.credential.reveal() not in result.summary


@pytest.mark.parametrize("provider", ["leeloo", "aiployees"])
def test_a_refused_credential_says_what_the_provider_answered(fake_account, provider):
    account = fake_account(provider, credential="not-the-right-token-1234")
    result = run_test(account.client())
    assert result.ok is False
    assert "answered HTTP 401" in result.summary
    assert "not-the-right-token-1234" not in result.summary
    account.refresh_from_db()
    assert not account.paused  # a test is not a push: the account policy does not apply


@pytest.mark.parametrize("provider", ["aello", "aloware"])
def test_a_provider_with_only_writes_is_sent_nothing(fake_account, fakes, provider):
    account = fake_account(provider)
    result = run_test(account.client())
    assert result.ok is None
    assert "nothing was sent" in result.summary and "accepts connections" in result.summary
    assert fakes.requests_for(provider) == []  # no lead created to test the account


def test_an_unreachable_host_is_a_failure_naming_it(make_account, settings):
    port = closed_port()
    account = make_account("aello", base_url=f"http://127.0.0.1:{port}/aello")
    result = run_test(account.client())
    assert result.ok is False
    assert f"127.0.0.1:{port} did not accept a connection" in result.summary


def test_no_credential_is_a_failure_naming_the_account(fake_account):
    account = fake_account("aello", credential="")
    result = run_test(account.client())
    assert result.ok is False
    assert "has no credential" in result.summary


def test_the_account_page_button_tests_and_says_how_it_went(fake_account, admin_client):
    account = fake_account("leeloo")
    page = admin_client.get(reverse("admin:bridge_provideraccount_change", args=[account.pk]))
    test_url = reverse("admin:bridge_provideraccount_test", args=[account.pk])
    assert test_url in page.content.decode()
    response = admin_client.post(test_url)
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:bridge_provideraccount_change", args=[account.pk])
    [message] = get_messages(response.wsgi_request)
    assert message.level_tag == "success" and "Connected" in str(message)
    assert admin_client.get(test_url).status_code == 405


def test_a_viewer_neither_sees_nor_runs_the_test(fake_account, client, fakes):
    account = fake_account("leeloo")
    viewer = User.objects.create_user("viewer", password="pw-123456-abc", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_provideraccount"))
    client.force_login(viewer)
    page = client.get(reverse("admin:bridge_provideraccount_change", args=[account.pk]))
    test_url = reverse("admin:bridge_provideraccount_test", args=[account.pk])
    assert page.status_code == 200 and test_url not in page.content.decode()
    assert client.post(test_url).status_code == 403
    assert fakes.requests_for("leeloo") == []


def test_an_account_id_that_is_not_a_number_is_a_404(admin_client):
    url = reverse("admin:bridge_provideraccount_test", args=["abc"])
    assert admin_client.post(url).status_code == 404
    assert not ProviderAccount.objects.exists()
