"""Routing rules: conditions, order and stop, delays and business hours, routed once.

Leads are saved as every entry saves them (the ORM, in a transaction); the routing runs on
commit, which these tests let happen with ``django_capture_on_commit_callbacks(execute=True)``.
"Now" is passed in, never waited for.
"""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction

from bridge.models import Delivery, Lead, LeadRouting, RoutingRule, RoutingWake, RuleTarget, Tag
from bridge.routing import Target, route_leads
from bridge.routing.hours import due_time, next_window_start

# A Wednesday, 10:00 UTC.
WEDNESDAY_10_UTC = datetime(2025, 1, 15, 10, 0, tzinfo=UTC)


@pytest.fixture
def rule(db):
    """Make a rule with targets: ``rule("name", [account, …], **fields)``."""

    def make(name, accounts=(), options=None, tags=(), **fields):
        made = RoutingRule(name=name, **fields)
        made.full_clean()
        made.save()
        made.tags.set(tags)
        for account in accounts:
            target = RuleTarget(rule=made, account=account, options=options or {})
            target.full_clean()
            target.save()
        return made

    return make


@pytest.fixture
def aiployees(make_account):
    return make_account("aiployees", options={"campaign_id": 1})


@pytest.fixture
def aello(make_account):
    return make_account("aello")


def deliveries_of(lead):
    return list(
        Delivery.objects.filter(object_id=lead.pk, content_type__model="lead").order_by("id")
    )


def routed(make_lead, capture, **fields):
    """A lead saved in its own transaction, routed when it commits."""
    with capture(execute=True):
        with transaction.atomic():
            lead = make_lead(**fields)
    return lead


# --- conditions, one by one ----------------------------------------------------------------


CONDITIONS = [
    ({"sources": "website, Landing"}, {"source": "landing"}, {"source": "phone"}),
    ({"product_reference_contains": "1086"}, {}, {"product_reference": "999"}),
    ({"product_title_contains": "midlum"}, {}, {"product_title": "Kangoo"}),
    ({"countries": "fr, us"}, {"contact": {"country": "US"}}, {"contact": {"country": "DE"}}),
    ({"has_phone": True}, {}, {"contact": {"phone": ""}}),
    ({"has_phone": False}, {"contact": {"phone": ""}}, {}),
    ({"has_email": True}, {}, {"contact": {"email": ""}}),
    ({"has_email": False}, {"contact": {"email": ""}}, {}),
]


@pytest.mark.parametrize(("condition", "meets", "misses"), CONDITIONS)
def test_each_condition_matches_the_leads_that_meet_it_only(
    condition, meets, misses, rule, aello, make_lead, make_contact
):
    rule("only-this", [aello], **condition)

    def lead_with(fields):
        fields = dict(fields)
        contact = make_contact(**fields.pop("contact", {}))
        return make_lead(contact=contact, **fields)

    good, bad = lead_with(meets), lead_with(misses)
    plans = {plan.lead.pk: plan for plan in route_leads([good.pk, bad.pk])}
    assert plans[good.pk].rules == ["only-this"]
    assert plans[bad.pk].rules == []
    assert [d.account for d in deliveries_of(good)] == [aello]
    assert deliveries_of(bad) == []


def test_tags_match_any_of_the_rules_tags_on_the_contact(rule, aello, make_lead, make_contact):
    vip, fleet, other = (Tag.objects.create(name=n) for n in ("VIP", "Fleet", "Other"))
    rule("tagged", [aello], tags=[vip, fleet])
    tagged = make_lead(contact=make_contact(tags=[fleet]))
    untagged = make_lead(contact=make_contact(tags=[other]))
    plans = {plan.lead.pk: plan for plan in route_leads([tagged.pk, untagged.pk])}
    assert plans[tagged.pk].rules == ["tagged"] and plans[untagged.pk].rules == []


def test_an_empty_rule_matches_every_lead_and_conditions_are_anded(rule, aello, make_lead):
    rule("everything", [aello], order=2)
    rule("both", [], order=1, sources="website", product_title_contains="nothing-like-this")
    (plan,) = route_leads([make_lead().pk])
    assert plan.rules == ["everything"]  # "both": the source holds, the title does not


def test_disabled_rules_are_not_tried(rule, aello, make_lead):
    rule("off", [aello], enabled=False)
    (plan,) = route_leads([make_lead().pk])
    assert plan.rules == [] and plan.targets == []


# --- order and stop after match ----------------------------------------------------------------


def test_rules_are_tried_in_order_and_stop_after_match_ends_the_list(
    rule, aello, aiployees, make_account, make_lead
):
    aloware = make_account("aloware")
    rule("third", [aloware], order=30)
    rule("first", [aello], order=10)
    rule("second", [aiployees], order=20, stop_after_match=True)
    (plan,) = route_leads([make_lead().pk])
    assert plan.rules == ["first", "second"]
    assert [t.account.name for t in plan.targets] == ["aello", "aiployees"]


def test_a_second_rule_to_the_same_account_is_skipped_with_its_reason(rule, aello, make_lead):
    rule("a", [aello], order=1)
    rule("b", [aello], order=2)
    lead = make_lead()
    (plan,) = route_leads([lead.pk])
    assert plan.rules == ["a", "b"] and len(deliveries_of(lead)) == 1
    assert plan.skipped[0]["reason"] == "already sent to aello by rule 'a'"


# --- the push itself: options, requirements, the outbox ---------------------------------------


def test_a_target_is_queued_through_the_outbox_with_its_options(rule, aiployees, make_lead):
    rule("calls", [aiployees], options={"campaign_id": "7", "allow_dupplicate": False})
    lead = make_lead()
    (plan,) = route_leads([lead.pk])
    (delivery,) = deliveries_of(lead)
    assert delivery.state == Delivery.State.PENDING and delivery.next_attempt_at is None
    assert delivery.operation == "push"
    assert delivery.params == {"campaign_id": 7, "allow_dupplicate": False}
    assert delivery.batch.description == "Routing rule 'calls': 1 new lead(s) to aiployees"
    record = LeadRouting.objects.get(lead=lead)
    assert record.rules == ["calls"]
    assert record.targets[0]["options"] == {"campaign_id": 7, "allow_dupplicate": False}


def test_unmet_contact_requirements_are_recorded_and_logged_not_raised(
    rule, aiployees, aello, make_lead, make_contact, caplog
):
    rule("calls", [aiployees, aello])
    lead = make_lead(contact=make_contact(phone=""))
    (plan,) = route_leads([lead.pk])
    assert [d.account for d in deliveries_of(lead)] == [aello]
    (skip,) = LeadRouting.objects.get(lead=lead).skipped
    assert skip["account"] == "aiployees"
    assert skip["reason"] == "Aiployees needs the contact's phone; it has none"
    assert f"routing lead={lead.pk} rule=calls account=aiployees not queued" in caplog.text


def test_a_disabled_account_is_skipped(rule, aello, make_lead):
    rule("a", [aello])
    aello.enabled = False
    aello.save()
    (plan,) = route_leads([make_lead().pk])
    assert plan.targets == [] and plan.skipped[0]["reason"] == "account aello is disabled"


def test_target_options_are_checked_as_the_push_page_checks_them(rule, aiployees, make_account):
    made = rule("calls", [])
    bad = [
        ({"campaign_id": "seven"}, "Campaign id (campaign_id): Enter a whole number."),
        ({"campaign": 7}, "unknown option 'campaign' for Aiployees push"),
        ({"allow_dupplicate": "perhaps"}, None),  # NullBooleanField reads it as blank
    ]
    for options, message in bad:
        target = RuleTarget(rule=made, account=aiployees, options=options)
        if message is None:
            target.full_clean()
            continue
        with pytest.raises(ValidationError) as error:
            target.full_clean()
        assert any(message in text for text in error.value.message_dict["options"])
    no_default = make_account("aiployees", name="calls-without-campaign")
    with pytest.raises(ValidationError, match="Campaign id is required for calls-without"):
        RuleTarget(rule=made, account=no_default, options={}).full_clean()
    with pytest.raises(ValidationError, match="cannot 'add_tag' a lead"):
        RuleTarget(rule=made, account=aiployees, operation="add_tag").full_clean()


def test_fallback_targets_apply_only_when_no_rule_matched(rule, aello, make_lead, monkeypatch):
    from bridge.routing import fallback

    monkeypatch.setattr(fallback, "fallback_targets", lambda lead: [Target(aello)])
    (plan,) = route_leads([make_lead().pk])
    assert plan.fallback and [t.account for t in plan.targets] == [aello]
    rule("matches", [], sources="website")
    (plan,) = route_leads([make_lead().pk])
    assert not plan.fallback and plan.targets == []


def test_a_lead_no_rule_took_goes_to_its_intake_sources_default_accounts(
    rule, aello, aiployees, make_lead
):
    from bridge.models import IntakeSource

    source = IntakeSource.objects.create(
        name="landing", default_push_options={str(aiployees.pk): {"campaign_id": 7}}
    )
    source.default_accounts.set([aello, aiployees])
    (plan,) = route_leads([make_lead(source="landing").pk])
    assert plan.fallback
    assert [(t.account, t.options, t.rule) for t in plan.targets] == [
        (aello, {}, ""),
        (aiployees, {"campaign_id": 7}, ""),
    ]
    assert {d.account for d in Delivery.objects.all()} == {aello, aiployees}
    assert Delivery.objects.get(account=aiployees).params == {"campaign_id": 7}
    (plan,) = route_leads([make_lead(source="elsewhere").pk])  # not an intake source
    assert plan.targets == []
    IntakeSource.objects.filter(pk=source.pk).update(enabled=False)
    (plan,) = route_leads([make_lead(source="landing").pk])  # a disabled source routes nothing
    assert plan.targets == []
    rule("landing rule", [aello], sources="landing")
    IntakeSource.objects.filter(pk=source.pk).update(enabled=True)
    (plan,) = route_leads([make_lead(source="landing").pk])  # a rule matched: no fallback
    assert not plan.fallback and [t.account for t in plan.targets] == [aello]


def test_rules_kept_between_leads_are_read_again_after_any_change(
    rule, aello, aiployees, make_lead, make_contact, django_assert_max_num_queries
):
    vip, fleet = Tag.objects.create(name="VIP"), Tag.objects.create(name="Fleet")
    made = rule("calls", [aiployees], tags=[vip])
    target = made.targets.get()

    def targets_for(contact_tags=(vip,)):
        lead = make_lead(contact=make_contact(tags=list(contact_tags)))
        (plan,) = route_leads([lead.pk])
        return [(t.account.name, t.options) for t in plan.targets]

    assert targets_for() == [("aiployees", {})]
    lead = make_lead(contact=make_contact(tags=[vip]))
    with django_assert_max_num_queries(12):  # the rules are not read again
        route_leads([lead.pk])
    target.options = {"campaign_id": 7}
    target.save()
    assert targets_for() == [("aiployees", {"campaign_id": 7})]
    made.tags.set([fleet])  # a tag swapped: the same number of links
    assert targets_for() == [] and targets_for([fleet]) == [("aiployees", {"campaign_id": 7})]
    fleet.routing_rules.clear()  # from the tag's side
    assert targets_for([]) == [("aiployees", {"campaign_id": 7})]
    RoutingRule.objects.update(enabled=False)  # no updated_at: the enabled count tells
    assert targets_for() == []
    RoutingRule.objects.update(enabled=True)
    RuleTarget.objects.create(rule=made, account=aello)
    assert [name for name, _ in targets_for()] == ["aiployees", "aello"]
    aello.enabled = False
    aello.save()
    assert [name for name, _ in targets_for()] == ["aiployees"]
    made.targets.get(account=aello).delete()
    Tag.objects.filter(pk=vip.pk).delete()
    assert [name for name, _ in targets_for([])] == ["aiployees"]


# --- delay and business hours ------------------------------------------------------------------


def test_a_delay_makes_the_delivery_due_later(rule, aello, make_lead):
    rule("later", [aello], delay_seconds=300)
    lead = make_lead()
    route_leads([lead.pk], now=WEDNESDAY_10_UTC)
    (delivery,) = deliveries_of(lead)
    assert delivery.state == Delivery.State.PENDING
    assert delivery.next_attempt_at == WEDNESDAY_10_UTC + timedelta(minutes=5)


def test_a_push_held_back_on_purpose_is_not_the_dashboards_oldest_pending(rule, aello, make_lead):
    from django.utils import timezone

    from bridge.dashboard.health import queue_depth

    rule("tomorrow", [aello], delay_seconds=86400)
    route_leads([make_lead().pk])
    queue = queue_depth(timezone.now())
    assert queue.counts["pending"] == 1 and queue.oldest_pending_at is None


def test_business_hours_are_read_in_each_accounts_time_zone(rule, make_account, make_lead):
    paris = make_account("aello", name="paris", time_zone="Europe/Paris")
    new_york = make_account("aello", name="new-york", time_zone="America/New_York")
    rule(
        "office",
        [paris, new_york],
        business_days="mon-fri",
        business_start=time(9),
        business_end=time(18),
    )
    lead = make_lead()
    route_leads([lead.pk], now=WEDNESDAY_10_UTC)  # 11:00 in Paris, 05:00 in New York
    due = {d.account.name: d.next_attempt_at for d in deliveries_of(lead)}
    assert due["paris"] is None  # open: at once
    assert due["new-york"] == datetime(2025, 1, 15, 14, 0, tzinfo=UTC)  # 09:00 EST


@pytest.mark.parametrize(
    ("now", "zone", "expected"),
    [
        # Friday 18:30 in Paris → Monday 09:00 Paris (08:00 UTC).
        (datetime(2025, 1, 17, 17, 30, tzinfo=UTC), "Europe/Paris", datetime(2025, 1, 20, 8, 0)),
        # Saturday in Tokyo, Friday evening UTC → Monday 09:00 Tokyo (Sunday 00:00 UTC).
        (datetime(2025, 1, 17, 16, 0, tzinfo=UTC), "Asia/Tokyo", datetime(2025, 1, 20, 0, 0)),
        # Before opening on a business day → that day's opening.
        (datetime(2025, 1, 15, 6, 0, tzinfo=UTC), "UTC", datetime(2025, 1, 15, 9, 0)),
        # The end is excluded: 18:00 sharp waits for the next day.
        (datetime(2025, 1, 15, 18, 0, tzinfo=UTC), "UTC", datetime(2025, 1, 16, 9, 0)),
        # New Year's Eve (a Wednesday) after hours → Thursday 1 January, across the year.
        (datetime(2025, 12, 31, 23, 0, tzinfo=UTC), "UTC", datetime(2026, 1, 1, 9, 0)),
        # Across the spring DST change in New York: Sunday → Monday 09:00 EDT = 13:00 UTC.
        (datetime(2025, 3, 9, 12, 0, tzinfo=UTC), "America/New_York", datetime(2025, 3, 10, 13)),
    ],
)
def test_outside_business_hours_the_push_waits_for_the_next_window(now, zone, expected):
    found = next_window_start(now, [0, 1, 2, 3, 4], time(9), time(18), ZoneInfo(zone))
    assert found == expected.replace(tzinfo=UTC)


def test_the_delay_runs_first_then_the_hours_apply():
    # 17:55 UTC + 10 minutes = 18:05, closed → the next morning.
    now = datetime(2025, 1, 15, 17, 55, tzinfo=UTC)
    due = due_time(now, 600, [0, 1, 2, 3, 4], time(9), time(18), ZoneInfo("UTC"))
    assert due == datetime(2025, 1, 16, 9, 0, tzinfo=UTC)
    assert due_time(now, 0, [0, 1, 2, 3, 4], time(9), time(18), ZoneInfo("UTC")) is None
    assert due_time(now, 60) == now + timedelta(seconds=60)


def test_business_hours_are_checked_when_the_rule_is_saved(db):
    cases = [
        ({"business_days": "mon-fri"}, "business_start"),
        ({"business_days": "mon-sunday", "business_start": time(9), "business_end": time(17)},
         "business_days"),
        ({"business_days": "fri-mon", "business_start": time(9), "business_end": time(17)},
         "business_days"),
        ({"business_days": "mon", "business_start": time(17), "business_end": time(9)},
         "business_end"),
        ({"countries": "USA"}, "countries"),
    ]  # fmt: skip
    for fields, field in cases:
        with pytest.raises(ValidationError) as error:
            RoutingRule(name="bad", **fields).full_clean()
        assert field in error.value.message_dict, (fields, error.value.message_dict)
    good = RoutingRule(
        name="ok", business_days="Mon-Wed, fri", business_start=time(9), business_end=time(17)
    )
    good.full_clean()
    assert good.business_days == "mon,tue,wed,fri" and good.day_numbers == [0, 1, 2, 4]


def test_an_account_time_zone_must_be_a_real_one(make_account):
    with pytest.raises(ValidationError) as error:
        make_account("aello", time_zone="Mars/Olympus")
    assert "not a time zone name" in error.value.message_dict["time_zone"][0]
    assert make_account("aello", name="default-zone").time_zone == "UTC"
    blank = make_account("aello", name="blank-zone", time_zone="")
    assert blank.zone == ZoneInfo("UTC")  # blank: the site's TIME_ZONE


# --- every entry, routed once -------------------------------------------------------------------


def test_a_new_lead_is_routed_on_commit_and_never_again(
    rule, aello, make_lead, django_capture_on_commit_callbacks
):
    rule("all", [aello])
    lead = routed(make_lead, django_capture_on_commit_callbacks)
    assert LeadRouting.objects.filter(lead=lead).count() == 1
    assert len(deliveries_of(lead)) == 1
    with django_capture_on_commit_callbacks(execute=True):
        lead.message = "changed"
        lead.save()  # a re-save is not a new lead
    assert route_leads([lead.pk]) == []  # asked again: already routed
    assert len(deliveries_of(lead)) == 1


def test_a_rolled_back_lead_is_not_routed(
    rule, aello, make_lead, django_capture_on_commit_callbacks
):
    rule("all", [aello])
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            make_lead()
            raise RuntimeError("the request failed")
    assert callbacks == [] and not Delivery.objects.exists()


def test_leads_of_one_transaction_are_routed_together_in_one_batch(
    rule, aello, make_lead, django_capture_on_commit_callbacks
):
    rule("all", [aello])
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with transaction.atomic():
            leads = [make_lead() for _ in range(3)]
    from bridge.routing.signals import _PendingLeads

    assert len([c for c in callbacks if isinstance(c, _PendingLeads)]) == 1
    batches = {d.batch_id for lead in leads for d in deliveries_of(lead)}
    assert len(batches) == 1 and LeadRouting.objects.count() == 3


def test_a_large_transaction_is_routed_in_chunks(
    rule, aello, make_lead, django_capture_on_commit_callbacks, monkeypatch
):
    from bridge.routing import signals

    monkeypatch.setattr(signals, "CHUNK", 2)
    rule("all", [aello])
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            leads = [make_lead() for _ in range(5)]
    assert LeadRouting.objects.count() == 5
    assert len({d.batch_id for lead in leads for d in deliveries_of(lead)}) == 3


def test_a_routing_failure_is_logged_and_the_lead_stays_saved(
    rule, aello, make_lead, django_capture_on_commit_callbacks, monkeypatch, caplog
):
    from bridge.routing import engine

    rule("all", [aello])

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(engine, "load_rules", broken)
    lead = routed(make_lead, django_capture_on_commit_callbacks)
    assert Lead.objects.filter(pk=lead.pk).exists()
    assert not LeadRouting.objects.exists()
    assert f"routing failed for leads [{lead.pk}]" in caplog.text


def test_a_lead_added_in_the_admin_is_routed(
    rule, aello, admin_client, make_contact, django_capture_on_commit_callbacks
):
    rule("all", [aello])
    contact = make_contact()
    page = admin_client.get("/admin/bridge/lead/add/")
    data = {
        "contact": contact.pk,
        "product_reference": "42",
        "source": "walk-in",
        "status": "new",
        "received_at_0": "2025-01-15",
        "received_at_1": "10:00:00",
    }
    for inline in page.context["inline_admin_formsets"]:
        prefix = inline.formset.prefix
        data.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"})
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post("/admin/bridge/lead/add/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    lead = Lead.objects.get(source="walk-in")
    assert [d.account for d in deliveries_of(lead)] == [aello]


def test_imported_leads_are_routed_once_each(
    rule, aello, admin_client, django_capture_on_commit_callbacks
):
    from tests.test_import_export import confirm, csv_file, upload

    rule("imports", [aello], sources="import")
    rows = [
        ["email", "phone", "first_name", "source", "product_reference"],
        ["a@example.com", "+13105550101", "Ann", "import", "1"],
        ["b@example.com", "+13105550102", "Bob", "import", "2"],
        ["c@example.com", "", "Cy", "other", "3"],
    ]
    with django_capture_on_commit_callbacks(execute=True):
        preview = upload(admin_client, "lead", csv_file(rows))
    assert not Delivery.objects.exists()  # the preview is a dry run: rolled back, not routed
    with django_capture_on_commit_callbacks(execute=True):
        confirm(admin_client, "lead", preview)
    assert Lead.objects.count() == 3 and LeadRouting.objects.count() == 3
    routed_sources = sorted(
        Lead.objects.get(pk=d.object_id).source for d in Delivery.objects.filter(account=aello)
    )
    assert routed_sources == ["import", "import"]


def test_with_workers_to_wake_the_routing_is_queued_for_one_and_the_request_does_not_route(
    rule, aello, make_lead, settings, monkeypatch, django_capture_on_commit_callbacks
):
    import django_q.tasks

    from bridge.routing import route_task

    settings.BRIDGE_KICK_WORKERS = True
    rule("all", [aello])
    queued = []
    monkeypatch.setattr(
        django_q.tasks, "async_task", lambda func, *args, **kw: queued.append((func, args))
    )
    with django_capture_on_commit_callbacks(execute=True):
        first, second = make_lead(), make_lead()
    assert queued == [("bridge.routing.route_task", ([first.pk, second.pk],))]
    assert not LeadRouting.objects.exists()  # the worker routes, not the saving request
    route_task(*queued[0][1])  # what the worker runs
    assert LeadRouting.objects.count() == 2 and len(Delivery.objects.all()) == 2


def test_a_queue_that_refuses_the_routing_task_leaves_the_routing_to_the_saving_process(
    rule, aello, make_lead, settings, monkeypatch, django_capture_on_commit_callbacks, caplog
):
    import django_q.tasks

    settings.BRIDGE_KICK_WORKERS = True
    rule("all", [aello])

    def broker_down(func, *args, **kwargs):
        if func == "bridge.routing.route_task":  # the drain's kick afterwards is not tested
            raise ConnectionError("the broker is down")

    monkeypatch.setattr(django_q.tasks, "async_task", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        lead = make_lead()
    assert LeadRouting.objects.get().lead == lead
    assert "the queue refused leads" in caplog.text
    assert RoutingWake.objects.get(pk=1).queued_at is None  # the next lead tries the queue
