"""Aloware: the exact ``POST /api/v1/webhook/forms`` sent and every answer read, over real HTTP.

Runs against the fake Aloware (integrations/fakes/aloware.py) through the shared fake server.
"""

import datetime
import logging

import pytest

from bridge.records import contact_data, lead_data
from integrations.aloware import AlowareProvider
from integrations.errors import (
    AuthenticationError,
    ConfigurationError,
    PayloadError,
    PermanentError,
    RateLimitedError,
)
from integrations.fakes.aloware import FakeAloware
from integrations.secrets import MASK

# The document's cURL example without its api_token (the client adds the account's). Its
# "date_of_birth" is the placeholder "MM/DD/YYYY"; a real date in that format stands in.
DOC_EXAMPLE = {
    "phone_number": "8181234567",
    "company_name": "Aloware",
    "name": "John Doe",
    "first_name": "John",
    "last_name": "Doe",
    "lead_source": "Google Ads",
    "email": "john.doe@gmail.com",
    "date_of_birth": "04/30/1985",
    "timezone": "America/Los_Angeles",
    "city": "Los Angeles",
    "state": "CA",
    "zipcode": "90045",
    "country": "US",
    "address": "1234 First Street",
    "website": "https://www.aloware.com",
    "notes": "This is a test note",
    "csf1": "Custom data",
    "csf2": "Custom data",
    "force_update": True,
    "force_update_sequence": False,
    "distribute_to_ring_group": True,
    "ring_group_id": "1234",
    "check_available_users": True,
    "add_to_powerdialer": True,
    "powerdialer_position": "bottom",
    "line_id": "1234",
    "sequence_id": "4567",
    "user_id": "1234",
    "tag_id": "1234",
    "disposition_status_id": "1234",
}


@pytest.fixture
def client(fake_account):
    return fake_account("aloware").client()


@pytest.fixture
def fake(fakes) -> FakeAloware:
    return fakes.fakes["aloware"]


@pytest.fixture
def contact(make_contact):
    return make_contact(
        first_name="John",
        last_name="Doe",
        email="john.doe@gmail.com",
        phone="+18185550143",
        other_phones=[{"label": "mobile", "phone_number": "+18185550144"}],
        company="Aloware",
        address="1234 First Street",
        city="Los Angeles",
        state="CA",
        zipcode="90045",
        country="US",
        timezone="America/Los_Angeles",
        date_of_birth=datetime.date(1985, 4, 30),
        website="https://www.aloware.com",
        lead_source="Google Ads",
        notes="This is a test note",
        custom_fields={"csf1": "Custom data 1", "csf2": "Custom data 2", "other": "x"},
    )


def sent(fakes):
    return fakes.requests_for("aloware")


def keyed_client(make_account, fakes, key, **fields):
    """A client for the fake Aloware with another token (fake_account uses the good one)."""
    return make_account(
        "aloware",
        name="aloware-other",
        credential=key,
        base_url=fakes.base_url("aloware"),
        **fields,
    ).client()


def test_push_sends_every_documented_contact_field(client, fakes, contact):
    result = client.perform("push", contact_data(contact), {})

    (request,) = sent(fakes)
    assert (request.method, request.path) == ("POST", "/api/v1/webhook/forms")
    assert request.header("Accept") == "application/json"
    assert request.header("Content-Type") == "application/json"
    assert request.header("Authorization") == ""
    assert request.json == {
        "api_token": FakeAloware.credential,
        "phone_number": "+18185550143",
        "other_phone_numbers": [{"label": "mobile", "phone_number": "+18185550144"}],
        "name": "John Doe",
        "first_name": "John",
        "last_name": "Doe",
        "company_name": "Aloware",
        "email": "john.doe@gmail.com",
        "timezone": "America/Los_Angeles",
        "address": "1234 First Street",
        "city": "Los Angeles",
        "state": "CA",
        "zipcode": "90045",
        "country": "US",
        "website": "https://www.aloware.com",
        "lead_source": "Google Ads",
        "date_of_birth": "04/30/1985",
        "notes": "This is a test note",
        "csf1": "Custom data 1",
        "csf2": "Custom data 2",
    }
    assert result.created is True and result.status == "created"
    assert result.remote_id == "+18185550143"
    assert result.data == {"message": "Contact created."}


def test_the_phone_is_sent_as_e164_not_as_ten_national_digits(client, fakes, make_contact):
    # Our choice (see aloware.phone_number): E.164 works for every country, the document's
    # ten digits only for the US. A French number proves it is not cut to national digits.
    client.perform("push", contact_data(make_contact(phone="+33612345678")), {})

    assert sent(fakes)[0].json["phone_number"] == "+33612345678"


def test_a_lead_sends_its_source_and_its_message_as_notes(client, fakes, make_lead, contact):
    lead = make_lead(contact=contact, source="website", message="Still available?")
    client.perform("push", lead_data(lead), {})

    body = sent(fakes)[0].json
    assert body["lead_source"] == "website"
    assert body["notes"] == "Product: Renault Midlum 190.08 (ref. 10864675)\nStill available?"


def test_blank_fields_are_left_out(client, fakes, make_contact):
    client.perform("push", contact_data(make_contact(first_name="", last_name="Solo")), {})

    body = sent(fakes)[0].json
    assert set(body) == {"api_token", "phone_number", "name", "last_name", "email"}


def test_the_token_in_the_body_is_masked_in_the_stored_call(client, contact):
    client.perform("push", contact_data(contact), {})

    assert client.last_call.request["json"]["api_token"] == MASK


def test_routing_comes_from_account_options_and_params_override_it(fake_account, fakes, contact):
    options = {
        "user_id": 12,
        "distribute_to_ring_group": "true",
        "ring_group_id": "5",
        "check_available_users": True,
        "check_available_users_with_fallback": False,
        "add_to_powerdialer": True,
        "powerdialer_position": "top",
        "sequence_id": "4567",
        "force_update_sequence": False,
        "force_update": False,
        "line_id": "1234",
        "tag_id": "99",
        "disposition_status_id": "3",
    }
    client = fake_account("aloware", options=options).client()

    client.perform("push", contact_data(contact), {"powerdialer_position": "bottom", "tag_id": 7})

    body = sent(fakes)[0].json
    assert {key: body[key] for key in options} == {
        "user_id": "12",
        "distribute_to_ring_group": True,
        "ring_group_id": "5",
        "check_available_users": True,
        "check_available_users_with_fallback": False,
        "add_to_powerdialer": True,
        "powerdialer_position": "bottom",
        "sequence_id": "4567",
        "force_update_sequence": False,
        "force_update": False,
        "line_id": "1234",
        "tag_id": "7",
        "disposition_status_id": "3",
    }


@pytest.mark.parametrize(
    ("options", "name"),
    [
        ({"powerdialer_position": "middle"}, "powerdialer_position"),
        ({"force_update": "maybe"}, "force_update"),
    ],
)
def test_bad_routing_options_fail_before_sending(fake_account, fakes, contact, options, name):
    client = fake_account("aloware", options=options).client()

    with pytest.raises(ConfigurationError) as caught:
        client.perform("push", contact_data(contact), {})

    assert name in str(caught.value)
    assert sent(fakes) == []


def test_a_contact_without_phone_fails_before_sending(client, fakes, make_contact):
    with pytest.raises(PayloadError) as caught:
        client.perform("push", contact_data(make_contact(phone="")), {})

    assert "phone_number" in str(caught.value)
    assert sent(fakes) == []


def test_201_then_200_with_force_update_and_one_remote_contact(client, fake, contact):
    first = client.perform("push", contact_data(contact), {})
    contact.city = "Pasadena"
    contact.save()
    second = client.perform("push", contact_data(contact), {"force_update": True})

    assert (first.created, first.status) == (True, "created")
    assert (second.created, second.status) == (False, "updated")
    assert second.remote_id == first.remote_id
    assert list(fake.contacts) == ["+18185550143"]
    assert fake.contacts["+18185550143"]["city"] == "Pasadena"


def test_an_unchanged_repush_without_force_update_is_a_200(client, fake, contact):
    client.perform("push", contact_data(contact), {})
    again = client.perform("push", contact_data(contact), {})

    assert again.created is False and len(fake.contacts) == 1


@pytest.mark.parametrize("status", [409, 400])
def test_a_changed_existing_contact_without_force_update_says_use_force_update(
    client, fake, contact, status
):
    fake.exists_status = status
    client.perform("push", contact_data(contact), {})
    contact.city = "Pasadena"
    contact.save()

    with pytest.raises(PermanentError) as caught:
        client.perform("push", contact_data(contact), {})

    assert caught.value.status == status
    assert caught.value.code == "contact_exists"
    assert "exists; use force_update" in str(caught.value)
    assert fake.contacts["+18185550143"]["city"] == "Los Angeles"


def test_the_documents_example_is_accepted_and_its_answers_read(client, fake):
    created = client.request("POST", "/api/v1/webhook/forms", json_body=DOC_EXAMPLE)
    updated = client.request("POST", "/api/v1/webhook/forms", json_body=DOC_EXAMPLE)

    assert (created.status, created.data) == (201, {"message": "Contact created."})
    assert (updated.status, updated.data) == (200, {"message": "Contact updated."})
    assert fake.contacts["+18181234567"]["routing"]["powerdialer_position"] == "bottom"


def test_the_documented_400_carries_field_errors_and_names_the_fields(client):
    with pytest.raises(PermanentError) as caught:
        client.request("POST", "/api/v1/webhook/forms", json_body={"email": "not-an-email"})

    error = caught.value
    assert error.status == 400
    assert set(error.field_errors) == {"phone_number", "email"}
    assert error.field_errors["phone_number"] == ["The phone number field is required."]
    assert "The given data was invalid." in str(error)
    assert "phone_number:" in str(error) and "email:" in str(error)


def test_a_wrong_token_is_an_authentication_error(make_account, fakes, contact):
    client = keyed_client(make_account, fakes, "wrong-aloware-token-1")

    with pytest.raises(AuthenticationError) as caught:
        client.perform("push", contact_data(contact), {})

    assert caught.value.status == 401


def test_a_400_about_the_api_token_is_an_authentication_error(fake_account, contact):
    class WithoutToken(AlowareProvider):
        def authenticate(self, headers, json_body, params):
            headers["Content-Type"] = "application/json"

    client = WithoutToken(fake_account("aloware").config())

    with pytest.raises(AuthenticationError) as caught:
        client.perform("push", contact_data(contact), {})

    assert caught.value.status == 400 and "api_token" in caught.value.field_errors


def test_429_is_rate_limited_with_retry_after(client, fakes, contact):
    fakes.add_fault("aloware", "rate_limit", retry_after=12)

    with pytest.raises(RateLimitedError) as caught:
        client.perform("push", contact_data(contact), {})

    assert caught.value.status == 429 and caught.value.retry_after == 12


def test_the_token_never_reaches_logs_or_errors(client, make_account, fakes, contact, caplog):
    caplog.set_level(logging.DEBUG)
    client.perform("push", contact_data(contact), {})
    wrong = "wrong-aloware-token-2"
    bad = keyed_client(make_account, fakes, wrong)
    with pytest.raises(AuthenticationError) as caught:
        bad.perform("push", contact_data(contact), {})

    assert "provider=aloware" in caplog.text
    for secret in (FakeAloware.credential, wrong):
        assert secret not in caplog.text
        assert secret not in str(caught.value) + caught.value.body
        assert secret not in repr(client.last_call.as_dict()) + repr(bad.last_call.as_dict())


def test_declares_its_operation_record_kinds_and_routing_options():
    assert AlowareProvider.operations == {"push": "push_contact"}
    assert AlowareProvider.pushes == ("lead", "contact")
    assert AlowareProvider.contact_requirements == (("phone",),)
    # Every routing option can be chosen per push, not only set on the account.
    assert {o.name for o in AlowareProvider.push_options} == set(AlowareProvider.account_options)
    assert set(AlowareProvider.account_options) == {
        "user_id",
        "distribute_to_ring_group",
        "ring_group_id",
        "check_available_users",
        "check_available_users_with_fallback",
        "add_to_powerdialer",
        "powerdialer_position",
        "sequence_id",
        "force_update_sequence",
        "force_update",
        "line_id",
        "tag_id",
        "disposition_status_id",
    }
