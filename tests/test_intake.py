"""The lead intake API: leads in Aéllo's shape or from a form, matched, idempotent, answered."""

import json
import logging

import pytest
from django.db.models.signals import post_save
from django.test.utils import CaptureQueriesContext

from bridge.models import Contact, IntakeKey, IntakeSource, Lead

from .intake_helpers import URL, lead_body, post_form, post_json

pytest_plugins = ["tests.intake_fixtures"]  # the make_source fixture, a fresh cache per test
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("empty_cache")]


def answer(response) -> dict:
    return json.loads(response.content)


def refused(response, status: int, code: str, field=None):
    """The response is the JSON refusal with this status, code and field."""
    assert response.status_code == status, response.content
    body = answer(response)
    assert body["code"] == code, body
    assert body["field"] == field, body
    assert body["error"]
    return body


def nothing_written():
    assert (Lead.objects.count(), Contact.objects.count(), IntakeKey.objects.count()) == (0, 0, 0)


# --- accepted leads -----------------------------------------------------------------------------


def test_a_json_lead_makes_a_lead_and_its_contact(make_source):
    source, token = make_source("website")
    response = post_json(token, lead_body(custom_fields={"utm_campaign": "spring"}))
    assert response.status_code == 202
    body = answer(response)
    lead = Lead.objects.get()
    assert body == {"id": lead.pk, "contact_id": lead.contact_id, "created": True}
    assert lead.source == "website"
    assert (lead.product_reference, lead.product_title, str(lead.product_price)) == (
        "10864675",
        "Renault Midlum",
        "45000.00",
    )
    assert lead.message == "Hello world!"
    assert lead.custom_fields == {"utm_campaign": "spring"}
    contact = lead.contact
    assert (contact.first_name, contact.last_name) == ("John", "Doe")
    assert contact.email == "john.doe@example.com"
    assert contact.phone == "+352621123456"


def test_a_single_phone_field_is_read_in_the_default_region(make_source):
    _, token = make_source()
    contact = {"firstName": "Ann", "phone": "(310) 555-0143"}
    assert post_json(token, lead_body(contact=contact)).status_code == 202
    assert Contact.objects.get().phone == "+13105550143"


def test_an_existing_contact_is_found_by_the_matching_rule_and_left_unchanged(
    make_source, make_contact
):
    _, token = make_source()
    by_phone = make_contact(first_name="Johnny", email="", phone="+352621123456")
    by_email = make_contact(email="ann@example.com", phone="+13105550199", company="ACME")
    first = answer(post_json(token, lead_body()))
    assert first["contact_id"] == by_phone.pk
    second = post_json(token, lead_body(contact={"firstName": "Ann", "email": "ANN@example.com"}))
    assert answer(second)["contact_id"] == by_email.pk
    assert Contact.objects.count() == 2
    by_phone.refresh_from_db()
    assert (by_phone.first_name, by_phone.email) == ("Johnny", "")


def test_the_callers_source_label_is_kept_beside_the_sources_name(make_source):
    _, token = make_source("landing")
    assert post_json(token, lead_body(source="facebook-ad")).status_code == 202
    lead = Lead.objects.get()
    assert lead.source == "landing"
    assert lead.custom_fields == {"source": "facebook-ad"}
    assert lead.contact.lead_source == "facebook-ad"


def test_a_retry_with_the_same_idempotency_key_answers_the_same_lead(make_source):
    _, token = make_source()
    first = post_json(token, lead_body(), HTTP_IDEMPOTENCY_KEY="abc-1")
    again = post_json(token, lead_body(message="changed"), HTTP_IDEMPOTENCY_KEY="abc-1")
    assert first.status_code == 202
    assert again.status_code == 200
    assert answer(again) == {**answer(first), "created": False}
    assert Lead.objects.get().message == "Hello world!"
    other = post_json(token, lead_body(), HTTP_IDEMPOTENCY_KEY="abc-2")
    assert other.status_code == 202
    assert Lead.objects.count() == 2


def test_a_retry_with_the_same_external_id_answers_the_same_lead_per_source(make_source):
    _, token = make_source("one")
    _, other_token = make_source("two")
    first = post_json(token, lead_body(externalId="order-7"))
    again = post_json(token, lead_body(externalId="order-7"))
    assert (first.status_code, again.status_code) == (202, 200)
    assert answer(again)["id"] == answer(first)["id"]
    elsewhere = post_json(other_token, lead_body(externalId="order-7"))
    assert elsewhere.status_code == 202  # another source's ids are its own
    assert answer(elsewhere)["id"] != answer(first)["id"]
    assert Lead.objects.count() == 2


def test_a_key_and_an_external_id_each_find_the_lead_again(make_source):
    _, token = make_source()
    first = answer(post_json(token, lead_body(externalId="x-1"), HTTP_IDEMPOTENCY_KEY="k-1"))
    by_id = post_json(token, lead_body(externalId="x-1"))
    by_key = post_json(token, lead_body(), HTTP_IDEMPOTENCY_KEY="k-1")
    assert answer(by_id)["id"] == answer(by_key)["id"] == first["id"]
    assert Lead.objects.count() == 1


def test_a_new_lead_takes_few_queries(make_source):
    """On PostgreSQL a new lead is one statement (the source is remembered from the first
    request; the routing wake is one more); SQLite takes the ORM's steps in a transaction."""
    from django.db import connection

    _, token = make_source()
    post_json(token, lead_body(contact={"firstName": "Warm", "email": "warm@example.com"}))
    with CaptureQueriesContext(connection) as queries:
        response = post_json(token, lead_body(), HTTP_IDEMPOTENCY_KEY="q-1")
    assert response.status_code == 202
    writes = [q["sql"] for q in queries.captured_queries if "bridge_routingwake" not in q["sql"]]
    if connection.vendor == "postgresql":
        # inside the test's transaction: savepoint, the statement, savepoint released
        assert len(writes) == 3, "\n".join(writes)
        assert sum("INSERT INTO" in sql for sql in writes) == 1
    else:
        # savepoint in and out, source still as read, phone and email look-ups, three INSERTs
        assert len(writes) <= 8, "\n".join(writes)
    # A retry (rare) pays for the new request's way first: its key row fails, then it reads
    # the source again and looks the key up.
    with CaptureQueriesContext(connection) as queries:
        assert post_json(token, lead_body(), HTTP_IDEMPOTENCY_KEY="q-1").status_code == 200
    assert len(queries) <= 12, "\n".join(q["sql"] for q in queries.captured_queries)


def test_nothing_is_half_written_when_the_key_is_taken(make_source):
    """A retry that names someone else: the new contact and lead its write made are undone
    with the refused key (one statement, or one transaction), and the first lead answers."""
    _, token = make_source()
    first = answer(post_json(token, lead_body(), HTTP_IDEMPOTENCY_KEY="k"))
    other = {"firstName": "Someone", "email": "someone.else@example.com"}
    again = post_json(token, lead_body(contact=other), HTTP_IDEMPOTENCY_KEY="k")
    assert again.status_code == 200
    assert answer(again)["id"] == first["id"]
    assert not Contact.objects.filter(email="someone.else@example.com").exists()
    assert (Lead.objects.count(), Contact.objects.count(), IntakeKey.objects.count()) == (1, 1, 1)


def test_a_new_lead_is_routed_like_any_other(make_source):
    """The lead's post_save is sent once, after the write, with the saved lead."""
    _, token = make_source()
    seen = []

    def note(sender, instance, created, **kwargs):
        seen.append((instance.pk, instance.contact_id, created))

    post_save.connect(note, sender=Lead)
    try:
        body = answer(post_json(token, lead_body()))
    finally:
        post_save.disconnect(note, sender=Lead)
    assert seen == [(body["id"], body["contact_id"], True)]


# --- refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"contact": {"firstName": "A", "email": "not-an-email"}}, "contact.email"),
        ({"contact": {"firstName": "A", "phoneNumber": "12"}}, "contact.phoneNumber"),
        ({"contact": {"firstName": "A", "phone": "call me"}}, "contact.phone"),
        ({"contact": {"firstName": "A" * 151, "email": "a@example.com"}}, "contact.firstName"),
        ({"contact": {"firstName": "Nobody"}}, "contact.email"),
        ({"contact": "jane@example.com"}, "contact"),
        ({"product": {"title": "No reference"}}, "product.reference"),
        ({"product": {"reference": "r", "price": -1}}, "product.price"),
        ({"product": {"reference": "r", "link": "javascript:alert(1)"}}, "product.link"),
        ({"product": ["r"]}, "product"),
        ({"custom_fields": ["a"]}, "custom_fields"),
    ],
)
def test_an_invalid_field_is_a_422_naming_it_and_nothing_is_written(make_source, changes, field):
    _, token = make_source()
    body = refused(post_json(token, lead_body(**changes)), 422, "invalid", field)
    assert field.split(".")[-1] in body["error"] or body["field"] == field
    nothing_written()


def test_no_token_a_wrong_one_and_a_disabled_source_get_the_same_401(make_source):
    source, token = make_source("off", enabled=False)
    _, good = make_source("on")
    missing = refused(post_json(None, lead_body()), 401, "unauthorized")
    wrong = refused(post_json(good + "x", lead_body()), 401, "unauthorized")
    disabled_response = post_json(token, lead_body())
    disabled = refused(disabled_response, 401, "unauthorized")
    assert wrong == disabled
    assert disabled_response["WWW-Authenticate"] == 'Bearer realm="intake"'
    assert "Bearer" in missing["error"]
    other_scheme = post_json(None, lead_body(), HTTP_AUTHORIZATION=f"Basic {good}")
    refused(other_scheme, 401, "unauthorized")
    nothing_written()


def test_a_source_disabled_after_it_was_remembered_takes_no_more_leads(make_source):
    """The process remembers a source for a few seconds; the write checks it still holds, so
    disabling it (even with a queryset update, which leaves updated_at alone) works at once."""
    source, token = make_source()
    assert post_json(token, lead_body()).status_code == 202  # now remembered
    IntakeSource.objects.filter(pk=source.pk).update(enabled=False)
    other = {"firstName": "Late", "email": "late@example.com"}
    refused(post_json(token, lead_body(contact=other)), 401, "unauthorized")
    assert not Contact.objects.filter(email="late@example.com").exists()
    assert Lead.objects.count() == 1


def test_a_rotated_token_is_refused_at_once_and_the_new_one_works(make_source):
    source, old = make_source()
    assert post_json(old, lead_body()).status_code == 202
    new = source.issue_token()
    source.save()
    refused(post_json(old, lead_body(externalId="after")), 401, "unauthorized")
    assert post_json(new, lead_body(externalId="after")).status_code == 202
    assert Lead.objects.count() == 2


def test_a_source_saved_since_it_was_remembered_is_read_again(make_source):
    """A renamed source names the next lead; a form token it no longer allows is refused."""
    source, token = make_source("website", allow_form_token=True)
    assert post_json(token, lead_body()).status_code == 202
    assert post_form({**FORM, "token": token}).status_code == 202
    source.name = "landing page"
    source.allow_form_token = False
    source.save()
    created = answer(post_json(token, lead_body(externalId="renamed")))
    assert Lead.objects.get(pk=created["id"]).source == "landing page"
    late = {**FORM, "phone": "", "email": "late.form@example.com", "token": token}
    refused(post_form(late), 401, "unauthorized")
    assert not Contact.objects.filter(email="late.form@example.com").exists()
    assert Lead.objects.count() == 3


def test_a_body_over_64_kb_is_a_413(make_source):
    _, token = make_source()
    response = post_json(token, lead_body(message="x" * (64 * 1024)))
    refused(response, 413, "too_large")
    nothing_written()


@pytest.mark.parametrize(
    "content_type", ["text/plain", "multipart/form-data; boundary=x", "application/xml", ""]
)
def test_another_content_type_is_a_415(make_source, client, content_type):
    _, token = make_source()
    response = client.generic(
        "POST",
        URL,
        json.dumps(lead_body()),
        content_type=content_type,
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    refused(response, 415, "unsupported_media_type")
    nothing_written()


def test_json_with_a_charset_is_accepted(make_source, client):
    _, token = make_source()
    response = client.generic(
        "POST",
        URL,
        json.dumps(lead_body()),
        content_type="application/json; charset=utf-8",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 202


@pytest.mark.parametrize("body", [b"{", b"", b"[1, 2]", b'"lead"', b"null", b"{'a': 1}"])
def test_a_malformed_body_is_a_400(make_source, body):
    _, token = make_source()
    refused(post_json(token, body), 400, "bad_json")
    nothing_written()


def test_a_malformed_body_without_a_token_is_a_401_first(make_source):
    refused(post_json("nope", b"{"), 401, "unauthorized")


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete", "head"])
def test_other_methods_are_a_405(client, method):
    response = getattr(client, method)(URL)
    assert response.status_code == 405
    assert response["Allow"] == "POST, OPTIONS"


def test_past_the_sources_rate_the_answer_is_a_429_with_retry_after(make_source):
    _, token = make_source(rate_limit_per_minute=2)
    _, other = make_source("other", rate_limit_per_minute=2)
    for n in range(2):
        assert post_json(token, lead_body(), HTTP_IDEMPOTENCY_KEY=f"r{n}").status_code in (200, 202)
    response = post_json(token, lead_body(), HTTP_IDEMPOTENCY_KEY="r3")
    refused(response, 429, "rate_limited")
    assert 1 <= int(response["Retry-After"]) <= 60
    assert post_json(other, lead_body()).status_code == 202  # another source has its own count
    assert Lead.objects.count() == 3


def test_many_refused_tokens_from_one_address_are_slowed_to_a_429(settings):
    settings.BRIDGE_INTAKE_REFUSED_PER_MINUTE = 3
    statuses = [post_json(f"guess-{n}", lead_body()).status_code for n in range(5)]
    assert statuses == [401, 401, 401, 429, 429]


# --- forms --------------------------------------------------------------------------------------

FORM = {
    "first_name": "Ann",
    "last_name": "Form",
    "email": "ann.form@example.com",
    "phone": "+13105550171",
    "product_reference": "10864675",
    "product_price": "1200.50",
    "message": "Call me",
    "custom_utm_source": "newsletter",
    "submit": "Send",
}


def test_a_form_post_with_its_token_field_makes_a_lead(make_source):
    _, token = make_source("landing", allow_form_token=True)
    response = post_form({**FORM, "token": token})
    assert response.status_code == 202
    lead = Lead.objects.get()
    assert (lead.source, lead.message, str(lead.product_price)) == ("landing", "Call me", "1200.50")
    assert lead.custom_fields == {"utm_source": "newsletter"}
    assert lead.contact.email == "ann.form@example.com"


def test_a_form_token_counts_only_for_a_source_that_allows_it(make_source):
    _, token = make_source("server-only", allow_form_token=False)
    refused(post_form({**FORM, "token": token}), 401, "unauthorized")
    assert post_form(FORM, HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 202


def test_a_form_that_asks_is_sent_to_the_configured_thank_you_page_only(make_source):
    _, token = make_source(
        "landing", allow_form_token=True, thank_you_url="https://www.example.com/thanks"
    )
    response = post_form({**FORM, "token": token, "redirect": "https://evil.example/steal"})
    assert response.status_code == 303
    assert response["Location"] == "https://www.example.com/thanks"
    again = post_form({**FORM, "token": token, "redirect": "1", "external_id": "f-1"})
    assert again.status_code == 303
    assert post_form({**FORM, "token": token, "external_id": "f-1"}).status_code == 200


def test_a_form_asking_for_a_redirect_without_a_thank_you_page_gets_json(make_source):
    _, token = make_source("landing", allow_form_token=True)
    response = post_form({**FORM, "token": token, "redirect": "1"})
    assert response.status_code == 202
    assert answer(response)["created"] is True


def test_a_form_field_error_names_the_form_field(make_source):
    _, token = make_source("landing", allow_form_token=True)
    response = post_form({**FORM, "token": token, "email": "nope", "phone": ""})
    refused(response, 422, "invalid", "email")
    response = post_form({**FORM, "token": token, "phone_number": "1"})
    refused(response, 422, "invalid", "phone_number")
    nothing_written()


# --- CORS ---------------------------------------------------------------------------------------


def test_a_preflight_is_allowed_only_for_an_origin_an_enabled_source_lists(make_source, client):
    make_source("site", allowed_origins="https://www.example.com\nhttps://shop.example.com:8443")
    make_source("off", allowed_origins="https://off.example.com", enabled=False)
    allowed = client.options(URL, HTTP_ORIGIN="https://shop.example.com:8443")
    assert allowed.status_code == 204
    assert allowed["Access-Control-Allow-Origin"] == "https://shop.example.com:8443"
    assert "POST" in allowed["Access-Control-Allow-Methods"]
    assert "authorization" in allowed["Access-Control-Allow-Headers"].lower()
    assert "idempotency-key" in allowed["Access-Control-Allow-Headers"].lower()
    for origin in ("https://evil.example", "https://off.example.com", "https://example.com"):
        refused_origin = client.options(URL, HTTP_ORIGIN=origin)
        assert refused_origin.status_code == 204
        assert "Access-Control-Allow-Origin" not in refused_origin, origin


def test_a_post_from_a_listed_origin_may_be_read_by_the_page(make_source):
    _, token = make_source("site", allowed_origins="https://www.example.com")
    listed = post_json(token, lead_body(), HTTP_ORIGIN="https://www.example.com")
    assert listed["Access-Control-Allow-Origin"] == "https://www.example.com"
    other = post_json(token, lead_body(), HTTP_ORIGIN="https://evil.example")
    assert "Access-Control-Allow-Origin" not in other
    invalid = post_json(token, lead_body(contact={}), HTTP_ORIGIN="https://www.example.com")
    assert invalid.status_code == 422
    assert invalid["Access-Control-Allow-Origin"] == "https://www.example.com"


# --- logs ---------------------------------------------------------------------------------------


def test_one_log_line_a_request_and_never_the_token(make_source, caplog):
    _, token = make_source("website")
    with caplog.at_level(logging.INFO, logger="bridge.intake"):
        post_json(token, lead_body())
        post_json(token + "x", lead_body())
        post_json(token, lead_body(contact={}))
    lines = [r.getMessage() for r in caplog.records if r.name == "bridge.intake"]
    assert len(lines) == 3, lines
    assert lines[0].startswith("intake 202 source=website lead=")
    assert lines[1].startswith("intake refused 401 unauthorized source=-")
    assert lines[2].startswith("intake refused 422 invalid source=website field='contact.email'")
    assert not any(token[8:] in line for line in caplog.text.splitlines())
