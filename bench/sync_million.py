"""A million Leeloo people: the first pull, its memory, and the nightly reconcile.

``python bench/sync_million.py`` (``--people``, ``--changed-every``, ``--repeats``,
``--skip-raw``, ``--database-url``). The fake Leeloo (its own process) *generates* its people
on the fly (``integrations/fakes/leeloo/generated.py``): person n is made from n when a page
lists it, paged exactly as ``GET /people`` pages (``limit``/``offset``, ``totalCount``), so the
fake holds none of the million.

1. **First pull**: a full ``bridge.sync.run_sync(account, "people", full=True)`` into an empty
   mirror, in a child process (as a worker runs it, with its page-reader grandchild). The
   parent samples both processes' resident memory every second beside the run's progress:
   peak RSS (``sync_peak_rss_mb_1m``, the sync process; the reader's apart) and whether it is
   flat (the peak of the last half against the peak of the first tenth).
2. **Raw upsert**, side by side: the same pages through the same client, each written with one
   psycopg ``INSERT … ON CONFLICT DO UPDATE`` into a plain table (``bench/sync_throughput.py``'s
   baseline); ``sync_ratio_vs_raw_1m`` is the sync's rate over it.
3. **Nightly reconcile**: one generated person in ``--changed-every`` (100: 1 %) gets a new
   name and tags at the fake, last message unmoved, and the reconcile's full run reads the
   same million again and writes what changed (``reconcile_1m_s``, seconds; the run as
   ``bridge.reconcile.reconcile_task`` runs it, without the task's hand-over every 90 s).

Each step records the CPU seconds of every process (``cpu_s``: the sync process and its
reader from ``getrusage``, PostgreSQL's server processes and the fake from ``/proc``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common  # noqa: E402
from bench.sync_throughput import EXAMPLE_PEOPLE, SEED_START, leeloo_account  # noqa: E402

DATABASE_URL = "postgres://postgres@127.0.0.1:5432/crm_bench_sync_1m"


# --- in the child: one full run --------------------------------------------------------------


def child() -> dict:
    """Run in a fresh process: one full people run (a first pull or a reconcile)."""
    common.setup_django(migrate=False)
    from bridge import sync
    from bridge.models import ProviderAccount, SyncState

    account = ProviderAccount.objects.get(name="leeloo")  # the parent's (its links kept)
    sync.ensure_sync_states(account)
    SyncState.objects.filter(account=account, resource="people").update(fetch_details=False)
    started = time.perf_counter()
    run = sync.run_sync(account, "people", full=True)
    elapsed = time.perf_counter() - started
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # the page reader, once joined
    return {
        "status": run.status,
        "error": run.error[:300],
        "created": run.created_count,
        "updated": run.updated_count,
        "unchanged": run.unchanged_count,
        "failed": run.failed_count,
        "gone": run.gone_count,
        "records": run.created_count + run.updated_count + run.unchanged_count,
        "elapsed_s": round(elapsed, 2),
        "peak_rss_mb_self": round(own.ru_maxrss / 1024, 1),
        "cpu_s": {
            "sync_process": round(own.ru_utime + own.ru_stime, 2),
            "page_reader": round(children.ru_utime + children.ru_stime, 2),
        },
    }


# --- in the parent ---------------------------------------------------------------------------


class Watch:
    """Samples a child's RSS (and its descendants') and the running run's progress."""

    def __init__(self, pid: int, every: float = 1.0):
        self.pid, self.every = pid, every
        self.samples: list[dict] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._started = time.monotonic()

    def __enter__(self) -> Watch:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        from django.db import connection

        from bridge.models import SyncRun

        try:
            while not self._stop.wait(self.every):
                own = common.rss_mb(self.pid)
                if own is None:
                    continue
                others = [common.rss_mb(pid) for pid in common.descendants(self.pid)]
                run = SyncRun.objects.filter(status="running").order_by("-pk").first()
                done = 0 if run is None else run.created_count + run.updated_count
                done += 0 if run is None else run.unchanged_count
                self.samples.append(
                    {
                        "t": round(time.monotonic() - self._started, 1),
                        "done": done,
                        "rss_mb": own,
                        "reader_rss_mb": max((r for r in others if r), default=None),
                    }
                )
        finally:
            connection.close()

    def summary(self, total: int) -> dict:
        """Peak RSS of the sync process and its reader; flat = the last half's peak against
        the first tenth's (progress by records written)."""
        samples = [s for s in self.samples if s["rss_mb"]]
        if not samples:
            return {}
        early = [s["rss_mb"] for s in samples if s["done"] <= total / 10] or [samples[0]["rss_mb"]]
        late = [s["rss_mb"] for s in samples if s["done"] >= total / 2] or [samples[-1]["rss_mb"]]
        readers = [s["reader_rss_mb"] for s in samples if s["reader_rss_mb"]]
        return {
            "peak_rss_mb": max(s["rss_mb"] for s in samples),
            "peak_rss_mb_first_tenth": max(early),
            "peak_rss_mb_last_half": max(late),
            "reader_peak_rss_mb": max(readers, default=None),
            "timeline": samples[:: max(1, len(samples) // 40)],
        }


def run_child(fakes, total: int) -> dict:
    """A full people run in a child process, watched; its numbers."""
    command = [sys.executable, __file__, "--child"]
    # Sampled every second: scanning /proc five times a second cost this process a tenth of a
    # core on a machine running a few hundred processes, beside the run it measures.
    with common.CpuMeter(interval=1.0, fake=fakes.process.pid) as meter:
        process = subprocess.Popen(
            command,
            env=os.environ.copy(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        with Watch(process.pid, every=2.0) as watch:
            out, err = process.communicate(timeout=7200)
    if process.returncode:
        raise RuntimeError(f"the sync child failed:\n{err[-2000:]}")
    run = json.loads(out.strip().splitlines()[-1])
    run["cpu_s"].update(meter.seconds)
    run["records_per_s"] = round(run["records"] / run["elapsed_s"], 1)
    run["memory"] = watch.summary(total)
    return run


def fake_call(fakes, path: str, body: dict) -> dict:
    answer = fakes.session.post(
        f"{fakes.url}/leeloo/_fake/{path}",
        json=body,
        headers={"X-Leeloo-AuthToken": "fake-leeloo-token"},
        timeout=60,
    )
    answer.raise_for_status()
    return answer.json()["data"]


def first_pull(fakes, people: int) -> dict:
    """An empty mirror, then the full run; every person must be mirrored."""
    from bench.sync_throughput import empty_mirror

    empty_mirror()
    run = run_child(fakes, people)
    if run["status"] != "succeeded" or run["created"] != people + EXAMPLE_PEOPLE:
        raise RuntimeError(f"the first pull did not mirror every person: {run}")
    return run


def raw_pull(fakes, people: int) -> dict:
    """The raw upsert of the same pages (``bench/sync_throughput.py``'s baseline)."""
    from bench.sync_throughput import raw_upsert
    from bridge import sync

    with common.CpuMeter(interval=1.0, fake=fakes.process.pid) as meter:
        raw = raw_upsert(fakes.url, people, sync.page_size())
    raw["cpu_s"].update(meter.seconds)
    return raw


def vacuum_mirror() -> None:
    """What autovacuum does in the day between two nightly runs: it is off on these machines'
    PostgreSQL, so the dead rows of every run before (the first pull's analysis aside) would
    pile up in the mirror's tables and each run would read through more of them."""
    from django.db import connection

    from bridge.models import Contact, ListedPerson, RemoteLink, TagChange

    tables = [RemoteLink, Contact, Contact.tags.through, ListedPerson, TagChange]
    with connection.cursor() as cursor:
        for model in tables:
            cursor.execute(f'VACUUM (ANALYZE) "{model._meta.db_table}"')


def reconcile(fakes, people: int, every: int) -> dict:
    """Change one person in ``every`` at the fake, then the nightly full run over the mirror
    (vacuumed first, as it would have been by then)."""
    changed = fake_call(fakes, "change-people", {"every": every})["changed"]
    vacuum_mirror()
    run = run_child(fakes, people)
    run["changed_at_fake"] = changed
    if run["status"] != "succeeded" or run["updated"] != changed or run["created"]:
        raise RuntimeError(f"the reconcile did not find exactly the {changed} changes: {run}")
    return run


def reconcile_again(fakes, args) -> dict:
    """The reconcile alone, over a mirror a run before left after ``K`` changes."""
    from bridge.models import ProviderAccount

    ProviderAccount.objects.filter(name="leeloo").update(base_url=f"{fakes.url}/leeloo")
    fake_call(fakes, "generate-people", {"count": args.people, "start": SEED_START.isoformat()})
    for _ in range(args.reconcile_only):
        fake_call(fakes, "change-people", {"every": args.changed_every})
    common.say(f"reconcile only, 1 in {args.changed_every} changed")
    run = reconcile(fakes, args.people, args.changed_every)
    common.say(f"  {brief(run)}")
    return run


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--changed-every", type=int, default=100, help="1 in N changed (1 %%)")
    parser.add_argument("--repeats", type=int, default=1, help="first pull / raw pairs")
    parser.add_argument("--skip-raw", action="store_true", help="no raw upsert (no ratio)")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_SYNC_1M_URL", DATABASE_URL))
    parser.add_argument(
        "--reconcile-only",
        type=int,
        metavar="K",
        help="no first pull: the mirror holds the people after K changes (a run before made it)",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    # The child runs with the same database (it inherits the environment).
    os.environ["DATABASE_URL"] = os.environ["BENCH_SYNC_1M_URL"] = args.database_url
    if args.child:
        print(json.dumps(child()))
        return {}
    common.setup_django()
    pairs, reconciles = [], []
    with common.FakeProviders(record=False) as fakes:
        if args.reconcile_only is not None:
            reconciles.append(reconcile_again(fakes, args))
        for _ in range(0 if args.reconcile_only is not None else max(1, args.repeats)):
            fakes.reset()
            fake_call(
                fakes, "generate-people", {"count": args.people, "start": SEED_START.isoformat()}
            )
            leeloo_account(fakes.url)
            common.say(f"first pull of {args.people} generated people")
            pull = first_pull(fakes, args.people)
            common.say(f"  {brief(pull)}")
            raw = None if args.skip_raw else raw_pull(fakes, args.people)
            if raw:
                common.say(f"  raw upsert: {raw}")
            pairs.append({"sync": pull, "raw": raw})
            common.say(f"reconcile, 1 in {args.changed_every} changed")
            reconciles.append(reconcile(fakes, args.people, args.changed_every))
            common.say(f"  {brief(reconciles[-1])}")
    figures = figures_of(pairs, reconciles, args.people)
    key = "sync_1m" if pairs else "sync_1m_reconcile_only"
    common.write_results(
        figures, {key: {"people": args.people, "pairs": pairs, "reconciles": reconciles}}
    )
    print(figures)
    return figures


def figures_of(pairs: list[dict], reconciles: list[dict], people: int) -> dict:
    """The keys, when the run was the full million (a smaller run records details only)."""
    if people != 1_000_000:
        return {}
    figures = {"reconcile_1m_s": min(r["elapsed_s"] for r in reconciles)}
    if pairs:
        figures["sync_peak_rss_mb_1m"] = max(p["sync"]["memory"]["peak_rss_mb"] for p in pairs)
    raws = [p["raw"]["records_per_s"] for p in pairs if p["raw"]]
    if raws:
        best = max(p["sync"]["records_per_s"] for p in pairs)
        figures["sync_ratio_vs_raw_1m"] = round(best / max(raws), 3)
    return figures


def brief(run: dict) -> str:
    memory = run.get("memory", {})
    return (
        f"{run['status']} in {run['elapsed_s']} s ({run['records_per_s']}/s): created "
        f"{run['created']}, updated {run['updated']}, unchanged {run['unchanged']}, gone "
        f"{run['gone']}; RSS peak {memory.get('peak_rss_mb')} MB (first tenth "
        f"{memory.get('peak_rss_mb_first_tenth')}, last half {memory.get('peak_rss_mb_last_half')}"
        f", reader {memory.get('reader_peak_rss_mb')}); CPU s {run['cpu_s']}"
    )


if __name__ == "__main__":
    main()
