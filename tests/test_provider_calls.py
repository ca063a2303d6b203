"""What every provider call refuses, whatever the provider: redirects, and 403 as a pause.

A redirect is never followed (the credential would go with it to the redirect's target), and a
403 on one operation fails that delivery only; only a 401 pauses the account.
"""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bridge import outbox
from bridge.models import Delivery, Lead
from integrations.errors import AuthenticationError, ForbiddenError, RedirectRefused

State = Delivery.State

CREDENTIALS = {
    "aello": "aello-key-redirect-0001",
    "leeloo": "leeloo-token-redirect-0001",
    "aiployees": "aiployees-token-redirect-0001",
    "aloware": "aloware-token-redirect-0001",
}


class _Server:
    """A real HTTP server on the loopback that records what reaches it."""

    def __init__(self, answer):
        self.received: list[dict] = []
        received, respond = self.received, answer

        class Handler(BaseHTTPRequestHandler):
            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                received.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "headers": dict(self.headers),
                        "body": self.rfile.read(length).decode("utf-8", "replace"),
                    }
                )
                status, headers, body = respond(self)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def catcher():
    """Where a hostile redirect points: it must never receive anything."""
    server = _Server(lambda handler: (200, {"Content-Type": "application/json"}, b"{}"))
    yield server
    server.close()


@pytest.fixture
def redirector(catcher):
    """A "provider" that answers every call with a redirect to the catcher, keeping the path."""

    def answer(handler):
        status = 307 if handler.command != "GET" else 302
        return status, {"Location": f"{catcher.url}/steal{handler.path}"}, b""

    server = _Server(answer)
    yield server
    server.close()


@pytest.mark.parametrize("provider", sorted(CREDENTIALS))
def test_a_redirect_is_refused_and_the_credential_goes_nowhere_else(
    make_account, redirector, catcher, provider
):
    account = make_account(
        provider,
        credential=CREDENTIALS[provider],
        base_url=redirector.url,
        read_timeout=2.0,
        connect_timeout=1.0,
    )
    client = account.client()

    for method in ("POST", "GET"):
        with pytest.raises(RedirectRefused) as caught:
            body = {"probe": 1} if method == "POST" else None
            client.request(method, "/any/path", json_body=body)
        assert caught.value.status in (302, 307) and caught.value.code == "redirect"
        assert "do not follow redirects" in str(caught.value)
        assert catcher.url in str(caught.value)  # where it pointed: scheme and host only
        assert CREDENTIALS[provider] not in str(caught.value)

    assert len(redirector.received) == 2
    assert catcher.received == []


@pytest.mark.django_db(transaction=True)
def test_a_redirected_push_is_a_dead_delivery_that_names_the_redirect(
    make_lead, make_account, redirector, catcher
):
    account = make_account(
        "aloware", credential=CREDENTIALS["aloware"], base_url=redirector.url, read_timeout=2.0
    )
    lead = make_lead()
    batch = outbox.enqueue(Lead, {account: [lead.pk]})

    outbox.run_until_settled([account.pk], timeout=30)

    delivery = batch.deliveries.get()
    assert delivery.state == State.DEAD and delivery.attempts == 1
    assert delivery.last_http_status == 307
    assert f"redirecting to {catcher.url}" in delivery.error_message
    account.refresh_from_db()
    assert not account.paused
    assert catcher.received == []
    sent = json.loads(redirector.received[0]["body"])
    assert sent["api_token"] == CREDENTIALS["aloware"]  # it went to the account's own host only


@pytest.mark.django_db(transaction=True)
def test_a_403_fails_that_delivery_with_the_reason_and_the_account_keeps_sending(
    make_lead, fake_account, fakes
):
    account = fake_account("aello")
    refused, accepted = make_lead(), make_lead()
    fakes.add_fault(
        "aello",
        "error",
        status=403,
        body={"error": "This dealership may not receive trucks"},
        times=1,
    )

    first = outbox.enqueue(Lead, {account: [refused.pk]})
    outbox.run_until_settled([account.pk], timeout=30)
    second = outbox.enqueue(Lead, {account: [accepted.pk]})
    outbox.run_until_settled([account.pk], timeout=30)

    account.refresh_from_db()
    assert not account.paused and account.paused_reason == ""
    failed = first.deliveries.get()
    assert failed.state == State.DEAD and failed.last_http_status == 403
    assert "may not receive trucks" in failed.error_message
    assert second.deliveries.get().state == State.DELIVERED


def test_403_and_401_are_told_apart_by_the_client(make_account, fakes):
    account = make_account(
        "aello", credential="wrong-aello-key-000111", base_url=fakes.base_url("aello")
    )
    client = account.client()
    with pytest.raises(AuthenticationError) as unauthorised:
        client.request("POST", "/leads", json_body={})
    assert unauthorised.value.status == 401

    fakes.add_fault("aello", "error", status=403, body={"error": "Forbidden"})
    with pytest.raises(ForbiddenError) as forbidden:
        client.request("POST", "/leads", json_body={})
    assert not isinstance(forbidden.value, AuthenticationError)
    assert forbidden.value.provider_message == "Forbidden"


@pytest.mark.django_db(transaction=True)
def test_a_403_on_a_sync_fails_the_run_without_pausing_the_account(fake_account, fakes):
    from bridge import sync

    account = fake_account("leeloo")
    fakes.add_fault("leeloo", "error", status=403, body={"status": 0, "message": "No access"})

    run = sync.run_sync(account, "tags")

    account.refresh_from_db()
    assert run.status == "failed" and "403" in run.error
    assert not account.paused
