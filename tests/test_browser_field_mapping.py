"""The account page's "Field mapping" in Chromium: a row added from the menus, a bad one
refused naming its row, and the mapped field in the push page's "Preview the request"."""

import json

import pytest
from playwright.sync_api import expect

from bridge.models import AuditEntry, Delivery, FieldMapping

from .conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_staff_map_a_custom_field_and_see_it_in_the_preview(
    page, live_server, staff, make_contact, make_lead, fake_account
):
    aloware = fake_account("aloware", name="dialer")
    lead = make_lead(contact=make_contact(custom_fields={"budget": "40k"}))
    log_in(page, live_server)

    page.goto(f"{live_server.url}/admin/bridge/provideraccount/{aloware.pk}/change/")
    expect(page.locator("#field-mapping-help")).to_contain_text("Aloware takes one tag")
    # A row filling csf1 twice is refused, the second row named.
    page.select_option("#id_field_mappings-0-local_field", "custom")
    page.fill("#id_field_mappings-0-custom_name", "budget")
    page.select_option("#id_field_mappings-0-target", "csf1")
    page.click("#field_mappings-group .add-row a")
    page.select_option("#id_field_mappings-1-local_field", "message")
    page.select_option("#id_field_mappings-1-target", "csf1")
    page.click("input[name=_continue]")
    expect(page.locator("#field_mappings-group .errorlist")).to_contain_text(
        "Row 2: 'csf1' is already filled by row 1"
    )
    assert not FieldMapping.objects.exists()

    page.select_option("#id_field_mappings-1-target", "notes")
    page.click("input[name=_continue]")
    expect(page.locator(".messagelist .success")).to_be_visible()
    assert list(aloware.field_mappings.values_list("source", "target")) == [
        ("custom:budget", "csf1"),
        ("message", "notes"),
    ]
    assert AuditEntry.objects.filter(action="mapping_changed").count() == 1

    page.goto(f"{live_server.url}/admin/bridge/lead/")
    page.check(f"input[name=_selected_action][value='{lead.pk}']")
    page.select_option("select[name=action]", label="Push to providers…")
    page.click("button[name=index]")
    page.wait_for_selector("#push-form")
    page.check(f"input[name=accounts][value='{aloware.pk}']")
    page.click("#push-preview")
    body = json.loads(page.locator("#push-preview-result pre").inner_text())
    assert (body["csf1"], body["notes"]) == ("40k", lead.message)
    assert not Delivery.objects.exists()
