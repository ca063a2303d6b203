"""The account page's "Test connection" in Chromium: pressed, answered in a message."""

import pytest
from playwright.sync_api import expect

from .conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_staff_test_an_accounts_connection_from_its_page(page, live_server, staff, fake_account):
    leeloo = fake_account("leeloo", name="leeloo-main")
    aello = fake_account("aello", name="aello-dealer")
    log_in(page, live_server)

    page.goto(f"{live_server.url}/admin/bridge/provideraccount/{leeloo.pk}/change/")
    page.click("#test-connection")
    page.wait_for_url(f"**/provideraccount/{leeloo.pk}/change/")
    expect(page.locator(".messagelist .success")).to_contain_text(
        "Connection test of leeloo-main: Connected: Leeloo.ai answered GET /api/v2/users"
    )

    page.goto(f"{live_server.url}/admin/bridge/provideraccount/{aello.pk}/change/")
    page.click("#test-connection")
    expect(page.locator(".messagelist .info")).to_contain_text("nothing was sent")
