"""What one run's functions share (:class:`Context`) and how its requests are paced.

Every resource module and the paging machinery get a ``Context``: the account, its client, the
resource's declaration by the account's provider (``integrations.syncing.SyncedResource``: how
it is read), the run and its counters, the page transaction, and the pacing every request
waits for. A resource module reads the provider only through the context's readers
(:meth:`Context.read_detail`, :meth:`Context.read`, :meth:`Context.read_all`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.utils import timezone

from bridge import budget
from bridge.db import tuning
from bridge.models import (
    Channel,
    Contact,
    Order,
    ProviderAccount,
    RemoteLink,
    SyncRun,
    SyncState,
    Tag,
)
from integrations.errors import RateLimitedError
from integrations.syncing import SyncedResource, client_method

MAX_PROBLEMS = 20


class SyncRefused(Exception):
    """A run that may not start: another is running, or the account cannot sync now."""


class Suspended(Exception):
    """Raised between pages when a task's time is up; the run goes on in a fresh task."""


class Pacing:
    """Every request of a run waits its turn in the account's budget and keeps the run alive."""

    HEARTBEAT_SECONDS = 15.0
    MAX_THROTTLE_WAIT = 60.0
    #: How long a read of the account's "slow down until" is trusted (as the outbox's slots do).
    THROTTLE_CHECK_SECONDS = 1.0

    def __init__(self, account: ProviderAccount, lease: budget.Lease, run: SyncRun):
        self.account, self.lease, self.run = account, lease, run
        self.pacer = budget.Pacer(account)
        self._last_beat = time.monotonic()
        self._throttle_checked = float("-inf")
        self._throttled_until = None

    def before_request(self) -> None:
        """Renew the slot lease, wait out a provider's "slow down", then the pacer."""
        self.bookkeeping()
        self.pacer.wait()

    def bookkeeping(self) -> None:
        """What every request needs before its slot's pacer: the lease renewed, the run's
        heartbeat, and any "slow down" the provider asked for waited out (this thread's
        database connection; a read-ahead thread only waits for its own slot's pacer)."""
        self.lease.keep_alive()
        if time.monotonic() - self._last_beat > self.HEARTBEAT_SECONDS:
            SyncRun.objects.filter(pk=self.run.pk).update(heartbeat_at=timezone.now())
            self._last_beat = time.monotonic()
        self._respect_throttle()

    def _respect_throttle(self) -> None:
        if time.monotonic() - self._throttle_checked >= self.THROTTLE_CHECK_SECONDS:
            self._throttled_until = (
                ProviderAccount.objects.filter(pk=self.account.pk)
                .values_list("throttled_until", flat=True)
                .first()
            )
            self._throttle_checked = time.monotonic()
        until = self._throttled_until
        if until is None:
            return
        wait = (until - timezone.now()).total_seconds()
        if wait > self.MAX_THROTTLE_WAIT:
            raise RateLimitedError(
                f"{self.account.name} is throttled until {until:%H:%M:%S} UTC", retry_after=wait
            )
        if wait > 0:
            time.sleep(wait)


@dataclass
class Context:
    """What one run's functions share: the account, its client, the resource's declaration,
    the run and its counters."""

    account: ProviderAccount
    state: SyncState
    run: SyncRun
    client: object
    pacing: Pacing
    #: How the account's provider says this resource is read.
    resource: SyncedResource
    deadline: float | None = None
    progress: Callable[[SyncRun], None] | None = None
    now: datetime = field(default_factory=timezone.now)
    problems: list[str] = field(default_factory=list)
    #: Folded names of the account's tags at the provider (read once by the people sync).
    remote_tag_names: set[str] = field(default_factory=set)
    #: The account's custom-field types as stored (``bridge.sync.fields``), read once.
    field_types: dict[str, str] | None = None
    #: Rows this run had created when the planner's statistics were last refreshed.
    analyzed_at_created: int = 0
    _tags: dict[str, int] | None = None
    _remote_tag_ids: set[int] | None = None

    def tags(self) -> dict[str, int]:
        """Every local Tag by folded name (see :func:`tag_key`), loaded once per run."""
        if self._tags is None:
            self._tags = {}
            for name, pk in Tag.objects.order_by("pk").values_list("name", "pk"):
                self._tags.setdefault(tag_key(name), pk)
        return self._tags

    def forget_tags(self) -> None:
        """Reload the tags on next use (after creating some)."""
        self._tags = None

    def remote_tag_ids(self) -> set[int]:
        """Local Tag ids that are this account's tags at the provider: linked, or named
        there."""
        if self._remote_tag_ids is None:
            tag_type = ContentType.objects.get_for_model(Tag)
            linked = RemoteLink.objects.filter(account=self.account, content_type=tag_type)
            self._remote_tag_ids = set(linked.values_list("object_id", flat=True))
            self._remote_tag_ids |= {
                self.tags()[key] for key in self.remote_tag_names if key in self.tags()
            }
        return self._remote_tag_ids

    @property
    def details(self) -> bool:
        """Whether records' details are read: the state asks for them and the resource has
        a detail to read."""
        return self.state.fetch_details and bool(self.resource.detail)

    def call(self, method: Callable, *args, **kwargs):
        """One provider request, paced."""
        self.pacing.before_request()
        return method(*args, **kwargs)

    # --- the provider's side, as the resource's declaration says -------------------------

    def read_detail(self, remote_id: str):
        """One record's detail (the declaration's ``detail`` method), paced."""
        return self.call(client_method(self.client, self.resource.detail), remote_id)

    def read(self, role: str, *args):
        """A further read the declaration names for ``role`` (its ``readers``), paced."""
        return self.call(self.resource.reader(self.client, role), *args)

    def read_all(self) -> list[dict]:
        """Every record of an unpaged list (the declaration's ``list_all``), paced and parsed
        when the declaration has a parser."""
        items = self.call(client_method(self.client, self.resource.list_all))
        parse = self.parser()
        return [parse(item) for item in items] if parse else items

    def parser(self) -> Callable | None:
        """The declaration's parser with the options it asks the bridge for (picklable: a
        read-ahead child process is given it)."""
        parse = self.resource.parse
        if parse is None or not self.resource.parse_options:
            return parse
        return partial(
            parse, **{name: PARSE_OPTIONS[name]() for name in self.resource.parse_options}
        )

    def window_params(self):
        """The query params of the run's window (None for a list read whole)."""
        return self.resource.window_params(self.client, self.run.window_from, self.run.window_to)

    def count(self, created=0, updated=0, unchanged=0) -> None:
        self.run.created_count += created
        self.run.updated_count += updated
        self.run.unchanged_count += unchanged

    def fail(self, remote_id: str, reason: str) -> None:
        """One record that could not be mirrored: counted, and the first few reasons kept."""
        self.run.failed_count += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(f"{remote_id or '(no id)'}: {reason}")

    @contextmanager
    def page_transaction(self):
        """A page's rows and the run's offset past it in one transaction.

        If the page fails, the run's counters and problems go back to what they were before
        it, so the failed run records what was written, not what was rolled back.
        """
        saved = self.counters()
        try:
            with transaction.atomic():
                tuning.commit_without_waiting_for_disk()
                yield
        except BaseException:
            self.restore_counters(saved)
            raise

    def counters(self) -> tuple[dict, int]:
        """The run's counters and offset, and how many problems are kept: to put back later."""
        values = {name: getattr(self.run, name) for name in (*COUNT_FIELDS, "next_offset")}
        return values, len(self.problems)

    def restore_counters(self, saved: tuple[dict, int]) -> None:
        """Put back what :meth:`counters` saved (a batch's transaction was rolled back)."""
        values, problems = saved
        for name, value in values.items():
            setattr(self.run, name, value)
        del self.problems[problems:]

    def page_done(self, next_offset: int | None = None, pages: int = 1) -> None:
        """Save the counts and a heartbeat after a page (or ``pages``); tell the progress hook."""
        self.run.pages += pages
        if next_offset is not None:
            self.run.next_offset = next_offset
        self.run.heartbeat_at = timezone.now()
        self.run.save(update_fields=[*COUNT_FIELDS, "next_offset", "heartbeat_at"])
        self.refresh_statistics()
        if self.progress:
            self.progress(self.run)

    def refresh_statistics(self) -> None:
        """ANALYZE the resource's tables at 1,000 rows created, then each time that grows
        ``ANALYZE_GROWTH``-fold.

        A first pull fills near-empty tables far faster than autovacuum re-reads them; with
        statistics of a few hundred rows the planner scans the whole growing table for every
        page's lookups (quadratic over the run). Once the statistics hold a few thousand rows
        they stay right as the table grows: the planner scales the row count by the table's
        current size, and the unique columns' distinct counts are kept as a fraction. So a
        handful of ANALYZEs do (1k, 16k, 256k…), each reading a sample of up to 30,000 rows of
        every table (``bridge.db.tuning.analyze``; nothing on SQLite).
        """
        created = self.run.created_count
        threshold = max(1000, ANALYZE_GROWTH * self.analyzed_at_created)
        if created < threshold:
            return
        if tuning.analyze(ANALYZED.get(self.run.resource, ())):
            self.analyzed_at_created = created

    def out_of_time(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline


#: The values the bridge hands a parser that asks for them (``SyncedResource.parse_options``).
PARSE_OPTIONS: dict[str, Callable[[], object]] = {
    "region": lambda: settings.DEFAULT_PHONE_REGION,
}

#: How much a first pull's created rows grow between two ANALYZEs (Context.refresh_statistics).
#: A smaller factor analyses a large pull once more near its end: a noticeable share of
#: PostgreSQL's CPU for statistics that plan its lookups no differently (docs/benchmarks.md).
ANALYZE_GROWTH = 16

#: The tables a resource's first pull fills in bulk (see Context.refresh_statistics).
ANALYZED = {
    "people": (Contact, RemoteLink, Contact.tags.through),
    "orders": (Order, RemoteLink),
    "channels": (Channel,),
}

COUNT_FIELDS = [
    "pages",
    "created_count",
    "updated_count",
    "unchanged_count",
    "failed_count",
    "remote_total",
]


def tag_key(name: str) -> str:
    """A tag name folded for comparing ("VIP " and "vip" are one tag), in Python.

    Not SQL ``LOWER``: SQLite's folds ASCII only, and Leeloo's tags are often Cyrillic.
    """
    return name.strip().casefold()
