"""Mirror model validation and the constraints that carry the invariants."""

from decimal import Decimal

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from bridge.models import Contact, Lead, Order, RemoteLink


@pytest.mark.parametrize(
    "typed, stored",
    [
        ("(310) 555-0143", "+13105550143"),
        ("310.555.0143", "+13105550143"),
        ("+352 621 123 456", "+352621123456"),
        ("0044 20 7946 0958", "+442079460958"),
    ],
)
def test_phone_is_stored_in_e164(db, typed, stored):
    contact = Contact(first_name="Ann", phone=typed)
    contact.full_clean()
    assert contact.phone == stored


@pytest.mark.parametrize("bad", ["12", "not a phone", "+1 555", "+999 1234567"])
def test_invalid_phone_is_an_error_on_the_phone_field(db, bad):
    contact = Contact(first_name="Ann", phone=bad)
    with pytest.raises(ValidationError) as info:
        contact.full_clean()
    assert "phone" in info.value.message_dict
    assert bad in info.value.message_dict["phone"][0]


def test_other_phones_are_normalised_and_checked(db):
    contact = Contact(
        first_name="Ann", other_phones=[{"label": "work", "phone_number": "310 555 0100"}]
    )
    contact.full_clean()
    assert contact.other_phones == [{"label": "work", "phone_number": "+13105550100"}]
    contact.other_phones = [{"label": "work", "phone_number": "abc"}]
    with pytest.raises(ValidationError) as info:
        contact.full_clean()
    assert "other_phones" in info.value.message_dict


def test_email_is_lower_cased_and_validated(db):
    contact = Contact(first_name="Ann", email="Ann.Smith@Example.COM")
    contact.full_clean()
    assert contact.email == "ann.smith@example.com"
    contact.email = "not-an-email"
    with pytest.raises(ValidationError) as info:
        contact.full_clean()
    assert "email" in info.value.message_dict


def test_duplicate_phone_or_email_is_refused_with_a_clear_message(make_contact):
    make_contact(phone="+13105550143", email="ann@example.com")
    twin = Contact(first_name="Ann", phone="(310) 555-0143")
    with pytest.raises(ValidationError) as info:
        twin.full_clean()
    assert "phone number already exists" in str(info.value)
    other = Contact(first_name="Ann", email="ANN@example.com")
    with pytest.raises(ValidationError) as info:
        other.full_clean()
    assert "email already exists" in str(info.value)


def test_the_database_refuses_duplicate_dedup_keys(make_contact):
    make_contact(phone="+13105550143", email="ann@example.com")
    with pytest.raises(IntegrityError), transaction.atomic():
        Contact.objects.create(first_name="B", phone="+13105550143")
    with pytest.raises(IntegrityError), transaction.atomic():
        Contact.objects.create(first_name="C", email="ann@example.com")
    # Blank keys are not duplicates of each other.
    Contact.objects.create(first_name="D")
    Contact.objects.create(first_name="E")
    assert Contact.objects.filter(phone="").count() == 2


def test_product_reference_is_required_with_any_product_field(make_contact):
    contact = make_contact()
    lead = Lead(contact=contact, product_title="Truck")
    with pytest.raises(ValidationError) as info:
        lead.full_clean()
    assert "product_reference" in info.value.message_dict
    lead.product_reference = "10864675"
    lead.full_clean()
    bare = Lead(contact=contact, message="Call me")
    bare.full_clean()  # no product at all is fine


def test_lead_gets_a_stable_external_id_and_received_time(make_lead):
    lead = make_lead()
    assert lead.external_id.startswith("crmb-") and len(lead.external_id) > 20
    assert lead.received_at is not None
    lead.refresh_from_db()
    external_id = lead.external_id
    lead.save()
    assert Lead.objects.get(pk=lead.pk).external_id == external_id


def test_order_price_is_decimal_and_currency_checked(make_contact):
    order = Order(contact=make_contact(), title="Course", price=Decimal("199.99"), currency="usd")
    order.full_clean()
    order.save()
    order.refresh_from_db()
    assert order.price == Decimal("199.99") and order.currency == "USD"
    order.currency = "dollars"
    with pytest.raises(ValidationError) as info:
        order.full_clean()
    assert "currency" in info.value.message_dict


def test_duplicate_remote_link_is_refused(make_account, make_contact):
    account = make_account("leeloo")
    contact_type = ContentType.objects.get_for_model(Contact)
    first, second = make_contact(), make_contact()
    RemoteLink.objects.create(
        account=account, content_type=contact_type, object_id=first.pk, remote_id="abc"
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        RemoteLink.objects.create(
            account=account, content_type=contact_type, object_id=second.pk, remote_id="abc"
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        RemoteLink.objects.create(
            account=account, content_type=contact_type, object_id=first.pk, remote_id="other"
        )
    # The same remote id in another account is another link.
    RemoteLink.objects.create(
        account=make_account("leeloo", name="leeloo-2"),
        content_type=contact_type,
        object_id=second.pk,
        remote_id="abc",
    )


def test_the_migrations_describe_the_models(db):
    """A model change without its migration would reach production as a schema that differs."""
    from django.core.management import call_command

    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


def test_an_account_may_send_up_to_5000_requests_a_second(make_account):
    # At the largest concurrency (64) and a 50 ms provider, C/L is 1,280 requests a second:
    # the old cap of 1,000 bound before the latency did.
    account = make_account(concurrency=64, requests_per_second=1280)
    account.full_clean()
    account.requests_per_second = 5001
    with pytest.raises(ValidationError) as info:
        account.full_clean()
    assert "less than or equal to 5000" in str(info.value.message_dict["requests_per_second"])
