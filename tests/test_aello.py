"""Aéllo Copilot: the exact ``POST /leads`` sent, and every documented answer, over real HTTP.

Runs against the fake Aéllo (integrations/fakes/aello.py) through the shared fake server.
"""

import logging

import pytest

from bridge.records import lead_data
from integrations.aello import AelloProvider, build_lead_payload
from integrations.errors import (
    AuthenticationError,
    PayloadError,
    PermanentError,
    TransientError,
)
from integrations.fakes.aello import FakeAello

# The document's example request, word for word.
DOC_EXAMPLE = {
    "externalId": "external-id-12345679",
    "contact": {
        "firstName": "John",
        "lastName": "Doe",
        "email": "john.doe123@email.com",
        "phoneCountryCode": "352",
        "phoneNumber": "612345679",
        "companyName": "Company XYZ",
    },
    "product": {
        "link": "https://www.via-mobilis.fr/.../ts-vi10864675",
        "image": "https://photo.static-viamobilis.com/.../10864675.jpg",
        "title": "Camion remorque plateau standard occasion Renault Midlum 190.08",
        "reference": "10864675",
        "price": 45000,
    },
    "message": "Hello world!",
}


@pytest.fixture
def aello(fake_account):
    """A client for an account pointed at the fake Aéllo."""
    return fake_account("aello").client()


@pytest.fixture
def fake(fakes) -> FakeAello:
    return fakes.fakes["aello"]


@pytest.fixture
def keyed_client(make_account, fakes):
    """A client for the fake Aéllo with another key (fake_account always uses the good one)."""

    def make(key, name="aello-other"):
        account = make_account("aello", name=name, credential=key, base_url=fakes.base_url("aello"))
        return account.client()

    return make


def sent(fakes):
    return fakes.requests_for("aello")


def hand_lead(**contact):
    """A lead record of lead_data's shape, for contacts the model would not accept."""
    return {
        "external_id": "crmb-hand-1",
        "contact": {"first_name": "John", "last_name": "Doe", "email": "", "phone": "", **contact},
        "product": {},
        "message": "",
    }


WITH_EMAIL = hand_lead(email="a@example.com")


@pytest.fixture
def lead(make_contact, make_lead):
    contact = make_contact(
        first_name="John",
        last_name="Doe",
        email="John.Doe123@Email.com",
        phone="+352621123456",
        company="Company XYZ",
    )
    return make_lead(
        contact=contact,
        product_reference="10864675",
        product_title="Renault Midlum 190.08",
        product_link="https://example.com/product",
        product_image="https://example.com/image.jpg",
        product_price="45000",
        message="Hello world!",
    )


def test_push_sends_every_field_with_the_documented_names_and_types(aello, fakes, lead):
    result = aello.perform("push", lead_data(lead), {})

    (request,) = sent(fakes)
    assert (request.method, request.path) == ("POST", "/leads")
    assert request.header("Aello-Api-Key") == FakeAello.credential
    assert request.header("Content-Type") == "application/json"
    assert request.json == {
        "externalId": lead.external_id,
        "contact": {
            "firstName": "John",
            "lastName": "Doe",
            "email": "john.doe123@email.com",
            "phoneCountryCode": "352",
            "phoneNumber": "621123456",
            "companyName": "Company XYZ",
        },
        "product": {
            "link": "https://example.com/product",
            "image": "https://example.com/image.jpg",
            "title": "Renault Midlum 190.08",
            "reference": "10864675",
            "price": 45000,
        },
        "message": "Hello world!",
    }
    assert type(request.json["product"]["price"]) is int
    assert result.status == "accepted" and result.created is None
    assert result.remote_id == lead.external_id


def test_a_resent_lead_is_a_new_message_under_the_same_remote_lead(aello, fake, lead):
    aello.perform("push", lead_data(lead), {})
    aello.perform("push", lead_data(lead), {})

    assert len(fake.leads) == 1 and len(fake.contacts) == 1
    assert [m["text"] for m in fake.leads[0]["messages"]] == ["Hello world!", "Hello world!"]


def test_the_documents_example_request_is_accepted_with_an_empty_202(aello, fake):
    response = aello.request("POST", "/leads", json_body=DOC_EXAMPLE)

    assert response.status == 202 and response.data is None
    assert fake.leads[0]["externalId"] == "external-id-12345679"
    assert fake.products["10864675"]["price"] == 45000


def test_fractional_prices_are_sent_as_json_numbers(aello, fakes, make_lead):
    aello.perform("push", lead_data(make_lead(product_price="45000.50")), {})

    assert sent(fakes)[0].json["product"]["price"] == 45000.5


def test_a_lead_without_product_fields_sends_no_product(aello, fakes, make_lead):
    lead = make_lead(product_reference="", product_title="", product_price=None)
    aello.perform("push", lead_data(lead), {})

    assert "product" not in sent(fakes)[0].json


def test_a_lead_with_only_an_email_sends_no_phone_fields(aello, fakes, make_lead, make_contact):
    lead = make_lead(contact=make_contact(phone="", company=""))
    aello.perform("push", lead_data(lead), {})

    contact = sent(fakes)[0].json["contact"]
    assert set(contact) == {"firstName", "lastName", "email"}


@pytest.mark.parametrize(
    ("contact", "first", "last"),
    [
        ({"first_name": "", "last_name": "Doe", "email": "x@example.com"}, "Doe", None),
        ({"first_name": "", "last_name": "", "email": "jdoe@example.com"}, "jdoe", None),
        ({"first_name": "  Ann ", "last_name": "Lee", "email": "a@example.com"}, "Ann", "Lee"),
    ],
)
def test_first_name_falls_back_to_last_name_then_email(aello, fakes, contact, first, last):
    aello.perform("push", hand_lead(**contact), {})

    sent_contact = sent(fakes)[0].json["contact"]
    assert sent_contact["firstName"] == first
    assert sent_contact.get("lastName") == last


@pytest.mark.parametrize(
    ("record", "field"),
    [
        (hand_lead(first_name="", last_name="", phone="+352621123456"), "contact.firstName"),
        (hand_lead(), "contact.email or contact.phoneNumber"),
        ({**WITH_EMAIL, "product": {"title": "Truck"}}, "product.reference"),
        ({**WITH_EMAIL, "product": {"price": 100}}, "product.reference"),
        ({**WITH_EMAIL, "product": {"reference": "R", "price": "x"}}, "product.price"),
        (hand_lead(phone="352621123456"), "contact.phone"),
    ],
)
def test_records_aello_would_refuse_fail_before_sending(aello, fakes, record, field):
    with pytest.raises(PayloadError) as caught:
        aello.perform("push", record, {})

    assert field in str(caught.value)
    assert sent(fakes) == []


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({**DOC_EXAMPLE, "contact": {"firstName": "J", "email": "nope"}}, "ERR-EMAIL-"),
        ({**DOC_EXAMPLE, "contact": {"lastName": "Doe", "email": "a@b.co"}}, "ERR-CONTACT-"),
        ({**DOC_EXAMPLE, "contact": {"firstName": "J"}}, "ERR-CONTACT-MISSING_EMAIL_OR_PHONE"),
        ({**DOC_EXAMPLE, "product": {"title": "Truck"}}, "ERR-PRODUCT-MISSING_REFERENCE"),
    ],
)
def test_documented_400s_are_permanent_errors_with_aellos_code(aello, body, code):
    with pytest.raises(PermanentError) as caught:
        aello.request("POST", "/leads", json_body=body)

    error = caught.value
    assert error.status == 400 and error.code.startswith(code)
    assert error.provider_message and error.provider_message in str(error)
    assert not error.retryable


def test_an_invalid_email_is_answered_with_the_documented_body(aello):
    with pytest.raises(PermanentError) as caught:
        aello.perform("push", hand_lead(email="not-an-email"), {})

    assert caught.value.code == "ERR-EMAIL-INVALID_OR_MALFORMED_EMAIL"
    assert caught.value.provider_message == "Invalid email"


def test_401_is_an_authentication_error_with_aellos_message(keyed_client, lead):
    client = keyed_client("wrong-aello-key-000111")

    with pytest.raises(AuthenticationError) as caught:
        client.perform("push", lead_data(lead), {})

    assert caught.value.status == 401
    assert "does not contain API key" in caught.value.provider_message


def test_422_dealership_not_found_is_permanent(keyed_client, fake, lead):
    client = keyed_client(FakeAello.no_dealership_credential)

    with pytest.raises(PermanentError) as caught:
        client.perform("push", lead_data(lead), {})

    assert caught.value.status == 422
    assert caught.value.code == "ERR-CREATE_LEAD-DEALERSHIP_NOT_FOUND"
    assert caught.value.provider_message == "Dealership not found"
    assert fake.leads == []


def test_500_is_transient_with_aellos_message(aello, fakes, lead):
    fakes.add_fault("aello", "error", status=500, body={"error": "Internal Server Error"})

    with pytest.raises(TransientError) as caught:
        aello.perform("push", lead_data(lead), {})

    assert caught.value.status == 500 and caught.value.retryable
    assert caught.value.provider_message == "Internal Server Error"


def test_sandbox_and_production_urls_are_the_documented_ones(make_account):
    sandbox = make_account("aello", name="aello-sandbox", environment="sandbox").client()
    production = make_account("aello", name="aello-prod").client()

    assert sandbox.base_url == "https://api.customers.sandbox.aello-copilot.com"
    assert production.base_url == "https://api.customers.aello-copilot.com"


def test_the_api_key_never_reaches_logs_or_errors(aello, keyed_client, lead, caplog):
    caplog.set_level(logging.DEBUG)
    good = aello
    good.perform("push", lead_data(lead), {})
    wrong_key = "wrong-aello-key-424242"
    bad = keyed_client(wrong_key)
    with pytest.raises(AuthenticationError) as caught:
        bad.perform("push", lead_data(lead), {})

    assert "provider call account=aello provider=aello" in caplog.text
    for secret in (FakeAello.credential, wrong_key):
        assert secret not in caplog.text
        assert secret not in str(caught.value) + caught.value.body
        assert secret not in repr(good.last_call.as_dict()) + repr(bad.last_call.as_dict())


def test_build_lead_payload_is_plain_data_in_plain_data_out():
    payload = build_lead_payload(
        {"contact": {"first_name": "A", "email": "a@example.com"}, "message": " hi "},
        remote_id="crmb-previous",
    )

    assert payload == {
        "externalId": "crmb-previous",
        "contact": {"firstName": "A", "email": "a@example.com"},
        "message": "hi",
    }
    assert AelloProvider.operations == {"push": "push_lead"} and AelloProvider.pushes == ("lead",)
    assert AelloProvider.contact_requirements == (("email", "phone"),)
