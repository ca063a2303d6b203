"""The webhook receiver: each refusal, storage without secrets, dedup, and processing.

Requests go through Django's test client to the real URL; processing is run the way
``inbound --process`` and the workers run it (``bridge.inbox.process_due``).
"""

import base64
import json

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.cache import cache
from django.core.management import call_command
from django.test import override_settings

from bridge import inbox
from bridge.models import Activity, InboundEvent, Lead, Order, ProviderAccount, RemoteLink

State = InboundEvent.State

POST_CALL = {
    "id": 48211,
    "customer_phone": "+352621123456",
    "assistant_phone": "+352201234567",
    "duration": 94,
    "status": "completed",
    "extracted_variables": {"status": True, "summary": "Wants a test drive"},
    "input_variables": {"customer_name": "Jane Doe"},
    "transcript": "AI: Hello...\nCustomer: Hi",
    "recording_url": "https://calls.example.com/rec/48211.mp3",
    "created_at": "2025-03-04T09:15:02.000000Z",
    "finished_at": "2025-03-04T09:16:36.000000Z",
    "lead": {"id": 7731, "phone_number": "+352621123456", "status": "completed"},
}
ORDER = {
    "type": "ORDER",
    "data": {
        "order_id": "65f0c1a2b3c4d5e6f7a8b9c0",
        "account_id": "65f0c1a2b3c4d5e6f7a8b9c1",
        "offer_name": "Test drive deposit",
        "price": 500,
        "currency": "EUR",
        "email": "buyer@example.com",
        "phone": "+352621123456",
        "created_at": "2025-03-04T09:40:51.007Z",
    },
}


@pytest.fixture(autouse=True)
def empty_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def hook(client):
    """Post a body (dict → JSON, bytes as they are) to an account's receiver."""

    def post(account, body, token=None, **headers):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        url = f"/hooks/{account.name}/{token or account.webhook_token.reveal()}/"
        return client.post(url, data, content_type="application/json", **headers)

    return post


def link(account, record, remote_id):
    return RemoteLink.objects.create(
        account=account,
        content_type=ContentType.objects.get_for_model(record),
        object_id=record.pk,
        remote_id=str(remote_id),
    )


# --- the token, the account, the header -----------------------------------------------------


def test_an_account_whose_provider_sends_webhooks_gets_a_token_and_aello_none(make_account):
    aiployees = make_account("aiployees")
    aello = make_account("aello")
    assert len(aiployees.webhook_token.reveal()) >= 32
    assert not aello.webhook_token
    stored = ProviderAccount.objects.filter(pk=aiployees.pk).values_list("webhook_token", flat=True)
    assert aiployees.webhook_token.reveal() not in str(list(stored))


def test_a_wrong_token_is_a_404_leaving_only_the_counter(make_account, hook):
    account = make_account("aiployees")
    response = hook(account, POST_CALL, token="not-the-token")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert InboundEvent.objects.count() == 0
    account.refresh_from_db()
    assert account.webhook_refused == 1 and account.webhook_refused_at is not None


def test_an_unknown_account_or_one_without_webhooks_is_a_404(make_account, client):
    aello = make_account("aello")
    for name in ("nobody", aello.name):
        response = client.post(f"/hooks/{name}/x/", b"{}", content_type="application/json")
        assert response.status_code == 404
    assert InboundEvent.objects.count() == 0


def test_only_post_is_taken(make_account, client):
    account = make_account("aiployees")
    response = client.get(f"/hooks/{account.name}/{account.webhook_token.reveal()}/")
    assert response.status_code == 405
    assert response["Allow"] == "POST"


@pytest.mark.parametrize("style", ["bearer", "basic"])
def test_an_aloware_account_may_require_an_authorization_header(make_account, hook, style):
    account = make_account("aloware", webhook_auth=style)
    body = {"event": "Contact Created", "body": {"id": "1", "phone_number": "+13105550177"}}
    assert hook(account, body).status_code == 401
    wrong = "Bearer nope" if style == "bearer" else "Basic " + base64.b64encode(b"a:b").decode()
    assert hook(account, body, HTTP_AUTHORIZATION=wrong).status_code == 401
    secret = account.webhook_secret.reveal()
    if style == "bearer":
        right = f"Bearer {secret}"
    else:
        right = "Basic " + base64.b64encode(f"{account.name}:{secret}".encode()).decode()
    response = hook(account, body, HTTP_AUTHORIZATION=right)
    assert response.status_code == 200, response.content
    account.refresh_from_db()
    assert account.webhook_refused == 2
    event = InboundEvent.objects.get()
    assert "Authorization" not in event.headers and secret not in json.dumps(event.headers)


def test_header_auth_is_refused_for_a_provider_that_cannot_send_it(make_account):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as refused:
        make_account("aiployees", webhook_auth="bearer")
    assert "webhook_auth" in refused.value.message_dict


# --- limits and malformed bodies ---------------------------------------------------------------


def test_a_body_over_one_megabyte_is_a_413_and_not_stored(make_account, hook):
    account = make_account("aiployees")
    body = b'{"id": 1, "transcript": "' + b"x" * (1024 * 1024) + b'"}'
    response = hook(account, body)
    assert response.status_code == 413
    assert response.json()["code"] == "too_large"
    assert InboundEvent.objects.count() == 0


def test_malformed_json_is_a_400_and_stored_failed(make_account, hook):
    account = make_account("aiployees")
    response = hook(account, b'{"id": 1,')
    assert response.status_code == 400
    assert response.json()["code"] == "malformed_json"
    event = InboundEvent.objects.get()
    assert event.state == State.FAILED and "not valid JSON" in event.error
    assert event.body == '{"id": 1,'


def test_json_that_is_not_an_event_is_a_400_and_stored_failed(make_account, hook):
    account = make_account("leeloo")
    response = hook(account, [1, 2, 3])
    assert response.status_code == 400
    assert response.json()["code"] == "not_an_event"
    assert InboundEvent.objects.get().state == State.FAILED


def test_the_rate_limit_is_per_account(make_account, hook):
    account = make_account("aiployees", options={"webhook_rate_per_minute": 2})
    other = make_account("aloware")
    assert [hook(account, {**POST_CALL, "id": n}).status_code for n in range(3)] == [200, 200, 429]
    assert hook(other, {"event": "Ping"}).status_code == 200


def test_headers_are_stored_without_credentials_or_cookies(make_account, hook):
    account = make_account("aiployees")
    hook(
        account,
        POST_CALL,
        HTTP_AUTHORIZATION="Bearer sample-not-ours",
        HTTP_COOKIE="session=abc",
        HTTP_X_API_KEY="k-123456",
        HTTP_USER_AGENT="Autocalls/1.0",
    )
    headers = InboundEvent.objects.get().headers
    assert headers["User-Agent"] == "Autocalls/1.0"
    assert headers["Content-Type"] == "application/json"
    text = json.dumps(headers)
    assert "sample-not-ours" not in text and "abc" not in text and "k-123456" not in text


@pytest.mark.parametrize(
    "body",
    [
        b'{"id": 1, "transcript": "nul \\u0000 inside", "customer_phone": "\\u0000"}',
        b"\x00\x01\xff\xfe not json",
        b"[" * 100_000 + b"]" * 100_000,
        b'{"id": 1, "duration": 1e999, "lead": {"id": [1, 2]}, "extracted_variables": [1]}',
        b'{"id": 1, "duration": ' + b"9" * 5000 + b"}",
        b'{"id": {"nested": true}, "customer_phone": 12, "status": null}',
        b'{"type": "ORDER", "data": "not an object"}',
        b'{"event": ["a"], "body": "x"}',
        b"null",
        b'"just a string"',
    ],
)
@pytest.mark.parametrize("provider", ["aiployees", "leeloo", "aloware"])
def test_hostile_bodies_are_answered_and_stored_never_a_500(make_account, hook, provider, body):
    account = make_account(provider)
    response = hook(account, body)
    assert response.status_code in (200, 400), response.content
    event = InboundEvent.objects.get()
    assert "\x00" not in event.body
    inbox.process_due()
    event.refresh_from_db()
    assert event.state in (State.FAILED, State.IGNORED, State.PROCESSED)
    if event.state == State.FAILED:
        assert event.error


# --- dedup, unknown types -------------------------------------------------------------------------


def test_the_same_webhook_ten_times_takes_effect_once(make_account, make_lead, hook):
    account = make_account("aiployees")
    lead = make_lead()
    link(account, lead, 7731)
    answers = [hook(account, POST_CALL).json() for _ in range(10)]
    assert [a["duplicate"] for a in answers] == [False] + [True] * 9
    assert len({a["id"] for a in answers}) == 1
    event = InboundEvent.objects.get()
    assert event.repeats == 9
    inbox.process_due()
    for _ in range(3):
        hook(account, POST_CALL)
        inbox.process_due()
    assert Activity.objects.filter(lead=lead).count() == 1


def test_an_unknown_event_type_is_stored_and_ignored(make_account, hook):
    account = make_account("leeloo")
    response = hook(account, {"type": "REFUND", "data": {"order_id": "1"}})
    assert response.status_code == 200
    event = InboundEvent.objects.get()
    assert (event.state, event.event_type) == (State.IGNORED, "REFUND")
    assert "REFUND" in event.error
    aloware = make_account("aloware")
    assert hook(aloware, {"body": {}}).status_code == 200  # Aloware's test ping
    assert InboundEvent.objects.get(account=aloware).state == State.IGNORED


# --- the appliers --------------------------------------------------------------------------------


def test_a_post_call_lands_on_the_pushed_lead_and_moves_its_status(make_account, make_lead, hook):
    account = make_account("aiployees")
    lead = make_lead()
    link(account, lead, 7731)
    hook(account, POST_CALL)
    assert inbox.process_due() == {"processed": 1}
    activity = Activity.objects.get()
    assert (activity.kind, activity.lead, activity.contact) == ("call", lead, lead.contact)
    assert activity.details["transcript"] == POST_CALL["transcript"]
    assert activity.details["extracted_variables"] == POST_CALL["extracted_variables"]
    assert activity.details["recording_url"] == POST_CALL["recording_url"]
    assert activity.details["duration"] == 94
    assert activity.remote_id == "48211"
    assert activity.occurred_at.isoformat().startswith("2025-03-04T09:16:36")
    lead.refresh_from_db()
    assert lead.status == Lead.Status.CONTACTED


def test_the_status_map_is_an_account_option_and_never_moves_back(make_account, make_lead, hook):
    account = make_account(
        "aiployees", options={"call_status_map": {"completed": "qualified", "busy": "new"}}
    )
    lead = make_lead()
    link(account, lead, 7731)
    hook(account, POST_CALL)
    hook(account, {**POST_CALL, "id": 48212, "status": "busy"})
    inbox.process_due()
    lead.refresh_from_db()
    assert lead.status == Lead.Status.QUALIFIED


def test_a_bad_status_map_fails_the_event_naming_the_option(make_account, make_lead, hook):
    account = make_account("aiployees", options={"call_status_map": {"completed": "called"}})
    link(account, make_lead(), 7731)
    hook(account, POST_CALL)
    inbox.process_due()
    event = InboundEvent.objects.get()
    assert event.state == State.FAILED
    assert "call_status_map" in event.error and "'called'" in event.error


def test_a_call_for_an_unknown_person_creates_the_contact(make_account, hook):
    account = make_account("aiployees")
    hook(account, {**POST_CALL, "lead": None})
    inbox.process_due()
    activity = Activity.objects.get()
    assert activity.contact.phone == "+352621123456"
    assert activity.lead is None


def test_a_call_with_no_phone_and_no_known_lead_fails_with_the_reason(make_account, hook):
    account = make_account("aiployees")
    hook(account, {**POST_CALL, "customer_phone": None, "lead": {"id": 99}})
    inbox.process_due()
    event = InboundEvent.objects.get()
    assert event.state == State.FAILED
    assert "no phone or email" in event.error
    assert not Activity.objects.exists()


@override_settings(BRIDGE_INBOX_RETRY_BASE_SECONDS=0.0)
def test_a_call_before_its_push_recorded_the_lead_id_is_retried_then_applied(
    make_account, make_lead, hook
):
    from bridge import outbox

    account = make_account("aiployees")
    lead = make_lead(contact=None)
    lead.contact.phone = "+352621123456"
    lead.contact.save()
    outbox.enqueue(Lead, {account: [lead.pk]})  # the push is still on its way
    hook(account, POST_CALL)
    inbox.process_due()
    event = InboundEvent.objects.get()
    assert event.state == State.FAILED and event.next_attempt_at is not None
    assert "not linked yet" in event.error and event.attempts == 1
    assert not Activity.objects.exists()
    link(account, lead, 7731)  # the push's outcome lands
    assert inbox.process_due() == {"processed": 1}
    assert Activity.objects.get().lead == lead


@override_settings(BRIDGE_INBOX_RETRY_BASE_SECONDS=0.0, BRIDGE_INBOX_MAX_ATTEMPTS=2)
def test_a_push_that_never_records_the_id_falls_back_to_the_phone(make_account, make_lead, hook):
    from bridge import outbox

    account = make_account("aiployees")
    lead = make_lead()
    lead.contact.phone = "+352621123456"
    lead.contact.save()
    outbox.enqueue(Lead, {account: [lead.pk]})
    hook(account, POST_CALL)
    inbox.process_due()
    assert inbox.process_due() == {"processed": 1}
    assert Activity.objects.get().contact == lead.contact


def test_an_event_stored_by_a_process_killed_before_processing_is_swept(make_account, hook):
    account = make_account("aiployees")
    hook(account, POST_CALL)  # BRIDGE_KICK_WORKERS is off: no task was queued for it
    assert InboundEvent.objects.get().state == State.RECEIVED
    with override_settings(BRIDGE_INBOX_STRANDED_SECONDS=0.0):
        assert inbox.sweep() == {"processed": 1}
    assert InboundEvent.objects.get().state == State.PROCESSED


def test_a_leeloo_order_is_upserted_by_its_id_and_a_sale_marks_it_paid(make_account, hook):
    account = make_account("leeloo")
    hook(account, ORDER)
    inbox.process_due()
    order = Order.objects.get()
    assert (order.title, order.price, order.currency, order.status) == (
        "Test drive deposit",
        500,
        "EUR",
        "ORDER",
    )
    assert order.contact.phone == "+352621123456"
    assert RemoteLink.objects.get(object_id=order.pk).remote_id == ORDER["data"]["order_id"]
    sale = {"type": "SALE", "data": {**ORDER["data"], "payment_method": "65f0c1a2b3c4d5e6f7a8"}}
    hook(account, sale)
    inbox.process_due()
    order = Order.objects.get()
    assert order.status == "SUCCESS" and order.payment_credits_id == "65f0c1a2b3c4d5e6f7a8"
    assert list(Activity.objects.values_list("kind", flat=True)) == ["order", "order"]


def test_a_sale_before_its_order_stays_paid(make_account, hook):
    account = make_account("leeloo")
    hook(account, {"type": "SALE", "data": ORDER["data"]})
    hook(account, ORDER)
    inbox.process_due()
    assert Order.objects.get().status == "SUCCESS"


def test_a_leeloo_order_links_to_the_person_by_phone_then_email(make_account, make_contact, hook):
    account = make_account("leeloo")
    by_email = make_contact(email="buyer@example.com", phone="")
    hook(account, ORDER)
    inbox.process_due()
    assert Order.objects.get().contact == by_email
    by_phone = make_contact(phone="+352621123457")
    hook(
        account,
        {
            "type": "ORDER",
            "data": {**ORDER["data"], "order_id": "b" * 24, "phone": "+352621123457"},
        },
    )
    inbox.process_due()
    assert Order.objects.get(title="Test drive deposit", contact=by_phone)


def test_a_leeloo_subscription_and_message(make_account, make_contact, hook):
    account = make_account("leeloo")
    contact = make_contact(phone="+352621123456")
    subscription = {
        "type": "SUBSCRIPTION",
        "data": {
            "account_id": "c" * 24,
            "phone": "+352621123456",
            "tunnel_id": "t" * 24,
            "tunnel_name": "Spring sale",
            "leadgentool_id": "l" * 24,
            "leadgentool_name": "Landing form",
            "created_at": "2025-03-04T09:40:51.007Z",
        },
    }
    message = {
        "type": "INCOMING_MESSAGE",
        "data": {
            "account_id": "c" * 24,
            "phone": "+352621123456",
            "text": "Is the truck still available?",
            "created_at": "2025-03-05T10:00:00.000Z",
        },
    }
    hook(account, subscription)
    hook(account, message)
    inbox.process_due()
    contact.refresh_from_db()
    assert contact.subscribe_history[-1]["leadgentoolName"] == "Landing form"
    assert contact.last_message_at.isoformat().startswith("2025-03-05T10:00")
    kinds = dict(Activity.objects.values_list("kind", "summary"))
    assert kinds["subscription"] == "Subscribed to Landing form (Spring sale)"
    assert kinds["message"] == "Message: Is the truck still available?"


def test_aloware_contact_and_call_events(make_account, make_contact, hook):
    account = make_account("aloware")
    contact = make_contact(phone="+13105550177", first_name="", company="")
    hook(
        account,
        {
            "event": "Contact Updated",
            "body": {
                "id": "55120",
                "phone_number": "3105550177",
                "first_name": "John",
                "company_name": "Acme",
                "disposition_status": "Hot",
            },
        },
    )
    hook(
        account,
        {
            "event": "Call Disposed",
            "body": {
                "id": "918273",
                "direction": 2,
                "lead_number": "+13105550177",
                "call_disposition": "Interested",
                "duration": 184,
                "contact": {"id": "55120", "phone_number": "+13105550177"},
            },
        },
    )
    assert inbox.process_due() == {"processed": 2}
    contact.refresh_from_db()
    assert (contact.first_name, contact.company) == ("John", "Acme")
    assert contact.custom_fields["aloware_disposition"] == "Hot"
    call = Activity.objects.get()
    assert call.kind == "call" and call.contact == contact
    assert call.summary == "Aloware outbound call — Interested, 3 min 4 s"
    assert call.details["disposition"] == "Interested"


def test_process_again_is_idempotent(make_account, make_lead, hook):
    account = make_account("aiployees")
    lead = make_lead()
    link(account, lead, 7731)
    hook(account, POST_CALL)
    inbox.process_due()
    for _ in range(2):
        inbox.process_again(InboundEvent.objects.all())
        assert inbox.process_due() == {"processed": 1}
    assert Activity.objects.count() == 1


# --- the commands -------------------------------------------------------------------------------


def test_webhook_url_prints_the_url_and_rotates(make_account, capsys):
    account = make_account("aloware", webhook_auth="bearer")
    call_command("webhook_url", "--account", "aloware", "--base", "https://bridge.example.com")
    out = capsys.readouterr().out.splitlines()
    token = account.webhook_token.reveal()
    assert out[0] == f"https://bridge.example.com/hooks/aloware/{token}/"
    assert out[1] == f"Authorization: method Bearer, token {account.webhook_secret.reveal()}"
    call_command("webhook_url", "--account", "aloware", "--rotate")
    account.refresh_from_db()
    assert account.webhook_token.reveal() != token


def test_webhook_url_names_the_problem(make_account):
    from django.core.management.base import CommandError

    make_account("aello")
    with pytest.raises(CommandError, match="no account named 'x'"):
        call_command("webhook_url", "--account", "x")
    with pytest.raises(CommandError, match="sends no webhooks"):
        call_command("webhook_url", "--account", "aello")


def test_inbound_process_processes_what_waits_and_fails_loudly(make_account, hook, capsys):
    from django.core.management.base import CommandError

    account = make_account("aiployees")
    hook(account, {**POST_CALL, "lead": None})
    call_command("inbound", "--process")
    assert "Processed 1 event(s): 1 processed." in capsys.readouterr().out
    hook(account, {**POST_CALL, "id": 2, "customer_phone": None, "lead": None})
    with pytest.raises(CommandError, match="1 event"):
        call_command("inbound", "--process")


def test_an_event_that_loses_a_race_is_applied_again_at_once(make_account, hook, monkeypatch):
    """Two events creating the same order in the same instant: the loser's insert hits the
    unique link (simulated here), its writes roll back and it is applied again at once (the
    live test on PostgreSQL races ORDER and SALE for real)."""
    from bridge.inbox import leeloo as leeloo_appliers

    account = make_account("leeloo")
    hook(account, ORDER)
    real = leeloo_appliers.upsert_order
    calls = []

    def racing(ctx, contact):
        calls.append(1)
        if len(calls) == 1:  # the other event's order and link committed first
            from django.db import IntegrityError

            raise IntegrityError("duplicate key value violates unique constraint")
        return real(ctx, contact)

    monkeypatch.setattr(leeloo_appliers, "upsert_order", racing)
    assert inbox.process_due() == {"processed": 1}
    event = InboundEvent.objects.get()
    assert (event.state, event.attempts, event.error) == (State.PROCESSED, 2, "")
    assert Order.objects.count() == 1


def test_an_aloware_sms_is_a_call_activity_that_says_so(make_account, make_contact, hook):
    account = make_account("aloware")
    make_contact(phone="+13105550177")
    body = {"id": "7", "type": "sms", "lead_number": "+13105550177", "call_disposition": "Replied"}
    hook(account, {"event": "Communication Disposed", "body": body})
    inbox.process_due()
    activity = Activity.objects.get()
    assert activity.kind == "call" and activity.details["channel"] == "sms"
    assert activity.summary.startswith("Aloware SMS — Replied")


def test_old_events_are_purged_but_waiting_ones_kept(make_account, hook):
    from datetime import timedelta

    from django.utils import timezone

    account = make_account("aiployees")
    for number in range(4):
        hook(account, {**POST_CALL, "id": number, "lead": None})
    inbox.process_due()
    hook(account, {**POST_CALL, "id": 10, "lead": None})  # still received
    long_ago = timezone.now() - timedelta(days=40)
    InboundEvent.objects.update(received_at=long_ago)
    InboundEvent.objects.filter(dedup_key="call:1").update(state=State.FAILED, next_attempt_at=None)
    InboundEvent.objects.filter(dedup_key="call:2").update(
        state=State.FAILED, next_attempt_at=timezone.now()
    )
    assert inbox.process.purge_old() == 3
    assert sorted(InboundEvent.objects.values_list("dedup_key", flat=True)) == [
        "call:10",
        "call:2",
    ]
    assert Activity.objects.filter(event__isnull=True).count() == 3  # activities stay
