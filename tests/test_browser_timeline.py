"""The timeline in Chromium: a contact whose lead was pushed, called back and answered, and
tagged by staff, read newest first on the contact's page, paged, followed to the delivery; the
lead's own page."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from bridge import outbox, tag_history
from bridge.models import Activity, Lead, Tag, TagChange

from .conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_staff_read_a_persons_story_on_the_contact_and_lead_pages(
    page, live_server, staff, make_contact, make_lead, fake_account
):
    page.set_viewport_size({"width": 1366, "height": 900})
    aello = fake_account("aello", name="aello-dealership")
    contact = make_contact(first_name="Ann", last_name="Story")
    lead = make_lead(contact=contact, product_title="Renault Midlum", source="web")
    outbox.enqueue(Lead, {aello: [lead.pk]})
    outbox.run_until_settled([aello.pk], timeout=30)
    Activity.objects.create(
        kind=Activity.Kind.CALL,
        account=aello,
        contact=contact,
        lead=lead,
        occurred_at=timezone.now() + timedelta(seconds=5),
        summary="Call answered, 2 min: wants a test drive",
    )
    for n in range(30):  # older leads: the timeline pages
        make_lead(contact=contact, received_at=timezone.now() - timedelta(days=n + 1))
    with tag_history.attributed(TagChange.Source.STAFF, user=staff):
        contact.tags.add(Tag.objects.create(name="VIP"))

    log_in(page, live_server)
    page.goto(f"{live_server.url}/admin/bridge/contact/{contact.pk}/change/")
    timeline = page.locator("#timeline")
    expect(timeline.locator("h2")).to_have_text("Timeline")
    rows = timeline.locator("tbody tr")
    expect(rows).to_have_count(25)
    expect(rows.nth(0)).to_contain_text("Call answered, 2 min: wants a test drive")
    push = timeline.locator("tr.timeline-push")
    expect(push).to_contain_text("Push → aello-dealership")
    expect(push.locator(".delivery-state")).to_have_text("delivered")
    expect(push).to_contain_text("HTTP 202")
    tagged = timeline.locator("tr.timeline-tag")
    expect(tagged).to_contain_text("Tag added: VIP")
    expect(tagged).to_contain_text("by staff (ops)")
    # Dates stay on one line, and the section fits the window.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    heights = timeline.locator("tbody tr td:first-child").evaluate_all(
        "cells => cells.map(c => c.getBoundingClientRect().height)"
    )
    assert max(heights) < 2 * min(heights)

    page.click("#timeline a:has-text('Older ›')")
    page.wait_for_url("**timeline=2**")
    expect(page.locator("#timeline .paginator")).to_contain_text("Page 2")
    # 35 events, 25 a page: 31 leads, the push, the remote link it made, the tag, the call
    expect(page.locator("#timeline tbody tr")).to_have_count(10)
    page.click("#timeline a:has-text('‹ Newer')")
    page.wait_for_url("**timeline=1**")

    # The push's line leads to the delivery; the lead's page tells the lead's own story.
    page.click("#timeline tr.timeline-push a")
    page.wait_for_url("**/delivery/**")
    page.goto(f"{live_server.url}/admin/bridge/lead/{lead.pk}/change/")
    lead_rows = page.locator("#timeline tbody tr")
    expect(lead_rows).to_have_count(4)  # the call, the link, the push, the lead received
    expect(lead_rows.nth(0)).to_contain_text("Call answered")
    expect(lead_rows.nth(3)).to_contain_text("Lead received")
