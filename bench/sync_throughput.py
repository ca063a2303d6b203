"""Leeloo people sync against a raw upsert: ``python bench/sync_throughput.py``.

Needs the Leeloo sync (``bridge/sync/``) and the fake Leeloo (``integrations/fakes/
leeloo.py``); until they are on this branch it says so, records the sync keys as null and
exits 0.

For 10,000 and then 100,000 people seeded in the fake Leeloo (its own process), a full
``bridge.sync.run_sync(account, "people")`` runs in a child process, which reports its
records/s and its peak RSS (``ru_maxrss``). In the same run, the raw baseline reads the same
pages with the same client and writes each page with one psycopg ``INSERT … ON CONFLICT DO
UPDATE`` into a plain table: the ratio is the sync's rate over the raw one. Sync and raw run
in turn ``--repeats`` times (the machine is shared and noisy); the ratio is best over best,
and every pair is kept in ``bench/details.json``, with the CPU seconds each side used
(``cpu_s``: the sync's process and its page-reader child, or the raw client; PostgreSQL's
server processes and the fake, sampled from ``/proc``): on a machine of 2 cores the sum says
how much of the gap is work rather than waiting.

The headline pull reads the list only (the people's ``fetch_details`` switch off): the raw
upsert writes the list's rows, so the sync is measured on the same work. With the switch on,
the sync also reads each new person's card (one more request a person); that is measured at
10,000 against a raw loop that reads the same cards with the same client (``cards``).
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

#: ``BENCH_SYNC_URL`` points it elsewhere (a database of one's own on a shared machine).
DATABASE_URL = os.environ.get("BENCH_SYNC_URL", "postgres://postgres@127.0.0.1:5432/crm_bench_sync")
SEED_START = datetime(2024, 1, 1, tzinfo=UTC)
RAW_TABLE = "bench_raw_people"
EXAMPLE_PEOPLE = 5  # the reference's example people, in the fake before any seeding


def missing() -> str:
    """Why the sync cannot be measured on this branch yet ("" when it can)."""
    for module, path in (
        ("bridge.sync", "bridge/sync/"),
        ("integrations.fakes.leeloo", "integrations/fakes/leeloo/"),
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

    from bridge.models import Contact, Lead, ListedPerson, RemoteLink, SyncRun

    tables = [Lead, Contact.tags.through, Contact, RemoteLink, ListedPerson, SyncRun]
    names = ", ".join(f'"{model._meta.db_table}"' for model in tables)
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")


def child(fakes_url: str, count: int, details: bool) -> dict:
    """Run in a fresh process: one full people sync; its rate and peak RSS."""
    common.setup_django(DATABASE_URL, migrate=False)
    from bridge import sync
    from bridge.models import SyncState

    account = leeloo_account(fakes_url)
    sync.ensure_sync_states(account)
    SyncState.objects.filter(account=account, resource="people").update(fetch_details=details)
    started = time.perf_counter()
    run = sync.run_sync(account, "people", full=True)
    elapsed = time.perf_counter() - started
    records = run.created_count + run.updated_count + run.unchanged_count
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # the page reader, once joined
    return {
        "people": count,
        "details": details,
        "status": run.status,
        "error": run.error[:300],
        "records": records,
        "failed": run.failed_count,
        "elapsed_s": round(elapsed, 2),
        "records_per_s": round(records / elapsed, 1),
        "peak_rss_mb": round(own.ru_maxrss / 1024, 1),
        "cpu_s": {
            "sync_process": round(own.ru_utime + own.ru_stime, 2),
            "page_reader": round(children.ru_utime + children.ru_stime, 2),
        },
    }


def raw_upsert(fakes_url: str, count: int, page_size: int, details: bool = False) -> dict:
    """The same pages through the same client, each written with one raw upsert.

    With ``details``, each person's card is read too (as the sync does with the switch on).
    """
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
        started, cpu_started = time.perf_counter(), time.process_time()
        for page in client.iter_people(SEED_START - timedelta(days=1), until, page_size=page_size):
            if details:
                page.items[:] = [client.get_person(p["remote_id"]) for p in page.items]
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
        cpu = time.process_time() - cpu_started
    return {
        "records": records,
        "elapsed_s": round(elapsed, 2),
        "records_per_s": round(records / elapsed, 1),
        "cpu_s": {"client": round(cpu, 2)},
    }


def seed(fakes, count: int) -> None:
    """``count`` people in the fake Leeloo, and nothing in the mirror."""
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


def synced(fakes, count: int, details: bool) -> dict:
    """One full people sync into an empty mirror, in a child process."""
    empty_mirror()
    command = [sys.executable, __file__, "--child", str(count), "--fakes-url", fakes.url]
    result = subprocess.run(
        command + (["--details"] if details else []),
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if result.returncode:
        raise RuntimeError(f"the sync child failed:\n{result.stderr[-2000:]}")
    run = json.loads(result.stdout.strip().splitlines()[-1])
    if run["status"] != "succeeded" or run["records"] != count + EXAMPLE_PEOPLE:
        raise RuntimeError(f"the sync did not mirror every person: {run}")
    return run


def measure(fakes, count: int, repeats: int, details: bool = False) -> dict:
    """Seed ``count`` people; sync and raw upsert in turn ``repeats`` times; best over best."""
    from bridge import sync

    seed(fakes, count)
    pairs = []
    for _ in range(repeats):
        with common.CpuMeter(fake=fakes.process.pid) as sync_cpu:
            sync_run = synced(fakes, count, details)
        with common.CpuMeter(fake=fakes.process.pid) as raw_cpu:
            raw_run = raw_upsert(fakes.url, count, sync.page_size(), details)
        sync_run["cpu_s"].update(sync_cpu.seconds)
        raw_run["cpu_s"].update(raw_cpu.seconds)
        pairs.append({"sync": sync_run, "raw": raw_run})
    best_sync = max(pair["sync"]["records_per_s"] for pair in pairs)
    best_raw = max(pair["raw"]["records_per_s"] for pair in pairs)
    return {
        "details": details,
        "pairs": pairs,
        "best_sync_per_s": best_sync,
        "best_raw_per_s": best_raw,
        "ratio_vs_raw": round(best_sync / best_raw, 3),
        "pair_ratios": [
            round(pair["sync"]["records_per_s"] / pair["raw"]["records_per_s"], 3) for pair in pairs
        ],
        "peak_rss_mb": max(pair["sync"]["peak_rss_mb"] for pair in pairs),
    }


def main(argv=None) -> dict:
    """Measure 10k and 100k people, or say why not and record nulls."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--repeats", type=int, default=3, help="sync/raw pairs per size")
    parser.add_argument(
        "--cards", type=int, default=10_000, help="people for the cards run (0: none)"
    )
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--details", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--fakes-url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.fakes_url, args.child, args.details)))
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
            common.say(f"sync: {count} Leeloo people, {args.repeats} sync/raw pairs")
            runs[str(count)] = measure(fakes, count, args.repeats)
            common.say(f"  {summary(runs[str(count)])}")
        if args.cards:
            common.say(f"sync with cards: {args.cards} Leeloo people, one sync/raw pair")
            runs[f"{args.cards}_cards"] = measure(fakes, args.cards, 1, details=True)
            common.say(f"  {summary(runs[f'{args.cards}_cards'])}")
    figures = {}
    if "10000" in runs:
        figures["sync_peak_rss_mb_10k"] = runs["10000"]["peak_rss_mb"]
    if "100000" in runs:
        figures["sync_peak_rss_mb_100k"] = runs["100000"]["peak_rss_mb"]
        figures["sync_ratio_vs_raw"] = runs["100000"]["ratio_vs_raw"]
    common.write_results(figures, {"sync": runs})
    print(figures)
    return figures


def summary(run: dict) -> str:
    last = run["pairs"][-1]
    return (
        f"sync {run['best_sync_per_s']}/s, raw {run['best_raw_per_s']}/s, ratio "
        f"{run['ratio_vs_raw']} (pairs {run['pair_ratios']}), peak RSS {run['peak_rss_mb']} MB; "
        f"last pair's CPU s: sync {last['sync']['cpu_s']} in {last['sync']['elapsed_s']} s, "
        f"raw {last['raw']['cpu_s']} in {last['raw']['elapsed_s']} s"
    )


if __name__ == "__main__":
    main()
