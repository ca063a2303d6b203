"""Issue 15, points 5-7: a slow delivery is never sent twice, an absurd Retry-After or a bug
strands nothing, attempts run out for real, and Aloware's "already exists" has a way out.

Real HTTP to the fakes, real threads and database; the drains run in this process.
"""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from bridge import budget, outbox
from bridge.models import AccountSlot, Contact, Delivery, Lead, ProviderAccount
from integrations.aello import AelloProvider
from integrations.base import parse_retry_after

State = Delivery.State

pytestmark = pytest.mark.django_db(transaction=True)

LGT = "5e18a2a3ed0b7a000d6c9486"  # the fake Leeloo's "Default leadgentool"
PEOPLE = "/api/v2/people"


def push(model, records, account, **params):
    return outbox.enqueue(model, {account: [r.pk for r in records]}, params={account.pk: params})


# --- point 5: recovery only when the sender is gone ---------------------------------------


def test_a_slow_four_request_leeloo_push_is_sent_once_while_recovery_runs(
    fake_account, make_contact, fakes, monkeypatch
):
    """Every request slow but inside the read timeout: the push outlasts both the old
    "stranded" time (connect + read timeout + margin = 3.7 s) and the slot lease (2 s here), and
    recovery runs all along. The heartbeat keeps the lease, so nobody else sends it."""
    monkeypatch.setattr(budget, "LEASE_SECONDS", 2.0)
    leeloo = fake_account(
        "leeloo", options={"leadgentool_id": LGT}, read_timeout=2.5, connect_timeout=0.2
    )
    contact = make_contact(
        phone="+13105550177", email="slow@example.com", custom_fields={"budget": "45000"}
    )
    # Look-up by phone, by email, create, set the custom fields: four requests, each slow.
    fakes.add_fault("leeloo", "latency", method="GET", path=PEOPLE, seconds=2.2, times=2)
    fakes.add_fault("leeloo", "latency", method="POST", path=PEOPLE, seconds=1.0)
    fakes.add_fault("leeloo", "latency", method="PUT", path=PEOPLE + "/", seconds=1.0)
    batch = push(Contact, [contact], leeloo)

    def send():
        try:
            outbox.run_until_settled([leeloo.pk], timeout=60)
        finally:
            connection.close()

    drain = threading.Thread(target=send, daemon=True)
    drain.start()
    recovered = 0
    while drain.is_alive():
        recovered += outbox.dispatch_due()["recovered"]
        time.sleep(0.05)
    drain.join()

    assert len(fakes.requests_for("leeloo", "POST", PEOPLE)) == 1
    people = [p for p in fakes.fakes["leeloo"].people.values() if p["phone"] == contact.phone]
    assert len(people) == 1
    delivery = batch.deliveries.get()
    assert delivery.state == State.DELIVERED and delivery.attempts == 1, delivery.error_message
    assert recovered == 0


def test_a_sending_delivery_is_recovered_only_once_its_senders_lease_expired(
    make_lead, make_account
):
    account = make_account("aello", read_timeout=0.5, connect_timeout=0.5)
    batch = push(Lead, [make_lead()], account)
    holder = budget.new_holder()
    assert budget.acquire(account, 1, holder) == [0]
    (delivery,) = outbox.claim_due(account.pk, 1, holder)
    assert delivery.claimed_by == holder
    # Long past the account's timeouts: by time alone it would look abandoned.
    Delivery.objects.filter(pk=delivery.pk).update(claimed_at=timezone.now() - timedelta(hours=1))
    assert outbox.recover_stranded() == 0
    assert batch.deliveries.get().state == State.SENDING

    # The sender was killed: nobody renews its lease, which runs out.
    AccountSlot.objects.filter(holder=holder).update(
        lease_until=timezone.now() - timedelta(seconds=1)
    )
    assert outbox.recover_stranded() == 1
    recovered = batch.deliveries.get()
    assert recovered.state == State.FAILED and "worker stopped" in recovered.error_message


def test_a_held_lease_outlives_its_length_without_keep_alive_calls(make_account, monkeypatch):
    monkeypatch.setattr(budget, "LEASE_SECONDS", 1.0)
    account = make_account("aello")
    with budget.Lease(account, 1) as slots:
        assert slots == [0]
        time.sleep(2.5)  # one slow delivery, no keep_alive in between
        slot = AccountSlot.objects.get(account=account, number=0)
        assert slot.lease_until > timezone.now()
    assert AccountSlot.objects.get(account=account, number=0).holder == ""


# --- point 6: an absurd Retry-After, a bug, attempts that run out ---------------------------


@pytest.mark.parametrize(
    "header, expected",
    [
        ("7", 7.0),
        ("inf", 3600.0),
        ("Infinity", 3600.0),
        ("1e400", 3600.0),
        ("99999999999", 3600.0),
        ("Fri, 31 Dec 9999 23:59:59 GMT", 3600.0),
        ("-5", 0.0),
        ("Mon, 01 Jan 2001 00:00:00 GMT", 0.0),
        ("nan", None),
        ("soon", None),
        ("", None),
    ],
)
def test_retry_after_is_parsed_and_capped_at_an_hour(header, expected):
    assert parse_retry_after(header) == expected


@pytest.mark.parametrize("header", ["inf", "1e400", "99999999999", "Fri, 31 Dec 9999 23:59:59 GMT"])
def test_an_absurd_retry_after_holds_the_account_an_hour_and_strands_nothing(
    make_lead, fake_account, fakes, header
):
    account = fake_account("aello")
    fakes.add_fault("aello", "rate_limit", path="/leads", retry_after=header, times=1)
    batch = push(Lead, [make_lead()], account)
    before = timezone.now()
    result = outbox.drain_account(account.pk, max_seconds=2)

    delivery = batch.deliveries.get()
    assert delivery.state == State.FAILED and delivery.attempts == 0  # not "sending"
    assert delivery.last_http_status == 429
    assert result["states"] == {State.FAILED: 1}
    hour = timedelta(seconds=3600)
    assert before + hour <= delivery.next_attempt_at <= timezone.now() + hour
    account.refresh_from_db()
    assert account.throttled_until == delivery.next_attempt_at
    assert account.throttled_since is not None


@pytest.mark.parametrize("header", ["-5", "nan", "soon"])
def test_a_meaningless_retry_after_is_a_short_wait(make_lead, fake_account, fakes, header):
    account = fake_account("aello")
    fakes.add_fault("aello", "rate_limit", path="/leads", retry_after=header, times=1)
    batch = push(Lead, [make_lead()], account)
    outbox.run_until_settled([account.pk], timeout=30)
    assert batch.deliveries.get().state == State.DELIVERED
    account.refresh_from_db()
    assert account.throttled_since is None  # the delivery that went through cleared it


def test_an_account_answering_429_shows_on_the_dashboard_until_a_delivery_goes(
    admin_client, make_lead, fake_account, fakes
):
    account = fake_account("aello")
    fakes.add_fault("aello", "rate_limit", path="/leads", retry_after="inf", times=1)
    batch = push(Lead, [make_lead()], account)
    outbox.drain_account(account.pk, max_seconds=2)
    account.refresh_from_db()
    since = account.throttled_since
    page = admin_client.get(reverse("admin:index")).content.decode()
    assert "Answering 429 since" in page
    figures = admin_client.get(reverse("bridge_dashboard_refresh")).json()["figures"]
    (row,) = figures["accounts"]
    assert row["throttled_since"] == since.isoformat()

    # The provider answers again: the next delivery clears it.
    ProviderAccount.objects.filter(pk=account.pk).update(throttled_until=None)
    batch.deliveries.update(next_attempt_at=timezone.now())
    outbox.run_until_settled([account.pk], timeout=30)
    account.refresh_from_db()
    assert batch.deliveries.get().state == State.DELIVERED and account.throttled_since is None
    assert "Answering 429 since" not in admin_client.get(reverse("admin:index")).content.decode()


def test_a_bug_while_delivering_fails_that_delivery_and_the_slot_goes_on(
    make_lead, fake_account, fakes, monkeypatch
):
    account = fake_account("aello", concurrency=1)
    credential = account.credential.reveal()
    leads = [make_lead() for _ in range(3)]
    batch = push(Lead, leads, account)
    real_push = AelloProvider.push_lead

    def push_with_a_bug(self, record, params, remote_id):
        if record["id"] == leads[0].pk:
            raise OverflowError(f"cannot convert float infinity to integer ({credential})")
        return real_push(self, record, params, remote_id)

    monkeypatch.setattr(AelloProvider, "push_lead", push_with_a_bug)
    result = outbox.drain_account(account.pk, max_seconds=5)

    rows = {d.object_id: d for d in batch.deliveries.all()}
    buggy = rows[leads[0].pk]
    assert buggy.state == State.FAILED and buggy.error_code == "internal_error"
    assert "OverflowError: cannot convert float infinity to integer" in buggy.error_message
    assert credential not in buggy.error_message
    assert buggy.next_attempt_at is not None
    assert [rows[lead.pk].state for lead in leads[1:]] == [State.DELIVERED] * 2
    # The slot went on; the buggy one was retried (the test settings' backoff is ms) and failed.
    assert result["states"][State.DELIVERED] == 2 and result["states"][State.FAILED] >= 1


def test_a_bug_on_the_last_attempt_is_dead(make_lead, make_account, monkeypatch, settings):
    settings.BRIDGE_MAX_ATTEMPTS = 1
    account = make_account("aello")
    batch = push(Lead, [make_lead()], account)

    def broken(self, record, params, remote_id):
        raise KeyError("contact")

    monkeypatch.setattr(AelloProvider, "push_lead", broken)
    (claimed,) = outbox.claim_due(account.pk, 1)
    assert outbox.deliver(claimed, account.client()) == State.DEAD
    delivery = batch.deliveries.get()
    assert delivery.state == State.DEAD and delivery.error_code == "internal_error"
    assert "KeyError: 'contact'" in delivery.error_message


def test_claims_and_recovery_mark_a_delivery_out_of_attempts_dead(make_lead, make_account):
    account = make_account("aello", read_timeout=0.5, connect_timeout=0.5)
    batch = push(Lead, [make_lead(), make_lead()], account)
    waiting, stranded = batch.deliveries.order_by("pk")
    long_ago = timezone.now() - timedelta(hours=1)
    Delivery.objects.filter(pk=waiting.pk).update(
        state=State.FAILED, attempts=8, max_attempts=8, error_message="Aéllo answered 500"
    )
    Delivery.objects.filter(pk=stranded.pk).update(
        state=State.SENDING, attempts=8, max_attempts=8, claimed_at=long_ago
    )

    assert outbox.claim_due(account.pk, 5) == []
    waiting.refresh_from_db()
    assert waiting.state == State.DEAD and waiting.attempts == 8
    assert waiting.error_message.startswith("Not sent again: all its attempts are used")
    assert waiting.error_message.endswith("Aéllo answered 500")

    assert outbox.recover_stranded() == 1
    stranded.refresh_from_db()
    assert stranded.state == State.DEAD and stranded.attempts == 8
    assert "all its attempts are used" in stranded.error_message
    assert outbox.claim_due(account.pk, 5) == []


# --- point 7: Aloware's "already exists" ---------------------------------------------------


@pytest.mark.parametrize("status", [409, 400])
def test_aloware_contact_exists_is_dead_and_retry_with_force_update_is_one_action(
    admin_client, make_contact, fake_account, fakes, status
):
    aloware = fake_account("aloware")
    fakes.fakes["aloware"].exists_status = status
    contact = make_contact(first_name="Ann", phone="+13105550190")
    push(Contact, [contact], aloware)
    outbox.run_until_settled([aloware.pk], timeout=30)
    contact.first_name = "Annie"
    contact.save()
    batch = push(Contact, [contact], aloware)
    outbox.run_until_settled([aloware.pk], timeout=30)

    delivery = batch.deliveries.get()
    assert delivery.state == State.DEAD and delivery.error_code == "contact_exists"
    assert delivery.last_http_status == status
    assert "use force_update" in delivery.error_message
    page = admin_client.get(reverse("admin:bridge_delivery_change", args=[delivery.pk]))
    assert "run &quot;Retry with force update&quot;" in page.content.decode()

    changelist = reverse("admin:bridge_delivery_changelist")
    response = admin_client.post(
        changelist,
        {"action": "retry_with_force_update", "_selected_action": [delivery.pk]},
        follow=True,
    )
    assert "1 Aloware delivery will be sent again with force update." in (response.content.decode())
    outbox.run_until_settled([aloware.pk], timeout=30)

    delivery.refresh_from_db()
    assert delivery.state == State.DELIVERED and delivery.params["force_update"] is True
    last = fakes.requests_for("aloware", "POST", "/api/v1/webhook/forms")[-1]
    assert last.json["force_update"] is True
    assert fakes.fakes["aloware"].contacts["+13105550190"]["first_name"] == "Annie"


def test_retry_with_force_update_needs_the_push_permission_and_leaves_other_providers(
    client, admin_client, django_user_model, make_lead, make_account
):
    account = make_account("aello")
    batch = push(Lead, [make_lead()], account)
    batch.deliveries.update(state=State.DEAD)
    changelist = reverse("admin:bridge_delivery_changelist")
    response = admin_client.post(
        changelist,
        {"action": "retry_with_force_update", "_selected_action": [batch.deliveries.get().pk]},
        follow=True,
    )
    assert "1 selected delivery is not to Aloware and was left as it was" in (
        response.content.decode()
    )
    assert batch.deliveries.get().state == State.DEAD

    from django.contrib.auth.models import Permission

    viewer = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_delivery"))
    client.force_login(viewer)
    page = client.get(changelist).content.decode()
    assert "retry_with_force_update" not in page


def test_renewing_inside_a_long_transaction_never_waits_for_the_heartbeat(
    make_account, monkeypatch
):
    """A sync's page transaction renews the lease, then takes seconds (detail requests): the
    heartbeat's renewal meanwhile waits for that transaction's locks. The page's next renewal
    must not wait for the heartbeat in turn — that stalled both until SQLite's 30 s timeout
    (and on PostgreSQL for good), failing every other writer."""
    from django.db import transaction

    monkeypatch.setattr(budget, "LEASE_SECONDS", 2.0)  # a heartbeat every half second
    account = make_account("aello")
    finished = threading.Event()

    def page_with_slow_details(lease):
        with transaction.atomic():
            budget.renew(account, lease.holder)  # the page's writes hold the slot rows
            time.sleep(1.5)  # detail requests; the heartbeat is now waiting on this transaction
            lease._last_renewal = 0.0  # a renewal is due
            lease.keep_alive()
        connection.close()
        finished.set()

    lease = budget.Lease(account, 1)
    assert lease.__enter__() == [0]
    try:
        page = threading.Thread(target=page_with_slow_details, args=(lease,), daemon=True)
        page.start()
        page.join(10)
        assert finished.is_set(), "the page's renewal waited for the heartbeat's"
    finally:
        lease.__exit__(None, None, None)
    assert AccountSlot.objects.get(account=account, number=0).holder == ""
