"""The fake providers' shared server: routing, recording, faults and the control API."""

import pytest
import requests

from integrations.fakes.core import FakeProvider, FakeResponse, FakeServer, route


class EchoFake(FakeProvider):
    """A tiny provider: one token, one resource, form and JSON bodies echoed back."""

    id = "echo"
    credential = "echo-token-1234"

    def reset(self):
        self.items = []

    def check_auth(self, request):
        if request.header("x-token") != self.credential:
            return FakeResponse(401, {"error": "bad token"})
        return None

    @route("POST", r"/items")
    def create(self, request):
        self.items.append(request.json or request.form)
        return FakeResponse(201, {"id": len(self.items)})

    @route("GET", r"/items/(?P<item_id>\d+)")
    def get(self, request, item_id):
        return FakeResponse(200, {"item": self.items[int(item_id) - 1]})


@pytest.fixture
def server():
    server = FakeServer(fakes=[EchoFake()]).start()
    yield server
    server.stop()


def call(server, method, path, **kwargs):
    headers = {"X-Token": EchoFake.credential, **kwargs.pop("headers", {})}
    return requests.request(method, server.url + path, headers=headers, timeout=5, **kwargs)


def test_routes_records_and_parses_json_and_form(server):
    assert call(server, "POST", "/echo/items", json={"a": 1}).json() == {"id": 1}
    assert call(server, "POST", "/echo/items", data={"b": "2"}).status_code == 201
    assert call(server, "GET", "/echo/items/2").json() == {"item": {"b": ["2"]}}
    recorded = server.requests_for("echo")
    assert [(r.method, r.path) for r in recorded] == [
        ("POST", "/items"),
        ("POST", "/items"),
        ("GET", "/items/2"),
    ]
    assert recorded[0].json == {"a": 1} and recorded[1].form == {"b": ["2"]}
    assert recorded[0].header("x-token") == EchoFake.credential


def test_auth_unknown_routes_and_methods(server):
    assert call(server, "GET", "/echo/items/1", headers={"X-Token": "wrong"}).status_code == 401
    assert call(server, "GET", "/echo/nothing").status_code == 404
    assert call(server, "DELETE", "/echo/items").status_code == 405
    assert call(server, "GET", "/nobody/items").status_code == 404


def test_multipart_form_data_is_parsed(server):
    call(server, "POST", "/echo/items", files={"tag_id": (None, "t-1")})
    assert server.requests_for("echo")[0].form == {"tag_id": ["t-1"]}


def test_error_and_rate_limit_faults_hit_a_limited_number_of_times(server):
    server.add_fault("echo", "error", path="/items", status=503, times=1)
    server.add_fault("echo", "rate_limit", path="/items", retry_after=7, times=1)
    first = call(server, "POST", "/echo/items", json={})
    second = call(server, "POST", "/echo/items", json={})
    third = call(server, "POST", "/echo/items", json={})
    assert first.status_code == 503
    assert second.status_code == 429 and second.headers["Retry-After"] == "7"
    assert "Too many requests" in second.text
    assert third.status_code == 201


def test_hang_exceeds_the_client_timeout_and_drop_closes_the_connection(server):
    server.add_fault("echo", "hang", seconds=1.0, times=1)
    with pytest.raises(requests.ReadTimeout):
        requests.get(server.url + "/echo/items/1", timeout=0.2)
    server.add_fault("echo", "drop", times=1)
    with pytest.raises(requests.ConnectionError):
        call(server, "POST", "/echo/items", json={})


def test_latency_delays_the_answer(server):
    import time

    server.add_fault("echo", "latency", seconds=0.3)
    started = time.monotonic()
    assert call(server, "POST", "/echo/items", json={}).status_code == 201
    assert time.monotonic() - started >= 0.3


def test_latency_counts_from_arrival_with_the_work_done_inside_it(server):
    """The fake does its work when the request arrives and holds the answer until L has passed,
    so a benchmark's L is the answer's latency, not L plus the fake's own time."""
    import threading
    import time

    fake = server.fakes["echo"]
    server.add_fault("echo", "latency", seconds=2.0)
    answers = []
    started = time.monotonic()
    sender = threading.Thread(
        target=lambda: answers.append(call(server, "POST", "/echo/items", json={"n": 1}))
    )
    sender.start()
    while not fake.items and time.monotonic() - started < 1.0:  # half of L: well before
        time.sleep(0.01)
    assert fake.items == [{"n": 1}]
    assert sender.is_alive() and not answers  # stored, the answer still held back
    sender.join()
    assert answers[0].status_code == 201
    assert time.monotonic() - started >= 2.0


def test_control_api_sets_faults_lists_requests_and_resets(server):
    created = requests.post(
        server.url + "/_control/faults",
        json={"provider": "echo", "kind": "error", "status": 500, "times": 1},
        timeout=5,
    )
    assert created.status_code == 201
    assert call(server, "POST", "/echo/items", json={}).status_code == 500
    listed = requests.get(server.url + "/_control/requests?provider=echo", timeout=5).json()
    assert listed["count"] == 1 and listed["requests"][0]["path"] == "/items"
    bad = requests.post(server.url + "/_control/faults", json={"provider": "echo", "kind": "x"})
    assert bad.status_code == 400 and "Unknown fault kind" in bad.json()["error"]
    assert requests.post(server.url + "/_control/reset", timeout=5).status_code == 204
    assert server.requests_for("echo") == [] and server.faults == []


def test_control_api_reads_json_sent_as_curl_sends_it_without_a_content_type(server):
    """``curl -X POST …/_control/faults -d '{…}'`` labels its body a form (the README's line)."""
    as_curl = {"Content-Type": "application/x-www-form-urlencoded"}
    created = requests.post(
        server.url + "/_control/faults",
        data='{"provider": "echo", "kind": "error", "status": 503, "times": 1}',
        headers=as_curl,
        timeout=5,
    )
    assert created.status_code == 201, created.text
    assert created.json()["status"] == 503
    assert call(server, "POST", "/echo/items", json={}).status_code == 503
    garbled = requests.post(
        server.url + "/_control/faults", data="provider=echo", headers=as_curl, timeout=5
    )
    assert garbled.status_code == 400 and "not JSON" in garbled.json()["error"]
    listed = requests.post(server.url + "/_control/faults", data="[1]", headers=as_curl, timeout=5)
    assert listed.status_code == 400 and "JSON object" in listed.json()["error"]


def settled(server, provider: str, seconds: float = 2.0) -> bool:
    """Whether the provider's in-flight count is back to zero within ``seconds``: the server
    lowers it just after writing the answer, which the client may read first."""
    import time

    deadline = time.monotonic() + seconds
    while server.in_flight.now(provider) and time.monotonic() < deadline:
        time.sleep(0.01)
    return server.in_flight.now(provider) == 0


def test_requests_in_flight_are_counted_per_provider_with_their_maximum(server):
    """Requests held by a latency fault overlap: the fake records how many at most, per
    provider, back to zero once answered; reset forgets the maximum; the control API shows it."""
    import threading

    server.add_fault("echo", "latency", seconds=0.5)
    senders = [
        threading.Thread(target=call, args=(server, "POST", "/echo/items"), kwargs={"json": {}})
        for _ in range(3)
    ]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join()
    call(server, "GET", "/echo/items/1")  # one more, alone: the maximum stays 3
    assert server.in_flight.max("echo") == 3
    assert settled(server, "echo")  # the count drops once the answer is written
    assert server.in_flight.max("nobody") == 0  # an unknown prefix is not counted
    shown = requests.get(server.url + "/_control/in_flight?provider=echo", timeout=5).json()
    assert shown == {"provider": "echo", "now": 0, "max": 3}
    server.reset()
    assert server.in_flight.max("echo") == 0


def test_a_request_still_in_flight_at_reset_stays_counted(server):
    import threading
    import time

    server.add_fault("echo", "latency", seconds=0.6)
    sender = threading.Thread(
        target=call, args=(server, "POST", "/echo/items"), kwargs={"json": {}}
    )
    sender.start()
    deadline = time.monotonic() + 2
    while server.in_flight.now("echo") == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    server.reset()  # mid-request
    assert server.in_flight.now("echo") == 1 and server.in_flight.max("echo") == 1
    sender.join()
    assert settled(server, "echo") and server.in_flight.max("echo") == 1
