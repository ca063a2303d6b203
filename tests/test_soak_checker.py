"""The chaos soak's checker (bench/chaos/checker.py): each invariant passes on a clean run and
fails when what it guards is broken; its schedule is seeded; and the fakes' ledgers it reads
(receipts per record, webhooks sent with retries, faults that expire) over real HTTP."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from bench.chaos import checker, schedule
from bench.chaos.checker import Delivery, Observed
from integrations.fakes.ledger import WebhookLog, post_with_retries

PHONES = {1: "+12132000001", 2: "+12132000002", 3: "+12132000003"}


def clean() -> Observed:
    """What a run that broke nothing leaves: three leads, each delivered once, one call."""
    return Observed(
        accepted={"soak-1": 1, "soak-2": 2, "soak-3": 3},
        leads=dict(PHONES),
        keys={"soak-1": 1, "soak-2": 2, "soak-3": 3},
        routed={1, 2, 3},
        deliveries=[
            Delivery(11, 1, "aiployees", "delivered", PHONES[1]),
            Delivery(12, 2, "aloware", "delivered", PHONES[2]),
            Delivery(13, 3, "aello", "delivered", "lead-3"),
        ],
        receipts={
            "aiployees": {PHONES[1]: {"received": 2, "created": 1}},  # one idempotent re-send
            "aloware": {PHONES[2]: {"received": 1, "created": 1}},
            "aello": {"lead-3": {"received": 1, "created": 1}},
        },
        webhooks_sent=[{"key": "48001", "acknowledged": True}],
        events={"48001": "processed"},
        activities={"48001": 1},
        rss={"web": [100.0, 101.0, 100.0, 102.0, 101.0, 103.0]},
    )


def verdict_of(seen: Observed) -> checker.Verdict:
    return checker.check(seen)


def test_a_clean_run_passes_and_counts_resends_apart():
    verdict = verdict_of(clean())
    assert verdict.ok(20.0), verdict.problems
    assert (verdict.lost, verdict.duplicates, verdict.stuck) == (0, 0, 0)
    assert verdict.counts["pushes_received_again"] == 1
    assert verdict.rss_growth_pct == pytest.approx(2.0)


def test_an_accepted_lead_missing_from_the_database_is_lost():
    seen = clean()
    del seen.leads[2]
    verdict = verdict_of(seen)
    assert verdict.lost >= 1
    assert any("accepted leads not in the database: soak-2" in p for p in verdict.problems)


def test_a_second_lead_for_one_phone_is_a_duplicate():
    seen = clean()
    seen.leads[4] = PHONES[1]
    verdict = verdict_of(seen)
    assert verdict.duplicates == 1
    assert not verdict.ok(20.0)


def test_a_key_answered_with_another_lead_is_a_duplicate():
    seen = clean()
    seen.keys["soak-1"] = 2
    assert verdict_of(seen).duplicates == 1


def test_a_delivery_left_sending_is_stuck():
    seen = clean()
    seen.deliveries[0].state = "sending"
    verdict = verdict_of(seen)
    assert verdict.stuck == 1
    assert any("left sending: 11" in p for p in verdict.problems)


def test_a_lead_never_routed_or_a_delivery_still_waiting_is_stuck():
    seen = clean()
    seen.routed.discard(3)
    seen.deliveries[1].state = "failed"
    assert verdict_of(seen).stuck == 2


def test_dead_counts_only_with_a_recorded_reason():
    seen = clean()
    seen.deliveries[1] = Delivery(12, 2, "aloware", "dead", PHONES[2], "409 exists")
    assert verdict_of(seen).ok(20.0)
    seen.deliveries[1].error = ""
    assert verdict_of(seen).lost == 1
    seen.deliveries[1] = Delivery(12, 2, "aloware", "dead", PHONES[2], "500", exhausted=True)
    assert verdict_of(seen).lost == 1  # retried until its attempts ran out: not permanent


def test_a_routed_lead_without_a_delivery_is_lost_and_two_deliveries_a_duplicate():
    seen = clean()
    seen.deliveries.pop(2)
    assert verdict_of(seen).lost == 1
    seen = clean()
    seen.deliveries.append(Delivery(14, 1, "aiployees", "delivered", PHONES[1]))
    assert verdict_of(seen).duplicates == 1


def test_delivered_but_absent_at_the_fake_is_lost_and_created_twice_a_duplicate():
    seen = clean()
    del seen.receipts["aloware"][PHONES[2]]
    assert verdict_of(seen).lost == 1
    seen = clean()
    seen.receipts["aello"]["lead-3"] = {"received": 2, "created": 2}
    assert verdict_of(seen).duplicates == 1


def test_a_webhook_applied_twice_is_a_duplicate():
    seen = clean()
    seen.activities["48001"] = 2
    verdict = verdict_of(seen)
    assert verdict.duplicates == 1
    assert any("applied more than once: 48001" in p for p in verdict.problems)


def test_a_webhook_unacknowledged_missing_or_unprocessed_fails():
    seen = clean()
    seen.webhooks_sent.append({"key": "48002", "acknowledged": False})
    assert verdict_of(seen).lost == 1
    seen = clean()
    seen.events = {}
    assert verdict_of(seen).lost >= 1
    seen = clean()
    seen.events["48001"] = "failed"
    assert verdict_of(seen).stuck == 1


def test_a_sync_run_left_running_is_stuck():
    seen = clean()
    seen.syncs_running = 1
    assert verdict_of(seen).stuck == 1


def test_memory_growth_over_the_limit_fails():
    seen = clean()
    seen.rss["cluster-1"] = [100.0, 100.0, 100.0, 110.0, 125.0, 126.0, 125.0]
    verdict = verdict_of(seen)
    assert verdict.rss_growth_pct == pytest.approx(25.0)
    assert not verdict.ok(20.0)
    assert checker.rss_growth_pct([100.0, 200.0]) is None  # too few samples for a trend


def test_the_schedule_is_seeded_and_holds_every_kind_of_chaos():
    full = schedule.build(900, seed=19)
    assert [(e.at, e.action) for e in full] == [(e.at, e.action) for e in schedule.build(900, 19)]
    assert [e.at for e in full] != [e.at for e in schedule.build(900, seed=20)]
    actions = [e.action for e in full]
    assert 13 <= actions.count("kill_worker") <= 15  # about one a minute
    assert actions.count("kill_cluster") == 2
    for once in ("kill_web_worker", "restart_postgres", "restart_redis"):
        assert actions.count(once) == 1
    names = {e.options["name"] for e in full if e.action == "provider_fault"}
    assert names == {name for name, _ in schedule.FAULTS}
    compact = schedule.build(60, seed=19, compact=True)
    assert all(0 < e.at < 60 for e in compact)
    assert {e.action for e in compact} == set(actions)
    assert {e.options["name"] for e in compact if e.options} == names


# --- the fakes' ledgers, over real HTTP -------------------------------------------------------


def test_receipts_count_each_pushed_record_and_whether_it_was_created(fakes):
    url = fakes.base_url("aiployees") + "/api/user/lead"
    headers = {"Authorization": "Bearer fake-aiployees-token"}
    body = {"phone_number": PHONES[1], "campaign_id": 1}
    for _ in range(2):
        assert requests.post(url, json=body, headers=headers, timeout=5).status_code == 200
    fakes.add_fault("aiployees", "error", path="/api/user/lead", times=1)
    assert requests.post(url, json=body, headers=headers, timeout=5).status_code == 500
    receipts = requests.get(
        f"{fakes.url}/_control/receipts", params={"provider": "aiployees"}, timeout=5
    ).json()
    assert receipts == {PHONES[1]: {"received": 2, "created": 1}}


def test_a_fault_with_a_duration_expires(fakes):
    answer = requests.post(
        f"{fakes.url}/_control/faults",
        json={"provider": "aello", "kind": "error", "path": "/leads", "duration": 0.5},
        timeout=5,
    )
    assert answer.status_code == 201 and answer.json()["until"] > time.time()
    url = fakes.base_url("aello") + "/leads"
    headers = {"Aello-Api-Key": "fake-aello-token"}
    body = {"contact": {"firstName": "Ann", "email": "ann@example.com"}, "externalId": "x-1"}
    assert requests.post(url, json=body, headers=headers, timeout=5).status_code == 500
    time.sleep(0.6)
    assert requests.post(url, json=body, headers=headers, timeout=5).status_code == 202


class FlakyReceiver:
    """A bridge stand-in answering 503 to the first ``failures`` posts, then 200."""

    def __init__(self, failures: int):
        self.bodies: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers["Content-Length"])
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                status = 503 if len(receiver.bodies) <= failures else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hooks/x/y/"


def test_a_webhook_is_retried_until_acknowledged_and_logged(fakes):
    receiver = FlakyReceiver(failures=2)
    try:
        requests.post(
            f"{fakes.url}/_control/webhook",
            json={
                "provider": "aiployees",
                "url": receiver.url,
                "delay": 0,
                "retries": 4,
                "retry_backoff": 0.05,
            },
            timeout=5,
        ).raise_for_status()
        requests.post(
            fakes.base_url("aiployees") + "/api/user/lead",
            json={"phone_number": PHONES[2], "campaign_id": 1},
            headers={"Authorization": "Bearer fake-aiployees-token"},
            timeout=5,
        ).raise_for_status()
        deadline = time.monotonic() + 10
        while len(receiver.bodies) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.1)
        log = requests.get(
            f"{fakes.url}/_control/webhooks", params={"provider": "aiployees"}, timeout=5
        ).json()
    finally:
        receiver.httpd.shutdown()
    call_id = str(receiver.bodies[0]["id"])
    assert [body["id"] for body in receiver.bodies] == [int(call_id)] * 3  # the same event
    assert log == [{"key": call_id, "attempts": 3, "status": 200, "acknowledged": True}]


def test_post_with_retries_gives_up_after_its_retries():
    log = WebhookLog()
    entry = log.start("e1")
    answers = iter([OSError("refused"), 500, 502])

    def send():
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert not post_with_retries(send, entry, log, retries=2, sleep=lambda _: None)
    assert log.as_list() == [{"key": "e1", "attempts": 3, "status": 502, "acknowledged": False}]


def test_the_docs_section_is_replaced_between_its_markers(tmp_path, monkeypatch):
    from bench.chaos import report

    docs = tmp_path / "benchmarks.md"
    docs.write_text("# Benchmarks\n\nBefore.\n")
    monkeypatch.setattr(report, "DOCS", docs)
    verdict = checker.check(clean())
    details = {
        "date": "today",
        "seed": 19,
        "drain_s": 3.0,
        "intake_statuses": {"202": 3},
        "intake_retries": 0,
        "restarts": {"web": 0},
        "fakes_rss_growth_pct": 5.0,
        "schedule": ["   1.0s SIGKILL worker 1 of cluster-1"],
    }
    values = report.figures(1.0, verdict)
    report.write_docs(report.section(values, verdict, details))
    report.write_docs(report.section({**values, "soak_leads": 4}, verdict, details))
    text = docs.read_text()
    assert text.startswith("# Benchmarks\n\nBefore.\n")
    assert text.count(report.START) == 1 and text.count(report.END) == 1
    assert "| `soak_leads` | 4 | — |" in text
    assert "python bench/soak.py --minutes 1 --seed 19" in text
