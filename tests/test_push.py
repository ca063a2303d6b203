"""The push pipeline: enqueue, claim, deliver, retry, pause, recover — against the fakes."""

import threading
import time
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from bridge import outbox, wakeups
from bridge.models import Delivery, Lead, ProviderAccount, RemoteLink

State = Delivery.State

# Deliveries are sent by worker threads with their own database connections: they must see
# committed rows, so these tests run in real transactions.
pytestmark = pytest.mark.django_db(transaction=True)


def push(leads, account, **params):
    """Queue leads for one account (as the admin action does) and return the batch."""
    return outbox.enqueue(Lead, {account: [lead.pk for lead in leads]}, params={account.pk: params})


def states(batch):
    return sorted(batch.deliveries.values_list("state", flat=True))


def test_enqueue_is_one_bulk_insert(make_lead, make_account, django_assert_max_num_queries):
    leads = [make_lead() for _ in range(30)]
    accounts = [make_account("aello"), make_account("aloware")]
    with django_assert_max_num_queries(6):
        batch = outbox.enqueue(Lead, {account: [lead.pk for lead in leads] for account in accounts})
    assert batch.total == 60 and batch.deliveries.count() == 60
    assert set(batch.deliveries.values_list("state", flat=True)) == {State.PENDING}


def test_delivered_to_aello_with_a_remote_link_and_a_redacted_copy(make_lead, fake_account):
    account = fake_account("aello")
    lead = make_lead()
    batch = push([lead], account)
    outbox.run_until_settled([account.pk], timeout=30)
    delivery = batch.deliveries.get()
    assert delivery.state == State.DELIVERED and delivery.attempts == 1
    assert delivery.last_http_status == 202
    assert delivery.remote_id == lead.external_id
    link = RemoteLink.objects.get(account=account, object_id=lead.pk)
    assert link.remote_id == lead.external_id and link.pushed_hash == delivery.content_hash
    stored = str(delivery.request_redacted) + str(delivery.response_redacted)
    assert account.credential.reveal() not in stored
    assert delivery.request_redacted["json"]["externalId"] == lead.external_id


@pytest.mark.parametrize(
    "provider, options, path",
    [
        ("aello", {}, "/leads"),
        ("aiployees", {"campaign_id": 7}, "/api/user/lead"),
        ("aloware", {}, "/api/v1/webhook/forms"),
        ("leeloo", {"leadgentool_id": "5e18a2a3ed0b7a000d6c9486"}, "/api/v2/people"),
    ],
)
def test_a_lead_is_delivered_to_each_provider(
    make_lead, fake_account, fakes, provider, options, path
):
    account = fake_account(provider, options=options)
    lead = make_lead()
    batch = push([lead], account)
    outbox.run_until_settled([account.pk], timeout=30)
    delivery = batch.deliveries.get()
    assert delivery.state == State.DELIVERED, delivery.error_message
    assert delivery.remote_id
    assert len(fakes.requests_for(provider, "POST", path)) == 1
    assert RemoteLink.objects.filter(account=account, remote_id=delivery.remote_id).exists()


def test_permanent_error_is_dead_with_the_providers_code(make_lead, fake_account, fakes):
    account = fake_account("aello")
    fakes.add_fault(
        "aello",
        "error",
        path="/leads",
        status=422,
        body={"error": "Dealership not found", "code": "ERR-CREATE_LEAD-DEALERSHIP_NOT_FOUND"},
    )
    batch = push([make_lead()], account)
    outbox.run_until_settled([account.pk], timeout=30)
    delivery = batch.deliveries.get()
    assert delivery.state == State.DEAD and delivery.attempts == 1
    assert delivery.last_http_status == 422
    assert delivery.error_code == "ERR-CREATE_LEAD-DEALERSHIP_NOT_FOUND"
    assert "Dealership not found" in delivery.error_message
    assert len(fakes.requests_for("aello", "POST", "/leads")) == 1  # never retried


def test_server_error_then_success_is_delivered_once(make_lead, fake_account, fakes):
    account = fake_account("aello")
    fakes.add_fault("aello", "error", path="/leads", status=500, times=2)
    batch = push([make_lead()], account)
    outbox.run_until_settled([account.pk], timeout=30)
    delivery = batch.deliveries.get()
    assert delivery.state == State.DELIVERED and delivery.attempts == 3
    assert len(fakes.requests_for("aello", "POST", "/leads")) == 3
    assert delivery.error_code == "" and delivery.error_message == ""


def test_retry_after_is_respected_and_does_not_burn_attempts(make_lead, fake_account, fakes):
    account = fake_account("aello")
    fakes.add_fault("aello", "rate_limit", path="/leads", retry_after=1, times=1)
    batch = push([make_lead()], account)
    started = time.monotonic()
    outbox.run_until_settled([account.pk], timeout=30)
    delivery = batch.deliveries.get()
    assert delivery.state == State.DELIVERED and delivery.attempts == 1
    first, second = fakes.requests_for("aello", "POST", "/leads")
    assert second.received_at - first.received_at >= 0.95
    assert time.monotonic() - started >= 0.95


@pytest.mark.parametrize("kind", ["hang", "drop"])
def test_timeouts_and_dropped_connections_are_retried(make_lead, fake_account, fakes, kind):
    account = fake_account("aello", read_timeout=0.3)
    fakes.add_fault("aello", kind, path="/leads", seconds=1.0, times=1)
    batch = push([make_lead()], account)
    outbox.run_until_settled([account.pk], timeout=30)
    delivery = batch.deliveries.get()
    assert delivery.state == State.DELIVERED and delivery.attempts == 2


def test_connection_refused_is_retried_then_dead_when_attempts_run_out(
    make_lead, make_account, settings
):
    settings.BRIDGE_MAX_ATTEMPTS = 3
    account = make_account("aello", base_url="http://127.0.0.1:9/aello", connect_timeout=0.5)
    batch = push([make_lead()], account)
    outbox.run_until_settled([account.pk], timeout=30)
    delivery = batch.deliveries.get()
    assert delivery.state == State.DEAD and delivery.attempts == 3
    assert "could not be reached" in delivery.error_message


def test_401_pauses_the_account_and_keeps_deliveries_waiting(make_lead, fake_account, fakes):
    account = fake_account("aello")
    account.credential = "wrong-key-0000"
    account.save()
    batch = push([make_lead(), make_lead()], account)
    outbox.run_until_settled([account.pk], timeout=30)
    account.refresh_from_db()
    assert account.paused and account.paused_reason.startswith("401")
    assert set(states(batch)) <= {State.PENDING}
    assert all(attempts == 0 for attempts in batch.deliveries.values_list("attempts", flat=True))
    # Credential fixed and account resumed: everything goes.
    account.refresh_from_db()
    account.credential = fakes.fakes["aello"].credential
    account.save()
    account.resume()
    outbox.run_until_settled([account.pk], timeout=30)
    assert states(batch) == [State.DELIVERED, State.DELIVERED]


def test_repush_of_unchanged_record_is_skipped_and_changed_one_updates(
    make_lead, fake_account, fakes
):
    account = fake_account("aloware")
    lead = make_lead()
    push([lead], account, force_update=True)
    outbox.run_until_settled([account.pk], timeout=30)
    again = push([lead], account, force_update=True)
    outbox.run_until_settled([account.pk], timeout=30)
    assert states(again) == [State.SKIPPED]
    contact = lead.contact
    contact.city = "Lyon"
    contact.save()
    changed = push([lead], account, force_update=True)
    outbox.run_until_settled([account.pk], timeout=30)
    assert states(changed) == [State.DELIVERED]
    posts = fakes.requests_for("aloware", "POST", "/api/v1/webhook/forms")
    assert len(posts) == 2  # the skipped one never left
    assert RemoteLink.objects.filter(account=account).count() == 1


def test_claims_never_overlap_between_concurrent_workers(make_lead, make_account):
    account = make_account("aello")
    leads = [make_lead() for _ in range(40)]
    push(leads, account)
    claimed: list[int] = []
    lock = threading.Lock()

    def worker():
        from django.db import connection

        try:
            while batch := outbox.claim_due(account.pk, 3):
                with lock:
                    claimed.extend(d.pk for d in batch)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(claimed) == 40 and len(set(claimed)) == 40


def test_stranded_deliveries_are_recovered(make_lead, make_account):
    account = make_account("aello", read_timeout=0.5, connect_timeout=0.5)
    batch = push([make_lead()], account)
    (delivery,) = outbox.claim_due(account.pk, 1)
    assert outbox.recover_stranded() == 0  # still within its timeouts
    Delivery.objects.filter(pk=delivery.pk).update(
        claimed_at=delivery.claimed_at - timedelta(seconds=5)
    )
    assert outbox.recover_stranded() == 1
    assert states(batch) == [State.FAILED]


def test_retry_now_and_cancel(make_lead, fake_account, fakes):
    account = fake_account("aello")
    fakes.add_fault(
        "aello",
        "error",
        path="/leads",
        status=400,
        times=1,
        body={"error": "Invalid email", "code": "ERR-EMAIL-INVALID_OR_MALFORMED_EMAIL"},
    )
    batch = push([make_lead()], account)
    outbox.run_until_settled([account.pk], timeout=30)
    assert states(batch) == [State.DEAD]
    assert outbox.retry_now(batch.deliveries.all()) == 1
    outbox.run_until_settled([account.pk], timeout=30)
    assert states(batch) == [State.DELIVERED]
    waiting = push([make_lead()], account)
    assert outbox.cancel(waiting.deliveries.all()) == 1
    outbox.run_until_settled([account.pk], timeout=30)
    assert states(waiting) == [State.CANCELLED]


def test_batch_progress_counts(admin_client, make_lead, fake_account):
    account = fake_account("aello")
    batch = push([make_lead(), make_lead(), make_lead()], account)
    url = reverse("admin:bridge_pushbatch_progress", args=[batch.pk])
    before = admin_client.get(url).json()
    assert before["total"] == 3 and before["done"] == 0 and not before["finished"]
    assert before["states"]["pending"] == 3
    outbox.run_until_settled([account.pk], timeout=30)
    after = admin_client.get(url).json()
    assert after["done"] == 3 and after["finished"] and after["states"]["delivered"] == 3
    page = admin_client.get(reverse("admin:bridge_pushbatch_change", args=[batch.pk]))
    assert page.status_code == 200 and b"batch-progress" in page.content


def test_admin_action_intermediate_page_then_batch(
    admin_client, make_lead, make_contact, fake_account
):
    account = fake_account("aloware")
    with_phone = make_lead()
    no_phone = make_lead(contact=make_contact(phone=""))
    changelist = reverse("admin:bridge_lead_changelist")
    selection = {"action": "push_any_push", "_selected_action": [with_phone.pk, no_phone.pk]}
    page = admin_client.post(changelist, selection)
    assert page.status_code == 200
    plan = {row["provider"].id: row for row in page.context["plan"]}
    assert plan["aloware"]["sendable"] == 1 and plan["aloware"]["skipped"] == 1
    assert "phone" in plan["aloware"]["reason"]
    done = admin_client.post(
        changelist,
        {**selection, "confirm": "yes", "accounts": [account.pk], "aloware__force_update": "true"},
    )
    assert done.status_code == 302
    batch = account.deliveries.get().batch
    assert done.url == reverse("admin:bridge_pushbatch_change", args=[batch.pk])
    assert batch.deliveries.get().object_id == with_phone.pk
    assert batch.deliveries.get().params.get("force_update") is True
    assert list(batch.skipped.values()) == [1]


def test_select_across_pushes_every_filtered_record(admin_client, make_lead, fake_account):
    account = fake_account("aello")
    leads = [make_lead() for _ in range(5)]
    response = admin_client.post(
        reverse("admin:bridge_lead_changelist"),
        {
            "action": "push_any_push",
            "_selected_action": [leads[0].pk],
            "select_across": "1",
            "confirm": "yes",
            "accounts": [account.pk],
        },
    )
    assert response.status_code == 302
    assert account.deliveries.count() == 5


def test_push_actions_need_the_push_permission(client, django_user_model, make_lead, fake_account):
    account = fake_account("aello")
    lead = make_lead()
    user = django_user_model.objects.create_user("clerk", password="pw", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(content_type=ContentType.objects.get_for_model(Lead))
    )
    client.force_login(user)
    changelist = reverse("admin:bridge_lead_changelist")
    page = client.get(changelist)
    assert b"push_any_push" not in page.content
    client.post(
        changelist,
        {
            "action": "push_any_push",
            "_selected_action": [lead.pk],
            "confirm": "yes",
            "accounts": [account.pk],
        },
    )
    assert not Delivery.objects.exists()
    user.user_permissions.add(Permission.objects.get(codename="push_to_providers"))
    user = django_user_model.objects.get(pk=user.pk)
    client.force_login(user)
    assert b"push_any_push" in client.get(changelist).content


def test_push_command_prints_a_summary_and_fails_on_failures(
    make_lead, fake_account, fakes, capsys
):
    account = fake_account("aello")
    good, bad = make_lead(), make_lead()
    call_command("push", "--account", "aello", "--lead", str(good.pk), "--wait")
    assert "aello: 1 delivered" in capsys.readouterr().out
    fakes.add_fault(
        "aello",
        "error",
        path="/leads",
        status=422,
        body={"error": "Dealership not found", "code": "ERR-X"},
    )
    with pytest.raises(CommandError):
        call_command("push", "--account", "aello", "--lead", str(bad.pk), "--wait")
    assert "ERR-X" in capsys.readouterr().out
    with pytest.raises(CommandError, match="--account: no account named 'nope'"):
        call_command("push", "--account", "nope", "--pending")
    with pytest.raises(CommandError, match="--lead: no lead with id 999999"):
        call_command("push", "--account", account.name, "--lead", "999999")


def test_worker_killed_while_sending_is_delivered_exactly_once(
    make_lead, fake_account, fakes, qcluster, settings
):
    settings.BRIDGE_KICK_WORKERS = True
    account = fake_account("aello", read_timeout=3, connect_timeout=1)
    lead = make_lead()
    fakes.add_fault("aello", "latency", path="/leads", seconds=2.0, times=1)
    cluster = qcluster()
    batch = push([lead], account)  # wakes the cluster once committed
    deadline = time.monotonic() + 30
    while not fakes.requests_for("aello", "POST", "/leads") and time.monotonic() < deadline:
        time.sleep(0.1)
    cluster.kill()  # SIGKILL mid-request: the delivery stays "sending"
    assert states(batch) == [State.SENDING]
    time.sleep(3 + 1 + 1.5)  # past the account's timeouts plus the stranded margin
    qcluster()
    deadline = time.monotonic() + 60
    while states(batch) != [State.DELIVERED] and time.monotonic() < deadline:
        outbox.dispatch_due()
        time.sleep(2)
    assert states(batch) == [State.DELIVERED]
    external_ids = {r.json["externalId"] for r in fakes.requests_for("aello", "POST", "/leads")}
    assert external_ids == {lead.external_id}  # one remote lead, however often it was sent


def test_dispatch_due_kicks_each_account_once(make_lead, make_account, settings, monkeypatch):
    import django_q.tasks

    settings.BRIDGE_KICK_WORKERS = True
    settings.BRIDGE_DRAIN_SLOTS = 0  # one drain task per account
    queued = []
    monkeypatch.setattr(django_q.tasks, "async_task", lambda *args, **kw: queued.append(args))
    account = make_account("aello")
    push([make_lead() for _ in range(5)], account)
    queued.clear()  # the enqueue's own wake-up…
    wakeups.started(ProviderAccount.objects.filter(pk=account.pk), "drain_queued_at")  # …ran
    assert outbox.dispatch_due()["kicked"] == [account.pk]
    assert queued == [("bridge.outbox.drain_account", account.pk)]
