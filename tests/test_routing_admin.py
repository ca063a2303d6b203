"""The routing rules' admin: adding a rule with its targets, the checks on a target's
options, enable/disable, "Test this rule against the last 50 leads" (which sends nothing),
and each lead's routing record."""

from django.urls import reverse

from bridge.models import Delivery, LeadRouting, RoutingRule, RuleTarget

ADD = "/admin/bridge/routingrule/add/"


def rule_form(account, options: str = "{}", **fields) -> dict:
    data = {
        "name": "web",
        "enabled": "on",
        "order": "10",
        "sources": "website",
        "delay_seconds": "0",
        "has_phone": "unknown",
        "has_email": "unknown",
        "targets-TOTAL_FORMS": "1",
        "targets-INITIAL_FORMS": "0",
        "targets-0-account": str(account.pk),
        "targets-0-operation": "push",
        "targets-0-options": options,
    }
    data.update(fields)
    return data


def test_a_rule_is_added_with_its_target_in_one_save(admin_client, make_account):
    account = make_account("aiployees", options={})
    response = admin_client.post(ADD, rule_form(account, '{"campaign_id": "7"}'))
    assert response.status_code == 302, response.content.decode()[-3000:]
    target = RuleTarget.objects.get()
    assert target.rule.name == "web" and target.options == {"campaign_id": 7}


def test_a_target_with_bad_options_is_refused_naming_the_option(admin_client, make_account):
    account = make_account("aiployees", options={})
    response = admin_client.post(ADD, rule_form(account, '{"campaign_id": "x", "foo": 1}'))
    assert response.status_code == 200
    page = response.content.decode()
    assert "unknown option &#x27;foo&#x27; for Aiployees push" in page
    assert "Campaign id (campaign_id): Enter a whole number." in page
    assert not RoutingRule.objects.exists()  # nothing half-written
    response = admin_client.post(ADD, rule_form(account, "{}"))
    assert "Campaign id is required for aiployees" in response.content.decode()


def test_enable_and_disable_actions(admin_client):
    on = RoutingRule.objects.create(name="on")
    off = RoutingRule.objects.create(name="off", enabled=False)
    url = reverse("admin:bridge_routingrule_changelist")
    admin_client.post(url, {"action": "disable_rules", "_selected_action": [on.pk]})
    admin_client.post(url, {"action": "enable_rules", "_selected_action": [off.pk]})
    on.refresh_from_db()
    off.refresh_from_db()
    assert (on.enabled, off.enabled) == (False, True)


def test_the_test_page_shows_matches_and_what_would_be_sent_and_sends_nothing(
    admin_client, make_account, make_lead, make_contact
):
    aello = make_account("aello")
    calls = make_account("aiployees", options={"campaign_id": 1})
    rule = RoutingRule.objects.create(name="web", sources="website", delay_seconds=60)
    RuleTarget.objects.create(rule=rule, account=aello)
    RuleTarget.objects.create(rule=rule, account=calls, options={"campaign_id": 7})
    web = make_lead(source="website", contact=make_contact(phone=""))
    phone = make_lead(source="phone")
    change = admin_client.get(reverse("admin:bridge_routingrule_change", args=[rule.pk]))
    test_url = reverse("admin:bridge_routingrule_test", args=[rule.pk])
    assert test_url in change.content.decode()

    response = admin_client.get(test_url)
    assert response.status_code == 200
    rows = {row["lead"].pk: row for row in response.context["rows"]}
    assert rows[web.pk]["matched"] and not rows[phone.pk]["matched"]
    assert rows[phone.pk]["failed"] == ["source"]
    (target,) = rows[web.pk]["targets"]
    assert (target["account"], target["operation"], target["options"]) == ("aello", "push", {})
    assert target["due_at"] is not None  # the rule's minute of delay
    assert rows[web.pk]["skipped"][0]["reason"] == (
        "Aiployees needs the contact's phone; it has none"
    )
    page = response.content.decode()
    assert "1 of 2 leads match." in page and "no: source" in page
    assert not Delivery.objects.exists() and not LeadRouting.objects.exists()


def test_the_test_page_reads_only_the_last_50_leads(admin_client, make_lead):
    rule = RoutingRule.objects.create(name="all")
    leads = [make_lead() for _ in range(52)]
    response = admin_client.get(reverse("admin:bridge_routingrule_test", args=[rule.pk]))
    shown = [row["lead"].pk for row in response.context["rows"]]
    assert len(shown) == 50 and leads[0].pk not in shown and leads[-1].pk in shown


def test_a_leads_routing_record_is_shown_read_only(admin_client, make_lead):
    lead = make_lead()
    record = LeadRouting.objects.create(
        lead=lead,
        rules=["web"],
        targets=[{"rule": "web", "account": "aello", "operation": "push", "options": {}}],
        skipped=[{"rule": "web", "account": "calls", "reason": "no phone"}],
    )
    listing = admin_client.get(reverse("admin:bridge_leadrouting_changelist"))
    assert "web → aello push" in listing.content.decode()
    page = admin_client.get(reverse("admin:bridge_leadrouting_change", args=[record.pk]))
    assert page.status_code == 200 and "no phone" in page.content.decode()


def test_the_test_page_of_a_rule_that_does_not_exist_is_a_404(admin_client):
    for object_id in ("999999", "not-a-number", "1%2F..%2F2"):
        response = admin_client.get(f"/admin/bridge/routingrule/{object_id}/test/")
        assert response.status_code == 404, object_id
