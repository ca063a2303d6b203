"""The inbox in Chromium: inbound events filtered and opened (body pretty-printed, secrets
masked), "Process again" run from the list; the receiver URL on the account page; the
activities on the lead's page."""

import json

import pytest
from django.test import Client
from playwright.sync_api import expect

from bridge import inbox
from bridge.models import InboundEvent

from .conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def post(account, body):
    url = inbox.webhook_path(account)
    return Client().post(url, json.dumps(body), content_type="application/json")


def test_inbound_events_are_filtered_opened_and_processed_again(
    page, live_server, staff, make_account, make_contact
):
    leeloo = make_account("leeloo")
    aiployees = make_account("aiployees")
    # An order for a person the bridge cannot match: it fails, naming why.
    post(leeloo, {"type": "ORDER", "data": {"order_id": "a" * 24, "api_key": "sk-live-123"}})
    post(aiployees, {"id": 1, "status": "busy", "customer_phone": "+13105550190"})
    inbox.process_due()
    failed = InboundEvent.objects.get(account=leeloo)
    assert failed.state == InboundEvent.State.FAILED

    log_in(page, live_server)
    page.goto(f"{live_server.url}/admin/bridge/inboundevent/")
    expect(page.locator("#result_list tbody tr")).to_have_count(2)
    page.click("#changelist-filter a:has-text('Failed')")
    page.wait_for_url("**state__exact=failed**")
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    page.click(f"#result_list a[href*='/inboundevent/{failed.pk}/']")
    assert "no phone or email" in page.inner_text(".field-error")
    body = page.inner_text(".field-body_display pre")
    assert '"offer_name"' not in body and '"order_id": "' + "a" * 24 in body
    assert "sk-live-123" not in body and "********" in body

    # The person becomes known; "Process again" applies the event.
    make_contact(phone="+13105550191")
    failed.body = json.dumps(
        {"type": "ORDER", "data": {"order_id": "a" * 24, "phone": "+13105550191"}}
    )
    failed.save(update_fields=["body"])
    page.goto(f"{live_server.url}/admin/bridge/inboundevent/?state__exact=failed")
    page.check(f"input[name=_selected_action][value='{failed.pk}']")
    page.select_option(
        "select[name=action]", label="Process again (applies each event once more; safe to repeat)"
    )  # noqa: E501
    page.click("button[name=index]")
    assert "1 event(s) queued to be processed again" in page.inner_text("ul.messagelist")
    inbox.process_due()  # what the worker queued on commit does
    page.goto(f"{live_server.url}/admin/bridge/inboundevent/{failed.pk}/change/")
    assert "Processed" in page.inner_text(".field-state_display")


def test_the_account_page_shows_the_receiver_url_and_the_lead_its_calls(
    page, live_server, staff, make_account, make_lead
):
    from django.contrib.contenttypes.models import ContentType

    from bridge.models import RemoteLink

    account = make_account("aiployees")
    lead = make_lead()
    RemoteLink.objects.create(
        account=account,
        content_type=ContentType.objects.get_for_model(lead),
        object_id=lead.pk,
        remote_id="7731",
    )
    post(account, {"id": 5, "status": "completed", "duration": 61, "lead": {"id": 7731}})
    inbox.process_due()

    log_in(page, live_server)
    page.goto(f"{live_server.url}/admin/bridge/provideraccount/{account.pk}/change/")
    url = page.input_value("input.webhook-url")
    assert url.endswith(inbox.webhook_path(account))
    assert "Post call webhook" in page.inner_text(".field-webhook_receiver")

    page.goto(f"{live_server.url}/admin/bridge/lead/{lead.pk}/change/")
    assert "AI call completed, 1 min 1 s" in page.inner_text("#activities-group")

    # A lead called many times shows its newest activities only, and still saves.
    from django.utils import timezone

    from bridge.models import Activity

    Activity.objects.bulk_create(
        Activity(
            kind="call",
            account=account,
            contact=lead.contact,
            lead=lead,
            occurred_at=timezone.now(),
            summary=f"Older call {n}",
        )
        for n in range(30)
    )
    page.goto(f"{live_server.url}/admin/bridge/lead/{lead.pk}/change/")
    expect(page.locator("#activities-group tbody tr.has_original")).to_have_count(20)
    page.click("input[name=_continue]")
    assert "was changed successfully" in page.inner_text("ul.messagelist")
