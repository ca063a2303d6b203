"""Enqueue time for 10,000 selected leads: ``python bench/enqueue.py``.

Three timings on PostgreSQL, side by side in one run, best of a few repeats each:
``bridge.outbox.enqueue`` (what the bulk action calls: one batch row, one bulk insert), a bare
``Delivery.objects.bulk_create`` of the same rows (the floor), and the whole admin action
through Django's test Client (a superuser confirming "Push to providers…" with "select all
10,000"). The same on SQLite for reference (a child process with ``DATABASE_URL`` set).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common  # noqa: E402

SQLITE_URL = f"sqlite:///{common.ROOT / 'var' / 'bench-enqueue.sqlite3'}"


def _clear_deliveries() -> None:
    from bridge.models import Delivery, PushBatch

    Delivery.objects.all().delete()
    PushBatch.objects.all().delete()


def time_enqueue(account, lead_ids: list[int]) -> float:
    """Seconds for ``outbox.enqueue`` of these leads to one account."""
    from bridge import outbox
    from bridge.models import Lead

    _clear_deliveries()
    started = time.perf_counter()
    batch = outbox.enqueue(Lead, {account: lead_ids})
    elapsed = time.perf_counter() - started
    assert batch.deliveries.count() == len(lead_ids)
    return elapsed


def time_bare_bulk_create(account, lead_ids: list[int]) -> float:
    """Seconds for a bare ``bulk_create`` of the same deliveries (the floor)."""
    from django.contrib.contenttypes.models import ContentType

    from bridge.models import Delivery, Lead

    _clear_deliveries()
    content_type = ContentType.objects.get_for_model(Lead)
    started = time.perf_counter()
    Delivery.objects.bulk_create(
        [Delivery(account=account, content_type=content_type, object_id=i) for i in lead_ids]
    )
    return time.perf_counter() - started


def time_admin_action(client, account, lead_ids: list[int]) -> float:
    """Seconds for the admin's confirmed "Push to providers…" over every lead."""
    from bridge.models import Delivery

    _clear_deliveries()
    started = time.perf_counter()
    response = client.post(
        "/admin/bridge/lead/",
        {
            "action": "push_any_push",
            "_selected_action": [lead_ids[0]],
            "select_across": "1",
            "confirm": "yes",
            "accounts": [account.pk],
        },
    )
    elapsed = time.perf_counter() - started
    assert response.status_code == 302, response.status_code
    assert Delivery.objects.count() == len(lead_ids)
    return elapsed


def run(leads: int, repeats: int) -> dict:
    """Seed ``leads`` leads and time the three ways, best of ``repeats``."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    from bridge.models import ProviderAccount

    common.reset_push_tables()
    lead_ids = common.seed_leads(leads)
    account = ProviderAccount.objects.create(
        provider="aello", name="aello", base_url="http://127.0.0.1:9/aello", credential="x" * 12
    )
    user, _ = get_user_model().objects.get_or_create(
        username="bench-admin", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(user)
    timings = {"enqueue": [], "bulk_create": [], "admin_action": []}
    for _ in range(repeats):
        timings["bulk_create"].append(time_bare_bulk_create(account, lead_ids))
        timings["enqueue"].append(time_enqueue(account, lead_ids))
        timings["admin_action"].append(time_admin_action(client, account, lead_ids))
    best = {name: round(min(values), 3) for name, values in timings.items()}
    return {
        "database": connection.vendor,
        "leads": leads,
        "best_s": best,
        "all_s": {name: [round(v, 3) for v in values] for name, values in timings.items()},
        "enqueue_vs_bulk_create": round(best["enqueue"] / best["bulk_create"], 2),
        "admin_vs_bulk_create": round(best["admin_action"] / best["bulk_create"], 2),
    }


def main(argv=None) -> dict:
    """PostgreSQL figures (recorded), then SQLite's in a child process (for reference)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        common.setup_django()
        print(json.dumps(run(args.leads, args.repeats)))
        return {}
    common.setup_django()
    postgresql = run(args.leads, args.repeats)
    common.say(f"enqueue on PostgreSQL: {postgresql}")
    child = subprocess.run(
        [sys.executable, __file__, "--child", "--leads", str(args.leads)],
        env={**os.environ, "DATABASE_URL": SQLITE_URL},
        capture_output=True,
        text=True,
        check=True,
    )
    sqlite = json.loads(child.stdout.strip().splitlines()[-1])
    common.say(f"enqueue on SQLite: {sqlite}")
    figures = {"enqueue_10k_s": postgresql["best_s"]["enqueue"]} if args.leads == 10_000 else {}
    common.write_results(figures, {"enqueue": {"postgresql": postgresql, "sqlite": sqlite}})
    print(figures or postgresql["best_s"])
    return figures


if __name__ == "__main__":
    main()
