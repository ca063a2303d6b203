"""The public endpoints' shared limits: body size, rate, and the JSON refusal."""

import json

import pytest
from django.core.cache import cache
from django.test import RequestFactory

from bridge.public import Refusal, rate_limit, read_body, refusal_response


@pytest.fixture(autouse=True)
def empty_cache():
    cache.clear()
    yield
    cache.clear()


def post(body: bytes, **meta):
    return RequestFactory().generic("POST", "/x", body, "application/json", **meta)


def test_a_body_within_the_limit_is_read_whole():
    assert read_body(post(b"x" * 100), 100) == b"x" * 100


def test_a_declared_length_over_the_limit_is_refused_before_reading():
    request = post(b"x" * 10, CONTENT_LENGTH="5000")
    with pytest.raises(Refusal) as refused:
        read_body(request, 100)
    assert (refused.value.status, refused.value.code) == (413, "too_large")


def test_a_content_length_that_is_not_a_number_is_a_bad_request():
    with pytest.raises(Refusal) as refused:
        read_body(post(b"{}", CONTENT_LENGTH="ten"), 100)
    assert (refused.value.status, refused.value.code) == (400, "bad_length")


def test_the_rate_limit_refuses_past_the_count_with_the_seconds_to_the_next_minute():
    start = 600.0 * 60 + 45  # 45 s into a minute
    for _ in range(3):
        rate_limit("source:a", 3, now=start)
    with pytest.raises(Refusal) as refused:
        rate_limit("source:a", 3, now=start + 1)
    assert refused.value.status == 429
    assert refused.value.headers == {"Retry-After": "14"}
    rate_limit("source:b", 3, now=start + 1)  # another key has its own count
    rate_limit("source:a", 3, now=start + 16)  # the next minute starts afresh


def test_no_limit_when_the_rate_is_zero():
    for _ in range(50):
        rate_limit("source:open", 0)


def test_a_refusal_answers_json_naming_the_field_with_its_headers():
    response = refusal_response(
        Refusal(422, "invalid", "Enter a valid email address.", "contact.email", {"X-A": "1"})
    )
    assert response.status_code == 422
    assert response["X-A"] == "1"
    assert json.loads(response.content) == {
        "error": "Enter a valid email address.",
        "code": "invalid",
        "field": "contact.email",
    }
