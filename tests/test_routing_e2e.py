"""The whole path, for real: a lead saved → its routing queued on commit → a real django-q2
worker routes it into the outbox → the outbox's commit wakes a drain, which delivers it to the
fake Aiployees over HTTP; nothing is found by the every-minute dispatcher (whose schedule is
removed here)."""

import time

from django_q.models import Schedule

from bridge.models import Delivery, LeadRouting, RoutingRule, RuleTarget

State = Delivery.State
LEADS_PATH = "/api/user/lead"


def wait_for(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_a_saved_lead_reaches_the_fake_aiployees_through_a_real_cluster(
    make_lead, fake_account, fakes, qcluster, settings
):
    settings.BRIDGE_KICK_WORKERS = True
    Schedule.objects.all().delete()  # no periodic dispatcher: only the commit's kick
    account = fake_account("aiployees", options={"campaign_id": 1})
    rule = RoutingRule.objects.create(name="web to caller", sources="website")
    RuleTarget.objects.create(rule=rule, account=account, options={"campaign_id": 7})
    qcluster()

    def delivered(lead):
        return Delivery.objects.filter(object_id=lead.pk, state=State.DELIVERED).exists()

    # The first lead also waits for the cluster to start.
    first = make_lead()  # autocommit: routed as soon as it is saved
    assert wait_for(lambda: delivered(first), 60), list(Delivery.objects.values())

    # Once the cluster runs, a lead is at the provider within about a second of its save.
    started = time.monotonic()
    second = make_lead()
    assert wait_for(lambda: len(fakes.requests_for("aiployees", "POST", LEADS_PATH)) == 2, 10)
    elapsed = time.monotonic() - started
    assert elapsed < 3.0, f"{elapsed:.2f}s from save to the provider"
    assert wait_for(lambda: delivered(second), 10)

    sent = fakes.requests_for("aiployees", "POST", LEADS_PATH)
    assert [request.json["campaign_id"] for request in sent] == [7, 7]
    assert [request.json["phone_number"] for request in sent] == [
        first.contact.phone,
        second.contact.phone,
    ]
    assert LeadRouting.objects.filter(lead__in=[first, second]).count() == 2
    assert not Schedule.objects.exists()


def test_a_delayed_push_waits_for_its_due_time_then_goes_out(
    make_lead, fake_account, fakes, qcluster, settings
):
    settings.BRIDGE_KICK_WORKERS = True
    Schedule.objects.all().delete()
    account = fake_account("aiployees", options={"campaign_id": 1})
    rule = RoutingRule.objects.create(name="a little later", delay_seconds=3)
    RuleTarget.objects.create(rule=rule, account=account)
    qcluster()
    started = time.monotonic()
    lead = make_lead()
    assert wait_for(lambda: Delivery.objects.filter(object_id=lead.pk).exists(), 30)
    (delivery,) = Delivery.objects.filter(object_id=lead.pk)  # routed by a worker's task
    assert delivery.next_attempt_at is not None
    assert wait_for(lambda: fakes.requests_for("aiployees", "POST", LEADS_PATH), 60)
    assert time.monotonic() - started >= 3.0  # not before its due time
    assert wait_for(
        lambda: Delivery.objects.filter(pk=delivery.pk, state=State.DELIVERED).exists(), 10
    )


def test_two_routers_racing_for_one_lead_route_it_once(
    transactional_db, make_account, make_contact
):
    """Two processes routing the same lead at once (a retry racing the commit's own routing):
    the lead's unique routing row lets one win; the other queues nothing."""
    import threading

    from django.db import connection

    from bridge.models import Lead
    from bridge.routing import route_leads

    lead = Lead.objects.create(contact=make_contact(), source="website")
    LeadRouting.objects.filter(lead=lead).delete()  # routed on save (no rule yet): forget it
    account = make_account("aello")
    rule = RoutingRule.objects.create(name="all")
    RuleTarget.objects.create(rule=rule, account=account)
    barrier, results, errors = threading.Barrier(2), [], []

    def route():
        try:
            barrier.wait()
            results.append(len(route_leads([lead.pk])))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=route) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    assert sorted(results) == [0, 1]
    assert LeadRouting.objects.filter(lead=lead).count() == 1
    assert Delivery.objects.filter(object_id=lead.pk).count() == 1
