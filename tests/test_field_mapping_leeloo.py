"""Leeloo custom fields keep the type the pull saw, and a push sends each value converted to it
(issue 18 §5: the type was dropped on pull and guessed on push). Against the fake Leeloo over
real HTTP: a people sync reads the cards, the outbox pushes."""

import pytest

from bridge import outbox, sync
from bridge.models import Contact, Delivery, FieldMapping, Lead, RemoteField

# Runs and drains use their own connections: rows must be committed.
pytestmark = pytest.mark.django_db(transaction=True)

MARK_SPENSER = "625946dd585052c1629f1b2b"
LGT = "5e18a2a3ed0b7a000d6c9486"


@pytest.fixture
def leeloo(fake_account):
    return fake_account(
        "leeloo", requests_per_second=1000, concurrency=2, options={"leadgentool_id": LGT}
    )


@pytest.fixture
def fake(fakes):
    return fakes.fakes["leeloo"]


def give_fields(fake, *fields):
    """Mark Spenser's card shows these custom fields (type, name, value)."""
    fake.people[MARK_SPENSER]["custom_fields"] = [
        {"type": kind, "name": name, "value": value} for kind, name, value in fields
    ]


def pull(account, **options):
    run = sync.run_sync(account, "people", **options)
    assert run.status == "succeeded", run.error
    return run


def field_types(account):
    return dict(RemoteField.objects.filter(account=account).values_list("name", "type"))


def pushed_fields(fakes):
    """The custom fields of the last card update sent to the fake, by name."""
    update = fakes.requests_for("leeloo", "PUT")[-1]
    return {entry["name"]: entry for entry in update.json["custom_fields"]}


def push(record, account):
    model = type(record)
    batch = outbox.enqueue(model, {account: [record.pk]})
    outbox.run_until_settled([account.pk], timeout=30)
    return batch.deliveries.get()


def test_the_pull_keeps_each_fields_type_and_a_later_pull_updates_it(leeloo, fake):
    give_fields(
        fake,
        ("PHONE", "phone", "+48881644207"),
        ("NUMBER", "visits", 3),
        ("DATE", "renewal", "2025-01-01"),
    )
    pull(leeloo)
    assert field_types(leeloo) == {"phone": "PHONE", "visits": "NUMBER", "renewal": "DATE"}
    contact = Contact.objects.get(email="ray37@hotmail.com")
    assert contact.custom_fields == {"phone": "+48881644207", "visits": 3, "renewal": "2025-01-01"}
    assert leeloo.config().field_map.types == field_types(leeloo)

    give_fields(fake, ("KEYWORD", "renewal", "soon"))
    pull(leeloo, full=True)  # a full run reads every card again
    assert field_types(leeloo) == {"phone": "PHONE", "visits": "NUMBER", "renewal": "KEYWORD"}


def test_a_push_sends_values_converted_to_the_pulled_types(leeloo, fake, fakes, make_lead):
    give_fields(fake, ("NUMBER", "visits", 3), ("DATE", "renewal", "2025-01-01"))
    pull(leeloo)
    contact = Contact.objects.get(email="ray37@hotmail.com")
    contact.custom_fields = {**contact.custom_fields, "visits": "42", "plan": "gold"}
    contact.save()
    FieldMapping.objects.create(account=leeloo, source="custom:next_renewal", target="renewal")
    lead = make_lead(contact=contact, custom_fields={"next_renewal": "2026-03-01"})

    delivery = push(lead, leeloo)

    assert delivery.state == Delivery.State.DELIVERED, delivery.error_message
    sent = pushed_fields(fakes)
    assert sent["visits"] == {"type": "NUMBER", "name": "visits", "value": 42}  # not "42"
    assert sent["renewal"] == {"type": "DATE", "name": "renewal", "value": "2026-03-01"}
    assert sent["plan"] == {"type": "KEYWORD", "name": "plan", "value": "gold"}  # guessed
    stored = {f["name"]: f for f in fake.people[MARK_SPENSER]["custom_fields"]}
    assert stored["renewal"]["value"] == "2026-03-01"


def test_a_value_that_does_not_fit_the_pulled_type_fails_naming_the_field(
    leeloo, fake, fakes, make_lead
):
    give_fields(fake, ("DATE", "renewal", "2025-01-01"))
    pull(leeloo)
    FieldMapping.objects.create(account=leeloo, source="custom:next_renewal", target="renewal")
    contact = Contact.objects.get(email="ray37@hotmail.com")
    lead = make_lead(contact=contact, custom_fields={"next_renewal": "tomorrow-ish"})
    before = len(fakes.requests_for("leeloo", "PUT"))

    delivery = push(lead, leeloo)

    assert delivery.state == Delivery.State.DEAD
    assert (
        "Leeloo.ai custom field 'renewal' is a DATE field (as the last pull saw it): "
        "'tomorrow-ish' is not a date" in delivery.error_message
    )
    assert len(fakes.requests_for("leeloo", "PUT")) == before  # nothing half-written
    assert Lead.objects.get(pk=lead.pk).custom_fields == {"next_renewal": "tomorrow-ish"}
