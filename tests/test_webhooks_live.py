"""Webhooks end to end: the fake providers post each documented event over real HTTP to the
bridge's receiver (``live_server``), a real django-q2 cluster applies them.

The fakes send what the services send (``/_control/emit``, and fake Aiployees "calling" a
pushed lead by itself after ``/_control/webhook``), so these tests cover the bytes on the wire,
the receiver, the task queued on commit and the appliers together.
"""

import time

import pytest
import requests
from django.core.cache import cache

from bridge import inbox, outbox
from bridge.models import Activity, Contact, InboundEvent, Lead, Order

State = InboundEvent.State


@pytest.fixture(autouse=True)
def kick_workers(settings):
    """The receiver queues its task on commit, as in production."""
    settings.BRIDGE_KICK_WORKERS = True
    cache.clear()


def receiver(live_server, account) -> str:
    return live_server.url + inbox.webhook_path(account)


def emit(fakes, provider: str, event_type: str, url: str, **fields) -> dict:
    answer = requests.post(
        f"{fakes.url}/_control/emit",
        json={"provider": provider, "type": event_type, "fields": fields, "url": url},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == 200, answer.json()
    return answer.json()["sent"]


def wait_until(check, seconds: float = 60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return check()


def settled(count: int):
    def check():
        states = list(InboundEvent.objects.values_list("state", flat=True))
        return len(states) == count and all(state != State.RECEIVED for state in states)

    return check


def test_every_documented_event_from_the_fakes_takes_effect(
    live_server, fakes, fake_account, make_contact, qcluster
):
    leeloo = fake_account("leeloo")
    aloware = fake_account("aloware")
    buyer = make_contact(phone="+352621123456", email="jane@example.com")
    caller = make_contact(phone="+13105550177", first_name="", email="john@example.com")
    qcluster()
    order = emit(fakes, "leeloo", "ORDER", receiver(live_server, leeloo))
    order_id = order["data"]["order_id"]
    emit(fakes, "leeloo", "SALE", receiver(live_server, leeloo), order_id=order_id)
    emit(fakes, "leeloo", "SUBSCRIPTION", receiver(live_server, leeloo))
    emit(fakes, "leeloo", "INCOMING_MESSAGE", receiver(live_server, leeloo), text="Hello?")
    emit(
        fakes,
        "aloware",
        "Contact Updated",
        receiver(live_server, aloware),
        phone_number="+13105550177",
        first_name="John",
    )  # noqa: E501
    emit(
        fakes,
        "aloware",
        "Call Disposed",
        receiver(live_server, aloware),
        contact={"phone_number": "+13105550177"},
    )  # noqa: E501
    assert wait_until(settled(6)), list(InboundEvent.objects.values_list("state", "error"))
    outcomes = set(InboundEvent.objects.values_list("state", "error"))
    assert outcomes == {(State.PROCESSED, "")}, outcomes
    paid = Order.objects.get()
    assert (paid.contact, paid.status, paid.title) == (buyer, "SUCCESS", "Test drive deposit")
    kinds = sorted(Activity.objects.filter(contact=buyer).values_list("kind", flat=True))
    assert kinds == ["message", "order", "order", "subscription"]
    buyer.refresh_from_db()
    assert buyer.last_message_at is not None
    assert buyer.subscribe_history[-1]["leadgentoolName"] == "Landing form"
    caller.refresh_from_db()
    assert caller.first_name == "John"
    call = Activity.objects.get(contact=caller)
    assert call.kind == "call" and "Interested" in call.summary


def test_a_lead_pushed_to_aiployees_gets_called_and_the_result_lands_on_it(
    live_server, fakes, fake_account, make_lead, qcluster
):
    account = fake_account("aiployees", options={"campaign_id": 1})
    answer = requests.post(
        f"{fakes.url}/_control/webhook",
        json={"provider": "aiployees", "url": receiver(live_server, account), "delay": 0.5},
        timeout=5,
    )
    assert answer.status_code == 200
    lead = make_lead()
    qcluster()
    outbox.enqueue(Lead, {account: [lead.pk]})  # the cluster drains it on commit
    assert wait_until(lambda: Activity.objects.filter(lead=lead).exists()), list(
        InboundEvent.objects.values_list("state", "error")
    )
    activity = Activity.objects.get(lead=lead)
    assert activity.kind == "call" and activity.summary.startswith("AI call completed")
    assert activity.details["transcript"].startswith("AI: Hello")
    assert activity.details["recording_url"].endswith(".mp3")
    lead.refresh_from_db()
    assert lead.status == Lead.Status.CONTACTED


def test_a_call_for_a_person_the_bridge_does_not_have_creates_the_contact(
    live_server, fakes, fake_account, qcluster
):
    account = fake_account("aiployees")
    qcluster()
    emit(
        fakes,
        "aiployees",
        "post_call",
        receiver(live_server, account),
        customer_phone="+352621123499",
    )  # noqa: E501
    assert wait_until(settled(1))
    assert Contact.objects.get().phone == "+352621123499"
    assert Activity.objects.get().contact.phone == "+352621123499"


def test_the_same_event_posted_ten_times_takes_effect_once(live_server, fakes, fake_account):
    account = fake_account("leeloo")
    url = receiver(live_server, account)
    body = emit(fakes, "leeloo", "ORDER", url)
    for _ in range(9):
        emit(fakes, "leeloo", "ORDER", url, **body["data"])
    event = InboundEvent.objects.get()
    assert event.repeats == 9
    inbox.process_due()
    assert Order.objects.count() == 1 and Activity.objects.count() == 1


def test_emit_names_what_is_wrong(fakes):
    control = f"{fakes.url}/_control/emit"
    missing = requests.post(control, json={"provider": "nobody", "url": "http://x"}, timeout=5)
    assert missing.status_code == 400 and "known 'provider'" in missing.json()["error"]
    wrong = requests.post(
        control, json={"provider": "leeloo", "type": "REFUND", "url": "http://x"}, timeout=5
    )
    assert wrong.status_code == 400 and "'REFUND'" in wrong.json()["error"]
    closed = requests.post(
        control,
        json={"provider": "aiployees", "type": "post_call", "url": "http://127.0.0.1:9/x/"},
        timeout=15,
    )
    assert closed.status_code == 502 and "could not be reached" in closed.json()["error"]


def test_the_demo_wires_the_fakes_to_the_bridge(live_server, fakes, settings):
    """``make demo``'s wiring, against the test servers: fake Aiployees calls a pushed lead
    back, fake Leeloo's order lands on a demo contact."""
    from bridge.demo_data import create_demo_accounts, create_demo_data
    from bridge.management.commands.demo import Command

    settings.BRIDGE_KICK_WORKERS = False  # this test applies the events itself
    create_demo_data()
    create_demo_accounts(fakes.url)
    fakes.fakes["aiployees"].webhook = {}
    Command()._connect_webhooks(live_server.url, fakes.url)
    assert fakes.fakes["aiployees"].webhook["url"].startswith(live_server.url + "/hooks/")
    inbox.process_due()
    order = Order.objects.get(title="Test drive deposit")
    buyer = Contact.objects.exclude(phone="").order_by("pk").first()
    assert order.contact == buyer
    assert Activity.objects.filter(contact=buyer, kind="order").exists()

    fakes.fakes["aiployees"].webhook["delay"] = 0.1
    lead = Lead.objects.filter(contact__phone__startswith="+1").first()
    outbox.enqueue(Lead, {fakes_account("aiployees"): [lead.pk]})
    outbox.run_until_settled([fakes_account("aiployees").pk], timeout=30)
    assert wait_until(lambda: InboundEvent.objects.filter(kind="post_call").exists(), 15)
    inbox.process_due()
    assert Activity.objects.get(lead=lead, kind="call").summary.startswith("AI call completed")


def fakes_account(name):
    from bridge.models import ProviderAccount

    return ProviderAccount.objects.get(name=name)
