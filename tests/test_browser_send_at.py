"""Send at in Chromium: a push scheduled for tomorrow from the push page, listed among the
scheduled batches, then cancelled before it started."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from bridge.models import Delivery, PushBatch

from .conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_staff_schedule_a_push_and_cancel_it_before_it_starts(
    page, live_server, staff, make_lead, fake_account, fakes
):
    account = fake_account("aello", name="aello-dealer")
    for _ in range(2):
        make_lead()
    send_at = timezone.localtime(timezone.now() + timedelta(days=1)).replace(second=0)
    log_in(page, live_server)
    page.goto(f"{live_server.url}/admin/bridge/lead/")
    page.check("#action-toggle")
    page.select_option("select[name=action]", label="Push to providers…")
    page.click("button[name=index]")
    page.wait_for_selector("#push-form")
    expect(page.locator("#push-when h2")).to_have_text("When")
    page.check(f"input[name=accounts][value='{account.pk}']")
    page.fill("#id_send_at", send_at.strftime("%Y-%m-%dT%H:%M"))
    page.click("#push-submit")
    page.wait_for_selector("#batch-progress")
    expect(page.locator(".messagelist .success")).to_have_text(
        f"Scheduled 2 deliveries: aello-dealer at {send_at:%Y-%m-%d %H:%M}."
    )
    assert fakes.requests_for("aello") == []

    page.goto(f"{live_server.url}/admin/bridge/pushbatch/")
    page.click("#changelist-filter a:has-text('Scheduled, not started')")
    page.wait_for_url("**scheduled=waiting**")
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(f"{send_at:%Y-%m-%d %H:%M}")
    page.check("#action-toggle")
    page.select_option(
        "select[name=action]", label="Cancel the deliveries not started yet (scheduled batches)"
    )  # noqa: E501
    page.click("button[name=index]")
    expect(page.locator(".messagelist .success")).to_contain_text(
        "Cancelled 2 deliveries not started yet"
    )
    batch = PushBatch.objects.get()
    assert set(batch.deliveries.values_list("state", flat=True)) == {Delivery.State.CANCELLED}
