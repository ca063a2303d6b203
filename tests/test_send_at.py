"""Send at: a push scheduled from the push page, each account's sending hours, and scheduled
batches listed and cancelled before they start."""

from datetime import UTC, datetime, time, timedelta

import pytest
from django.contrib.messages import get_messages
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from bridge import outbox
from bridge.models import AuditEntry, Delivery, Lead, ProviderAccount, PushBatch
from bridge.sending_hours import describe_hours, when_due

State = Delivery.State
# A Wednesday, 20:00 UTC (21:00 in Paris, winter time).
WEDNESDAY_EVENING = datetime(2026, 12, 2, 20, 0, tzinfo=UTC)


def office_hours(**fields):
    return ProviderAccount(
        name="caller",
        provider="aiployees",
        time_zone="Europe/Paris",
        business_days="mon-fri",
        business_start=time(9, 0),
        business_end=time(18, 0),
        **fields,
    )


# --- when a push is due ------------------------------------------------------------------------


def test_without_hours_or_send_at_a_push_goes_at_once():
    account = ProviderAccount(name="any", provider="aello")
    assert when_due(account, None, WEDNESDAY_EVENING) is None
    later = WEDNESDAY_EVENING + timedelta(hours=2)
    assert when_due(account, later, WEDNESDAY_EVENING) == later


def test_outside_its_hours_an_account_waits_for_the_next_window_in_its_time_zone():
    account = office_hours()
    # Wednesday 21:00 in Paris: Thursday 09:00 Paris = 08:00 UTC.
    assert when_due(account, None, WEDNESDAY_EVENING) == datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
    # Scheduled for Saturday noon: Monday 09:00 Paris.
    saturday = datetime(2026, 12, 5, 11, 0, tzinfo=UTC)
    assert when_due(account, saturday, WEDNESDAY_EVENING) == datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
    # Inside the hours, the moment asked for stands.
    thursday_ten = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
    assert when_due(account, thursday_ten, WEDNESDAY_EVENING) == thursday_ten
    assert describe_hours(account) == "mon,tue,wed,thu,fri 09:00–18:00 Europe/Paris"


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"business_days": "mon-fri"}, "business_start", "need the days, a start and an end"),
        (
            {"business_days": "someday", "business_start": time(9), "business_end": time(17)},
            "business_days",
            "'someday' is not a day",
        ),
        (
            {"business_days": "mon", "business_start": time(18), "business_end": time(9)},
            "business_end",
            "must be after the start",
        ),
    ],
)
def test_sending_hours_are_checked_naming_the_field(db, fields, field, words):
    account = ProviderAccount(name="caller", provider="aello", credential="k" * 24, **fields)
    with pytest.raises(ValidationError) as refused:
        account.full_clean()
    assert words in " ".join(refused.value.message_dict[field])


# --- the push page -----------------------------------------------------------------------------


def push(admin_client, leads, account, **fields):
    changelist = reverse("admin:bridge_lead_changelist")
    return admin_client.post(
        changelist,
        {
            "action": "push_any_push",
            "_selected_action": [lead.pk for lead in leads],
            "confirm": "yes",
            "accounts": [account.pk],
            **fields,
        },
    )


def local_input(moment: datetime) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


@pytest.mark.django_db(transaction=True)  # the outbox's sending threads read committed rows
def test_a_push_scheduled_from_the_page_waits_and_says_until_when(
    admin_client, make_lead, fake_account, fakes
):
    account = fake_account("aello")
    leads = [make_lead(), make_lead()]
    send_at = (timezone.now() + timedelta(days=1)).replace(second=0, microsecond=0)
    response = push(admin_client, leads, account, send_at=local_input(send_at))
    assert response.status_code == 302
    batch = PushBatch.objects.get()
    assert batch.send_at == send_at
    assert set(batch.deliveries.values_list("next_attempt_at", flat=True)) == {send_at}
    [message] = get_messages(response.wsgi_request)
    local = timezone.localtime(send_at).strftime("%Y-%m-%d %H:%M")
    assert str(message) == f"Scheduled 2 deliveries: aello at {local}."
    outbox.dispatch_due()
    outbox.run_until_settled([account.pk], timeout=2)
    assert fakes.requests_for("aello") == []  # not before its time
    assert set(batch.deliveries.values_list("state", flat=True)) == {State.PENDING}


def test_an_account_outside_its_hours_holds_an_immediate_push(
    admin_client, make_lead, fake_account
):
    now = timezone.now()
    closed_day = (now.weekday() + 3) % 7  # a day that is not today
    days = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[closed_day]
    account = fake_account(
        "aello",
        time_zone="UTC",
        business_days=days,
        business_start=time(9),
        business_end=time(17),
    )
    response = push(admin_client, [make_lead()], account)
    assert response.status_code == 302
    delivery = Delivery.objects.get()
    assert delivery.next_attempt_at > now
    assert delivery.next_attempt_at.astimezone(UTC).weekday() == closed_day
    assert delivery.next_attempt_at.astimezone(UTC).time() == time(9)
    assert PushBatch.objects.get().send_at is None
    [message] = get_messages(response.wsgi_request)
    assert str(message).startswith("Scheduled 1 delivery: aello at ")


def test_the_page_lists_the_accounts_sending_hours(admin_client, make_lead, fake_account):
    fake_account(
        "aello",
        time_zone="Europe/Paris",
        business_days="mon-fri",
        business_start=time(9),
        business_end=time(18),
    )
    page = admin_client.post(
        reverse("admin:bridge_lead_changelist"),
        {"action": "push_any_push", "_selected_action": [make_lead().pk]},
    )
    assert "aello sends mon,tue,wed,thu,fri 09:00–18:00 Europe/Paris" in page.content.decode()


@pytest.mark.parametrize(
    ("moment", "words"),
    [
        (timedelta(hours=-2), "is in the past"),
        (timedelta(days=91), "is more than 90 days away"),
    ],
)
def test_a_send_at_in_the_past_or_too_far_is_refused_naming_it(
    admin_client, make_lead, fake_account, moment, words
):
    account = fake_account("aello")
    response = push(
        admin_client, [make_lead()], account, send_at=local_input(timezone.now() + moment)
    )
    assert response.status_code == 200
    assert words in " ".join(response.context["form"].errors["send_at"])
    assert not Delivery.objects.exists()


def test_a_send_at_that_is_not_a_date_is_refused(admin_client, make_lead, fake_account):
    response = push(admin_client, [make_lead()], fake_account("aello"), send_at="tomorrow")
    assert response.status_code == 200
    assert "send_at" in response.context["form"].errors
    assert not PushBatch.objects.exists()


# --- scheduled batches -------------------------------------------------------------------------


def scheduled_batch(make_lead, account, count=3, days=1):
    due = timezone.now() + timedelta(days=days)
    leads = [make_lead() for _ in range(count)]
    return outbox.enqueue(Lead, {account: [lead.pk for lead in leads]}, due_at=due, send_at=due)


def test_scheduled_batches_are_listed_and_filtered(admin_client, make_lead, make_account):
    account = make_account("aello")
    waiting = scheduled_batch(make_lead, account)
    at_once = outbox.enqueue(Lead, {account: [make_lead().pk]})
    changelist = reverse("admin:bridge_pushbatch_changelist")
    listed = admin_client.get(changelist, {"scheduled": "waiting"})
    ids = [batch.pk for batch in listed.context["cl"].result_list]
    assert ids == [waiting.pk]
    assert at_once.pk in [b.pk for b in admin_client.get(changelist).context["cl"].result_list]
    local = timezone.localtime(waiting.send_at).strftime("%Y-%m-%d %H:%M")
    assert local in listed.content.decode()


def test_cancelling_a_scheduled_batch_stops_what_has_not_started(
    admin_client, make_lead, make_account
):
    account = make_account("aello")
    batch = scheduled_batch(make_lead, account, count=3)
    tried = batch.deliveries.first()
    Delivery.objects.filter(pk=tried.pk).update(attempts=1, state=State.FAILED)
    changelist = reverse("admin:bridge_pushbatch_changelist")
    response = admin_client.post(
        changelist, {"action": "cancel_scheduled", "_selected_action": [batch.pk]}
    )
    assert response.status_code == 302
    states = sorted(batch.deliveries.values_list("state", flat=True))
    assert states == [State.CANCELLED, State.CANCELLED, State.FAILED]
    [message] = get_messages(response.wsgi_request)
    assert str(message).startswith("Cancelled 2 deliveries not started yet")
    [entry] = AuditEntry.objects.filter(action="cancel")
    assert (entry.count, entry.object_ids, entry.actor.username) == (2, [batch.pk], "admin")
    again = admin_client.post(
        changelist, {"action": "cancel_scheduled", "_selected_action": [batch.pk]}
    )
    assert "Nothing to cancel" in str(list(get_messages(again.wsgi_request))[-1])


def test_only_pushers_may_cancel_a_scheduled_batch(client, make_lead, make_account):
    from django.contrib.auth.models import Permission, User

    batch = scheduled_batch(make_lead, make_account("aello"), count=1)
    viewer = User.objects.create_user("viewer", password="pw-123456-abc", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_pushbatch"))
    client.force_login(viewer)
    client.post(
        reverse("admin:bridge_pushbatch_changelist"),
        {"action": "cancel_scheduled", "_selected_action": [batch.pk]},
    )
    assert batch.deliveries.get().state == State.PENDING
