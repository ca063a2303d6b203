"""What the intake tests share: a valid lead, and posts as callers make them."""

from __future__ import annotations

import json

from django.test import Client

URL = "/api/v1/leads"


def lead_body(**changes) -> dict:
    """A valid lead in Aéllo's shape; ``changes`` replace top-level parts."""
    body = {
        "contact": {
            "firstName": "John",
            "lastName": "Doe",
            "email": "John.Doe@Example.com",
            "phoneCountryCode": "352",
            "phoneNumber": "621123456",
        },
        "product": {"reference": "10864675", "title": "Renault Midlum", "price": 45000},
        "message": "Hello world!",
    }
    body.update(changes)
    return body


def post_json(token: str | None, body, client: Client | None = None, **headers):
    """POST ``body`` (a dict, or raw bytes/str sent as they are) as JSON with a bearer token."""
    client = client or Client()
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    if token is not None:
        headers.setdefault("HTTP_AUTHORIZATION", f"Bearer {token}")
    headers.setdefault("CONTENT_TYPE", "application/json")  # the test client drops it for b""
    return client.generic("POST", URL, data, content_type="application/json", **headers)


def post_form(fields: dict, client: Client | None = None, **headers):
    """POST ``fields`` url-encoded, as a plain HTML form does."""
    from urllib.parse import urlencode

    client = client or Client()
    return client.generic(
        "POST",
        URL,
        urlencode(fields),
        content_type="application/x-www-form-urlencoded",
        **headers,
    )
