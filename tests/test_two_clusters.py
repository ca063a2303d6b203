"""Two django-q2 clusters on one Redis broker, against PostgreSQL: the scale-out deployment
(README, "Background jobs") exercised end to end.

2,000 leads are queued for one fake Aéllo account in one batch, as the admin's push does, and
the commit wakes the account's drains onto Redis, as production does. Two real ``manage.py
qcluster`` processes share that queue (the same ``Q_CLUSTER_NAME``), each draining a share of
the account's slots. The test proves, from the provider's side:

- every lead reached the fake exactly once (one request per ``externalId``) and every
  delivery ended ``delivered``: the two clusters never claimed or sent the same delivery;
- the account's concurrency budget held across both clusters: the fake's maximum of requests
  in flight at once never exceeded ``account.concurrency``, and went above one;
- both clusters sent: each delivery's sender (its slot lease's holder) is a worker process,
  and those workers belong to both clusters' process groups.

PostgreSQL only (skipped on SQLite); skipped when Redis is unreachable, a failure with
``CI=true``. The Redis database is its own (``/15``) and the queue's name is this run's, so it
neither meets another run's keys nor leaves any behind.
"""

import os
import time
import uuid
from collections import Counter
from dataclasses import dataclass

import pytest
from django.db import connection
from django.db.models import Count

from bench.common import seed_leads
from bridge import outbox
from bridge.models import Delivery, Lead

pytestmark = pytest.mark.django_db(transaction=True)

State = Delivery.State
REDIS_URL = "redis://127.0.0.1:6379/15"
LEADS = 2000
CONCURRENCY = 8
SLOTS_PER_DRAIN = 2  # four drain tasks per wake-up, shared out between the clusters
LATENCY_SECONDS = 0.02  # the fake holds each answer this long, so requests overlap
LEADS_PATH = "/leads"


def redis_or_skip(url: str):
    """A client for ``url``; the test is skipped if Redis is unreachable (failed with CI=true)."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
    try:
        client.ping()
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as exc:
        message = f"Redis at {url} is not reachable ({exc})"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}: CI=true runs this test on Redis, failing")
        pytest.skip(f"{message}: the two-cluster test needs it")
    return client


def forget_keys(client, name: str) -> None:
    """Delete this run's keys (django-q2's queue and stats, the cache's rate-limit counters)."""
    keys = list(client.scan_iter(match=f"*{name}*", count=500))
    if keys:
        client.delete(*keys)


@dataclass
class RedisQueue:
    """This run's queue: a Redis client on its database and the queue's name."""

    client: object
    name: str

    @property
    def url(self) -> str:
        """The Redis URL, its connections named after this run (``CLIENT LIST`` shows them)."""
        return f"{REDIS_URL}?client_name={self.name}"

    @property
    def cluster_env(self) -> dict:
        """What a cluster's environment needs to work from this queue."""
        return {
            "REDIS_URL": self.url,
            "Q_CLUSTER_NAME": self.name,
            "BRIDGE_DRAIN_SLOTS": str(SLOTS_PER_DRAIN),
        }

    def listening(self) -> int:
        """This run's connections waiting in a blocking pop: the clusters' pushers, ready."""
        clients = self.client.client_list()
        return sum(1 for c in clients if c["name"] == self.name and "b" in c["flags"])


@pytest.fixture
def redis_queue(monkeypatch, settings):
    """A Redis queue of this run's own, which this process (the web process's part: enqueue
    and wake-ups) and the clusters started with ``cluster_env`` share."""
    if connection.vendor != "postgresql":
        pytest.skip(
            "two clusters run on PostgreSQL only: several clusters are the PostgreSQL-and-Redis "
            "deployment, and SQLite takes one writer at a time (set DATABASE_URL=postgres://…)"
        )
    from django_q.conf import Conf

    client = redis_or_skip(REDIS_URL)
    name = f"crm-bridge-two-clusters-{uuid.uuid4().hex[:8]}"
    forget_keys(client, name)
    # This process plays the web process started with REDIS_URL: django-q2 reads its broker
    # and queue name once at import, so they are set here as the settings would have.
    queue = RedisQueue(client, name)
    for attribute, value in (("ORM", None), ("REDIS", queue.url)):
        monkeypatch.setattr(Conf, attribute, value)
    for attribute in ("PREFIX", "CLUSTER_NAME"):
        monkeypatch.setattr(Conf, attribute, name)
    settings.BRIDGE_KICK_WORKERS = True
    settings.BRIDGE_DRAIN_SLOTS = SLOTS_PER_DRAIN
    yield queue
    forget_keys(client, name)
    client.close()


@pytest.fixture
def two_clusters(redis_queue, qcluster):
    """Two clusters of two workers on the Redis queue, each listening before the test goes on
    (torn down before the queue is forgotten)."""
    clusters = [qcluster(workers=2, env=redis_queue.cluster_env) for _ in range(2)]
    assert wait_for(lambda: redis_queue.listening() >= 2, 60), "the clusters did not start"
    return clusters


def wait_for(condition, seconds: float, every: float = 0.2) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return condition()


def states(batch) -> dict:
    return dict(batch.deliveries.values_list("state").annotate(n=Count("id")))


def sender_groups(batch) -> Counter:
    """Deliveries per process group of their sender: the holder of a drain's slot lease is
    ``host:pid:random``, and a cluster's workers share its process group."""
    pids = Counter(
        int(holder.rsplit(":", 2)[1])
        for holder in batch.deliveries.values_list("claimed_by", flat=True)
    )
    groups = Counter()
    for pid, count in pids.items():
        try:
            groups[os.getpgid(pid)] += count
        except ProcessLookupError:  # a worker gone since (it would have been reincarnated)
            groups[f"gone:{pid}"] += count
    return groups


def test_two_clusters_on_redis_send_each_lead_once_within_the_concurrency_budget(
    two_clusters, fakes, fake_account
):
    account = fake_account(
        "aello", concurrency=CONCURRENCY, requests_per_second=1000, read_timeout=10
    )
    fakes.add_fault("aello", "latency", path=LEADS_PATH, seconds=LATENCY_SECONDS)
    lead_ids = seed_leads(LEADS)

    started = time.monotonic()
    batch = outbox.enqueue(Lead, {account: lead_ids}, description="two clusters")  # wakes them
    settled = wait_for(lambda: not batch.deliveries.exclude(state=State.DELIVERED).exists(), 120)
    elapsed = time.monotonic() - started

    assert settled, f"not all delivered after {elapsed:.0f} s: {states(batch)}"
    assert states(batch) == {State.DELIVERED: LEADS}
    sent = Counter(r.json["externalId"] for r in fakes.requests_for("aello", "POST", LEADS_PATH))
    expected = set(Lead.objects.filter(pk__in=lead_ids).values_list("external_id", flat=True))
    assert set(sent) == expected, f"{len(expected - set(sent))} leads never reached the fake"
    duplicates = {external_id: n for external_id, n in sent.items() if n > 1}
    assert not duplicates, f"{len(duplicates)} leads sent more than once: {duplicates}"

    most = fakes.in_flight.max("aello")
    assert 1 < most <= account.concurrency, f"{most} requests in flight at most"
    groups = sender_groups(batch)
    clusters = {cluster.process.pid for cluster in two_clusters}
    assert set(groups) == clusters, f"deliveries per sending process group: {groups}"
    print(
        f"\n{LEADS} leads through two clusters in {elapsed:.1f} s; "
        f"at most {most} of {account.concurrency} requests in flight; "
        f"sent per cluster: {sorted(groups.values())}"
    )
