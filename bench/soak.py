"""The chaos soak (issue 19 §3): ``python bench/soak.py`` (15 minutes; ``--minutes``, ``--seed``).

Everything runs on this machine, under load and under fire: a private PostgreSQL and Redis,
gunicorn, two django-q2 clusters on the Redis broker and the fake providers; leads posted at
20 a second through the intake API and routed to three accounts, fake Aiployees calling back
with webhooks, a Leeloo sync every minute. Meanwhile, on a seeded schedule with jitter
(``bench/chaos/schedule.py``): workers, a web worker and whole clusters SIGKILLed, PostgreSQL
and Redis restarted, provider faults injected. Then the queue drains and the invariant checker
(``bench/chaos/checker.py``) reads the database and the fakes' ledgers: nothing lost, nothing
doubled, nothing stuck, memory flat. Figures: ``soak_*`` in bench/results.json and the soak
section of docs/benchmarks.md.

``--ci``: one minute with a compact schedule (each kind of chaos), the same checker, nothing
written; the exit status is 1 when an invariant fails.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common  # noqa: E402
from bench.chaos import checker, load, observe, processes, report, schedule, world  # noqa: E402
from bench.chaos.services import PrivatePostgres, PrivateRedis  # noqa: E402

RATE = 20.0


def environment(pg: PrivatePostgres, redis: PrivateRedis, web_port: int) -> dict:
    """What every process of the soak shares: the private database and broker, one queue."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DATABASE_URL": pg.url,
        "REDIS_URL": redis.url,
        "Q_CLUSTER_NAME": f"soak-{uuid.uuid4().hex[:6]}",
        "Q_WORKERS": "2",
        "BRIDGE_KICK_WORKERS": "true",
        # A sync run whose cluster is SIGKILLed stays "running" until it has been silent this
        # long (heartbeats every 15 s); the default 10 minutes would outlast the drain.
        "BRIDGE_SYNC_STALE_SECONDS": "60",
        "BRIDGE_PUBLIC_URL": f"http://127.0.0.1:{web_port}",
        "GUNICORN_BIND": f"127.0.0.1:{web_port}",
        "GUNICORN_WORKERS": "2",
        "GUNICORN_THREADS": "4",
        "GUNICORN_LOG_LEVEL": "warning",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }


def start_django(env: dict) -> None:
    """This process plays staff and the checker: Django on the private database, migrated."""
    os.environ.update(
        {
            k: env[k]
            for k in (
                "DJANGO_SETTINGS_MODULE",
                "DATABASE_URL",
                "REDIS_URL",
                "Q_CLUSTER_NAME",
                "BRIDGE_PUBLIC_URL",
            )
        }
    )
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)


def wait_for(check, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start")
        time.sleep(0.3)


def answering(url: str) -> bool:
    with contextlib.suppress(requests.RequestException):
        requests.get(url, timeout=2)
        return True
    return False


class Chaos(threading.Thread):
    """Runs the schedule's events at their times; a log line for each."""

    def __init__(self, events, supervisor, pg, redis, fakes, seed: int):
        super().__init__(daemon=True)
        import random

        self.events, self.supervisor = events, supervisor
        self.pg, self.redis, self.fakes = pg, redis, fakes
        self.rng = random.Random(seed + 1)
        self.stop = threading.Event()
        self.log: list[str] = []

    def run(self) -> None:
        started = time.monotonic()
        for event in self.events:
            if self.stop.wait(max(0.0, started + event.at - time.monotonic())):
                return
            try:
                done = self.act(event)
            except Exception as error:  # noqa: BLE001 - a failed act is reported, not fatal
                done = f"{event.action} failed: {error!r}"
            line = f"{time.monotonic() - started:7.1f}s {done}"
            self.log.append(line)
            common.say(f"chaos {line}")

    def act(self, event) -> str:
        clusters = [s for n, s in self.supervisor.services.items() if n.startswith("cluster")]
        web = self.supervisor.services["web"]
        if event.action == "kill_worker":
            return processes.kill_a_worker(clusters, self.rng)
        if event.action == "kill_cluster":
            return processes.kill_a_cluster(clusters, self.rng)
        if event.action == "kill_web_worker":
            return processes.kill_a_web_worker(web, self.rng)
        if event.action == "restart_postgres":
            self.pg.restart()
            return "PostgreSQL restarted"
        if event.action == "restart_redis":
            self.redis.restart()
            return "Redis restarted"
        options = dict(event.options)
        name = options.pop("name")
        self.fakes.control("POST", "/faults", json=options)
        return f"{name} at {options['provider']} for {options['duration']:g} s"


def drain(fakes, seconds: float) -> float:
    """Wait until nothing is in motion (or ``seconds``); how long it took."""
    from django.db import connections
    from django.db.utils import Error

    started = time.monotonic()
    while time.monotonic() - started < seconds:
        connections.close_all()  # PostgreSQL may have restarted under this process
        try:
            left = observe.drained()
        except Error:
            time.sleep(2)
            continue
        sent = fakes.control("GET", "/webhooks", params={"provider": "aiployees"})
        left["webhooks_unacknowledged"] = sum(1 for w in sent if not w["acknowledged"])
        if not any(left.values()):
            return round(time.monotonic() - started, 1)
        common.say(f"draining: {left}")
        time.sleep(5)
    return round(time.monotonic() - started, 1)


def start_bridge(supervisor, env: dict, fakes_port: int, web_port: int) -> tuple:
    """The fakes, the world set up on them, then gunicorn and two clusters, as deploy/ runs
    them; (the fakes' control client, the web server's URL, the intake token)."""
    py = common.PYTHON
    fakes_command = [py, "manage.py", "fakeproviders", "--port", str(fakes_port), "--no-record"]
    supervisor.add("fakes", fakes_command, env)
    fakes = common.FakeProviders(port=fakes_port)
    wait_for(lambda: answering(f"{fakes.url}/_control/faults"), 30, "the fake providers")
    web_url = f"http://127.0.0.1:{web_port}"
    token = world.set_up(fakes, web_url)
    web_command = [py, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", "bridge.wsgi"]
    supervisor.add("web", web_command, env)
    for n in (1, 2):
        supervisor.add(f"cluster-{n}", [py, "manage.py", "qcluster"], env)
    wait_for(lambda: answering(f"{web_url}/api/v1/leads"), 60, "gunicorn")
    time.sleep(3)  # the clusters' workers
    return fakes, web_url, token


def soak(minutes: float, seed: int, compact: bool, drain_seconds: float, log_dir: Path) -> tuple:
    """Run the soak; (figures, verdict, details)."""
    seconds = minutes * 60
    events = schedule.build(seconds, seed, compact)
    pg, redis = PrivatePostgres().start(), PrivateRedis().start()
    web_port, fakes_port = common.free_port(), common.free_port()
    env = environment(pg, redis, web_port)
    supervisor = processes.Supervisor(log_dir)
    try:
        start_django(env)
        fakes, web_url, token = start_bridge(supervisor, env, fakes_port, web_port)
        supervisor.watch(sample_every=5.0 if compact else 15.0)
        chaos = Chaos(events, supervisor, pg, redis, fakes, seed)
        common.say(f"soak: {minutes:g} min at {RATE:g} leads/s, {len(events)} chaos events")
        chaos.start()
        intake = load.run(web_url, token, seconds, RATE, threading.Event())
        chaos.stop.set()
        chaos.join()
        fakes.clear_faults()
        common.say(f"load done: {len(intake.accepted)} accepted; draining")
        drained_in = drain(fakes, drain_seconds)
        supervisor.sample()
        rss = supervisor.rss_series(min_span=seconds / 2)
        # The fakes keep every record they were sent, by design: their growth is not the
        # bridge's, and is reported apart.
        harness_rss = {"fakes": rss.pop("fakes", [])}
        rss = {name: series for name, series in rss.items() if not name.startswith("fakes")}
        seen = observe.collect(fakes, intake, rss)
    finally:
        supervisor.stop()
        redis.stop()
        pg.stop()
    verdict = checker.check(seen)
    values = report.figures(minutes, verdict)
    details = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "seed": seed,
        "schedule": chaos.log,
        "drain_s": drained_in,
        "intake_statuses": intake.statuses,
        "intake_retries": intake.retries,
        "intake_refused": len(intake.refused),
        "restarts": {name: s.restarts for name, s in supervisor.services.items()},
        "fakes_rss_growth_pct": checker.rss_growth_pct(harness_rss["fakes"]),
        "counts": verdict.counts,
        "problems": verdict.problems,
    }
    return values, verdict, details


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--ci", action="store_true", help="one minute, compact, nothing written")
    parser.add_argument("--drain", type=float, default=None, help="most seconds to drain")
    parser.add_argument("--logs", type=Path, default=None, help="keep each process's output here")
    args = parser.parse_args(argv)
    minutes = 1.0 if args.ci else args.minutes
    # A sync run killed with its cluster is taken over after 60 s of silence, at the next
    # minute's schedule: the CI minute's drain may need up to about three minutes.
    drain_seconds = args.drain or (240.0 if args.ci else 600.0)
    log_dir = args.logs or Path(tempfile.mkdtemp(prefix="soak-logs-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    values, verdict, details = soak(minutes, args.seed, args.ci, drain_seconds, log_dir)
    for problem in verdict.problems:
        common.say(f"INVARIANT FAILED {problem}")
    common.say(f"details: {details}")
    print(values)
    if not args.ci:
        report.write_results(values, details)
        report.write_docs(report.section(values, verdict, details))
    ok = verdict.ok(report.RSS_LIMIT_PCT)
    common.say(f"soak {'passed' if ok else 'FAILED'} (process logs in {log_dir})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
