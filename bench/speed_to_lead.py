"""Speed to lead: from a web form's POST to the AI caller's 2xx, through the whole bridge.

``python bench/speed_to_lead.py`` (or ``make bench``) runs, on the benchmark database:

1. **Speed to lead**, once on the embedded default (django-q2's ORM broker) and once on Redis:
   the intake API served by gunicorn (a real WSGI server, as in production), one routing rule
   sending every lead of the bench source to an Aiployees account on the fake providers, whose
   ``POST /api/user/lead`` answers after a latency fault of L = 50 ms, and a django-q2 cluster
   in its own process. Leads are posted at 20 a second for two minutes; for each, the time from
   the moment its POST was sent to the moment the fake answered the bridge's push 2xx.
   Targets: p95 ≤ L + 1 s on the ORM broker, ≤ L + 250 ms on Redis.
2. **Intake throughput**: accepted leads a second of ``POST /api/v1/leads`` against a bare
   Django view doing one INSERT of a lead row (``bench/urls.py``), same gunicorn, same
   database, same clients, alternated side by side. Target: ratio ≥ 0.7. No routing rule is
   enabled during this part (the intake alone is measured).

Figures: ``speed_to_lead_p95_ms_orm``, ``speed_to_lead_p95_ms_redis``,
``speed_to_lead_p99_ms_redis``, ``intake_ratio_vs_bare``, ``intake_rps`` in
bench/results.json; every run in bench/details.json.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common  # noqa: E402

LATENCY = 0.05
RATE = 20.0
SOURCE = "bench-web-form"
ACCOUNT = "bench-aiployees"


# --- the processes: gunicorn and a django-q2 cluster ----------------------------------------


def _env(**extra: str) -> dict:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "BENCH_URLS": "true",
        "LOG_LEVEL": "WARNING",
    }
    env.update(extra)
    return env


@contextlib.contextmanager
def process(command: list[str], env: dict, ready=None, timeout: float = 60.0):
    """A child process for the block; ``ready()`` is polled until true (or it fails)."""
    child = subprocess.Popen(
        command,
        cwd=common.ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + timeout
        while ready is not None and not ready():
            if child.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{command[0]} did not start")
            time.sleep(0.1)
        yield child
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGTERM)
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()


def gunicorn(port: int, env: dict, workers: int):
    """The project's WSGI app under gunicorn: ``workers`` processes of 4 threads."""
    url = f"http://127.0.0.1:{port}"

    def answering() -> bool:
        with contextlib.suppress(requests.RequestException):
            requests.get(f"{url}/api/v1/leads", timeout=5)
            return True
        return False

    command = [
        common.PYTHON,
        "-m",
        "gunicorn",
        "bridge.wsgi",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--threads",
        "4",
        "--log-level",
        "warning",
    ]
    return process(command, env, answering)


def qcluster(env: dict):
    """``manage.py qcluster`` in its own process group."""
    return process([common.PYTHON, "manage.py", "qcluster"], env)


# --- set-up through the commands staff would use ---------------------------------------------


def set_up(fakes: common.FakeProviders) -> str:
    """A fresh database with the Aiployees account, the intake source and one routing rule;
    returns the source's token (printed once by ``intake_source``)."""
    from django.core.management import call_command

    from bridge.models import IntakeSource, ProviderAccount, RoutingRule

    common.reset_push_tables()
    IntakeSource.objects.all().delete()
    RoutingRule.objects.all().delete()
    account = ProviderAccount(
        provider="aiployees",
        name=ACCOUNT,
        base_url=f"{fakes.url}/aiployees",
        credential="fake-aiployees-token",
        connect_timeout=1.0,
        read_timeout=5.0,
        concurrency=8,
        requests_per_second=100.0,  # the default 10/s budget is below the 20 leads/s posted
    )
    account.full_clean()
    account.save()
    token = _call(call_command, "intake_source", SOURCE, "--rate-limit", "100000").strip()
    _call(
        call_command,
        "routes",
        "add",
        "bench-to-aiployees",
        "--source",
        SOURCE,
        "--account",
        ACCOUNT,
        "--option",
        "campaign_id=1",
    )
    return token


def _call(command, *args) -> str:
    from io import StringIO

    out = StringIO()
    command(*args, stdout=out)
    return out.getvalue()


# --- speed to lead ---------------------------------------------------------------------------


def lead_body(n: int, run: str) -> dict:
    """One web-form lead with a phone of its own (the fake's request says which lead it was)."""
    return {
        "contact": {
            "firstName": f"Speed{n}",
            "lastName": "Lead",
            "email": f"speed{n}.{run}@example.com",
            "phone": f"+1212{6000000 + n:07d}",
        },
        "product": {"reference": f"REF{n}", "title": "Renault Midlum 190.08"},
        "message": "Is it still available?",
        "externalId": f"{run}-{n}",
    }


def post_at_rate(
    url: str, token: str, count: int, rate: float, run: str
) -> tuple[dict[str, float], list[float]]:
    """POST ``count`` leads at ``rate`` a second; the wall time each POST was sent, by phone,
    and each POST's answer time in milliseconds."""
    sent: dict[str, float] = {}
    answer_ms: list[float] = []
    failures: list[str] = []
    local = threading.local()

    def post(n: int) -> None:
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        body = lead_body(n, run)
        sent[body["contact"]["phone"]] = time.time()
        started = time.perf_counter()
        response = session.post(
            f"{url}/api/v1/leads",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        answer_ms.append(round((time.perf_counter() - started) * 1000, 1))
        if response.status_code != 202:
            failures.append(f"{response.status_code} {response.text[:200]}")

    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=16) as pool:
        for n in range(count):
            delay = start + n / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            pool.submit(post, n)
    if failures:
        raise RuntimeError(f"{len(failures)} posts refused, first: {failures[0]}")
    return sent, answer_ms


def _pushes(fakes: common.FakeProviders) -> int:
    """How many pushes the fake Aiployees has received."""
    params = {"provider": "aiployees", "method": "POST", "limit": 1}
    return fakes.control("GET", "/requests", params=params)["count"]


def answered_at(fakes: common.FakeProviders, count: int) -> dict[str, float]:
    """When the fake Aiployees answered each lead's push (wall time), by phone; the first."""
    found = fakes.control(
        "GET", "/requests", params={"provider": "aiployees", "method": "POST", "limit": count * 2}
    )["requests"]
    answers: dict[str, float] = {}
    for request in found:
        phone = (request.get("json") or {}).get("phone_number", "")
        held = max(0.0, request["answer_at"] - request["arrived"]) if request["answer_at"] else 0
        answers.setdefault(phone, request["received_at"] + held)
    return answers


def speed_run(broker: str, seconds: float, workers: int) -> dict:
    """Post leads at RATE for ``seconds`` and time each one to the provider's answer."""
    count = int(seconds * RATE)
    redis_url = "redis://127.0.0.1:6379/0" if broker == "redis" else ""
    cluster = f"bench-stl-{uuid.uuid4().hex[:8]}"
    env = _env(REDIS_URL=redis_url, Q_CLUSTER_NAME=cluster, BRIDGE_KICK_WORKERS="true")
    with common.FakeProviders(record=True) as fakes:
        token = set_up(fakes)
        fakes.add_fault("latency", provider="aiployees", path="/api/user/lead", seconds=LATENCY)
        port = common.free_port()
        with qcluster(env), gunicorn(port, env, workers):
            time.sleep(3)  # the cluster's workers start
            sent, answer_ms = post_at_rate(f"http://127.0.0.1:{port}", token, count, RATE, cluster)
            deadline = time.monotonic() + 60
            while _pushes(fakes) < count:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            answers = answered_at(fakes, count)
    latencies = [answers[p] - sent[p] for p in sent if p in answers]
    if os.environ.get("BENCH_DUMP"):
        Path(os.environ["BENCH_DUMP"]).write_text(
            "\n".join(f"{sent[p]:.3f} {answers[p] - sent[p]:.3f} {p}" for p in sent if p in answers)
        )
    if len(latencies) < count:
        raise RuntimeError(f"{broker}: {count - len(latencies)} of {count} leads never arrived")
    ms = [round(1000 * value, 1) for value in latencies]
    return {
        "broker": broker,
        "leads": count,
        "rate_per_s": RATE,
        "latency_fault_ms": LATENCY * 1000,
        "p50_ms": common.percentile(ms, 0.50),
        "p95_ms": common.percentile(ms, 0.95),
        "p99_ms": common.percentile(ms, 0.99),
        "max_ms": max(ms),
        "intake_answer_p50_ms": common.percentile(answer_ms, 0.50),
        "intake_answer_p95_ms": common.percentile(answer_ms, 0.95),
    }


# --- intake throughput -----------------------------------------------------------------------


#: Numbers of the throughput's leads: each gets a phone nobody has (a new contact), in every
#: round and client, after the speed runs' (``lead_body`` turns n into +1 212 6xx-xxxx…).
_numbers = itertools.count(100_000)


def hammer(url: str, path: str, token: str, seconds: float, clients: int, run: str) -> float:
    """Accepted requests a second from ``clients`` threads posting leads for ``seconds``.

    Every request must be accepted: a refusal means the benchmark, not the server, is wrong
    (it would count the cheap refusals' time against the accepted leads), so it stops here.
    """
    accepted = [0] * clients
    refused: list[str] = []
    stop = time.monotonic() + seconds

    def client(index: int) -> None:
        session = requests.Session()
        while time.monotonic() < stop and not refused:
            body = lead_body(next(_numbers), f"{run}-{index}")
            response = session.post(
                f"{url}{path}",
                json=body,
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            )
            if response.status_code in (200, 201, 202):
                accepted[index] += 1
            else:
                refused.append(f"{response.status_code} {response.text[:300]}")

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if refused:
        raise SystemExit(f"{path} refused a benchmark lead: {refused[0]}")
    return round(sum(accepted) / (time.monotonic() - started), 1)


def _drop_queued_tasks() -> None:
    """The routing tasks the intake queued while no cluster ran (ORM broker)."""
    from django_q.models import OrmQ

    OrmQ.objects.all().delete()


def throughput(seconds: float, rounds: int, clients: int, workers: int) -> dict:
    """The intake API against the bare view, alternated ``rounds`` times on one server."""
    from bridge.models import RoutingRule

    # Workers are woken as in production (the routing task is queued on commit), but no
    # cluster runs here: the intake's own cost is measured, not the routing's.
    env = _env(BRIDGE_KICK_WORKERS="true")
    with common.FakeProviders(record=False) as fakes:
        token = set_up(fakes)
        RoutingRule.objects.update(enabled=False)
        port = common.free_port()
        url = f"http://127.0.0.1:{port}"
        intake, bare = [], []
        with gunicorn(port, env, workers):
            hammer(url, "/api/v1/leads", token, 2, clients, "warm")
            for index in range(rounds):
                run = uuid.uuid4().hex[:6]
                intake.append(hammer(url, "/api/v1/leads", token, seconds, clients, run))
                bare.append(hammer(url, "/bench/bare-lead", token, seconds, clients, run))
                common.say(f"  round {index + 1}: intake {intake[-1]}/s, bare {bare[-1]}/s")
    _drop_queued_tasks()
    ratios = [round(a / b, 3) for a, b in zip(intake, bare, strict=True)]
    return {
        "clients": clients,
        "gunicorn_workers": workers,
        "seconds_per_round": seconds,
        "intake_rps": intake,
        "bare_rps": bare,
        "ratios": ratios,
        "ratio": sorted(ratios)[len(ratios) // 2],
        "intake_rps_median": sorted(intake)[len(intake) // 2],
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120, help="Posting time per broker.")
    parser.add_argument("--brokers", nargs="*", default=["orm", "redis"], choices=["orm", "redis"])
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes.")
    parser.add_argument("--rounds", type=int, default=3, help="Throughput rounds (alternated).")
    parser.add_argument("--round-seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args(argv)
    common.setup_django()
    runs, figures = {}, {}
    for broker in args.brokers:
        common.say(f"speed to lead on the {broker} broker, {args.seconds:g} s at {RATE:g}/s")
        runs[broker] = speed_run(broker, args.seconds, args.workers)
        common.say(f"  {runs[broker]}")
        figures[f"speed_to_lead_p95_ms_{broker}"] = runs[broker]["p95_ms"]
        if broker == "redis":
            figures["speed_to_lead_p99_ms_redis"] = runs[broker]["p99_ms"]
    details = {"speed_to_lead": runs}
    if not args.skip_throughput:
        common.say("intake throughput against the bare view")
        measured = throughput(args.round_seconds, args.rounds, args.clients, args.workers)
        figures["intake_ratio_vs_bare"] = measured["ratio"]
        figures["intake_rps"] = measured["intake_rps_median"]
        details["intake_throughput"] = measured
    common.write_results(figures, details)
    print(figures)
    return figures


if __name__ == "__main__":
    main()
