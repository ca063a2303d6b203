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


@pytest.fixture
def landing_page():
    """A landing page served by its own little server: another origin than the bridge's, on the
    loopback address (so Chromium's local-network checks see a local page calling a local API).
    """
    import http.server
    import threading

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"<p>Landing</p>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def fetch_from(page, origin: str, live_server, token: str) -> dict:
    """From a page on ``origin``, fetch() a JSON lead to the API as a landing page's script
    does (a cross-origin request, so a preflight first); what the script could read."""
    page.goto(f"{origin}/landing")
    return page.evaluate(
        """async ([url, token]) => {
            try {
                const response = await fetch(url, {
                    method: "POST",
                    headers: {"Authorization": "Bearer " + token,
                              "Content-Type": "application/json",
                              "Idempotency-Key": "browser-1"},
                    body: JSON.stringify({contact: {firstName: "Page", email: "page@example.com"}}),
                });
                return {status: response.status, body: await response.json()};
            } catch (error) {
                return {error: String(error)};
            }
        }""",
        [f"{live_server.url}/api/v1/leads", token],
    )


def test_a_landing_page_on_a_listed_origin_posts_a_lead_with_fetch(
    page, live_server, make_source, landing_page
):
    _, token = make_source("landing", allowed_origins=landing_page)
    result = fetch_from(page, landing_page, live_server, token)
    assert result.get("status") == 202, result
    lead = Lead.objects.get()
    assert result["body"] == {"id": lead.pk, "contact_id": lead.contact_id, "created": True}


def test_a_page_on_an_unlisted_origin_is_stopped_by_the_browser(
    page, live_server, make_source, landing_page
):
    _, token = make_source("landing", allowed_origins="https://www.example.com")
    result = fetch_from(page, landing_page, live_server, token)
    assert "error" in result, result  # the preflight was not allowed: fetch() fails
    assert not Lead.objects.exists()
