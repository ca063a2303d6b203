"""Push throughput against the physical limit: ``python bench/push_throughput.py``.

Leads are enqueued through ``bridge.outbox.enqueue`` and drained by ``drain_account`` in this
process (one thread per leased slot, as a django-q2 worker runs it) into the fake Aéllo, which
runs in its own process and answers every ``POST /leads`` after a fixed latency L. With an
account concurrency C and a request rate high enough not to bind, the limit is C / L deliveries
per second; the figure is achieved / limit, measured from the enqueue to the last delivery.
A plain sequential ``requests.post`` loop over the same leads is measured beside it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common  # noqa: E402

LATENCY = 0.05
REQUESTS_PER_SECOND = 1000.0  # C / rps stays under L for C ≤ 32: the latency binds


def push_run(fakes, concurrency: int, leads: int, latency: float) -> dict:
    """Enqueue and drain ``leads`` leads with concurrency C; returns the run's numbers."""
    from bridge import outbox
    from bridge.models import Delivery, Lead

    common.reset_push_tables()
    fakes.reset()
    fakes.add_fault("latency", path="/leads", seconds=latency)
    lead_ids = common.seed_leads(leads)
    account = common.make_account(
        fakes, concurrency=concurrency, requests_per_second=REQUESTS_PER_SECOND
    )
    started = time.perf_counter()
    outbox.enqueue(Lead, {account: lead_ids})
    outbox.run_until_settled([account.pk], timeout=max(120.0, leads * latency / concurrency * 4))
    elapsed = time.perf_counter() - started
    states = dict(
        Delivery.objects.values_list("state").annotate(n=__import__("django").db.models.Count("id"))
    )
    at_fake = fakes.state()
    limit = concurrency / latency
    achieved = states.get("delivered", 0) / elapsed
    return {
        "concurrency": concurrency,
        "leads": leads,
        "latency_s": latency,
        "elapsed_s": round(elapsed, 3),
        "achieved_per_s": round(achieved, 1),
        "limit_per_s": limit,
        "ratio": round(achieved / limit, 3),
        "states": states,
        "leads_at_fake": at_fake["distinct_external_ids"],
    }


def sequential_run(fakes, leads: int, latency: float) -> dict:
    """A plain ``requests.post`` loop over the same leads' payloads, one after the other."""
    import requests

    from bridge.models import Lead
    from bridge.records import lead_data
    from integrations.aello import build_lead_payload

    fakes.reset()
    fakes.add_fault("latency", path="/leads", seconds=latency)
    payloads = [
        build_lead_payload(lead_data(lead))
        for lead in Lead.objects.select_related("contact").order_by("id")[:leads]
    ]
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
    args = parser.parse_args(argv)
    common.setup_django()
    runs = {}
    with common.FakeProviders(record=False) as fakes:
        for concurrency in args.concurrency:
            leads = args.leads_c1 if concurrency == 1 else args.leads
            common.say(f"push: C={concurrency}, {leads} leads, L={args.latency * 1000:g} ms")
            runs[f"c{concurrency}"] = run = push_run(fakes, concurrency, leads, args.latency)
            common.say(f"  {run}")
        sequential = sequential_run(fakes, args.leads_c1, args.latency)
        common.say(f"sequential requests.post: {sequential}")
    figures = {f"push_ratio_{name}": run["ratio"] for name, run in runs.items()}
    figures = {k: v for k, v in figures.items() if k in common.RESULT_KEYS}
    figures["push_sequential_ratio"] = sequential["ratio"]
    common.write_results(
        figures, {"push": {"mode": "in-process threads", "runs": runs, "sequential": sequential}}
    )
    print(figures)
    return figures


if __name__ == "__main__":
    main()
