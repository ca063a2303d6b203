"""The "Sent to" column and filters in Chromium, and the Contacts list at a laptop's width.

Staff read each account's badge (its title names the account and the state), narrow the list
with "failed at" an account, and see every column of the Contacts list at 1366×768 without
scrolling sideways (issue 18 §8: its last columns were cut off).
"""

import pytest
from django.contrib.contenttypes.models import ContentType

from bridge.models import Delivery

from .conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

State = Delivery.State
#: The widths of the page and of the list's own scrolling box, and what they show.
WIDTHS = """() => {
    const results = document.querySelector('#changelist .results');
    return {
        page: document.documentElement.scrollWidth,
        viewport: document.documentElement.clientWidth,
        results: results.scrollWidth,
        resultsShown: results.clientWidth,
    };
}"""


def deliver(record, account, state=State.DELIVERED, **fields):
    return Delivery.objects.create(
        account=account,
        content_type=ContentType.objects.get_for_model(record),
        object_id=record.pk,
        state=state,
        **fields,
    )


@pytest.fixture
def four_accounts(make_account):
    """One account per provider, with names as long as staff give them."""
    return [
        make_account("aello", name="aello-trucks-paris"),
        make_account("aiployees", name="aiployees-callcenter"),
        make_account("aloware", name="aloware-sales-team"),
        make_account("leeloo", name="leeloo-marketing"),
    ]


def test_the_lead_list_shows_each_accounts_badge_and_filters_failures(
    page, live_server, staff, make_lead, four_accounts
):
    aello, aiployees = four_accounts[0], four_accounts[1]
    delivered, failing = make_lead(), make_lead()
    deliver(delivered, aello)
    deliver(delivered, aiployees, State.DEAD, attempts=8, error_message="HTTP 422")
    deliver(failing, aello, State.FAILED, attempts=2, error_message="HTTP 503")

    page.set_viewport_size({"width": 1366, "height": 768})
    log_in(page, live_server)
    page.goto(f"{live_server.url}/admin/bridge/lead/")
    widths = page.evaluate(WIDTHS)  # the Lead list fits a laptop too, with the new column
    assert widths["page"] <= widths["viewport"], widths
    assert widths["results"] <= widths["resultsShown"], widths
    row = page.locator(
        "#result_list tbody tr", has=page.locator(f"a[href*='/lead/{delivered.pk}/change/']")
    )
    badge = row.locator(".sent-to", has_text="aello-trucks-paris")
    assert badge.get_attribute("title") == "aello-trucks-paris: delivered"
    assert badge.inner_text().startswith("✓")
    dead = row.locator(".sent-to-badges [title='aiployees-callcenter: dead']")
    assert dead.inner_text().startswith("✗")
    assert row.locator(".sent-to.sent-none").count() == 2  # Aloware and Leeloo: not sent

    # "failed at" aello: the sidebar's choice lists the failing lead only.
    page.locator("#changelist-filter details", has_text="failed at").locator(
        "a", has_text="aello-trucks-paris"
    ).click()
    page.wait_for_url(f"**/?failed_at={aello.pk}")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1
    assert rows.first.locator(f"a[href*='/lead/{failing.pk}/change/']").count() == 1
    assert rows.first.locator("[title='aello-trucks-paris: failing, will retry']").count() == 1


def test_the_contact_list_fits_a_1366_pixel_screen(
    page, live_server, staff, make_contact, make_lead, four_accounts
):
    for index in range(20):
        contact = make_contact(
            first_name="Maximilienne-Charlotte",
            last_name=f"Vandenberghe-Delacroix{index}",
            email=f"maximilienne.vandenberghe{index}@transports-exemple-europe.com",
            company="Transports Frigorifiques de l'Europe du Nord",
            city="Saint-Rémy-de-Provence",
            lead_source="trade show",
        )
        lead = make_lead(contact=contact)
        deliver(lead, four_accounts[index % 4])
    page.set_viewport_size({"width": 1366, "height": 768})
    log_in(page, live_server)
    page.goto(f"{live_server.url}/admin/bridge/contact/")
    widths = page.evaluate(WIDTHS)
    assert widths["page"] <= widths["viewport"], widths
    assert widths["results"] <= widths["resultsShown"], widths
    # The last column, each account's badge, is on screen.
    last = page.locator("#result_list tbody tr").first.locator("td").last
    box = last.bounding_box()
    assert box["x"] + box["width"] <= 1366, box
    assert last.locator(".sent-to").count() == 4
    glyph = last.locator(".sent-to").first.bounding_box()  # the state is never cut off
    assert glyph["x"] + glyph["width"] <= 1366, glyph
