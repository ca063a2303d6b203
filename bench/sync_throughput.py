"""Leeloo people sync against a raw upsert: ``python bench/sync_throughput.py``.

Needs the Leeloo sync (``bridge/sync.py``) and the fake Leeloo (``integrations/fakes/
leeloo.py``); until they are on this branch it says so, records the sync keys as null and
exits 0.

For 10,000 and then 100,000 people seeded in the fake Leeloo (its own process), a full
``bridge.sync.run_sync(account, "people")`` runs in a child process, which reports its
records/s and its peak RSS (``ru_maxrss``). In the same run, the raw baseline reads the same
pages with the same client and writes each page with one psycopg ``INSERT … ON CONFLICT DO
UPDATE`` into a plain table: the ratio is the sync's rate over the raw one.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common  # noqa: E402

DATABASE_URL = "postgres://postgres@127.0.0.1:5432/crm_bench_sync"
SEED_START = datetime(2024, 1, 1, tzinfo=UTC)
RAW_TABLE = "bench_raw_people"


def missing() -> str:
    """Why the sync cannot be measured on this branch yet ("" when it can)."""
    for module, path in (
        ("bridge.sync", "bridge/sync.py"),
        ("integrations.fakes.leeloo", "integrations/fakes/leeloo.py"),
    ):
        if importlib.util.find_spec(module) is None:
            return f"{path} is not on this branch yet (the Leeloo sync lands from branch 'sync')"
    return ""


def leeloo_account(fakes_url: str):
    """A Leeloo account on the fake, with budget enough not to bind."""
    from bridge.models import ProviderAccount
    from integrations.fakes.leeloo import FakeLeeloo

    ProviderAccount.objects.filter(name="leeloo").delete()
    account = ProviderAccount(
        provider="leeloo",
        name="leeloo",
        base_url=f"{fakes_url}/leeloo",
        credential=FakeLeeloo.credential,
        concurrency=2,  # a spare slot: the sync reads the next pages while it writes
        requests_per_second=1000,
        connect_timeout=2,
        read_timeout=30,
    )
    account.full_clean()
    account.save()
    return account


def empty_mirror() -> None:
    """No contacts, leads, links or runs left from a previous size."""
    from django.db import connection

    from bridge.models import Contact, Lead, RemoteLink, SyncRun

    tables = [Lead, Contact.tags.through, Contact, RemoteLink, SyncRun]
    names = ", ".join(f'"{model._meta.db_table}"' for model in tables)
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")


def child(fakes_url: str, count: int) -> dict:
    """Run in a fresh process: one full people sync; its rate and peak RSS."""
    common.setup_django(DATABASE_URL, migrate=False)
    from bridge import sync

    account = leeloo_account(fakes_url)
    started = time.perf_counter()
    run = sync.run_sync(account, "people", full=True)
    elapsed = time.perf_counter() - started
    records = run.created_count + run.updated_count + run.unchanged_count
    return {
        "people": count,
        "status": run.status,
        "error": run.error[:300],
        "records": records,
        "failed": run.failed_count,
        "elapsed_s": round(elapsed, 2),
        "records_per_s": round(records / elapsed, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def raw_upsert(fakes_url: str, count: int, page_size: int) -> dict:
    """The same pages through the same client, each written with one raw upsert."""
    from bridge.models import ProviderAccount

    client = ProviderAccount.objects.get(name="leeloo").client()
    until = SEED_START + timedelta(minutes=count + 1)
    columns = "remote_id, first_name, last_name, email, phone, tags, last_message_at"
    sql = (
        f"INSERT INTO {RAW_TABLE} ({columns}) VALUES (%s, %s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (remote_id) DO UPDATE SET first_name = excluded.first_name, "
        "last_name = excluded.last_name, email = excluded.email, phone = excluded.phone, "
        "tags = excluded.tags, last_message_at = excluded.last_message_at"
    )
    records = 0
    with common.raw_connection() as raw:
        raw.execute(f"DROP TABLE IF EXISTS {RAW_TABLE}")
        raw.execute(
            f"CREATE TABLE {RAW_TABLE} (remote_id text PRIMARY KEY, first_name text, "
            "last_name text, email text, phone text, tags text[], last_message_at timestamptz)"
        )
        started = time.perf_counter()
        for page in client.iter_people(SEED_START - timedelta(days=1), until, page_size=page_size):
            rows = [
                (
                    p["remote_id"],
                    p["first_name"],
                    p["last_name"],
                    p["email"],
                    p["phone"],
                    p["tags"],
                    p["last_message_at"],
                )
                for p in page.items
            ]
            with raw.transaction(), raw.cursor() as cursor:
                cursor.executemany(sql, rows)
            records += len(rows)
        elapsed = time.perf_counter() - started
    return {
        "records": records,
        "elapsed_s": round(elapsed, 2),
        "records_per_s": round(records / elapsed, 1),
    }


def measure(fakes, count: int) -> dict:
    """Seed ``count`` people, time the sync (child process) and the raw upsert."""
    from bridge import sync

    empty_mirror()
    fakes.reset()
    seeded = fakes.session.post(
        f"{fakes.url}/leeloo/_fake/seed-people",
        json={"count": count, "start": SEED_START.isoformat(), "step_seconds": 60},
        headers={"X-Leeloo-AuthToken": "fake-leeloo-token"},
        timeout=120,
    )
    seeded.raise_for_status()
    leeloo_account(fakes.url)
    result = subprocess.run(
        [sys.executable, __file__, "--child", str(count), "--fakes-url", fakes.url],
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if result.returncode:
        raise RuntimeError(f"the sync child failed:\n{result.stderr[-2000:]}")
    synced = json.loads(result.stdout.strip().splitlines()[-1])
    raw = raw_upsert(fakes.url, count, sync.page_size())
    synced["ratio_vs_raw"] = round(synced["records_per_s"] / raw["records_per_s"], 3)
    return {"sync": synced, "raw": raw}


def main(argv=None) -> dict:
    """Measure 10k and 100k people, or say why not and record nulls."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--fakes-url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.fakes_url, args.child)))
        return {}
    reason = missing()
    if reason:
        message = f"sync benchmark not run: {reason}. The script is ready; run it once it lands."
        common.say(message)
        common.write_results(
            {
                "sync_ratio_vs_raw": None,
                "sync_peak_rss_mb_10k": None,
                "sync_peak_rss_mb_100k": None,
            },
            {"sync": {"skipped": message}},
        )
        print(message)
        return {}
    common.setup_django(DATABASE_URL)
    runs = {}
    with common.FakeProviders(record=False) as fakes:
        for count in args.sizes:
            common.say(f"sync: {count} Leeloo people")
            runs[count] = measure(fakes, count)
            common.say(f"  {runs[count]}")
    figures = {}
    if 10_000 in runs:
        figures["sync_peak_rss_mb_10k"] = runs[10_000]["sync"]["peak_rss_mb"]
    if 100_000 in runs:
        figures["sync_peak_rss_mb_100k"] = runs[100_000]["sync"]["peak_rss_mb"]
        figures["sync_ratio_vs_raw"] = runs[100_000]["sync"]["ratio_vs_raw"]
    common.write_results(figures, {"sync": {str(k): v for k, v in runs.items()}})
    print(figures)
    return figures


if __name__ == "__main__":
    main()
