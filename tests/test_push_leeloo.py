"""Every Leeloo write travels through the outbox and reaches the fake Leeloo as documented."""

import pytest

from bridge import outbox
from bridge.models import Contact, Delivery, Order, RemoteLink, Tunnel

pytestmark = pytest.mark.django_db(transaction=True)

LGT = "5e18a2a3ed0b7a000d6c9486"  # the fake's "Default leadgentool"
TUNNEL = "595f5d522a934035decc093d"


@pytest.fixture
def leeloo(fake_account):
    return fake_account("leeloo", options={"leadgentool_id": LGT})


def run(account, model, record, operation="push", **params):
    """Queue one operation for one record and send it; return the delivery."""
    batch = outbox.enqueue(
        model, {account: [record.pk]}, operation=operation, params={account.pk: params}
    )
    outbox.run_until_settled([account.pk], timeout=30)
    return batch.deliveries.get()


def person_of(contact, account):
    return RemoteLink.objects.get(
        account=account, content_type__model="contact", object_id=contact.pk
    ).remote_id


def test_push_creates_a_person_then_updates_it(leeloo, make_contact, fakes):
    contact = make_contact(first_name="Ann", last_name="Lee", phone="+13105550143")
    created = run(leeloo, Contact, contact)
    assert created.state == Delivery.State.DELIVERED, created.error_message
    person_id = person_of(contact, leeloo)
    assert fakes.fakes["leeloo"].people[person_id]["phone"] == "+13105550143"
    contact.email = "ann.lee@example.com"
    contact.save()
    updated = run(leeloo, Contact, contact)
    assert updated.state == Delivery.State.DELIVERED and updated.remote_id == person_id
    assert fakes.requests_for("leeloo", "PUT", f"/api/v2/people/{person_id}")
    assert len(fakes.requests_for("leeloo", "POST", "/api/v2/people")) == 1


def test_push_finds_an_existing_remote_person_instead_of_creating_one(leeloo, make_contact, fakes):
    contact = make_contact(first_name="Feliks", phone="+380966565556", email="")
    delivery = run(leeloo, Contact, contact)
    assert delivery.state == Delivery.State.DELIVERED
    assert delivery.remote_id == "5e1c7ce2b4066a01900cdba0"  # the reference's Feliks
    assert not fakes.requests_for("leeloo", "POST", "/api/v2/people")


CONTACT_OPERATIONS = [
    ("add_tag", {"tag_id": "5cf7a18586236d000b1256b2"}, "PUT", "/add-tag"),
    ("remove_tag", {"tag_id": "5cf7a18586236d000b1256b2"}, "PUT", "/remove-tag"),
    ("add_comment", {"comment": "Called, wants a test drive"}, "PUT", "/add-comment"),
    ("send_message", {"text": "Your truck is ready"}, "POST", "/api/v2/messages/send-message"),
    (
        "send_template",
        {"template_id": "5e42be758d4fff000cafe6ef", "variables": ["name=Ann"]},
        "POST",
        "/api/v2/messages/send-template",
    ),
    (
        "log_call",
        {
            "user_id": "5b0d313b307879002915b3cc",
            "from": "606",
            "to": "607",
            "date": "2024-03-22T15:30:17.339Z",
            "status": "SUCCESS",
            "duration": 100,
            "type": "OUTBOUND",
        },
        "POST",
        "/api/v2/calls",
    ),
    (
        "subscribe_tunnel",
        {"tunnel_id": TUNNEL, "tunnel_block_id": TUNNEL[:-4] + "b10c"},
        "POST",
        "/manual-subscribe",
    ),
    (
        "add_sms_connection",
        {"connection_id": "5dbfe6c5fb73e101720b3dc7"},
        "POST",
        "/api/v2/people/sms",
    ),
]


@pytest.mark.parametrize(
    "operation, params, method, path_end",
    CONTACT_OPERATIONS,
    ids=[o[0] for o in CONTACT_OPERATIONS],
)
def test_each_leeloo_write_on_a_contact(
    leeloo, make_contact, fakes, operation, params, method, path_end
):
    contact = make_contact(first_name="Ann", phone="+13105550143")
    assert run(leeloo, Contact, contact).state == Delivery.State.DELIVERED
    delivery = run(leeloo, Contact, contact, operation, **params)
    assert delivery.state == Delivery.State.DELIVERED, delivery.error_message
    sent = [r for r in fakes.requests_for("leeloo", method) if r.path.endswith(path_end)]
    assert len(sent) == 1, [r.path for r in fakes.requests_for("leeloo")]
    assert delivery.last_http_status == 200


def test_create_order_then_update_its_status(leeloo, make_contact, fakes):
    contact = make_contact(first_name="Ann", phone="+13105550143", email="ann@example.com")
    run(leeloo, Contact, contact)
    order = Order.objects.create(
        contact=contact,
        title="Extended warranty",
        price=100,
        offer_id="5e3c357bf04b1f000c27b83a",
        payment_credits_id="5e3c3533f04b1f000c27b534",
    )
    created = run(leeloo, Order, order, "create_order")
    assert created.state == Delivery.State.DELIVERED, created.error_message
    order_id = created.remote_id
    assert order_id in fakes.fakes["leeloo"].orders
    create = fakes.requests_for("leeloo", "POST", "/api/v2/orders")[0]
    assert create.json["offerId"] == "5e3c357bf04b1f000c27b83a"
    assert create.json["personId"] == person_of(contact, leeloo)
    RemoteLink.objects.get_or_create(
        account=leeloo,
        content_type=created.content_type,
        object_id=order.pk,
        defaults={"remote_id": order_id},
    )
    updated = run(leeloo, Order, order, "update_order", status="RESOLVED")
    assert updated.state == Delivery.State.DELIVERED, updated.error_message
    update = fakes.requests_for("leeloo", "POST", f"/api/v2/orders/{order_id}")[0]
    assert update.form["status"] == ["RESOLVED"]  # form-data, as documented


def test_create_a_traffic_source_in_a_tunnels_lgt(leeloo, fakes):
    tunnel = Tunnel.objects.create(
        name="My tunnel", leadgen_tools=[{"remote_id": "222f5d522a934035decc093d", "name": "LGT1"}]
    )
    delivery = run(leeloo, Tunnel, tunnel, "create_traffic_source", name="Spring ads")
    assert delivery.state == Delivery.State.DELIVERED, delivery.error_message
    (sent,) = fakes.requests_for("leeloo", "POST")
    assert sent.path == "/api/v2/leadgentools/222f5d522a934035decc093d/create-traffic-source"
    assert sent.json == {"name": "Spring ads", "description": ""}


def test_missing_required_call_field_is_dead_and_named(leeloo, make_contact):
    contact = make_contact(first_name="Ann", phone="+13105550143")
    run(leeloo, Contact, contact)
    delivery = run(leeloo, Contact, contact, "log_call", user_id="5b0d313b307879002915b3cc")
    assert delivery.state == Delivery.State.DEAD
    assert "from" in delivery.error_message
