"""The routing rules' admin in Debian's Chromium, driven by Playwright: staff add a rule with
a target (a bad option first, refused with its name), then test it against the last leads."""

import pytest

from bridge.models import Delivery, RoutingRule

from .conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_create_a_rule_with_a_target_then_test_it(
    page, live_server, staff, make_account, make_lead, make_contact
):
    calls = make_account("aiployees", options={})
    matching = make_lead(source="landing")
    other = make_lead(source="walk-in", contact=make_contact(phone=""))
    log_in(page, live_server)

    page.goto(f"{live_server.url}/admin/bridge/routingrule/add/")
    page.fill("#id_name", "Landing page to the caller")
    page.fill("#id_sources", "landing")
    page.fill("#id_delay_seconds", "0")
    page.select_option("#id_targets-0-account", str(calls.pk))
    page.fill("#id_targets-0-options", '{"campaign_id": "seven"}')
    page.click("input[name=_continue]")
    errors = page.inner_text(".errorlist")
    assert "Campaign id (campaign_id): Enter a whole number." in errors, errors

    page.fill("#id_targets-0-options", '{"campaign_id": 7}')
    page.click("input[name=_continue]")
    page.wait_for_selector(".routing-test-link")
    rule = RoutingRule.objects.get()
    assert rule.targets.get().options == {"campaign_id": 7}

    page.click(".routing-test-link")
    page.wait_for_selector("#routing-test")
    assert page.inner_text("#routing-test-summary") == "1 of 2 leads match."
    hit = page.inner_text("tr.routing-match")
    assert f"#{matching.pk}" in hit and "aiployees · push · {'campaign_id': 7} · at once" in hit
    miss = page.inner_text("tr.routing-miss")
    assert f"#{other.pk}" in miss and "no: source" in miss
    assert not Delivery.objects.exists()  # a test sends nothing

    page.goto(f"{live_server.url}/admin/bridge/routingrule/")
    page.check(f"input[name=_selected_action][value='{rule.pk}']")
    page.select_option("select[name=action]", label="Disable the selected rules")
    page.click("button[name=index]")
    page.wait_for_selector(".messagelist")
    assert "Disabled 1 rule(s)." in page.inner_text(".messagelist")
    rule.refresh_from_db()
    assert not rule.enabled
