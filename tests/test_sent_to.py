"""The Leads and Contacts lists' "Sent to" column and its filters (bridge/admin/sent_to.py).

Deliveries are written as the outbox leaves them (state, attempts, error); the lists are read
through the admin as a superuser, on whichever database the suite runs (SQLite or PostgreSQL).
"""

import re

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from bridge.models import Contact, Delivery, Lead

State = Delivery.State
LEADS = reverse("admin:bridge_lead_changelist")
CONTACTS = reverse("admin:bridge_contact_changelist")


@pytest.fixture
def accounts(make_account):
    """Two active accounts and a disabled one (never shown)."""
    return {
        "aello": make_account("aello", name="aello-main"),
        "aloware": make_account("aloware", name="aloware-sales"),
        "off": make_account("aiployees", name="old-aiployees", enabled=False),
    }


def deliver(record, account, state=State.DELIVERED, operation="push", **fields):
    """A delivery of ``record`` to ``account`` as the outbox would leave it."""
    return Delivery.objects.create(
        account=account,
        content_type=ContentType.objects.get_for_model(record),
        object_id=record.pk,
        operation=operation,
        state=state,
        **fields,
    )


def row_html(html: str, record) -> str:
    """The changelist row of ``record`` (found by its change link)."""
    opts = record._meta
    link = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[record.pk])
    for row in html.split("<tr")[1:]:
        if f'href="{link}"' in row.split("</tr>")[0]:
            return row.split("</tr>")[0]
    raise AssertionError(f"no row for {record!r}")


def badges(html: str, record) -> dict[str, str]:
    """Account name -> state words, read from the row's badges' titles."""
    found = re.findall(
        r'class="sent-to sent-(\w+)" title="([^:"]+): ([^"]+)"', row_html(html, record)
    )
    return {account: words for _, account, words in found}


@pytest.fixture
def leads_by_state(accounts, make_lead):
    """One lead per state at aello-main; each is also delivered to aloware-sales but one."""
    aello, aloware = accounts["aello"], accounts["aloware"]
    leads = {name: make_lead() for name in ["delivered", "failing", "erred", "sending", "dead"]}
    leads |= {name: make_lead() for name in ["redelivered", "cancelled", "tagged", "none"]}
    deliver(leads["delivered"], aello)
    deliver(leads["failing"], aello, State.FAILED, attempts=2, error_message="HTTP 503")
    deliver(leads["erred"], aello, State.PENDING, error_code="timeout")  # retried by staff
    deliver(leads["sending"], aello, State.PENDING)
    deliver(leads["dead"], aello, State.DELIVERED)  # an older push delivered, then…
    deliver(leads["dead"], aello, State.DEAD, attempts=8, error_message="HTTP 422")
    deliver(leads["redelivered"], aello, State.DEAD, attempts=1)  # died, pushed again: in
    deliver(leads["redelivered"], aello, State.SKIPPED)
    deliver(leads["cancelled"], aello, State.CANCELLED)
    deliver(leads["tagged"], aello, State.DELIVERED, operation="add_tag")  # not a push
    for name, lead in leads.items():
        if name != "none":
            deliver(lead, aloware)
    deliver(leads["none"], accounts["off"])
    return leads


def test_each_lead_shows_the_newest_push_per_active_account(admin_client, leads_by_state):
    html = admin_client.get(LEADS).content.decode()
    expected = {
        "delivered": "delivered",
        "failing": "failing, will retry",
        "erred": "failing, will retry",
        "sending": "sending",
        "dead": "dead",
        "redelivered": "delivered",
        "cancelled": "not sent",
        "tagged": "not sent",
        "none": "not sent",
    }
    for name, words in expected.items():
        shown = badges(html, leads_by_state[name])
        assert shown["aello-main"] == words, name
        assert shown["aloware-sales"] == ("not sent" if name == "none" else "delivered"), name
        assert "old-aiployees" not in shown  # a disabled account has no badge
    assert "Sent to" in html
    # Words, not colour alone: the badge's glyph and its title (and aria-label) say the state.
    dead = row_html(html, leads_by_state["dead"])
    assert 'aria-label="aello-main: dead"' in dead and "✗ aello-main" in dead


def test_lead_filters_per_state_and_account(admin_client, leads_by_state, accounts):
    aello = accounts["aello"].pk

    def listed(**params):
        response = admin_client.get(LEADS, params)
        assert response.status_code == 200
        return {lead.pk for lead in response.context["cl"].result_list}

    ids = {name: lead.pk for name, lead in leads_by_state.items()}
    assert listed(delivered_to=aello) == {ids["delivered"], ids["redelivered"]}
    assert listed(failed_at=aello) == {ids["failing"], ids["erred"], ids["dead"]}
    assert listed(not_sent_to=aello) == {ids["cancelled"], ids["tagged"], ids["none"]}
    assert listed(not_sent_to=accounts["aloware"].pk) == {ids["none"]}
    assert listed(delivered_to=aello, failed_at=accounts["aloware"].pk) == set()
    # Each filter lists the active accounts by name as its choices.
    html = admin_client.get(LEADS).content.decode()
    assert f"?delivered_to={aello}" in html and f"?not_sent_to={aello}" in html
    assert f"?failed_at={accounts['off'].pk}" not in html


@pytest.mark.parametrize("value", ["aello", "-1", "99999999999999999999"])
def test_a_filter_value_that_is_not_an_account_id_is_refused(admin_client, accounts, value):
    for url in (LEADS, CONTACTS):
        for name in ("delivered_to", "failed_at", "not_sent_to"):
            response = admin_client.get(url, {name: value})
            assert response.status_code == 302 and response.url.endswith("?e=1"), (url, name)


def test_a_contact_counts_its_own_pushes_and_its_leads(
    admin_client, accounts, make_contact, make_lead
):
    aello, aloware = accounts["aello"], accounts["aloware"]
    through_lead = make_contact()
    deliver(make_lead(contact=through_lead), aloware)  # Aloware gets the person with the lead
    own = make_contact()
    deliver(own, aloware, State.DEAD, attempts=8)
    pressing_first = make_contact()  # delivered itself, a lead of it failing: failing shows
    deliver(pressing_first, aello)
    deliver(make_lead(contact=pressing_first), aello, State.FAILED, attempts=1)
    quiet = make_contact()
    make_lead(contact=quiet)

    html = admin_client.get(CONTACTS).content.decode()
    assert badges(html, through_lead) == {"aello-main": "not sent", "aloware-sales": "delivered"}
    assert badges(html, own) == {"aello-main": "not sent", "aloware-sales": "dead"}
    assert badges(html, pressing_first)["aello-main"] == "failing, will retry"
    assert badges(html, quiet) == {"aello-main": "not sent", "aloware-sales": "not sent"}
    assert "Where this contact and its leads stand" in row_html(html, quiet)  # the title

    def listed(**params):
        return {c.pk for c in admin_client.get(CONTACTS, params).context["cl"].result_list}

    assert listed(delivered_to=aloware.pk) == {through_lead.pk}
    assert listed(delivered_to=aello.pk) == {pressing_first.pk}  # Aéllo has the person
    assert listed(failed_at=aloware.pk) == {own.pk}
    assert listed(failed_at=aello.pk) == {pressing_first.pk}
    assert listed(not_sent_to=aello.pk) == {through_lead.pk, own.pk, quiet.pk}
    assert listed(not_sent_to=aloware.pk) == {pressing_first.pk, quiet.pk}


@pytest.mark.parametrize(("url", "model"), [(LEADS, Lead), (CONTACTS, Contact)])
def test_the_page_costs_the_same_queries_for_5_and_50_rows(
    admin_client, accounts, make_lead, url, model
):
    def queries_for_page() -> int:
        with CaptureQueriesContext(connection) as captured:
            response = admin_client.get(url)
        assert response.status_code == 200
        assert len(response.context["cl"].result_list) == model.objects.count()
        return len(captured.captured_queries)

    def add_leads(count: int) -> None:
        for index in range(count):
            lead = make_lead()
            deliver(lead, accounts["aello"], State.DEAD if index % 2 else State.DELIVERED)
            deliver(lead.contact, accounts["aloware"])

    add_leads(5)
    few = queries_for_page()
    add_leads(45)
    assert queries_for_page() == few
