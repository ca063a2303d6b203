"""Rough edges a new user hit (issue 18 §8), checked in Chromium: the push page's plan follows
the ticked accounts and its buttons line up; "Retry now" on delivered rows says why nothing
goes again; the favicon; export in CSV; "Sync now" on an account's page, full bars for finished
runs that open them."""

import re
from pathlib import Path

import pytest

from bridge import outbox
from bridge.models import Delivery, Lead, ProviderAccount, SyncRun

from .conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _open_push_page(page, live_server):
    page.goto(f"{live_server.url}/admin/bridge/lead/")
    page.check("#action-toggle")
    page.select_option("select[name=action]", label="Push to providers…")
    page.click("button[name=index]")
    page.wait_for_selector("#push-form")


def test_the_push_plan_follows_the_ticked_accounts_and_its_buttons_line_up(
    page, live_server, staff, make_lead, make_contact, fake_account
):
    aello, aloware = fake_account("aello"), fake_account("aloware")
    make_lead(), make_lead(contact=make_contact(phone=""))
    log_in(page, live_server)
    _open_push_page(page, live_server)

    def shown():
        rows = page.locator(".push-plan tbody tr:visible")
        return [rows.nth(i).inner_text().split("\t")[0] for i in range(rows.count())]

    assert shown() == ["Tick an account below to see what will be sent to it."]
    page.check(f"input[name=accounts][value='{aloware.pk}']")
    assert shown() == ["Aloware"]
    assert "1\t1\tno phone" in page.inner_text(".push-plan tr[data-provider=aloware]")
    page.check(f"input[name=accounts][value='{aello.pk}']")
    assert shown() == ["Aéllo Copilot", "Aloware"]
    page.uncheck(f"input[name=accounts][value='{aloware.pk}']")
    page.uncheck(f"input[name=accounts][value='{aello.pk}']")
    assert shown() == ["Tick an account below to see what will be sent to it."]

    # Help texts speak the menus' words.
    options = page.inner_text(".push-options")
    assert "Yes overwrites fields" in options and "Top or Bottom: where" in options
    assert "true to" not in options and "top or bottom" not in options

    # Cancel is as tall as the submit button and on its line.
    submit = page.locator("#push-submit").bounding_box()
    cancel = page.locator(".submit-row a.cancel-link").bounding_box()
    assert abs(submit["height"] - cancel["height"]) <= 1, (submit, cancel)
    assert abs(submit["y"] - cancel["y"]) <= 1, (submit, cancel)


def test_the_only_active_account_is_ticked_for_you(
    page, live_server, staff, make_lead, fake_account
):
    aello, aloware = fake_account("aello"), fake_account("aloware")
    ProviderAccount.objects.filter(pk=aello.pk).update(paused=True)
    make_lead()
    log_in(page, live_server)
    _open_push_page(page, live_server)
    assert page.is_checked(f"input[name=accounts][value='{aloware.pk}']")
    assert not page.is_checked(f"input[name=accounts][value='{aello.pk}']")
    assert page.is_visible(".push-plan tr[data-provider=aloware]")
    assert not page.is_visible(".push-plan tr[data-provider=aello]")
    assert not page.is_visible("#push-plan-none")


def test_retry_now_on_delivered_rows_says_why_nothing_goes_again(
    page, live_server, staff, make_lead, fake_account, fakes
):
    aello = fake_account("aello")
    leads = [make_lead() for _ in range(3)]
    outbox.enqueue(Lead, {aello: [lead.pk for lead in leads]})
    outbox.run_until_settled([aello.pk], timeout=30)
    assert Delivery.objects.filter(state=Delivery.State.DELIVERED).count() == 3
    log_in(page, live_server)

    def retry_all():
        page.goto(f"{live_server.url}/admin/bridge/delivery/")
        page.check("#action-toggle")
        page.select_option("select[name=action]", label="Retry now")
        page.click("button[name=index]")
        return page.inner_text("ul.messagelist")

    said = retry_all()
    assert "3 selected deliveries are already delivered; nothing to send again." in said, said
    assert "0 deliveries" not in said
    dead = Delivery.objects.order_by("pk").first()
    Delivery.objects.filter(pk=dead.pk).update(state=Delivery.State.DEAD)
    said = retry_all()
    assert "1 delivery will be sent again." in said, said
    assert "2 selected deliveries are already delivered: left as they were." in said, said
    assert Delivery.objects.get(pk=dead.pk).state == Delivery.State.PENDING


def test_every_admin_page_has_an_icon_and_favicon_ico_answers(page, live_server, staff):
    missing = []
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    log_in(page, live_server)
    for where in ("/admin/", "/admin/bridge/lead/", "/admin/bridge/delivery/"):
        page.goto(f"{live_server.url}{where}")
        href = page.get_attribute("link[rel=icon]", "href")
        assert href and href.endswith("bridge/favicon.svg"), (where, href)
        icon = page.request.get(f"{live_server.url}{href}")
        assert icon.status == 200 and icon.body().startswith(b"<svg"), (where, icon.status)
    legacy = page.request.get(f"{live_server.url}/favicon.ico")
    assert legacy.status == 200 and legacy.headers["content-type"] == "image/svg+xml"
    assert legacy.body() == icon.body() and "max-age=86400" in legacy.headers["cache-control"]
    assert not missing, missing


def test_export_starts_at_csv_and_exports_without_choosing(page, live_server, staff, make_contact):
    make_contact(first_name="Ada", lead_source="web")
    log_in(page, live_server)
    page.goto(f"{live_server.url}/admin/bridge/contact/export/")
    chosen = page.eval_on_selector(
        "select[name=format]", "s => s.options[s.selectedIndex].textContent"
    )
    options = page.eval_on_selector_all("select[name=format] option", "os => os.map(o => o.text)")
    assert chosen == "csv" and "---" not in options, (chosen, options)
    with page.expect_download() as download:
        page.click("#content form [type=submit]")
    exported = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert "Ada" in exported and exported.splitlines()[0].count(",") > 3, exported[:200]


def test_sync_now_from_the_account_page_then_full_bars_that_open_their_runs(
    page, live_server, staff, fake_account, fakes, qcluster
):
    from django_q.models import Schedule

    from bridge import sync

    account = fake_account("leeloo")
    sync.run_sync(account, "people")  # here and now: the clicked run reads only what changed
    Schedule.objects.all().delete()  # only the clicked runs (a scheduled one would refuse it)
    qcluster()
    log_in(page, live_server)
    page.goto(f"{live_server.url}/admin/bridge/provideraccount/{account.pk}/change/")
    page.click("#sync-now")
    page.wait_for_selector("#sync-progress")
    page.wait_for_function(
        "document.getElementById('sync-status').textContent.includes('finished')",
        timeout=60_000,
    )
    people = page.locator("tr[data-key='leeloo-people']")
    total = len(fakes.fakes["leeloo"].people)
    assert people.locator(".status").inner_text() == "succeeded"
    assert people.locator(".counts").inner_text().endswith(f"{total} at the provider)")
    for row in page.locator("#sync-rows tr").all():
        if row.locator(".status").inner_text() == "succeeded":
            bar = row.locator("progress")
            assert bar.evaluate("b => b.value === b.max"), row.inner_text()
    run = SyncRun.objects.filter(account=account, resource="people").latest("pk")
    people.locator(".status").click()  # the whole row opens the run
    page.wait_for_url(f"**/admin/bridge/syncrun/{run.pk}/change/")

    page.goto(f"{live_server.url}/admin/bridge/provideraccount/{account.pk}/change/")
    assert "+created ~updated =unchanged !failed" in page.inner_text("#content").lower()
    counts = page.locator(".run-counts").first
    assert re.fullmatch(
        r"\d+ created, \d+ updated, \d+ unchanged, \d+ failed", counts.get_attribute("title")
    )
