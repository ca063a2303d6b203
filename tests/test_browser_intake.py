"""Intake sources in Debian's Chromium: a source is made in the admin, its token is shown once
and works against the live server's API, and rotating it shows the new one once."""

import json
import re
import urllib.error
import urllib.request

import pytest

from bridge.models import IntakeSource, Lead
from bridge.models.intake import hash_token

from .conftest import log_in

pytest_plugins = ["tests.intake_fixtures"]
pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("empty_cache"),
]

TOKEN = re.compile(r"^crmb_in_[A-Za-z0-9_-]{20,}$")


def post_lead(live_server, token: str) -> int:
    """POST one lead to the live server's API over real HTTP; the answer's status."""
    body = {"contact": {"firstName": "Web", "email": "web.lead@example.com"}, "message": "Hi"}
    request = urllib.request.Request(
        f"{live_server.url}/api/v1/leads",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_a_source_made_in_the_admin_shows_its_token_once_then_rotates(page, live_server, staff):
    log_in(page, live_server)
    page.goto(f"{live_server.url}/admin/bridge/intakesource/add/")
    page.fill("#id_name", "landing-page")
    page.fill("#id_allowed_origins", "https://www.example.com")
    page.check("#id_allow_form_token")
    page.click("input[name=_save]")
    page.wait_for_selector("#intake-tokens")
    assert "Shown once" in page.inner_text("#intake-tokens")
    token = page.inner_text("code.intake-token").strip()
    assert TOKEN.match(token), token
    source = IntakeSource.objects.get(name="landing-page")
    assert source.token_hash == hash_token(token)

    assert post_lead(live_server, token) == 202
    assert Lead.objects.get().source == "landing-page"

    # The source's own page: the prefix, the examples with a placeholder, never the token.
    page.click("text=landing-page")
    page.wait_for_selector("#intake-examples")
    assert token not in page.content()
    assert "<YOUR-TOKEN>" in page.inner_text("#intake-curl")
    assert 'name="token"' in page.inner_text("#intake-form")
    assert source.token_prefix in page.inner_text(".field-token_shown_as")

    # Rotate from the list: a new token, shown once; the old one stops working.
    page.goto(f"{live_server.url}/admin/bridge/intakesource/")
    page.check(f"input[name=_selected_action][value='{source.pk}']")
    page.select_option("select[name=action]", "rotate_tokens")
    page.click("button[name=index]")
    page.wait_for_selector("#intake-tokens")
    new_token = page.inner_text("code.intake-token").strip()
    assert TOKEN.match(new_token) and new_token != token
    assert post_lead(live_server, token) == 401
    assert post_lead(live_server, new_token) == 202
    assert Lead.objects.count() == 2 and len({lead.contact_id for lead in Lead.objects.all()}) == 1
