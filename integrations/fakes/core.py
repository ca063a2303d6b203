"""The local fake providers' server: real HTTP on 127.0.0.1, one prefix per provider.

Each provider's fake (``integrations/fakes/<provider>.py``) only says how that service behaves:
its auth check, its routes and its state. This module owns what is the same for all of them:
serving ``http://127.0.0.1:PORT/<provider-id>/...``, recording every request for tests to
inspect, counting the requests in flight per provider (``inflight``), and injecting faults per
path (latency, 500s, 429 with ``Retry-After``, hanging past the client's timeout, dropping the
connection).

Tests start it in-process (``FakeServer(port=0).start()``); demos and benchmarks run
``python manage.py fakeproviders``, and other processes steer it through ``/_control/…``.
"""

from __future__ import annotations

import inspect
import json
import logging
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import import_module
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import parse_qs, urlsplit
from urllib.request import Request, urlopen

from .bodies import parse_body
from .inflight import InFlight
from .ledger import LedgerMixin, post_with_retries

logger = logging.getLogger("integrations.fakes")


@dataclass
class FakeRequest:
    """One request as the fake received it (the path is without the provider prefix)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    json: Any | None
    form: dict[str, list[str]] | None
    content_type: str
    provider: str = ""
    received_at: float = 0.0
    #: When the request line arrived (monotonic) and, under a latency fault, when to answer.
    arrived: float = 0.0
    answer_at: float = 0.0

    def header(self, name: str, default: str = "") -> str:
        """A header's value, looked up case-insensitively."""
        wanted = name.lower()
        for key, value in self.headers.items():
            if key.lower() == wanted:
                return value
        return default

    def arg(self, name: str, default: str = "") -> str:
        """The first value of a query parameter."""
        values = self.query.get(name)
        return values[0] if values else default

    def field(self, name: str, default: Any = "") -> Any:
        """A top-level value from the form-data or JSON body."""
        if self.form is not None and name in self.form:
            return self.form[name][0]
        if isinstance(self.json, dict) and name in self.json:
            return self.json[name]
        return default

    def as_dict(self) -> dict:
        """A JSON-able copy, for the control API."""
        data = asdict(self)
        data["body"] = self.body.decode("utf-8", "replace")
        return data


@dataclass
class FakeResponse:
    """What a fake answers: dict/list become JSON, str plain text, bytes as they are."""

    status: int = 200
    body: Any = None
    headers: dict = field(default_factory=dict)

    def encode(self) -> tuple[bytes, str]:
        if self.body is None:
            return b"", ""
        if isinstance(self.body, bytes):
            return self.body, self.headers.get("Content-Type", "application/octet-stream")
        if isinstance(self.body, str):
            return self.body.encode(), self.headers.get("Content-Type", "text/plain; charset=utf-8")
        return json.dumps(self.body, default=str).encode(), "application/json"


def route(method: str, pattern: str) -> Callable:
    """Mark a FakeProvider method as the handler for ``method`` and a path regex."""

    def mark(function: Callable) -> Callable:
        function._fake_route = (method.upper(), re.compile(pattern))
        return function

    return mark


class FakeProvider(LedgerMixin):
    """Base of each provider's fake: its routes, auth check and in-memory state."""

    id: str = ""
    credential: str = ""

    def __init__(self):
        self.lock = threading.RLock()
        self._routes = [
            (member._fake_route[0], member._fake_route[1], member)
            for _, member in inspect.getmembers(self, predicate=inspect.ismethod)
            if hasattr(member, "_fake_route")
        ]
        self.start_ledgers()
        self.reset()

    def reset(self) -> None:
        """Forget all state; subclasses extend this and call it."""

    # --- calling the bridge back (its webhooks) ---------------------------------------------

    #: Where this fake posts the events it makes by itself (``/_control/webhook``), the
    #: headers it adds (Aloware's Basic or Bearer) and how long it waits before it does.
    webhook: dict = {}

    def event_body(self, event_type: str, fields: dict) -> Any:
        """The body this provider sends for ``event_type``, with ``fields`` filled in;
        ValueError for a type it does not send."""
        raise ValueError(f"The fake '{self.id}' sends no events.")

    def configure_webhook(self, settings: dict) -> dict:
        """Remember where to post the events this fake makes by itself (empty url: stop)."""
        self.webhook = {
            "url": str(settings.get("url") or ""),
            "headers": dict(settings.get("headers") or {}),
            "delay": float(settings.get("delay", 3.0)),
            **{k: v for k, v in settings.items() if k not in ("url", "headers", "delay")},
        }
        return self.webhook

    def send_later(self, body_of: Callable[[], Any]) -> None:
        """Post ``body_of()`` to the configured webhook after its delay, on a timer thread
        (the fake's answer to the request that caused it goes out first). With ``retries`` in
        the webhook's settings a non-2xx answer or an unreachable receiver is retried that many
        times with backoff (``retry_backoff`` seconds, doubling), as the services do."""
        if not self.webhook.get("url"):
            return
        url, headers = self.webhook["url"], self.webhook["headers"]
        retries = int(self.webhook.get("retries", 0))
        backoff = float(self.webhook.get("retry_backoff", 1.0))

        def send():
            with self.lock:
                body = body_of()
            entry = self.webhook_log.start(self.event_key(body))
            if not post_with_retries(
                lambda: post_json(url, body, headers)[0], entry, self.webhook_log, retries, backoff
            ):
                logger.warning("fake %s: webhook to %s failed", self.id, url)

        timer = threading.Timer(self.webhook["delay"], send)
        timer.daemon = True
        timer.start()

    def check_auth(self, request: FakeRequest) -> FakeResponse | None:
        """None when the request is authorised, else the provider's refusal."""
        return None

    def summary(self) -> dict:
        """What the fake holds, counted, for benchmarks that check nothing was lost or doubled."""
        return {}

    def handle(self, request: FakeRequest) -> FakeResponse:
        """Route the request to its handler after the auth check."""
        allowed = []
        for method, pattern, handler in self._routes:
            match = pattern.fullmatch(request.path)
            if not match:
                continue
            if method != request.method:
                allowed.append(method)
                continue
            refusal = self.check_auth(request)
            if refusal is not None:
                return refusal
            with self.lock:
                before = self.created_total()
                response = handler(request, **match.groupdict())
                self.count_receipt(request, response.status, before)
                return response
        if allowed:
            return FakeResponse(405, {"error": "Method not allowed"}, {"Allow": ",".join(allowed)})
        return FakeResponse(404, {"error": f"No route for {request.method} {request.path}"})


@dataclass
class Fault:
    """A misbehaviour injected for requests to one provider whose path matches a regex.

    kind: ``latency`` (answer ``seconds`` after the request arrived: the fake's own work
    counts within it, so a benchmark's L is the answer's true latency), ``error`` (answer
    ``status`` with ``body``), ``rate_limit`` (429 with ``Retry-After: retry_after``; a
    string is sent as it is, to try absurd headers such as ``inf`` or an HTTP date),
    ``hang`` (sleep ``seconds`` before answering, past the client's timeout), ``drop`` (close
    the connection without answering). ``times`` limits how many requests it hits (0 = until
    cleared); ``duration`` how many seconds from now it lasts (0 = until cleared).
    """

    provider: str
    kind: str
    path: str = ".*"
    method: str = ""
    seconds: float = 0.0
    status: int = 500
    body: Any = None
    retry_after: float | str = 1.0
    times: int = 0
    hits: int = 0
    duration: float = 0.0
    until: float = 0.0

    KINDS = ("latency", "error", "rate_limit", "hang", "drop")

    def __post_init__(self):
        if self.kind not in self.KINDS:
            raise ValueError(f"Unknown fault kind '{self.kind}' (one of {', '.join(self.KINDS)})")
        self._pattern = re.compile(self.path)
        if self.duration and not self.until:
            self.until = time.time() + self.duration

    def matches(self, request: FakeRequest) -> bool:
        if self.provider not in ("*", request.provider):
            return False
        if self.method and self.method.upper() != request.method:
            return False
        if self.times and self.hits >= self.times:
            return False
        if self.until and time.time() > self.until:
            return False
        return bool(self._pattern.fullmatch(request.path) or self._pattern.match(request.path))

    def as_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if not k.startswith("_")}


def post_json(url: str, body: Any, headers: dict | None = None, timeout: float = 10.0):
    """POST ``body`` as JSON to ``url`` (a bridge's receiver); (status, answer text)."""
    data = body if isinstance(body, bytes) else json.dumps(body, default=str).encode()
    request = Request(url, data=data, method="POST")
    request.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urlopen(request, timeout=timeout) as answer:  # noqa: S310 - the caller's URL
            return answer.status, answer.read().decode("utf-8", "replace")
    except HTTPError as error:
        return error.code, error.read().decode("utf-8", "replace")


def _header_value(value: float | str) -> str:
    """A number as the shortest text (``1``, ``0.5``); a string as it is."""
    return value if isinstance(value, str) else f"{value:g}"


class _Dropped(Exception):
    """Raised to close the connection without an answer."""


def _control_order(request: FakeRequest) -> tuple[dict, str]:
    """(the control call's JSON object, "") or ({}, the problem with its body).

    The body is read as JSON whatever its Content-Type: ``curl -d '{…}'`` without
    ``-H 'Content-Type: application/json'`` sends it as a form, and a control call has no form.
    """
    if not request.body.strip():
        return {}, ""
    order = request.json
    if order is None:
        try:
            order = json.loads(request.body)
        except ValueError as exc:
            return {}, f"The control body is not JSON: {exc}"
    if not isinstance(order, dict):
        return {}, "The control body must be a JSON object."
    return order, ""


class FakeServer:
    """All fake providers behind one threaded HTTP server on 127.0.0.1."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1", fakes=None, record: bool = True):
        self.fakes: dict[str, FakeProvider] = {
            fake.id: fake for fake in (fakes if fakes is not None else default_fakes())
        }
        self.requests: list[FakeRequest] = []
        self.faults: list[Fault] = []
        self.in_flight = InFlight()
        self.record = record
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer((host, port), self._handler_class())
        self._httpd.daemon_threads = True
        self._httpd.request_queue_size = 256
        self._thread: threading.Thread | None = None

    # --- life cycle ---------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def base_url(self, provider_id: str) -> str:
        """What an account's base URL is set to, to talk to this fake."""
        return f"{self.url}/{provider_id}"

    def start(self) -> FakeServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="fake-providers", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._httpd.serve_forever()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    # --- what tests use -----------------------------------------------------------------

    def reset(self) -> None:
        """Forget recorded requests, faults, the in-flight maxima and every fake's state."""
        with self._lock:
            self.requests.clear()
            self.faults.clear()
        self.in_flight.reset()
        for fake in self.fakes.values():
            with fake.lock:
                fake.webhook = {}
                fake.reset()
            fake.receipts.clear()
            fake.webhook_log.clear()

    def add_fault(self, provider: str, kind: str, **options) -> Fault:
        fault = Fault(provider=provider, kind=kind, **options)
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def requests_for(self, provider: str, method: str = "", path: str = "") -> list[FakeRequest]:
        """Recorded requests to one provider, optionally one method and exact path."""
        with self._lock:
            return [
                r
                for r in self.requests
                if r.provider == provider
                and (not method or r.method == method.upper())
                and (not path or r.path == path)
            ]

    # --- serving ------------------------------------------------------------------------

    def _fault_for(self, request: FakeRequest) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.matches(request):
                    fault.hits += 1
                    return fault
        return None

    def dispatch(self, request: FakeRequest) -> FakeResponse:
        """Answer one request: control API, injected fault, or the provider's fake."""
        if request.provider == "_control":
            return self._control(request)
        fake = self.fakes.get(request.provider)
        if fake is None:
            return FakeResponse(404, {"error": f"No fake provider '{request.provider}'"})
        if self.record:
            with self._lock:
                self.requests.append(request)
        fault = self._fault_for(request)
        if fault is not None:
            if fault.kind == "drop":
                raise _Dropped
            if fault.kind == "latency":
                request.answer_at = request.arrived + fault.seconds
            elif fault.kind == "hang":
                time.sleep(fault.seconds)
            elif fault.kind == "error":
                body = fault.body if fault.body is not None else {"error": "Internal Server Error"}
                return FakeResponse(fault.status, body)
            elif fault.kind == "rate_limit":
                return FakeResponse(
                    429,
                    fault.body or "Too many requests, please try again later.",
                    {"Retry-After": _header_value(fault.retry_after)},
                )
        return fake.handle(request)

    def emit(self, order: dict) -> FakeResponse:
        """``POST /_control/emit`` ``{"provider", "type", "fields", "url", "headers"}``: build
        the provider's body for that event and post it to ``url``, as the service would."""
        from .events import event_body

        fake = self.fakes.get(str(order.get("provider") or ""))
        if fake is None or not order.get("url"):
            return FakeResponse(400, {"error": "emit needs a known 'provider' and a 'url'."})
        try:
            with fake.lock:
                body = event_body(fake, str(order.get("type") or ""), order.get("fields") or {})
        except ValueError as exc:
            return FakeResponse(400, {"error": str(exc)})
        headers = {**fake.webhook.get("headers", {}), **(order.get("headers") or {})}
        try:
            status, answer = post_json(str(order["url"]), body, headers)
        except (URLError, OSError) as exc:
            return FakeResponse(502, {"error": f"The receiver could not be reached: {exc}"})
        return FakeResponse(200, {"status": status, "answer": answer, "sent": body})

    def _control(self, request: FakeRequest) -> FakeResponse:
        """``/_control/faults`` (GET, POST, DELETE), ``/_control/requests``, ``/_control/times``,
        ``/_control/state?provider=…``, ``/_control/in_flight?provider=…`` (requests being
        answered and the most at once), ``/_control/receipts`` and ``/_control/webhooks``
        (``?provider=``: each record's pushes, each webhook sent; ledger.py),
        ``/_control/reset``, ``/_control/emit`` (send an event to a bridge) and
        ``/_control/webhook`` (where a fake posts events by itself)."""
        order, problem = _control_order(request)
        if problem:
            return FakeResponse(400, {"error": problem})
        if request.path == "/emit" and request.method == "POST":
            return self.emit(order)
        if request.path == "/webhook" and request.method == "POST":
            fake = self.fakes.get(str(order.get("provider") or ""))
            if fake is None:
                return FakeResponse(400, {"error": "webhook needs a known 'provider'."})
            try:
                with fake.lock:
                    return FakeResponse(200, fake.configure_webhook(order))
            except (TypeError, ValueError) as exc:
                return FakeResponse(400, {"error": str(exc)})
        if request.path == "/faults" and request.method == "POST":
            try:
                fault = self.add_fault(**order)
            except (TypeError, ValueError) as exc:
                return FakeResponse(400, {"error": str(exc)})
            return FakeResponse(201, fault.as_dict())
        if request.path == "/faults" and request.method == "DELETE":
            self.clear_faults()
            return FakeResponse(204)
        if request.path == "/faults":
            return FakeResponse(200, [fault.as_dict() for fault in self.faults])
        if request.path == "/requests":
            found = self.requests_for(request.arg("provider"), request.arg("method"))
            return FakeResponse(
                200,
                {
                    "count": len(found),
                    "requests": [r.as_dict() for r in found[-int(request.arg("limit", "100")) :]],
                },
            )
        if request.path == "/times":
            # Only the arrival times: a 429-storm benchmark checks the rate over 10,000 requests.
            found = self.requests_for(request.arg("provider"), request.arg("method"))
            return FakeResponse(200, {"count": len(found), "times": [r.received_at for r in found]})
        if request.path == "/state":
            fake = self.fakes.get(request.arg("provider"))
            if fake is None:
                return FakeResponse(404, {"error": "Unknown provider"})
            with fake.lock:
                return FakeResponse(200, fake.summary())
        if request.path in ("/receipts", "/webhooks"):
            fake = self.fakes.get(request.arg("provider"))
            if fake is None:
                return FakeResponse(404, {"error": "Unknown provider"})
            if request.path == "/receipts":
                return FakeResponse(200, fake.receipts.as_dict())
            return FakeResponse(200, fake.webhook_log.as_list())
        if request.path == "/in_flight":
            return FakeResponse(200, self.in_flight.as_dict(request.arg("provider")))
        if request.path == "/reset" and request.method == "POST":
            self.reset()
            return FakeResponse(204)
        return FakeResponse(404, {"error": "Unknown control path"})

    def _handler_class(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "CRMBridgeFake/1.0"
            # Headers and body go out in separate writes; with Nagle on, every small answer on
            # a kept-alive connection waited for the client's delayed ACK.
            disable_nagle_algorithm = True

            def parse_request(self):
                # Called as soon as the request line is read: the moment the request arrived.
                self.arrived = time.monotonic()
                return super().parse_request()

            def log_message(self, format, *args):  # noqa: A002 - the stdlib's signature
                logger.debug("fake %s", format % args)

            def _serve(self):
                """Answer one request, counted in flight (until answered) if it is a fake's."""
                provider = urlsplit(self.path).path.lstrip("/").partition("/")[0]
                if provider not in server.fakes:  # the control API, an unknown prefix
                    return self._answer()
                with server.in_flight.request(provider):
                    return self._answer()

            def _answer(self):
                parts = urlsplit(self.path)
                provider, _, rest = parts.path.lstrip("/").partition("/")
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                content_type = self.headers.get("Content-Type", "")
                json_value, form = parse_body(content_type, body)
                request = FakeRequest(
                    method=self.command,
                    path="/" + rest,
                    query=parse_qs(parts.query, keep_blank_values=True),
                    headers=dict(self.headers.items()),
                    body=body,
                    json=json_value,
                    form=form,
                    content_type=content_type,
                    provider=provider,
                    received_at=time.time(),
                    arrived=self.arrived,
                )
                try:
                    response = server.dispatch(request)
                except _Dropped:
                    self.close_connection = True
                    try:
                        self.connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    return
                except Exception:  # a bug in a fake answers 500, as a real server would
                    logger.exception("fake provider failed on %s %s", self.command, self.path)
                    response = FakeResponse(
                        500,
                        "<html><body>Internal error</body></html>",
                        {"Content-Type": "text/html"},
                    )
                payload, content_type = response.encode()
                delay = request.answer_at - time.monotonic()
                if delay > 0:  # a latency fault: the answer is ready, it goes out at its time
                    time.sleep(delay)
                try:
                    self.send_response(response.status)
                    if content_type:
                        self.send_header("Content-Type", content_type)
                    for name, value in response.headers.items():
                        if name.lower() != "content-type":
                            self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    if payload and self.command != "HEAD":
                        self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

        return Handler


def default_fakes() -> list[FakeProvider]:
    """A fresh fake for every registered provider that declares one."""
    from integrations.registry import providers

    fakes = []
    for provider in providers().values():
        if getattr(provider, "fake", ""):
            module_name, class_name = provider.fake.rsplit(".", 1)
            fakes.append(getattr(import_module(module_name), class_name)())
    return fakes
