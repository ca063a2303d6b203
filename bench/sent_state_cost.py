"""What SentState's triggers cost the outbox's writes: ``python bench/sent_state_cost.py``.

The same writes to 10,000 deliveries timed with the triggers on and off (PostgreSQL's
``session_replication_role = replica`` skips them, in this session only), best of a few
repeats each: ``outbox.enqueue`` (one bulk insert), a claim (one UPDATE to "sending"), the
results (one UPDATE to "delivered"), a worker's one-row saves (500 ``save()`` calls, as a
sending thread records each answer), a retry of failures (an UPDATE of attempts and error),
and deleting them. Each has its ratio (on / off); ``sent_state_write_cost_max`` is the worst.
After the "on" runs the table is checked against the deliveries (``differences``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common  # noqa: E402


def triggers(on: bool) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"SET session_replication_role = {'origin' if on else 'replica'}")


def writes(account, lead_ids: list[int]) -> dict[str, float]:
    """Seconds for each kind of write, in the outbox's order."""
    from django.utils import timezone

    from bridge import outbox
    from bridge.models import Delivery, Lead, PushBatch

    Delivery.objects.all().delete()
    PushBatch.objects.all().delete()
    spent = {}

    def timed(name, work):
        started = time.perf_counter()
        work()
        spent[name] = time.perf_counter() - started

    timed("enqueue", lambda: outbox.enqueue(Lead, {account: lead_ids}))
    rows = Delivery.objects.filter(account=account)
    timed("claim", lambda: rows.update(state="sending", claimed_at=timezone.now()))
    now = timezone.now()
    timed("delivered", lambda: rows.update(state="delivered", attempts=1, delivered_at=now))

    def saves():
        for delivery in Delivery.objects.order_by("pk")[:500]:
            delivery.state, delivery.attempts = "failed", 2
            delivery.error_message = "HTTP 503"
            delivery.save(update_fields=["state", "attempts", "error_message", "updated_at"])

    timed("worker_saves_500", saves)
    timed("retry", lambda: rows.filter(state="failed").update(state="pending", attempts=3))
    timed("delete", lambda: rows.delete())
    return spent


def run(leads: int, repeats: int) -> dict:
    from bridge.db import sent_state
    from bridge.models import ProviderAccount

    common.reset_push_tables()
    lead_ids = common.seed_leads(leads)
    account = ProviderAccount.objects.create(
        provider="aello", name="aello", base_url="http://127.0.0.1:9/aello", credential="x" * 12
    )
    timings = {"on": [], "off": []}
    for _ in range(repeats):
        for mode in ("off", "on"):
            triggers(mode == "on")
            timings[mode].append(writes(account, lead_ids))
    triggers(True)
    best = {
        mode: {name: round(min(run[name] for run in runs), 3) for name in runs[0]}
        for mode, runs in timings.items()
    }
    ratios = {name: round(best["on"][name] / best["off"][name], 2) for name in best["on"]}
    # The table after a full "on" pass, then an enqueue left in place: right, row for row.
    writes(account, lead_ids)
    from bridge import outbox
    from bridge.models import Lead

    outbox.enqueue(Lead, {account: lead_ids})
    return {
        "leads": leads,
        "best_s": best,
        "ratios": ratios,
        "differences_after": sent_state.differences(),
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    common.setup_django()
    result = run(args.leads, args.repeats)
    common.say(f"sent_state cost: {result}")
    figures = {}
    if args.leads == 10_000:
        figures = {"sent_state_write_cost_max": max(result["ratios"].values())}
    common.write_results(figures, {"sent_state_cost": result})
    print(result["ratios"])
    return figures


if __name__ == "__main__":
    main()
