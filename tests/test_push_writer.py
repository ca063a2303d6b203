"""The drain's machinery: outcomes written in batches by a writer thread, claims made ahead
by one claimer. Counts and states only, never times."""

import pytest
from django.utils import timezone

from bridge import budget, outbox
from bridge.db import outcomes as db_outcomes
from bridge.models import Delivery, Lead, RemoteLink

State = Delivery.State

pytestmark = pytest.mark.django_db(transaction=True)


def push(leads, account, **params):
    return outbox.enqueue(Lead, {account: [lead.pk for lead in leads]}, params={account.pk: params})


def delivered_fields(delivery):
    return {
        "state": State.DELIVERED,
        "remote_id": f"r{delivery.pk}",
        "content_hash": "h",
        "delivered_at": timezone.now(),
        "error_code": "",
        "error_message": "",
        "next_attempt_at": None,
        "last_http_status": 202,
        "request_redacted": {"json": {"externalId": f"r{delivery.pk}"}},
        "response_redacted": None,
        "updated_at": timezone.now(),
    }


def test_batched_finish_is_a_compare_and_set_on_each_claim(make_lead, make_account):
    account = make_account("aello")
    push([make_lead() for _ in range(3)], account)
    first, taken, third = outbox.claim_due(account.pk, 3)
    # Another worker recovered and re-claimed one of them meanwhile: its outcome must not land.
    later = taken.claimed_at + timezone.timedelta(seconds=5)
    Delivery.objects.filter(pk=taken.pk).update(claimed_at=later)
    items = [
        db_outcomes.Finish(d.pk, d.claimed_at, delivered_fields(d)) for d in (first, taken, third)
    ]
    assert db_outcomes.finish_claimed(items) == 2
    rows = {d.pk: d for d in Delivery.objects.all()}
    assert rows[first.pk].state == rows[third.pk].state == State.DELIVERED
    assert rows[first.pk].request_redacted == {"json": {"externalId": f"r{first.pk}"}}
    assert rows[first.pk].last_http_status == 202 and rows[first.pk].next_attempt_at is None
    # None is SQL NULL, as the ORM writes it (not a JSON null).
    assert Delivery.objects.filter(pk=first.pk, response_redacted__isnull=True).exists()
    assert rows[first.pk].delivered_at == items[0].fields["delivered_at"]
    assert rows[taken.pk].state == State.SENDING and rows[taken.pk].claimed_at == later


def test_writer_writes_everything_queued_before_close_returns(make_lead, make_account):
    account = make_account("aello")
    leads = [make_lead() for _ in range(20)]
    push(leads, account)
    claimed = outbox.claim_due(account.pk, 20)
    writer = outbox.OutcomeWriter()
    futures = []
    for delivery in claimed:
        writer.finish(delivery, **{k: v for k, v in delivered_fields(delivery).items()})
        futures.append(writer.link(delivery, f"r{delivery.pk}", "h", timezone.now()))
    writer.close()
    assert set(Delivery.objects.values_list("state", flat=True)) == {State.DELIVERED}
    assert RemoteLink.objects.filter(account=account).count() == 20
    assert all(future.result() is not None for future in futures)
    assert writer.in_flight == {}


def test_writer_gathers_outcomes_into_one_write(make_lead, make_account, monkeypatch):
    account = make_account("aello")
    push([make_lead() for _ in range(5)], account)
    claimed = outbox.claim_due(account.pk, 5)
    writes = []
    monkeypatch.setattr(outbox.OutcomeWriter, "GATHER_SECONDS", 60.0)  # only close ends it
    real_finish = db_outcomes.finish_claimed
    monkeypatch.setattr(
        db_outcomes,
        "finish_claimed",
        lambda finishes: writes.append(len(finishes)) or real_finish(finishes),
    )
    writer = outbox.OutcomeWriter()
    for delivery in claimed:
        writer.finish(delivery, **delivered_fields(delivery))
    writer.close()
    assert writes == [5]
    assert set(Delivery.objects.values_list("state", flat=True)) == {State.DELIVERED}


def test_a_slot_waiting_for_a_queued_link_makes_the_writer_write_now(
    make_lead, make_account, monkeypatch
):
    account = make_account("aello")
    push([make_lead()], account)
    (delivery,) = outbox.claim_due(account.pk, 1)
    monkeypatch.setattr(outbox.OutcomeWriter, "GATHER_SECONDS", 60.0)
    writer = outbox.OutcomeWriter()
    try:
        future = writer.link(delivery, "r-hurried", "h", timezone.now())
        # Without the hurry the writer would gather for a minute: this would time out.
        link = future.result(timeout=10)
        assert link is not None and link.remote_id == "r-hurried"
        assert RemoteLink.objects.filter(remote_id="r-hurried").exists()
    finally:
        writer.close()


def test_a_remote_id_already_linked_to_another_record_is_not_taken(make_lead, make_account):
    account = make_account("aello")
    one, other = make_lead(), make_lead()
    push([one, other], account)
    first, second = outbox.claim_due(account.pk, 2)
    writer = outbox.OutcomeWriter(threaded=False)
    kept = writer.link(first, "same-remote", "h1", timezone.now())
    refused = writer.link(second, "same-remote", "h2", timezone.now())
    assert kept.result() is not None and refused.result() is None
    link = RemoteLink.objects.get(account=account)
    assert link.object_id == first.object_id  # the first link stands


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_failing_slot_still_has_its_outcomes_written(make_lead, fake_account, fakes, monkeypatch):
    account = fake_account("aello", concurrency=1)
    batch = push([make_lead() for _ in range(6)], account)
    real_wait, paced = budget.Pacer.wait, []

    def wait_then_crash(self):
        # The slot's third delivery: a bug in the slot itself, after it took the delivery.
        if len(paced) == 2:
            raise RuntimeError("a bug in the slot")
        paced.append(1)
        return real_wait(self)

    monkeypatch.setattr(budget.Pacer, "wait", wait_then_crash)
    outbox.drain_account(account.pk)
    states = sorted(batch.deliveries.values_list("state", flat=True))
    # The two sent are written; the one the slot crashed on stays "sending" (recover_stranded's
    # job); the rest went back.
    assert states == sorted([State.DELIVERED] * 2 + [State.PENDING] * 3 + [State.SENDING])
    assert len(fakes.requests_for("aello", "POST", "/leads")) == 2


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_failing_writer_stops_the_drain_and_leaves_outcomes_recoverable(
    make_lead, fake_account, monkeypatch
):
    account = fake_account("aello")
    batch = push([make_lead() for _ in range(3)], account)

    def broken(finishes):
        raise RuntimeError("database gone")

    monkeypatch.setattr(db_outcomes, "finish_claimed", broken)
    with pytest.raises(RuntimeError, match="database gone"):
        outbox.drain_account(account.pk)
    states = set(batch.deliveries.values_list("state", flat=True))
    assert State.DELIVERED not in states and State.SENDING in states  # never lost, not written


def test_a_stale_claim_is_given_back_unsent(make_lead, fake_account, fakes, settings):
    settings.BRIDGE_STRANDED_MARGIN_SECONDS = 0  # every claim is already too old to send
    account = fake_account("aello")
    batch = push([make_lead() for _ in range(3)], account)
    outbox.drain_account(account.pk, max_seconds=0.5)
    assert fakes.requests_for("aello", "POST", "/leads") == []
    assert set(batch.deliveries.values_list("state", "attempts")) == {(State.PENDING, 0)}


def test_a_record_twice_in_one_claim_goes_once_then_is_skipped(make_lead, fake_account, fakes):
    account = fake_account("aello", concurrency=4)
    lead = make_lead()
    batch = outbox.enqueue(Lead, {account: [lead.pk, lead.pk]})
    outbox.run_until_settled([account.pk], timeout=30)
    assert sorted(batch.deliveries.values_list("state", flat=True)) == [
        State.DELIVERED,
        State.SKIPPED,
    ]
    assert len(fakes.requests_for("aello", "POST", "/leads")) == 1


def link_item(delivery, remote_id, first=True):
    return db_outcomes.Link(
        delivery.account_id,
        delivery.content_type_id,
        delivery.object_id,
        remote_id,
        "h",
        timezone.now(),
        first,
    )


def test_links_written_together_keep_the_first_link_stands_rule(make_lead, make_account):
    account = make_account("aello")
    push([make_lead() for _ in range(5)], account)
    held, a, b, c, d = outbox.claim_due(account.pk, 5)
    assert db_outcomes.upsert_links([link_item(held, "taken")]) == [True]
    # New records, distinct remote ids (one statement on PostgreSQL): the taken one is refused.
    linked = db_outcomes.upsert_links(
        [link_item(a, "ra"), link_item(b, "taken"), link_item(c, "rc")]
    )
    assert linked == [True, False, True]
    # Two records claiming one remote id in a batch (row by row): the first stands.
    linked = db_outcomes.upsert_links([link_item(d, "same"), link_item(c, "same", first=False)])
    assert linked == [True, False]
    assert dict(RemoteLink.objects.values_list("object_id", "remote_id")) == {
        held.object_id: "taken",
        a.object_id: "ra",
        c.object_id: "rc",
        d.object_id: "same",
    }


def test_a_claims_records_are_read_in_two_queries_with_the_same_data(
    make_lead, make_contact, django_assert_num_queries
):
    """load_record_data reads rows, not model instances: its data must be record_data's."""
    from bridge.models import Contact, Order, Tag, Tunnel
    from bridge.records import load_record_data, record_data

    tagged = make_contact(
        tags=[Tag.objects.create(name="vip"), Tag.objects.create(name="b2b")],
        other_phones=[{"phone_number": "+13105550199", "label": "work"}],
        custom_fields={"trim": "GT"},
        company="Acme",
    )
    leads = [make_lead(contact=tagged), make_lead()]
    with django_assert_num_queries(2):
        data = load_record_data(Lead, [lead.pk for lead in leads] + [10**9])
    assert set(data) == {lead.pk for lead in leads}  # a missing id is simply absent
    assert data[leads[0].pk]["contact"]["tags"] == ["b2b", "vip"]
    assert data[leads[1].pk]["contact"]["tags"] == []
    for lead in leads:
        assert data[lead.pk] == record_data(Lead.objects.get(pk=lead.pk))
    assert load_record_data(Contact, [tagged.pk]) == {
        tagged.pk: record_data(Contact.objects.get(pk=tagged.pk))
    }
    orders = [
        Order.objects.create(title="Trade-in", price="1200.50", contact=tagged),
        Order.objects.create(title="No contact"),
    ]
    loaded = load_record_data(Order, [order.pk for order in orders])
    assert loaded[orders[1].pk]["contact"] is None
    for order in orders:
        assert loaded[order.pk] == record_data(Order.objects.get(pk=order.pk))
    tag, tunnel = Tag.objects.get(name="vip"), Tunnel.objects.create(name="Showroom")
    assert load_record_data(Tag, [tag.pk]) == {tag.pk: record_data(tag)}
    assert load_record_data(Tunnel, [tunnel.pk]) == {tunnel.pk: record_data(tunnel)}


def test_a_drain_leases_its_share_and_a_kick_queues_one_drain_per_share(
    make_lead, fake_account, settings, monkeypatch
):
    import django_q.tasks

    settings.BRIDGE_DRAIN_SLOTS = 2
    settings.BRIDGE_KICK_WORKERS = True
    queued = []
    monkeypatch.setattr(django_q.tasks, "async_task", lambda *args, **kw: queued.append(args))
    account = fake_account("aello", concurrency=5)
    outbox.kick_accounts([account.pk])
    assert queued == [("bridge.outbox.drain_account", account.pk)] * 3
    batch = push([make_lead() for _ in range(4)], account)
    result = outbox.drain_account(account.pk)
    assert result["slots"] == 2
    assert set(batch.deliveries.values_list("state", flat=True)) == {State.DELIVERED}
    # Draining in this process (push --wait) uses every slot, or the share it is given.
    assert outbox.drain_account(account.pk, slots=0)["slots"] == 5
    assert outbox.drain_account(account.pk, slots=3)["slots"] == 3
