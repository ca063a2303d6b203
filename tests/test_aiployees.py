"""Aiployees: the exact ``POST /api/user/lead`` sent and every answer read, over real HTTP.

Runs against the fake Aiployees (integrations/fakes/aiployees.py) through the shared fake server.
"""

import logging
from datetime import UTC, datetime

import pytest

from bridge.records import contact_data, lead_data
from integrations.aiployees import AiployeesProvider, parse_timestamp, read_response
from integrations.errors import (
    AuthenticationError,
    ConfigurationError,
    InvalidResponse,
    PayloadError,
    PermanentError,
    RateLimitedError,
    TransientError,
)
from integrations.fakes.aiployees import FakeAiployees

# The document's example request (placeholders filled) and its example response.
DOC_REQUEST = {
    "phone_number": "+1234567890",
    "campaign_id": 1,
    "variables": {"customer_name": "John Doe", "email": "john.doe@example.com"},
    "allow_dupplicate": True,
    "secondary_contacts": [
        {
            "phone_number": "+1234567891",
            "variables": {"customer_name": "Jane Doe Secondary", "email": "jane@example.com"},
        }
    ],
}
DOC_RESPONSE = {
    "message": "Lead created successfully",
    "data": {
        "id": 1,
        "campaign_id": 1,
        "phone_number": "+1234567890",
        "variables": {"customer_name": "John Doe", "email": "john.doe@example.com"},
        "status": "created",
        "created_at": "2025-06-30 11:53:20",
        "updated_at": "2025-06-30 11:53:20",
        "campaign": {"id": 1, "name": "My new campaign"},
        "secondary_contacts": [
            {
                "id": 2,
                "phone_number": "+1234567891",
                "variables": {"customer_name": "Jane Doe Secondary"},
                "status": "created",
                "created_at": "2025-06-30 11:53:20",
                "updated_at": "2025-06-30 11:53:20",
            }
        ],
    },
}


@pytest.fixture
def account(fake_account):
    return fake_account("aiployees", options={"campaign_id": 1})


@pytest.fixture
def client(account):
    return account.client()


@pytest.fixture
def fake(fakes) -> FakeAiployees:
    return fakes.fakes["aiployees"]


@pytest.fixture
def contact(make_contact):
    return make_contact(
        first_name="John",
        last_name="Doe",
        email="john.doe@example.com",
        phone="+18185550143",
        company="Doe Trucks",
        other_phones=[{"label": "office", "phone_number": "+18185550144"}],
        custom_fields={"budget": "40k"},
    )


def sent(fakes):
    return fakes.requests_for("aiployees")


def test_push_sends_the_documented_fields_with_their_types(client, fakes, contact):
    result = client.perform("push", contact_data(contact), {})

    (request,) = sent(fakes)
    assert (request.method, request.path) == ("POST", "/api/user/lead")
    assert request.header("Authorization") == f"Bearer {FakeAiployees.credential}"
    assert request.header("Content-Type") == "application/json"
    assert request.json == {
        "phone_number": "+18185550143",
        "campaign_id": 1,
        "variables": {"customer_name": "John Doe", "email": "john.doe@example.com"},
        "allow_dupplicate": False,
        "secondary_contacts": [
            {
                "phone_number": "+18185550144",
                "variables": {"customer_name": "John Doe", "email": "john.doe@example.com"},
            }
        ],
    }
    assert type(request.json["campaign_id"]) is int
    assert request.json["allow_dupplicate"] is False
    assert result.remote_id == "1" and result.created is True and result.status == "created"
    assert result.data["campaign"] == {"id": 1, "name": "My new campaign"}
    assert result.data["secondary_contact_ids"] == ["2"]


def test_a_lead_is_pushed_as_its_contact(client, fakes, make_lead, contact):
    client.perform("push", lead_data(make_lead(contact=contact)), {})

    assert sent(fakes)[0].json["phone_number"] == "+18185550143"


def test_campaign_id_from_params_wins_and_is_sent_as_an_integer(client, fakes, contact):
    client.perform("push", contact_data(contact), {"campaign_id": "7"})

    assert sent(fakes)[0].json["campaign_id"] == 7


@pytest.mark.parametrize("options", [{}, {"campaign_id": ""}, {"campaign_id": "seven"}])
def test_a_missing_or_bad_campaign_id_is_a_configuration_error(
    fake_account, fakes, contact, options
):
    client = fake_account("aiployees", options=options).client()

    with pytest.raises(ConfigurationError) as caught:
        client.perform("push", contact_data(contact), {})

    assert "campaign_id" in str(caught.value)
    assert sent(fakes) == []


def test_a_contact_without_phone_fails_before_sending(client, fakes, make_contact):
    with pytest.raises(PayloadError) as caught:
        client.perform("push", contact_data(make_contact(phone="")), {})

    assert "phone" in str(caught.value)
    assert sent(fakes) == []


def test_variable_map_adds_contact_custom_and_lead_fields(fake_account, fakes, make_lead, contact):
    mapping = {"company": "company_name", "budget": "budget", "product.title": "vehicle"}
    client = fake_account("aiployees", options={"campaign_id": 1, "variable_map": mapping}).client()

    lead = make_lead(contact=contact, product_title="Renault Midlum")
    client.perform("push", lead_data(lead), {"variables": {"agent": "Eva"}})

    assert sent(fakes)[0].json["variables"] == {
        "customer_name": "John Doe",
        "email": "john.doe@example.com",
        "company_name": "Doe Trucks",
        "budget": "40k",
        "vehicle": "Renault Midlum",
        "agent": "Eva",
    }


def test_a_repush_returns_the_existing_lead_instead_of_a_duplicate(client, fake, contact):
    first = client.perform("push", contact_data(contact), {})
    again = client.perform("push", contact_data(contact), {})

    assert len(fake.leads) == 1
    assert again.remote_id == first.remote_id and again.created is False


@pytest.mark.parametrize("spelling", ["allow_dupplicate", "allow_duplicate"])
def test_allow_duplicate_in_params_creates_a_second_lead(client, fake, fakes, contact, spelling):
    client.perform("push", contact_data(contact), {})
    second = client.perform("push", contact_data(contact), {spelling: True})

    assert sent(fakes)[1].json["allow_dupplicate"] is True
    assert len(fake.leads) == 2 and second.created is True
    assert {lead["id"] for lead in fake.leads} == {1, 3}  # 2 went to the secondary contact


def test_the_documents_example_request_is_accepted(client, fake):
    response = client.request("POST", "/api/user/lead", json_body=DOC_REQUEST)

    assert response.status == 200
    assert response.data["message"] == "Lead created successfully"
    assert response.data["data"]["secondary_contacts"][0]["phone_number"] == "+1234567891"
    assert fake.leads[0]["variables"] == DOC_REQUEST["variables"]


def test_the_documents_example_response_is_read():
    message, lead = read_response(DOC_RESPONSE)

    assert message == "Lead created successfully"
    assert lead["id"] == 1 and lead["campaign"]["name"] == "My new campaign"
    assert parse_timestamp(lead["created_at"]) == datetime(2025, 6, 30, 11, 53, 20, tzinfo=UTC)


def test_the_older_list_envelope_with_iso_timestamps_is_read(client, fake, contact):
    fake.envelope = "list"

    result = client.perform("push", contact_data(contact), {})

    assert result.remote_id == "1" and result.status == "created"
    assert datetime.fromisoformat(result.data["created_at"]).tzinfo is not None


def test_data_wrapped_in_a_list_is_read():
    message, lead = read_response({"message": "ok", "data": [{"id": "9", "status": "created"}]})

    assert (message, lead["id"]) == ("ok", "9")
    assert parse_timestamp("2025-06-02T12:08:17.000000Z") == datetime(
        2025, 6, 2, 12, 8, 17, tzinfo=UTC
    )


def test_an_answer_without_a_lead_id_is_an_invalid_response(client, fakes, contact):
    fakes.add_fault("aiployees", "error", status=200, body={"message": "Lead created"})

    with pytest.raises(InvalidResponse):
        client.perform("push", contact_data(contact), {})


def test_401_is_an_authentication_error(make_account, fakes, contact):
    account = make_account(
        "aiployees",
        credential="wrong-aiployees-token-1",
        base_url=fakes.base_url("aiployees"),
        options={"campaign_id": 1},
    )

    with pytest.raises(AuthenticationError) as caught:
        account.client().perform("push", contact_data(contact), {})

    assert caught.value.status == 401 and caught.value.provider_message == "Unauthenticated."


def test_422_carries_the_field_errors(client, fake):
    record = {"phone": "12345", "first_name": "A", "email": "", "other_phones": []}

    with pytest.raises(PermanentError) as caught:
        client.perform("push", record, {})

    assert caught.value.status == 422
    assert "phone_number" in caught.value.field_errors
    assert "E.164" in caught.value.provider_message
    assert fake.leads == []


def test_an_unknown_campaign_is_permanent(client, contact):
    with pytest.raises(PermanentError) as caught:
        client.perform("push", contact_data(contact), {"campaign_id": 999})

    assert caught.value.status == 404 and "Campaign not found" in str(caught.value)


def test_500_is_transient_and_429_waits_as_told(client, fakes, contact):
    fakes.add_fault("aiployees", "error", status=500, times=1)
    with pytest.raises(TransientError):
        client.perform("push", contact_data(contact), {})

    fakes.add_fault("aiployees", "rate_limit", retry_after=7, times=1)
    with pytest.raises(RateLimitedError) as caught:
        client.perform("push", contact_data(contact), {})
    assert caught.value.retry_after == 7


def test_the_token_never_reaches_logs_or_errors(client, make_account, fakes, contact, caplog):
    caplog.set_level(logging.DEBUG)
    client.perform("push", contact_data(contact), {})
    wrong = "wrong-aiployees-token-2"
    bad = make_account(
        "aiployees",
        name="aiployees-bad",
        credential=wrong,
        base_url=fakes.base_url("aiployees"),
        options={"campaign_id": 1},
    ).client()
    with pytest.raises(AuthenticationError) as caught:
        bad.perform("push", contact_data(contact), {})

    assert "provider=aiployees" in caplog.text
    for secret in (FakeAiployees.credential, wrong):
        assert secret not in caplog.text
        assert secret not in str(caught.value) + caught.value.body
        assert secret not in repr(client.last_call.as_dict()) + repr(bad.last_call.as_dict())


def test_declares_its_operation_record_kinds_and_options():
    assert AiployeesProvider.operations == {"push": "push_lead"}
    assert AiployeesProvider.pushes == ("lead", "contact")
    assert set(AiployeesProvider.account_options) == {
        "campaign_id",
        "variable_map",
        "call_status_map",
    }
    assert AiployeesProvider.contact_requirements == (("phone",),)
    options = {option.name: option for option in AiployeesProvider.push_options}
    assert options["campaign_id"].kind == "int" and options["campaign_id"].required
    assert options["allow_dupplicate"].kind == "bool"
