"""Alert channels in Debian's Chromium: a webhook channel is made in the admin, its URL is shown
masked from then on, "Send a test alert" reaches the local webhook server and says so, and a
failing one names the channel and the problem; the alerts list shows what the job opened."""

import pytest

from bridge.alerts import run_alerts
from bridge.models import AlertChannel, ProviderAccount

from .conftest import log_in

pytest_plugins = ["tests.alert_fixtures"]
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_webhook_channel_is_made_masked_and_tested_from_the_admin(
    page, live_server, staff, hook, secret_path
):
    log_in(page, live_server)
    page.goto(f"{live_server.url}/admin/bridge/alertchannel/add/")
    page.fill("#id_name", "ops-slack")
    page.select_option("#id_kind", "webhook")
    page.fill("#id_url", hook.url())
    page.click("input[name=_save]")
    page.wait_for_selector("#result_list")
    channel = AlertChannel.objects.get(name="ops-slack")
    assert channel.plain_url() == hook.url()
    assert secret_path not in page.content()
    assert channel.destination in page.inner_text("#result_list")

    page.click("#result_list >> text=ops-slack")
    page.wait_for_selector(".alert-test-button")
    assert secret_path not in page.content()
    assert page.input_value("#id_url") == ""

    page.click(".alert-test-button")
    page.wait_for_selector(".messagelist .success")
    assert page.inner_text(".messagelist").strip() == (
        f"Test alert sent to ops-slack ({channel.destination})."
    )
    assert [request["path"] for request in hook.received] == [secret_path]
    assert "This is a test alert" in hook.texts()[0]

    hook.status = 500
    page.click(".alert-test-button")
    page.wait_for_selector(".messagelist .error")
    said = page.inner_text(".messagelist .error")
    assert said.startswith("The test alert was not sent: ops-slack (http://127.0.0.1:")
    assert "answered 500" in said and secret_path not in page.content()


def test_the_alerts_list_shows_what_broke_and_who_was_told(page, live_server, staff, hook):
    channel = AlertChannel(name="ops-slack", kind="webhook", url=hook.url())
    channel.full_clean()
    channel.save()
    account = ProviderAccount(name="aello", provider="aello", credential="k" * 24)
    account.full_clean()
    account.save()
    account.pause("401 from Aéllo: the API key was refused")
    run_alerts()

    log_in(page, live_server)
    page.goto(f"{live_server.url}/admin/bridge/alert/")
    row = page.inner_text("#result_list tbody tr")
    assert "Critical" in row and "Account aello is paused" in row
    assert "Open" in row and "opened: ops-slack" in row
    page.click("#result_list >> text=Account aello is paused")
    page.wait_for_selector(".field-message")
    assert "401 from Aéllo" in page.inner_text(".field-message")
    assert f"/admin/bridge/provideraccount/{account.pk}/change/" in page.inner_text(
        ".field-link_display"
    )
    assert page.locator("input[name=_save]").count() == 0  # read-only
