"""Push at C = 64 through two django-q2 clusters on Redis: ``python bench/push_clusters.py``.

The deployment of issue 19 (several clusters on one Redis queue, against PostgreSQL) under
the push benchmark's measure: 20,000 leads (``--leads``) are enqueued for one fake Aéllo
account of concurrency C = 64 (``--concurrency``), whose ``POST /leads`` answers after a
latency fault of L = 50 ms; the enqueue's commit wakes the account's drains onto Redis, as
production does (one drain task per ``BRIDGE_DRAIN_SLOTS`` share: four of 16 slots), and two
real ``manage.py qcluster`` processes (``--workers`` each, 2 by default) share the queue. The
time runs from the enqueue to the last delivery written; the figure is achieved / (C / L)
(``push_ratio_c64_two_clusters``), best of ``--repeats``. The account's budget,
2,000 requests a second, does not bind (each slot may send every 32 ms, under L).

Every run checks that all deliveries are ``delivered`` and that the fake holds that many
distinct ``externalId``s, and records the CPU seconds each process used (``cpu_s``: each
cluster's whole process group, PostgreSQL's server processes, Redis, the fake, this process),
read from ``/proc``: on a 2-core machine their sum says whether the cores bind. Beside it,
``--reference`` runs C threads posting the same payloads over one kept-alive session (no
bridge, no database): what one client process gets from this fake here.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common  # noqa: E402

LATENCY = 0.05
REQUESTS_PER_SECOND = 2000.0  # C / rps = 32 ms a slot, under L: the latency binds
REDIS_URL = "redis://127.0.0.1:6379/13"
SLOTS_PER_DRAIN = 16


class Clusters:
    """``count`` qclusters on one Redis queue of this run's own, each in a session of its own
    (its process group is the cluster: the meter counts its workers too)."""

    def __init__(self, count: int, workers: int, redis_url: str):
        self.name = f"bench-push-{uuid.uuid4().hex[:8]}"
        self.url = f"{redis_url}?client_name={self.name}"
        self.count, self.workers, self.redis_url = count, workers, redis_url
        self.processes: list[subprocess.Popen] = []

    @property
    def env(self) -> dict:
        """What this process and the clusters share: the queue and the wake-ups."""
        return {
            "REDIS_URL": self.url,
            "Q_CLUSTER_NAME": self.name,
            "BRIDGE_DRAIN_SLOTS": str(SLOTS_PER_DRAIN),
            "BRIDGE_KICK_WORKERS": "true",
        }

    def __enter__(self) -> Clusters:
        env = {
            **os.environ,
            **self.env,
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "Q_WORKERS": str(self.workers),
            "LOG_LEVEL": "WARNING",
        }
        for _ in range(self.count):
            self.processes.append(
                subprocess.Popen(
                    [common.PYTHON, "manage.py", "qcluster"],
                    cwd=common.ROOT,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )
        deadline = time.monotonic() + 60
        while self.listening() < self.count:
            if time.monotonic() > deadline or any(p.poll() is not None for p in self.processes):
                self.__exit__()
                raise RuntimeError("the clusters did not start")
            time.sleep(0.2)
        time.sleep(1.0)  # the workers behind each listening pusher
        return self

    def __exit__(self, *exc) -> None:
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self._forget_keys()

    def _redis(self):
        import redis

        return redis.Redis.from_url(self.redis_url, socket_connect_timeout=2, socket_timeout=5)

    def listening(self) -> int:
        """This run's connections waiting in a blocking pop: the clusters' pushers."""
        clients = self._redis().client_list()
        return sum(1 for c in clients if c["name"] == self.name and "b" in c["flags"])

    def _forget_keys(self) -> None:
        client = self._redis()
        keys = list(client.scan_iter(match=f"*{self.name}*", count=500))
        if keys:
            client.delete(*keys)

    def groups(self) -> dict[str, int]:
        return {f"cluster_{n + 1}": p.pid for n, p in enumerate(self.processes)}


def point_this_process_at(clusters: Clusters) -> None:
    """This process plays the web process: its commits wake drains onto the clusters' queue
    (django-q2 reads its broker and queue name once, at import, from these settings)."""
    from django.conf import settings
    from django_q.conf import Conf

    Conf.ORM, Conf.REDIS = None, clusters.url
    Conf.PREFIX = Conf.CLUSTER_NAME = clusters.name
    settings.BRIDGE_KICK_WORKERS = True
    settings.BRIDGE_DRAIN_SLOTS = SLOTS_PER_DRAIN


def push_run(fakes, clusters: Clusters, concurrency: int, leads: int, latency: float) -> dict:
    """Enqueue ``leads`` (the commit wakes the clusters) and wait for the last delivery."""
    from django.db.models import Count, Max

    from bridge import outbox
    from bridge.models import Delivery, Lead

    common.reset_push_tables()
    fakes.reset()
    fakes.add_fault("latency", path="/leads", seconds=latency)
    lead_ids = common.seed_leads(leads)
    account = common.make_account(
        fakes, concurrency=concurrency, requests_per_second=REQUESTS_PER_SECOND
    )
    redis_pid = (common.pids_named("redis-server") or [0])[0]
    meter = common.CpuMeter(  # once a second: scanning /proc costs this process CPU too
        interval=1.0,
        groups=clusters.groups(),
        fake=fakes.process.pid,
        redis=redis_pid,
        bench=os.getpid(),
    )
    timeout = max(120.0, leads * latency / concurrency * 6)
    with meter:
        started_wall, started = time.time(), time.perf_counter()
        outbox.enqueue(Lead, {account: lead_ids})  # its commit queues the drains
        deadline = started + timeout
        while Delivery.objects.exclude(state=Delivery.State.DELIVERED).exists():
            if time.perf_counter() > deadline:
                break
            time.sleep(0.2)
        waited = time.perf_counter() - started
    states = dict(Delivery.objects.values_list("state").annotate(n=Count("id")))
    last = Delivery.objects.aggregate(last=Max("delivered_at"))["last"]
    elapsed = last.timestamp() - started_wall if last else waited
    delivered = states.get(Delivery.State.DELIVERED, 0)
    limit = concurrency / latency
    cpu = meter.seconds
    return {
        "concurrency": concurrency,
        "leads": leads,
        "latency_s": latency,
        "clusters": clusters.count,
        "workers_per_cluster": clusters.workers,
        "elapsed_s": round(elapsed, 3),
        "achieved_per_s": round(delivered / elapsed, 1),
        "limit_per_s": limit,
        "ratio": round(delivered / elapsed / limit, 3),
        "states": states,
        "leads_at_fake": fakes.state()["distinct_external_ids"],
        "cpu_s": cpu,
        "cpu_s_total": common.own_cpu_seconds(cpu),
        "cores_busy": round(common.own_cpu_seconds(cpu) / waited, 2),
        # The CPU a delivery took here, all processes, times C / L: the cores the limit needs.
        "cores_needed_at_limit": round(common.own_cpu_seconds(cpu) / delivered * limit, 2)
        if delivered
        else None,
        "sent_by": _senders(),
    }


def _senders() -> dict[str, int]:
    """Deliveries per sending process group (a slot lease holder is ``host:pid:random``)."""
    from collections import Counter

    from bridge.models import Delivery

    groups: Counter = Counter()
    for holder in Delivery.objects.values_list("claimed_by", flat=True):
        pid = int(holder.rsplit(":", 2)[1]) if holder else 0
        try:
            groups[str(os.getpgid(pid))] += 1
        except (ProcessLookupError, ValueError):
            groups[f"gone:{pid}"] += 1
    return dict(groups)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency", type=float, default=LATENCY)
    parser.add_argument("--clusters", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2, help="workers per cluster")
    parser.add_argument("--repeats", type=int, default=3, help="runs; the best is the figure")
    parser.add_argument("--reference", action="store_true", help="also plain threads, no bridge")
    parser.add_argument("--redis-url", default=REDIS_URL)
    args = parser.parse_args(argv)
    common.setup_django()
    from bench.push_throughput import threads_run

    runs, reference = [], None
    with (
        common.FakeProviders(record=False) as fakes,
        Clusters(args.clusters, args.workers, args.redis_url) as clusters,
    ):
        point_this_process_at(clusters)
        for _ in range(max(1, args.repeats)):
            common.say(
                f"push: C={args.concurrency}, {args.leads} leads, L={args.latency * 1000:g} ms, "
                f"{args.clusters} clusters of {args.workers} workers on Redis"
            )
            runs.append(push_run(fakes, clusters, args.concurrency, args.leads, args.latency))
            common.say(f"  {runs[-1]}")
        if args.reference:
            reference = threads_run(fakes, args.concurrency, args.leads, args.latency)
            common.say(f"  plain threads, one session: {reference}")
    best = max(runs, key=lambda run: run["ratio"])
    figures = {}
    if (args.concurrency, args.clusters) == (64, 2):
        figures["push_ratio_c64_two_clusters"] = best["ratio"]
    details = {
        "best": best,
        "ratios_of_all_runs": [run["ratio"] for run in runs],
        "runs": runs,
        "plain_threads": reference,
    }
    common.write_results(figures, {"push_clusters": details})
    print(figures or {"ratios": details["ratios_of_all_runs"]})
    return figures


if __name__ == "__main__":
    main()
