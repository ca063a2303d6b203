"""The audit trail in Debian's Chromium, driven by Playwright: staff pause an account, find the
entry in the Audit trail, filter by action and by who, and open it (read-only)."""

import pytest

from bridge import audit
from bridge.models import AuditEntry, Lead

from .conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_staff_pause_an_account_then_find_it_in_the_audit_trail(
    page, live_server, staff, make_account
):
    account = make_account("aello", name="dealer-aello")
    audit.record("push", actor="deploy", via="cli", target=Lead, count=12, summary="CLI push")
    log_in(page, live_server)

    page.goto(f"{live_server.url}/admin/bridge/provideraccount/")
    page.check(f"input[name=_selected_action][value='{account.pk}']")
    page.select_option("select[name=action]", label="Pause selected accounts (deliveries wait)")
    page.click("button[name=index]")
    page.wait_for_selector(".messagelist")
    assert "Paused 1 account(s)." in page.inner_text(".messagelist")

    page.click("#nav-sidebar a:text-is('Audit trail entries')")
    page.wait_for_selector("#result_list")
    rows = page.inner_text("#result_list tbody")
    assert "Pause account" in rows and "CLI push" in rows

    page.click("#changelist-filter a:text-is('Pause account')")
    page.wait_for_url("**action__exact=pause**")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1
    row = rows.first.inner_text()
    assert "ops" in row and "dealer-aello" in row and "Paused 1 account(s)" in row

    page.click("#changelist-filter a:text-is('deploy')")
    page.wait_for_url("**actor_name=deploy**")
    assert page.locator("#result_list").count() == 0  # no pause by "deploy"
    page.click("#changelist-filter a:text-is('All')")  # the first "All": every action
    page.wait_for_selector("#result_list")
    assert page.locator("#result_list tbody tr").count() == 1
    assert "CLI push" in page.inner_text("#result_list tbody")

    entry = AuditEntry.objects.get(action="pause")
    page.goto(f"{live_server.url}/admin/bridge/auditentry/{entry.pk}/change/")
    assert "Paused 1 account(s)" in page.inner_text("#content")
    assert page.locator("input[name=_save]").count() == 0
    assert page.locator("a.deletelink").count() == 0
