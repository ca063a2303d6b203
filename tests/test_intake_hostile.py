"""Hostile input to the intake API: each is refused with a clear answer, and nothing is written.

Huge strings, wrong types, nested junk, bytes that are not UTF-8, a Content-Length that lies,
JSON bombs (deep nesting, endless numbers, NaN), characters no column stores, too many fields.
"""

import json

import pytest
from django.test import Client

from bridge.models import Contact, IntakeKey, Lead

from .intake_helpers import URL, lead_body, post_form, post_json

pytest_plugins = ["tests.intake_fixtures"]
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("empty_cache")]


@pytest.fixture
def token(make_source):
    return make_source("hostile", allow_form_token=True)[1]


def refusal(response, status: int) -> dict:
    assert response.status_code == status, response.content
    body = json.loads(response.content)
    assert set(body) == {"error", "code", "field"} and body["error"], body
    assert (Lead.objects.count(), Contact.objects.count(), IntakeKey.objects.count()) == (0, 0, 0)
    return body


# --- sizes --------------------------------------------------------------------------------------


def test_a_huge_name_within_the_body_limit_is_a_422_naming_it(token):
    body = refusal(post_json(token, lead_body(contact={"firstName": "A" * 60_000})), 422)
    assert body["field"] == "contact.firstName"


def test_a_huge_custom_value_or_too_many_custom_fields_is_a_422(token):
    long_value = lead_body(custom_fields={"note": "x" * 5000})
    assert refusal(post_json(token, long_value), 422)["field"] == "custom_fields.note"
    many = lead_body(custom_fields={f"k{n}": n for n in range(51)})
    assert refusal(post_json(token, many), 422)["field"] == "custom_fields"


def test_a_form_with_too_many_fields_is_a_400(token):
    fields = {f"f{n}": "x" for n in range(300)}
    assert refusal(post_form({**fields, "token": token}), 400)["code"] == "too_many_fields"


def test_a_long_idempotency_key_or_external_id_is_a_422(token):
    response = post_json(token, lead_body(), HTTP_IDEMPOTENCY_KEY="k" * 300)
    assert refusal(response, 422)["field"] == "Idempotency-Key"
    response = post_json(token, lead_body(externalId="x" * 300))
    assert refusal(response, 422)["field"] == "externalId"
    response = post_json(token, lead_body(), HTTP_IDEMPOTENCY_KEY="a\tb")
    assert refusal(response, 422)["field"] == "Idempotency-Key"


def test_an_endless_token_is_refused_without_a_lookup(token, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = post_json("t" * 100_000, lead_body())
    refusal(response, 401)


# --- types and junk -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"contact": {"firstName": ["John"], "email": "a@example.com"}}, "contact.firstName"),
        ({"contact": {"firstName": {"$gt": ""}, "email": "a@example.com"}}, "contact.firstName"),
        ({"contact": {"email": True}}, "contact.email"),
        ({"contact": {"email": 1.5}}, "contact.email"),
        ({"contact": None}, "contact"),
        ({"contact": [1, 2, 3]}, "contact"),
        ({"product": "10864675"}, "product"),
        ({"product": {"reference": "r", "price": "abc"}}, "product.price"),
        ({"product": {"reference": "r", "price": True}}, "product.price"),
        ({"product": {"reference": "r", "price": [1]}}, "product.price"),
        ({"product": {"reference": "r", "price": 1e300}}, "product.price"),
        ({"product": {"reference": "r", "price": 10**20}}, "product.price"),
        ({"message": {"nested": [[[]]]}}, "message"),
        ({"custom_fields": {"a": {"b": {"c": 1}}}}, "custom_fields.a"),
        ({"custom_fields": {"a": [1, 2]}}, "custom_fields.a"),
        ({"custom_fields": "a=1"}, "custom_fields"),
        ({"externalId": {"id": 1}}, "externalId"),
        ({"source": ["web"]}, "source"),
    ],
)
def test_a_wrong_type_is_a_422_naming_the_field(token, changes, field):
    assert refusal(post_json(token, lead_body(**changes)), 422)["field"] == field


def test_a_price_of_infinity_is_a_422(token):
    raw = json.dumps(lead_body()).replace("45000", "1e999")
    assert refusal(post_json(token, raw), 422)["field"] == "product.price"


def test_unknown_fields_are_ignored_even_when_they_are_junk(token):
    junk = {"junk": [{"a": [{"b": [1, {"c": None}]}]}] * 50, "__proto__": {"admin": True}}
    response = post_json(token, lead_body(**junk))
    assert response.status_code == 202
    assert Lead.objects.get().custom_fields == {}


@pytest.mark.parametrize("value", ["Jo\u0000hn", "\ud800"], ids=["nul-character", "lone-surrogate"])
def test_characters_no_column_stores_are_a_422(token, value):
    raw = json.dumps(lead_body(contact={"firstName": value, "email": "a@example.com"}))
    assert refusal(post_json(token, raw), 422)["field"] == "contact.firstName"


def test_a_nul_in_a_custom_key_is_a_422(token):
    raw = json.dumps(lead_body(custom_fields={"a\u0000b": 1}))
    assert refusal(post_json(token, raw), 422)["field"] == "custom_fields"


# --- encodings ----------------------------------------------------------------------------------


def test_a_body_that_is_not_utf8_is_a_400(token):
    raw = json.dumps(lead_body()).encode().replace(b"John", b"J\xff\xfehn")
    assert refusal(post_json(token, raw), 400)["code"] == "bad_encoding"


def test_a_latin1_body_is_a_400(token):
    raw = json.dumps(lead_body(message="café"), ensure_ascii=False).encode("latin-1")
    assert refusal(post_json(token, raw), 400)["code"] == "bad_encoding"


def test_a_form_with_percent_encoded_bytes_that_are_not_utf8_is_a_400(token):
    raw = f"token={token}&first_name=%FF%FE&email=a%40example.com"
    response = Client().generic("POST", URL, raw, content_type="application/x-www-form-urlencoded")
    assert refusal(response, 400)["code"] == "bad_encoding"


# --- a Content-Length that lies -----------------------------------------------------------------


def test_a_content_length_shorter_than_the_body_reads_only_that_much(token):
    raw = json.dumps(lead_body())
    assert refusal(post_json(token, raw, CONTENT_LENGTH="20"), 400)["code"] == "bad_json"


def test_a_content_length_over_the_limit_is_a_413_before_reading(token):
    response = post_json(token, lead_body(), CONTENT_LENGTH=str(10**12))
    assert refusal(response, 413)["code"] == "too_large"


def test_a_content_length_that_is_not_a_number_is_a_400(token):
    response = post_json(token, lead_body(), CONTENT_LENGTH="lots")
    assert refusal(response, 400)["code"] in ("bad_length", "bad_json")


# --- JSON bombs ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "[" * 30_000 + "]" * 30_000,
        '{"a":' * 10_000 + "1" + "}" * 10_000,
        '{"contact": ' + "[" * 5_000 + "]" * 5_000 + "}",
    ],
    ids=["deep-array", "deep-object", "deep-inside-a-field"],
)
def test_deeply_nested_json_is_refused_quickly(token, raw):
    response = post_json(token, raw)
    assert response.status_code in (400, 422), response.content
    assert Lead.objects.count() == 0


def test_a_number_with_endless_digits_is_a_400(token):
    raw = json.dumps(lead_body()).replace("45000", "9" * 20_000)
    assert refusal(post_json(token, raw), 400)["code"] == "bad_json"


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_not_json_numbers(token, constant):
    raw = json.dumps(lead_body()).replace("45000", constant)
    assert refusal(post_json(token, raw), 400)["code"] == "bad_json"


def test_many_duplicate_keys_keep_the_last_and_stay_small(token):
    raw = "{" + '"message": "x",' * 3000 + json.dumps(lead_body())[1:]
    assert post_json(token, raw).status_code == 202
    assert Lead.objects.get().message == "Hello world!"
