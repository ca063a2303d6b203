"""Merging duplicate contacts in Chromium: select two on the contacts list, run the action, pick
the survivor and a value, confirm, and land on the survivor's page with what moved.
"""

import re

import pytest

from bridge.models import Contact, Lead

from .conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_merge_two_contacts_from_the_changelist(page, live_server, staff, make_contact, make_lead):
    keep = make_contact(first_name="Jane", last_name="Doe", email="jane@example.com", company="")
    dupe = make_contact(
        first_name="Jane", last_name="Doe", email="jane.doe@work.example.com", company="Acme"
    )
    bystander = make_contact(first_name="Bob", last_name="Other")
    lead = make_lead(contact=keep)
    log_in(page, live_server)
    page.goto(f"{live_server.url}/admin/bridge/contact/")
    page.check(f"input[name=_selected_action][value='{keep.pk}']")
    page.check(f"input[name=_selected_action][value='{dupe.pk}']")
    page.select_option("select[name=action]", label="Merge selected contacts…")
    page.click("button[name=index]")
    page.wait_for_selector("#merge-form")
    assert "Acme" in page.inner_text("#merge-table")
    # The first name is the same on both: shown once, not offered as a choice.
    assert page.locator("input[name=value__first_name]").count() == 0
    assert "Jane" in page.inner_text("#merge-same")
    # The oldest contact is preselected as the survivor, and its values with it.
    assert page.is_checked(f"input[name=survivor][value='{keep.pk}']")
    assert page.is_checked(f"input[name=value__company][value='{keep.pk}']")
    # Choosing the other survivor takes its values; then one value is picked by hand.
    page.check(f"input[name=survivor][value='{dupe.pk}']")
    assert page.is_checked(f"input[name=value__company][value='{dupe.pk}']")
    assert page.is_checked(f"input[name=value__phone][value='{dupe.pk}']")
    page.check(f"input[name=value__email][value='{keep.pk}']")
    page.click("#merge-submit")
    page.wait_for_url(re.compile(rf".*/admin/bridge/contact/{dupe.pk}/change/$"))
    message = page.inner_text(".messagelist")
    assert f"Merged 2 contacts into Jane Doe (#{dupe.pk}): 1 lead moved" in message, message
    assert "1 contact deleted" in message
    assert page.input_value("#id_email") == "jane@example.com"
    assert page.input_value("#id_company") == "Acme"
    assert not Contact.objects.filter(pk=keep.pk).exists()
    assert Lead.objects.get(pk=lead.pk).contact_id == dupe.pk
    assert Contact.objects.filter(pk=bystander.pk).exists()
