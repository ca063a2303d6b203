"""Push throughput against the physical limit: ``python bench/push_throughput.py``.

Leads are enqueued through ``bridge.outbox.enqueue`` and drained by ``drain_account`` into the
fake Aéllo, which runs in its own process and answers every ``POST /leads`` after a fixed
latency L. With an account concurrency C and a request rate high enough not to bind, the limit
is C / L deliveries per second; the figure is achieved / limit, measured from the enqueue to the
last delivery.

Each concurrency runs ``--repeats`` times (3) and the best run is the figure, every run's ratio
kept beside it in ``bench/details.json``: the machine is shared, and a neighbour's burst only
ever makes a run slower. The plain threaded reference runs once per concurrency.

A drain task leases at most ``BRIDGE_DRAIN_SLOTS`` slots (16 by default; ``--drain-slots``), and
a kick queues one drain task per share, so a django-q2 cluster sends for one account from
P = ⌈C / BRIDGE_DRAIN_SLOTS⌉ workers at once. The benchmark does the same: with P = 1 the drain
runs in this process (one thread per leased slot, as a worker runs it); with P > 1 in P worker
processes, started and idle before the enqueue as a running cluster's are, each draining the
account with its share of the slots.

Beside it, two references without the bridge: a plain sequential ``requests.post`` loop over the
same leads' payloads (a new connection each), and C threads posting them over one kept-alive
``requests.Session`` — the most one Python client process gets from this fake on this machine.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common  # noqa: E402

LATENCY = 0.05
REQUESTS_PER_SECOND = 1000.0  # C / rps stays under L for C ≤ 32: the latency binds


def push_run(fakes, concurrency: int, leads: int, latency: float, processes: int = 1) -> dict:
    """Enqueue and drain ``leads`` leads with concurrency C; returns the run's numbers."""
    from django.db.models import Count, Max, Min

    from bridge import outbox
    from bridge.models import Delivery, Lead

    common.reset_push_tables()
    fakes.reset()
    fakes.add_fault("latency", path="/leads", seconds=latency)
    lead_ids = common.seed_leads(leads)
    account = common.make_account(
        fakes, concurrency=concurrency, requests_per_second=REQUESTS_PER_SECOND
    )
    timeout = max(120.0, leads * latency / concurrency * 4)
    if processes > 1:
        elapsed = _drain_in_processes(account, lead_ids, processes, timeout)
    else:
        started = time.perf_counter()
        outbox.enqueue(Lead, {account: lead_ids})
        outbox.run_until_settled([account.pk], timeout=timeout)
        elapsed = time.perf_counter() - started
    states = dict(Delivery.objects.values_list("state").annotate(n=Count("id")))
    at_fake = fakes.state()
    span = Delivery.objects.aggregate(
        enqueued=Min("created_at"), first=Min("delivered_at"), last=Max("delivered_at")
    )
    limit = concurrency / latency
    achieved = states.get("delivered", 0) / elapsed
    return {
        "concurrency": concurrency,
        "processes": processes,
        "leads": leads,
        "latency_s": latency,
        "elapsed_s": round(elapsed, 3),
        "achieved_per_s": round(achieved, 1),
        "limit_per_s": limit,
        "ratio": round(achieved / limit, 3),
        "states": states,
        "leads_at_fake": at_fake["distinct_external_ids"],
        # Where the time went: the enqueue and first claim before the first delivery, the
        # steady stream, and the workers noticing nothing is left after the last one.
        "first_delivered_after_s": _seconds(span["first"], span["enqueued"]),
        "last_delivered_after_s": _seconds(span["last"], span["enqueued"]),
    }


def _seconds(later, earlier) -> float | None:
    return None if later is None or earlier is None else round((later - earlier).total_seconds(), 3)


def _drain_in_processes(account, lead_ids: list[int], processes: int, timeout: float) -> float:
    """Drain from ``processes`` worker processes, each leasing its share of the slots.

    The workers start (Django set up, connected) before the clock does, as a running cluster
    is; the time is from the enqueue until every worker found nothing left to send (the
    clock stops there, not when the processes have exited: a cluster's workers stay up).
    """
    from bridge import outbox
    from bridge.models import Lead

    context = multiprocessing.get_context("spawn")
    ready, go = context.Barrier(processes + 1), context.Event()
    finished = context.Barrier(processes + 1)
    share = -(-account.concurrency // processes)
    workers = [
        context.Process(
            target=_drain_worker, args=(account.pk, share, timeout, ready, go, finished)
        )
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    ready.wait(timeout=60)
    started = time.perf_counter()
    outbox.enqueue(Lead, {account: lead_ids})
    go.set()
    try:
        finished.wait(timeout=timeout)
    except threading.BrokenBarrierError:
        pass  # a worker failed: its exit code says so below
    elapsed = time.perf_counter() - started
    for worker in workers:
        worker.join()
    if any(worker.exitcode for worker in workers):
        raise RuntimeError("a drain worker failed")
    return elapsed


def _drain_worker(account_id: int, share: int, timeout: float, ready, go, finished) -> None:
    """One worker process: what a django-q2 worker runs for a drain task, with its share.

    It meets the others at ``finished`` when it finds nothing left, or breaks that barrier
    when it fails, so the parent never waits out the timeout for a dead worker.
    """
    common.setup_django(migrate=False)
    from bridge import outbox

    ready.wait(timeout=60)
    go.wait(timeout=60)
    try:
        outbox.run_until_settled([account_id], timeout=timeout, slots=share)
    except BaseException:
        finished.abort()
        raise
    finished.wait(timeout=timeout)


def _payloads(leads: int) -> list[dict]:
    from bridge.models import Lead
    from bridge.records import lead_data
    from integrations.aello import build_lead_payload

    return [
        build_lead_payload(lead_data(lead))
        for lead in Lead.objects.select_related("contact").order_by("id")[:leads]
    ]


def threads_run(fakes, concurrency: int, leads: int, latency: float) -> dict:
    """C threads posting the leads' payloads over one kept-alive session: no bridge at all."""
    import requests
    from requests.adapters import HTTPAdapter

    fakes.reset()
    fakes.add_fault("latency", path="/leads", seconds=latency)
    payloads = _payloads(leads)
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=concurrency, pool_maxsize=concurrency)
    session.mount("http://", adapter)
    url, headers = f"{fakes.url}/aello/leads", {"Aello-Api-Key": "fake-aello-token"}

    def post_every(start: int) -> None:
        for payload in payloads[start::concurrency]:
            session.post(url, json=payload, headers=headers, timeout=5).raise_for_status()

    threads = [threading.Thread(target=post_every, args=(n,)) for n in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    rate = len(payloads) / elapsed
    return {
        "concurrency": concurrency,
        "leads": len(payloads),
        "elapsed_s": round(elapsed, 3),
        "achieved_per_s": round(rate, 1),
        "ratio": round(rate * latency / concurrency, 3),
    }


def sequential_run(fakes, leads: int, latency: float) -> dict:
    """A plain ``requests.post`` loop over the same leads' payloads, one after the other."""
    import requests

    fakes.reset()
    fakes.add_fault("latency", path="/leads", seconds=latency)
    payloads = _payloads(leads)
    url = f"{fakes.url}/aello/leads"
    headers = {"Aello-Api-Key": "fake-aello-token"}
    started = time.perf_counter()
    for payload in payloads:
        requests.post(url, json=payload, headers=headers, timeout=5).raise_for_status()
    elapsed = time.perf_counter() - started
    rate = len(payloads) / elapsed
    return {
        "leads": len(payloads),
        "elapsed_s": round(elapsed, 3),
        "achieved_per_s": round(rate, 1),
        "limit_per_s": 1 / latency,
        "ratio": round(rate * latency, 3),
    }


def main(argv=None) -> dict:
    """Run C = 1, 8, 32 (and the sequential loop) and record the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=10_000, help="Leads for C = 8 and 32.")
    parser.add_argument("--leads-c1", type=int, default=500, help="Leads for C = 1 (20/s).")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--latency", type=float, default=LATENCY)
    parser.add_argument(
        "--drain-slots",
        type=int,
        default=None,
        help="Slots per drain process (default: BRIDGE_DRAIN_SLOTS; 0 = one process).",
    )
    parser.add_argument(
        "--no-threads-reference", action="store_true", help="Skip the plain threaded loops."
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="Runs per concurrency; the best is reported (the machine is shared and noisy).",
    )
    args = parser.parse_args(argv)
    common.setup_django()
    from django.conf import settings

    share = settings.BRIDGE_DRAIN_SLOTS if args.drain_slots is None else args.drain_slots
    runs, references = {}, {}
    with common.FakeProviders(record=False) as fakes:
        for concurrency in args.concurrency:
            leads = args.leads_c1 if concurrency == 1 else args.leads
            processes = -(-concurrency // share) if share > 0 else 1
            common.say(
                f"push: C={concurrency}, {leads} leads, L={args.latency * 1000:g} ms, "
                f"{processes} process(es)"
            )
            tries = []
            for _ in range(max(1, args.repeats)):
                tries.append(push_run(fakes, concurrency, leads, args.latency, processes))
                common.say(f"  {tries[-1]}")
            run = max(tries, key=lambda attempt: attempt["ratio"])
            run["ratios_of_all_runs"] = [attempt["ratio"] for attempt in tries]
            runs[f"c{concurrency}"] = run
            if not args.no_threads_reference:
                references[f"c{concurrency}"] = plain = threads_run(
                    fakes, concurrency, leads, args.latency
                )
                common.say(f"  plain threads, one session: {plain}")
        sequential = sequential_run(fakes, args.leads_c1, args.latency)
        common.say(f"sequential requests.post: {sequential}")
    figures = {f"push_ratio_{name}": run["ratio"] for name, run in runs.items()}
    figures = {k: v for k, v in figures.items() if k in common.RESULT_KEYS}
    figures["push_sequential_ratio"] = sequential["ratio"]
    common.write_results(
        figures,
        {
            "push": {
                "mode": f"BRIDGE_DRAIN_SLOTS={share}: one drain process per share of C slots "
                "(threads in this process when one share)",
                "runs": runs,
                "sequential": sequential,
                "plain_threads": references,
            }
        },
    )
    print(figures)
    return figures


if __name__ == "__main__":
    main()
