"""End-to-end admin flows in Debian's Chromium, driven by Playwright.

A live Django server, a real django-q2 cluster and the fake providers: staff log in, push leads
to every provider through the intermediate page, watch the batch finish, and read a failed
delivery's provider reason on the lead's page. Each test saves a screenshot when it fails
(test-artifacts/).
"""

import re

import pytest

from bridge.models import Delivery, ProviderAccount

from .conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_push_leads_to_every_provider_and_watch_the_batch_finish(
    page, live_server, staff, make_lead, make_contact, fake_account, fakes, qcluster, settings
):
    settings.BRIDGE_KICK_WORKERS = True
    accounts = [
        fake_account("aello"),
        fake_account("aiployees", options={"campaign_id": 7}),
        fake_account("aloware"),
        fake_account("leeloo", options={"leadgentool_id": "5e18a2a3ed0b7a000d6c9486"}),
    ]
    leads = [make_lead() for _ in range(3)]
    no_phone = make_lead(contact=make_contact(phone=""))
    qcluster()
    log_in(page, live_server)
    page.goto(f"{live_server.url}/admin/bridge/lead/")
    page.check("#action-toggle")  # the whole page: 4 leads
    page.select_option("select[name=action]", label="Push to providers…")
    page.click("button[name=index]")
    page.wait_for_selector("#push-form")
    for account in accounts:
        page.check(f"input[name=accounts][value='{account.pk}']")
    plan = page.inner_text(".push-plan")
    assert re.search(r"Aloware\s+3\s+1\s+no phone", plan), plan
    page.select_option("select[name=aiployees__allow_dupplicate]", "false")
    page.click("#push-submit")
    page.wait_for_selector("#batch-progress")
    page.wait_for_function(
        "document.getElementById('batch-status').textContent.includes('finished')",
        timeout=60_000,
    )
    summary = page.inner_text("#batch-summary")
    # 4 each to Aéllo and Leeloo, 3 each to Aiployees and Aloware (they need a phone).
    assert summary == "14 of 14 done", summary
    assert page.inner_text("#count-delivered") == "14"
    delivered = Delivery.objects.filter(state=Delivery.State.DELIVERED)
    assert delivered.count() == 14
    assert not delivered.filter(object_id=no_phone.pk, account=accounts[2]).exists()
    assert len(fakes.requests_for("aloware", "POST", "/api/v1/webhook/forms")) == 3
    assert len(fakes.requests_for("leeloo", "POST", "/api/v2/people")) == 4
    assert {leads[0].external_id, no_phone.external_id} <= {
        r.json["externalId"] for r in fakes.requests_for("aello", "POST", "/leads")
    }


def test_a_leads_page_shows_a_failed_deliverys_provider_reason(
    page, live_server, staff, make_lead, fake_account, fakes
):
    from bridge import outbox
    from bridge.models import Lead

    account = fake_account("aello")
    lead = make_lead()
    fakes.add_fault(
        "aello",
        "error",
        path="/leads",
        status=422,
        body={"error": "Dealership not found", "code": "ERR-CREATE_LEAD-DEALERSHIP_NOT_FOUND"},
    )
    outbox.enqueue(Lead, {account: [lead.pk]})
    outbox.run_until_settled([account.pk], timeout=30)
    log_in(page, live_server)
    page.goto(f"{live_server.url}/admin/bridge/lead/{lead.pk}/change/")
    log = page.inner_text("#bridge-delivery-content_type-object_id-group")
    assert "Dead" in log
    assert "ERR-CREATE_LEAD-DEALERSHIP_NOT_FOUND" in log
    assert "Dealership not found" in log
    assert ProviderAccount.objects.get(pk=account.pk).credential.reveal() not in page.content()


def test_import_a_csv_with_one_bad_row_shows_the_row_and_writes_nothing(
    page, live_server, staff, tmp_path
):
    from bridge.models import Contact

    csv_file = tmp_path / "contacts.csv"
    csv_file.write_text(
        "first_name,last_name,email,phone\n"
        "Ann,Lee,ann@example.com,(310) 555-0143\n"
        "Bob,Ray,bob@example.com,12\n",
        encoding="utf-8",
    )
    log_in(page, live_server)
    page.goto(f"{live_server.url}/admin/bridge/contact/import/")
    page.set_input_files("input[name=import_file]", str(csv_file))
    page.select_option("select[name=format]", label="csv")
    page.click("input[type=submit]")
    errors = page.inner_text(".import-row-errors")
    assert "Row 3, column phone" in errors and "'12'" in errors, errors
    assert page.get_by_role("button", name=re.compile("confirm", re.I)).count() == 0
    assert Contact.objects.count() == 0


def test_sync_now_shows_live_progress_then_the_synced_people(
    page, live_server, staff, fake_account, fakes, qcluster
):
    from django_q.models import Schedule

    account = fake_account("leeloo")
    # Only "Sync now" pulls: a scheduled people run that a loaded machine lets start first
    # would move the cursor, and the clicked run would rightly find "0 of 5" new people.
    Schedule.objects.all().delete()
    qcluster()
    log_in(page, live_server)
    page.goto(f"{live_server.url}/admin/bridge/provideraccount/")
    page.check(f"input[name=_selected_action][value='{account.pk}']")
    page.select_option("select[name=action]", label="Sync now (pull every resource)")
    page.click("button[name=index]")
    page.wait_for_selector("#sync-progress")
    page.wait_for_function(
        "document.getElementById('sync-status').textContent.includes('finished')",
        timeout=60_000,
    )
    people = page.locator("tr[data-key='leeloo-people']")
    assert people.locator(".status").inner_text() == "succeeded"
    total = len(fakes.fakes["leeloo"].people)
    assert people.locator(".counts").inner_text() == f"{total} read"
    page.goto(f"{live_server.url}/admin/bridge/contact/?q=feliks@gmail.com")
    assert "Feliks" in page.inner_text("#result_list")
