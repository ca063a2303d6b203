"""The examples a source's admin page shows: a curl call and an HTML form, ready to copy.

They carry a placeholder where the token goes: the token itself is shown once, when it is made
or rotated, and never again.
"""

from __future__ import annotations

import json

from django.utils.html import escape

from bridge.models import IntakeSource

TOKEN_PLACEHOLDER = "<YOUR-TOKEN>"

EXAMPLE_LEAD = {
    "externalId": "order-12345",
    "contact": {
        "firstName": "Jane",
        "lastName": "Doe",
        "email": "jane.doe@example.com",
        "phoneCountryCode": "1",
        "phoneNumber": "3105550143",
    },
    "product": {"reference": "10864675", "title": "Renault Midlum 190.08", "price": 45000},
    "message": "Is it still available?",
    "custom_fields": {"utm_campaign": "spring"},
}


def curl_example(url: str) -> str:
    """A curl command posting one JSON lead to ``url``."""
    body = json.dumps(EXAMPLE_LEAD, indent=2, ensure_ascii=False)
    return (
        f"curl -X POST {url} \\\n"
        f"  -H 'Authorization: Bearer {TOKEN_PLACEHOLDER}' \\\n"
        "  -H 'Content-Type: application/json' \\\n"
        "  -H 'Idempotency-Key: order-12345' \\\n"
        f"  -d '{body}'"
    )


def form_example(url: str, source: IntakeSource) -> str:
    """An HTML form posting to ``url``; with the hidden token field when the source allows it."""
    lines = [f'<form method="post" action="{escape(url)}">']
    if source.allow_form_token:
        lines.append(f'  <input type="hidden" name="token" value="{TOKEN_PLACEHOLDER}">')
    else:
        lines.append(
            "  <!-- This source does not accept its token in a form field: turn on “accept the"
            " token in a form field”, or post from your server with the Authorization header."
            " -->"
        )
    if source.thank_you_url:
        lines.append('  <input type="hidden" name="redirect" value="1">')
    lines += [
        '  <input name="first_name" placeholder="First name">',
        '  <input name="last_name" placeholder="Last name">',
        '  <input name="email" type="email" placeholder="Email">',
        '  <input name="phone" type="tel" placeholder="Phone">',
        '  <input type="hidden" name="product_reference" value="10864675">',
        '  <textarea name="message" placeholder="Message"></textarea>',
        '  <input type="hidden" name="custom_utm_campaign" value="spring">',
        '  <button type="submit">Send</button>',
        "</form>",
    ]
    return "\n".join(lines)
