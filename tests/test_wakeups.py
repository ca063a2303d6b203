"""One queued task per piece of work: drains per account, routing for every new lead."""

from datetime import timedelta

import pytest
from django.utils import timezone

from bridge import outbox, wakeups
from bridge.models import (
    Delivery,
    LeadRouting,
    ProviderAccount,
    RoutingRule,
    RoutingWake,
    RuleTarget,
)
from bridge.routing import route_task


@pytest.fixture
def queued(settings, monkeypatch):
    """The tasks the bridge queues, recorded instead of sent to a broker."""
    import django_q.tasks

    settings.BRIDGE_KICK_WORKERS = True
    settings.BRIDGE_DRAIN_SLOTS = 0
    tasks = []
    monkeypatch.setattr(
        django_q.tasks, "async_task", lambda func, *args, **kw: tasks.append((func, args))
    )
    return tasks


def test_a_mark_is_claimed_once_until_its_task_starts_or_goes_stale(make_account):
    account = make_account("aello")
    rows = ProviderAccount.objects.filter(pk=account.pk)
    assert wakeups.claim(rows, "drain_queued_at") is True
    assert wakeups.claim(rows, "drain_queued_at") is False
    wakeups.started(rows, "drain_queued_at")
    assert wakeups.claim(rows, "drain_queued_at") is True
    rows.update(drain_queued_at=timezone.now() - wakeups.STALE - timedelta(seconds=1))
    assert wakeups.claim(rows, "drain_queued_at") is True  # a lost task holds nobody back


def test_a_row_is_claimed_by_its_key_in_one_go(db):
    """``claim_row``: the same answers as ``claim``, and None while the row does not exist."""
    assert wakeups.claim_row(RoutingWake, 1, "queued_at") is None
    RoutingWake.objects.create(pk=1)
    assert wakeups.claim_row(RoutingWake, 1, "queued_at") is True
    marked = RoutingWake.objects.get(pk=1).queued_at
    assert wakeups.claim_row(RoutingWake, 1, "queued_at") is False
    assert RoutingWake.objects.get(pk=1).queued_at == marked  # a recent mark stays as it is
    RoutingWake.objects.filter(pk=1).update(
        queued_at=timezone.now() - wakeups.STALE - timedelta(seconds=1)
    )
    assert wakeups.claim_row(RoutingWake, 1, "queued_at") is True
    wakeups.started(RoutingWake.objects.filter(pk=1), "queued_at")
    assert wakeups.claim_row(RoutingWake, 1, "queued_at") is True


def test_kicks_queue_one_drain_until_it_starts(make_account, queued):
    # Paused, so the drain below starts and ends at once, in this test's transaction.
    aello = make_account("aello", paused=True)
    other = make_account("aello", name="second")
    for _ in range(5):
        outbox.kick_accounts([aello.pk, other.pk])
    assert queued == [
        ("bridge.outbox.drain_account", (aello.pk,)),
        ("bridge.outbox.drain_account", (other.pk,)),
    ]
    assert outbox.drain_account(aello.pk)["slots"] == 0  # the queued drain starts (and ends)
    outbox.kick_accounts([aello.pk, other.pk])
    assert queued[2:] == [("bridge.outbox.drain_account", (aello.pk,))]


def test_leads_committed_while_a_routing_task_waits_are_routed_by_it(
    make_account, make_lead, queued, django_capture_on_commit_callbacks
):
    rule = RoutingRule.objects.create(name="all")
    RuleTarget.objects.create(rule=rule, account=make_account("aello"))
    with django_capture_on_commit_callbacks(execute=True):
        first = make_lead()
    with django_capture_on_commit_callbacks(execute=True):
        second = make_lead()  # a later commit: the first's task is still queued
    routing = [task for task in queued if task[0] == "bridge.routing.route_task"]
    assert routing == [("bridge.routing.route_task", ([first.pk],))]
    assert RoutingWake.objects.get().queued_at is not None
    route_task([first.pk])  # what the worker runs: it takes the second lead too
    assert set(LeadRouting.objects.values_list("lead", flat=True)) == {first.pk, second.pk}
    assert Delivery.objects.count() == 2
    assert RoutingWake.objects.get().queued_at is None
    with django_capture_on_commit_callbacks(execute=True):
        third = make_lead()  # after the task started: a task of its own
    assert [t for t in queued if t[0] == "bridge.routing.route_task"][1:] == [
        ("bridge.routing.route_task", ([third.pk],))
    ]
