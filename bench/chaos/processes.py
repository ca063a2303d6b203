"""The bridge's long-lived processes under a small supervisor that restarts what dies.

What runs is what ``deploy/`` runs: gunicorn with ``deploy/gunicorn.conf.py`` (two workers of
four threads), two ``manage.py qcluster`` on the Redis broker, and the fake providers'
server. Each is started in a session of its own, so a whole cluster (main process, sentinel,
workers) is one process group to kill. A watcher thread restarts any that ended, a second
later, as systemd's ``Restart=always`` would; each restart is counted.

Memory: every ``sample_every`` seconds each service's processes are read from ``/proc``: the
whole group's RSS (a cluster with its workers, gunicorn with its workers), from the service's
last (re)start, and each process's own, from 30 s after it was first seen (its warm-up). The
growth the soak reports is over the long-lived ones: groups never restarted, and processes
that lived through at least half the run (a SIGKILLed worker's replacement, or a gunicorn
worker recycled after ``max_requests``, starts small again and is not a trend).
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field

from bench import common


@dataclass
class Service:
    """One supervised process: its command, environment and restarts."""

    name: str
    command: list[str]
    env: dict
    process: subprocess.Popen | None = None
    restarts: int = 0
    started_at: float = 0.0
    log: object = None
    rss: list[tuple[float, float]] = field(default_factory=list)
    rss_by_pid: dict[int, list[tuple[float, float]]] = field(default_factory=dict)
    first_seen: dict[int, float] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.process.pid if self.process else 0

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.command,
            cwd=common.ROOT,
            env=self.env,
            stdout=self.log or subprocess.DEVNULL,
            stderr=subprocess.STDOUT if self.log else subprocess.DEVNULL,
            start_new_session=True,
        )
        self.started_at = time.monotonic()

    def kill_group(self, sig: int = signal.SIGKILL) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, sig)


class Supervisor:
    """Starts services, restarts the ones that end, samples their memory, stops them all."""

    def __init__(self, log_dir=None, restart_delay: float = 1.0):
        self.services: dict[str, Service] = {}
        self.restart_delay = restart_delay
        self.log_dir = log_dir
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.events: list[tuple[float, str]] = []

    def add(self, name: str, command: list[str], env: dict) -> Service:
        log = open(self.log_dir / f"{name}.log", "ab") if self.log_dir else None  # noqa: SIM115
        service = Service(name, command, env, log=log)
        self.services[name] = service
        service.start()
        return service

    def watch(self, sample_every: float = 10.0) -> None:
        """Start the watcher thread: restarts, and an RSS sample every ``sample_every`` s."""
        self._thread = threading.Thread(target=self._run, args=(sample_every,), daemon=True)
        self._thread.start()

    def _run(self, sample_every: float) -> None:
        next_sample = 0.0
        while not self._stop.wait(0.5):
            for service in self.services.values():
                if not service.alive() and not self._stop.is_set():
                    self._restart(service)
            if time.monotonic() >= next_sample:
                next_sample = time.monotonic() + sample_every
                self.sample()

    def _restart(self, service: Service) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(service.pid, signal.SIGKILL)  # what is left of the group
        service.process.wait()
        time.sleep(self.restart_delay)
        service.start()
        service.restarts += 1
        service.rss.clear()  # a new process: its growth is measured from its own start
        self.events.append((time.time(), f"{service.name} restarted"))

    def sample(self, warm_up: float = 30.0) -> None:
        """One RSS reading of every service's group and of each of its processes."""
        now = time.monotonic()
        for service in self.services.values():
            if not service.alive():
                continue
            readings = {pid: common.rss_mb(pid) for pid in common.group_pids(service.pid)}
            readings = {pid: mb for pid, mb in readings.items() if mb}
            if now - service.started_at > warm_up:
                service.rss.append((now, round(sum(readings.values()), 1)))
            for pid, mb in readings.items():
                seen = service.first_seen.setdefault(pid, now)
                if now - seen > warm_up:
                    service.rss_by_pid.setdefault(pid, []).append((now, mb))

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM every group, SIGKILL what is left after ``grace`` seconds in all."""
        self._stop.set()
        if self._thread:
            self._thread.join()
        for service in self.services.values():
            service.kill_group(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for service in self.services.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                service.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            service.kill_group(signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                service.process.wait(timeout=5)
            if service.log:
                service.log.close()

    def rss_series(self, min_span: float) -> dict[str, list[float]]:
        """RSS samples (MB) of each service's group (``web``) since its last (re)start, and of
        each of its processes sampled over at least ``min_span`` seconds (``web pid 123``)."""
        series = {name: [mb for _, mb in s.rss] for name, s in self.services.items()}
        for name, service in self.services.items():
            for pid, samples in service.rss_by_pid.items():
                if samples[-1][0] - samples[0][0] >= min_span:
                    series[f"{name} pid {pid}"] = [mb for _, mb in samples]
        return series


# --- what the chaos does to them ---------------------------------------------------------


def cluster_worker_pids(cluster: Service) -> list[int]:
    """The django-q2 worker processes of one cluster, as its sentinel reports them (the
    broker's cluster stats), so the monitor and pusher are never taken for workers."""
    from django_q.brokers import get_broker
    from django_q.status import Stat

    members = set(common.group_pids(cluster.pid))
    workers: list[int] = []
    with contextlib.suppress(Exception):  # the broker may be down (a Redis restart)
        for stat in Stat.get_all(broker=get_broker()):
            workers += [pid for pid in stat.workers if pid in members]
    return workers


def kill_a_worker(clusters: list[Service], rng: random.Random) -> str:
    """SIGKILL one django-q2 worker of a cluster chosen at random: what an OOM kill does."""
    for cluster in rng.sample(clusters, len(clusters)):
        pids = cluster_worker_pids(cluster)
        if pids:
            pid = rng.choice(pids)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            return f"SIGKILL worker {pid} of {cluster.name}"
    return "no worker found to kill (broker stats unavailable)"


def kill_a_web_worker(web: Service, rng: random.Random) -> str:
    """SIGKILL one gunicorn worker (the master starts another)."""
    workers = [pid for pid in common.group_pids(web.pid) if pid != web.pid]
    if not workers:
        return "no web worker found"
    pid = rng.choice(workers)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    return f"SIGKILL web worker {pid}"


def kill_a_cluster(clusters: list[Service], rng: random.Random) -> str:
    """SIGKILL a whole cluster's process group (the supervisor starts it again): one not
    killed yet when there is one, so two kills hit both clusters."""
    cluster = rng.choice([c for c in clusters if not c.restarts] or clusters)
    cluster.kill_group(signal.SIGKILL)
    return f"SIGKILL cluster {cluster.name} (group {cluster.pid})"
