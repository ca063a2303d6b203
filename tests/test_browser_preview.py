"""The push page's "Preview the request" in Chromium: the request shown, secrets masked, and
nothing queued until staff confirm."""

import pytest
from playwright.sync_api import expect

from bridge.models import Delivery

from .conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_staff_preview_the_request_then_queue_it(page, live_server, staff, make_lead, fake_account):
    aloware = fake_account("aloware", name="dialer")
    lead = make_lead()
    log_in(page, live_server)
    page.goto(f"{live_server.url}/admin/bridge/lead/")
    page.check("#action-toggle")
    page.select_option("select[name=action]", label="Push to providers…")
    page.click("button[name=index]")
    page.wait_for_selector("#push-form")
    page.check(f"input[name=accounts][value='{aloware.pk}']")
    page.click("#push-preview")
    result = page.locator("#push-preview-result")
    expect(result).to_contain_text("nothing was queued or written")
    expect(result.locator("code")).to_contain_text("POST ")
    expect(result.locator("code")).to_contain_text("/api/v1/webhook/forms")
    body = result.locator("pre").inner_text()
    assert lead.contact.phone in body
    assert aloware.credential.reveal() not in page.content()
    assert not Delivery.objects.exists()
    # The ticked account is still ticked: confirming queues the push.
    expect(page.locator(f"input[name=accounts][value='{aloware.pk}']")).to_be_checked()
    page.click("#push-submit")
    page.wait_for_selector("#batch-progress")
    assert Delivery.objects.filter(account=aloware).count() == 1


def test_staff_send_a_test_of_one_record(page, live_server, staff, make_lead, fake_account):
    aello = fake_account("aello", name="aello-dealer")
    first, second = make_lead(), make_lead()
    log_in(page, live_server)
    page.goto(f"{live_server.url}/admin/bridge/lead/")
    page.check("#action-toggle")
    page.select_option("select[name=action]", label="Push to providers…")
    page.click("button[name=index]")
    page.wait_for_selector("#push-form")
    page.check(f"input[name=accounts][value='{aello.pk}']")
    page.click("#push-test")
    page.wait_for_selector("#batch-progress")
    expect(page.locator(".field-description")).to_contain_text("Test: push 1 lead to aello-dealer")
    (delivery,) = Delivery.objects.all()
    assert delivery.is_test and delivery.object_id == min(first.pk, second.pk)
