"""Per-account field mapping (issue 18 §5): what a row may say, what each provider does with
it, and the mapped values arriving at the fake providers over real HTTP through the outbox."""

import importlib
import json

import pytest
from django.apps import apps

from bridge import outbox
from bridge.models import Delivery, FieldMapping, Lead
from bridge.preview import preview_push
from integrations.aello import AelloProvider
from integrations.aiployees import AiployeesProvider
from integrations.aloware import AlowareProvider, build_contact_payload
from integrations.base import AccountConfig
from integrations.errors import ConfigurationError, PayloadError
from integrations.leeloo import LeelooProvider, build_custom_fields, convert_custom_value
from integrations.mapping import FieldMap, MappingRow, check_rows, source_value
from integrations.secrets import Secret

LEAD = {
    "id": 1,
    "external_id": "crmb-1",
    "contact": {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "full_name": "Ada Lovelace",
        "email": "ada@example.com",
        "phone": "+13105550143",
        "lead_source": "fair",
        "tags": ["vip", "fleet"],
        "custom_fields": {"budget": "40k", "utm": "from-contact"},
    },
    "product": {"reference": "10864675", "title": "Renault Midlum", "price": "45000"},
    "message": "Is it still available?",
    "source": "website",
    "custom_fields": {"utm": "spring"},
}


def rows(*pairs):
    return tuple(MappingRow(source, target) for source, target in pairs)


# --- sources and checks (plain data) -------------------------------------------------------


def test_a_source_reads_contact_lead_product_and_custom_fields():
    assert source_value(LEAD, "first_name") == "Ada"
    assert source_value(LEAD, "tags") == ["vip", "fleet"]
    assert source_value(LEAD, "message") == "Is it still available?"
    assert source_value(LEAD, "product") == "Renault Midlum (ref. 10864675)"
    assert source_value(LEAD, "product.price") == "45000"
    assert source_value(LEAD, "custom:utm") == "spring"  # the lead's own custom field first
    assert source_value(LEAD, "custom:budget") == "40k"  # else the contact's
    assert source_value(LEAD, "custom:missing") is None
    contact = LEAD["contact"]
    assert source_value(contact, "message") is None  # a contact pushed alone has no lead
    assert source_value(contact, "custom:utm") == "from-contact"


@pytest.mark.parametrize(
    "provider, row, problem",
    [
        (
            AlowareProvider,
            ("favourite_colour", "csf1"),
            "Row 1, local field: 'favourite_colour' is not a local field",
        ),
        (AlowareProvider, ("custom:", "csf1"), "Row 1, local field: a custom field needs its name"),
        (
            AlowareProvider,
            ("email", "csf3"),
            "Row 1, sent as: Aloware has no field 'csf3' to map to (it takes: csf1, csf2, notes, "
            "lead_source, tag_id)",
        ),
        (
            AiployeesProvider,
            ("email", "customer email"),
            "Row 1, sent as: 'customer email' is not a call variable name",
        ),
        (
            LeelooProvider,
            ("email", "renewal"),
            "Row 1, sent as: Leeloo.ai has no custom field 'renewal' in the last pull (it saw: "
            "visits); run Sync now",
        ),
        (
            AelloProvider,
            ("email", "anything"),
            "it has no custom field, so there is nothing to map",
        ),
    ],
)
def test_each_bad_row_is_named_with_its_field_and_reason(provider, row, problem):
    (found,) = check_rows(
        provider.name, provider.field_mapping, [MappingRow(*row)], {"visits": "NUMBER"}
    )
    assert str(found).startswith(problem) or problem in str(found), str(found)


def test_a_target_filled_twice_names_the_first_row():
    problems = check_rows(
        AlowareProvider.name,
        AlowareProvider.field_mapping,
        [MappingRow("email", "csf1"), MappingRow("message", "notes"), MappingRow("city", "csf1")],
    )
    assert [str(p) for p in problems] == [
        "Row 3, sent as: 'csf1' is already filled by row 1; a field takes one local field."
    ]


def test_good_rows_have_no_problem():
    assert not check_rows(
        AiployeesProvider.name,
        AiployeesProvider.field_mapping,
        [MappingRow("product.title", "vehicle"), MappingRow("custom:budget", "budget_2")],
    )


# --- Aloware -------------------------------------------------------------------------------


def test_without_rows_aloware_gets_what_it_always_got():
    assert build_contact_payload(LEAD, {}, {}) == build_contact_payload(LEAD, {}, {}, FieldMap())
    payload = build_contact_payload(LEAD, {"tag_id": "7"}, {})
    assert payload["notes"] == "Product: Renault Midlum (ref. 10864675)\nIs it still available?"
    assert (payload["lead_source"], payload["tag_id"]) == ("website", "7")
    assert "csf1" not in payload


def test_aloware_rows_fill_custom_fields_notes_source_and_tag():
    field_map = FieldMap(
        rows(
            ("custom:budget", "csf1"),
            ("product", "csf2"),
            ("message", "notes"),
            ("lead_source", "lead_source"),
            ("custom:tag", "tag_id"),
        )
    )
    record = {**LEAD, "custom_fields": {"tag": "42"}}
    payload = build_contact_payload(record, {"tag_id": "7"}, {}, field_map)
    assert payload["csf1"] == "40k"
    assert payload["csf2"] == "Renault Midlum (ref. 10864675)"
    assert payload["notes"] == "Is it still available?"
    assert payload["lead_source"] == "fair"  # the contact's, as the row says
    assert payload["tag_id"] == "42"  # the record's tag over the account's
    assert build_contact_payload(record, {}, {"tag_id": "9"}, field_map)["tag_id"] == "9"
    untagged = build_contact_payload(LEAD, {"tag_id": "7"}, {}, field_map)
    assert untagged["tag_id"] == "7"  # no tag on the record: the account's still applies


def test_a_mapped_blank_replaces_the_default_with_nothing():
    payload = build_contact_payload(LEAD, {}, {}, FieldMap(rows(("custom:none", "notes"))))
    assert "notes" not in payload


def test_an_aloware_tag_that_is_not_an_id_is_refused_naming_the_field():
    record = {**LEAD, "custom_fields": {"tag": "VIP customers"}}
    with pytest.raises(PayloadError, match="tag_id must be an Aloware tag id"):
        build_contact_payload(record, {}, {}, FieldMap(rows(("custom:tag", "tag_id"))))


@pytest.mark.parametrize(
    "provider, row",
    [(AlowareProvider, ("email", "first_name")), (AiployeesProvider, ("email", "a b"))],
)
def test_a_row_made_around_the_admins_checks_is_refused_not_sent(provider, row):
    account = AccountConfig(
        name="acct",
        provider=provider.id,
        credential=Secret("k" * 24),
        base_url="http://127.0.0.1:9",  # never reached
        options={"campaign_id": 7},
        field_map=FieldMap(rows(row)),
    )
    with pytest.raises(ConfigurationError, match="Account 'acct' has a field mapping row"):
        provider(account).perform("push", LEAD, {})


# --- Leeloo conversions ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind, value, sent",
    [
        ("NUMBER", "42", 42),
        ("NUMBER", "4.5", 4.5),
        ("NUMBER", 3, 3),
        ("DATE", "2025-01-31", "2025-01-31"),
        ("DATE", "2025-01-31T10:00:00+02:00", "2025-01-31T08:00:00.000Z"),
        ("EMAIL", " Ada@Example.com ", "ada@example.com"),
        ("PHONE", "+1 310 555 0143", "+13105550143"),
        ("KEYWORD", ["vip", "fleet"], "vip, fleet"),
        ("KEYWORD", 42, "42"),
        ("DATE", "", ""),  # a blank is sent as it is
    ],
)
def test_a_value_is_converted_to_the_type_the_pull_saw(kind, value, sent):
    assert convert_custom_value("field", kind, value) == sent


@pytest.mark.parametrize(
    "kind, value, problem",
    [
        ("DATE", "tomorrow-ish", "is not a date"),
        ("DATE", "2025-02-30", "is not a date"),
        ("NUMBER", "lots", "is not a number"),
        ("NUMBER", True, "is a yes/no"),
        ("EMAIL", "ada at example", "is not an email address"),
        ("PHONE", "310 555 0143", "with its country code"),
    ],
)
def test_a_value_that_is_not_of_the_type_names_the_field(kind, value, problem):
    with pytest.raises(PayloadError) as caught:
        convert_custom_value("renewal", kind, value)
    message = str(caught.value)
    assert f"custom field 'renewal' is a {kind} field" in message and problem in message
    assert caught.value.field_errors == {"renewal": [str(value)]}


def test_a_pulled_type_is_used_instead_of_a_guess():
    fields = {"visits": "42", "plan": "gold"}
    assert build_custom_fields(fields) == [
        {"type": "KEYWORD", "name": "visits", "value": "42"},  # guessed from the text
        {"type": "KEYWORD", "name": "plan", "value": "gold"},
    ]
    assert build_custom_fields(fields, {"visits": "NUMBER"}) == [
        {"type": "NUMBER", "name": "visits", "value": 42},
        {"type": "KEYWORD", "name": "plan", "value": "gold"},
    ]


# --- through the outbox, to the fakes over real HTTP --------------------------------------


def push(lead, account, **params):
    batch = outbox.enqueue(Lead, {account: [lead.pk]}, params={account.pk: params})
    outbox.run_until_settled([account.pk], timeout=30)
    return batch.deliveries.get()


@pytest.mark.django_db(transaction=True)
def test_mapped_values_arrive_at_aloware(make_contact, make_lead, fake_account, fakes):
    account = fake_account("aloware", options={"tag_id": "7"})
    for source, target in (
        ("custom:budget", "csf1"),
        ("custom:utm_campaign", "csf2"),
        ("product", "notes"),
        ("source", "lead_source"),
        ("custom:aloware_tag", "tag_id"),
    ):
        FieldMapping.objects.create(account=account, source=source, target=target)
    contact = make_contact(custom_fields={"budget": "40k", "csf1": "not sent"})
    lead = make_lead(
        contact=contact,
        source="spring-fair",
        custom_fields={"utm_campaign": "spring", "aloware_tag": "42"},
    )
    delivery = push(lead, account)
    assert delivery.state == Delivery.State.DELIVERED, delivery.error_message
    (request,) = fakes.requests_for("aloware", "POST", "/api/v1/webhook/forms")
    body = request.json
    assert (body["csf1"], body["csf2"]) == ("40k", "spring")
    assert body["notes"] == "Renault Midlum 190.08 (ref. 10864675)"
    assert (body["lead_source"], body["tag_id"]) == ("spring-fair", "42")


@pytest.mark.django_db(transaction=True)
def test_a_bad_mapped_value_fails_the_delivery_naming_the_field(make_lead, fake_account, fakes):
    account = fake_account("aloware")
    FieldMapping.objects.create(account=account, source="custom:aloware_tag", target="tag_id")
    delivery = push(make_lead(custom_fields={"aloware_tag": "VIP"}), account)
    assert delivery.state == Delivery.State.DEAD
    assert "tag_id must be an Aloware tag id (digits), not 'VIP'" in delivery.error_message
    assert fakes.requests_for("aloware") == []  # refused before anything was sent


@pytest.mark.django_db(transaction=True)
def test_mapped_call_variables_arrive_at_aiployees(make_contact, make_lead, fake_account, fakes):
    account = fake_account(
        "aiployees", options={"campaign_id": 7, "variable_map": {"company": "company_name"}}
    )
    FieldMapping.objects.create(account=account, source="product.title", target="vehicle")
    FieldMapping.objects.create(account=account, source="custom:budget", target="budget")
    FieldMapping.objects.create(account=account, source="first_name", target="customer_name")
    contact = make_contact(first_name="Ada", company="Doe Trucks", custom_fields={"budget": "40k"})
    delivery = push(make_lead(contact=contact), account)
    assert delivery.state == Delivery.State.DELIVERED, delivery.error_message
    (request,) = fakes.requests_for("aiployees", "POST", "/api/user/lead")
    assert request.json["variables"] == {
        "customer_name": "Ada",  # the row replaced the full name
        "email": contact.email,
        "company_name": "Doe Trucks",  # the older variable_map option still counts
        "vehicle": "Renault Midlum 190.08",
        "budget": "40k",
    }


def test_the_push_pages_preview_shows_the_mapped_fields(admin_client, make_lead, fake_account):
    from .test_preview import ask_preview

    caller = fake_account("aiployees", options={"campaign_id": 7})
    FieldMapping.objects.create(account=caller, source="product", target="vehicle")
    lead = make_lead()
    response = ask_preview(admin_client, [lead], [caller])
    assert response.status_code == 200
    (row,) = response.context["previews"]
    variables = json.loads(row["body"])["variables"]
    assert variables["vehicle"] == "Renault Midlum 190.08 (ref. 10864675)"
    assert "vehicle" in response.content.decode()


def test_the_preview_shows_the_mapped_fields(make_lead, fake_account):
    account = fake_account("aloware")
    FieldMapping.objects.create(account=account, source="message", target="csf1")
    FieldMapping.objects.create(account=account, source="custom:none", target="notes")
    lead = make_lead(message="Call after 5pm")
    preview = preview_push(account, lead, "push", {})
    assert preview.body["csf1"] == "Call after 5pm"
    assert "notes" not in preview.body


# --- the older Aiployees option, moved into rows ------------------------------------------


def test_variable_map_options_become_rows_and_what_cannot_be_one_stays(make_account):
    migration = importlib.import_module("bridge.migrations.0025_field_mapping")
    account = make_account(
        "aiployees",
        options={
            "campaign_id": 3,
            "variable_map": {
                "company": "company_name",
                "product.title": "vehicle",
                "budget": "budget",
                "city": "customer city",  # not an identifier: a row cannot hold it
            },
        },
    )
    untouched = make_account("aloware", options={"variable_map": {"company": "x"}})
    migration.variable_maps_to_rows(apps, None)
    account.refresh_from_db()
    # (PostgreSQL's jsonb keeps no key order, so neither do the rows made from it.)
    assert set(account.field_mappings.values_list("source", "target")) == {
        ("company", "company_name"),
        ("product.title", "vehicle"),
        ("custom:budget", "budget"),
    }
    assert account.options == {"campaign_id": 3, "variable_map": {"city": "customer city"}}
    untouched.refresh_from_db()
    assert untouched.options == {"variable_map": {"company": "x"}}
    rows = account.config().field_map.rows
    assert MappingRow("product.title", "vehicle") in rows and len(rows) == 3


@pytest.mark.django_db(transaction=True)
def test_a_re_push_after_a_mapping_change_is_sent_not_skipped(make_lead, fake_account, fakes):
    account = fake_account("aloware")
    lead = make_lead(message="Call after 5pm")
    assert push(lead, account).state == Delivery.State.DELIVERED
    assert push(lead, account).state == Delivery.State.SKIPPED  # nothing new to send
    FieldMapping.objects.create(account=account, source="message", target="csf1")
    assert push(lead, account).state == Delivery.State.DELIVERED
    last = fakes.requests_for("aloware", "POST", "/api/v1/webhook/forms")[-1]
    assert last.json["csf1"] == "Call after 5pm"
