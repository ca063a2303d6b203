"""A real local HTTP server standing in for a Slack-style incoming webhook, and alert channels.

The server records every request (path, headers, JSON body) and answers what the test sets:
200 by default, any status, or a redirect. Nothing in the bridge is patched: the alert job
POSTs to it over real HTTP.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bridge.models import AlertChannel

#: The secret part of the webhook URL, as Slack's are: it must never be shown after saving.
SECRET_PATH = "/services/T0001/B0002/sEcReTtOkEn123456789"


class HookServer:
    """A webhook receiver on 127.0.0.1: ``received`` lists what came, ``status`` what it says."""

    def __init__(self):
        self.received: list[dict] = []
        self.status = 200
        self.location = ""
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                server.received.append(
                    {"path": self.path, "headers": dict(self.headers), "body": json.loads(raw)}
                )
                self.send_response(server.status)
                if server.location:
                    self.send_header("Location", server.location)
                body = b"ok" if server.status < 300 else b"invalid_token"
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):  # quiet
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str = SECRET_PATH) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}{path}"

    def texts(self) -> list[str]:
        return [request["body"]["text"] for request in self.received]

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def hook():
    server = HookServer().start()
    yield server
    server.stop()


@pytest.fixture
def hook_server():
    """Another server (started), for a second destination; stopped after the test."""
    made = []

    def start():
        made.append(HookServer().start())
        return made[-1]

    yield start
    for server in made:
        server.stop()


@pytest.fixture
def secret_path():
    return SECRET_PATH


@pytest.fixture
def webhook_channel(db, hook):
    """A webhook channel POSTing to the local server (its URL holds ``SECRET_PATH``)."""
    channel = AlertChannel(name="ops-slack", kind="webhook", url=hook.url())
    channel.full_clean()
    channel.save()
    return channel


@pytest.fixture
def email_channel(db):
    channel = AlertChannel(
        name="ops-mail", kind="email", addresses="ops@example.com, boss@example.com"
    )
    channel.full_clean()
    channel.save()
    return channel
