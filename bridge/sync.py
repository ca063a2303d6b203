"""Scheduled syncs: pull every Leeloo.ai account's records into the mirror models.

One *run* (a SyncRun row) reads one resource of one account page by page and upserts each page
in bulk — a few queries per page, never a save per row, never the whole list in memory. Runs
of the same account and resource never overlap (a unique constraint on the running row is the
lock; a run silent for ``BRIDGE_SYNC_STALE_SECONDS`` is taken over). Every request waits its
turn in the account's sending budget (``bridge.budget``), shared with the pushes.

People and channels are read incrementally: the window runs from the resource's cursor minus
the account's look-back up to the run's start (UTC); a run that fails leaves the cursor alone so
the next one covers the gap. The other resources have no such filter in the API and are read
whole each time; unchanged records are compared, counted and left untouched. A person edited
at Leeloo without a new message is only read by a full run: ``bridge.reconcile`` schedules one
per resource (nightly by default) and marks the people a complete full run no longer finds.

A run started by a django-q2 task stops between pages before the worker's timeout and is
continued by a fresh task from the same offset (``resume_sync_task``); the command runs to the
end in its own process.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cache, partial
from multiprocessing import current_process, get_context

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, close_old_connections, connection, models, transaction
from django.db.models import Q
from django.db.models.signals import post_delete, post_save
from django.utils import timezone

from integrations import readahead
from integrations.errors import (
    InvalidResponse,
    PermanentError,
    ProviderError,
    RateLimitedError,
)
from integrations.leeloo import (
    EVERYONE_SINCE,
    parse_channel,
    parse_order,
    parse_person_keyed,
    parse_tunnel,
    parse_user,
)

from . import accounts, budget, bulk, reconcile
from .conf import bridge_setting
from .matching import Candidate, match_contacts
from .models import (
    Channel,
    Connection,
    Contact,
    Lead,
    LeelooUser,
    Order,
    ProviderAccount,
    RemoteLink,
    SyncRun,
    SyncState,
    Tag,
    Template,
    TemplateCategory,
    Tunnel,
    TunnelStatsSummary,
)

logger = logging.getLogger("bridge.sync")

#: Providers whose accounts sync (the ones with list endpoints to read).
SYNC_PROVIDERS = ("leeloo",)
RESOURCES = tuple(SyncState.Resource.values)
#: The order ``sync`` runs them in when none is named: tags and people before what links to them.
RUN_ORDER = ("tags", "users", "people", "channels", "orders", "tunnels", "templates")
#: Resources read through a ``filter[last_message]`` window from the cursor.
WINDOWED = ("people", "channels")
TASK = "bridge.sync.run_sync_task"
MAX_PROBLEMS = 20
Status = SyncRun.Status


class SyncRefused(Exception):
    """A run that may not start: another is running, or the account cannot sync now."""


class Suspended(Exception):
    """Raised between pages when a task's time is up; the run goes on in a fresh task."""


def page_size() -> int:
    """Records per list request (the document advises against large pages)."""
    return bridge_setting("BRIDGE_SYNC_PAGE_SIZE", 100, minimum=1)


def write_batch() -> int:
    """Records written per transaction: consecutive pages are written together up to this."""
    return bridge_setting("BRIDGE_SYNC_WRITE_BATCH", 500, minimum=1)


def writers() -> int:
    """Connections a people pull writes its batches on at once (PostgreSQL; see WritePipeline)."""
    return bridge_setting("BRIDGE_SYNC_WRITERS", 2, minimum=1)


def stale_after() -> timedelta:
    """How long a running run may stay silent before another run takes over."""
    return timedelta(seconds=bridge_setting("BRIDGE_SYNC_STALE_SECONDS", 600.0))


def task_seconds() -> float:
    """How long one task may sync before it hands over: three quarters of the worker timeout."""
    return bridge_setting("BRIDGE_SYNC_TASK_SECONDS", settings.Q_CLUSTER.get("timeout", 120) * 0.75)


# --- states and schedules -----------------------------------------------------------------


def can_sync(account: ProviderAccount) -> bool:
    """Whether this account's provider has anything to pull."""
    return account.provider in SYNC_PROVIDERS


def ensure_sync_states(account: ProviderAccount) -> dict[str, SyncState]:
    """The account's SyncState per resource, creating the missing ones with the defaults."""
    states = {state.resource: state for state in account.sync_states.all()}
    missing = [
        SyncState(account=account, resource=resource, minutes=SyncState.DEFAULT_MINUTES[resource])
        for resource in RESOURCES
        if resource not in states
    ]
    if missing:
        SyncState.objects.bulk_create(missing, ignore_conflicts=True)
        states = {state.resource: state for state in account.sync_states.all()}
    return states


def schedule_name(account: ProviderAccount, resource: str) -> str:
    """The name staff see in django-q2's Scheduled tasks."""
    return f"sync {account.name}: {resource}"


def task_args(account_id: int, resource: str) -> str:
    """django-q2's ``args``: the text of a tuple, ``"(3, 'people')"``."""
    return repr((account_id, resource))


def account_jobs(account: ProviderAccount, job_class) -> list:
    """One job per enabled resource of an enabled syncing account, at the account's interval."""
    if not (account.enabled and can_sync(account)):
        return []
    states = {state.resource: state for state in account.sync_states.all()}
    jobs = []
    for resource in RESOURCES:
        state = states.get(resource)
        if state is not None and not state.enabled:
            continue
        jobs.append(
            job_class(
                name=schedule_name(account, resource),
                func=TASK,
                minutes=state.minutes if state else SyncState.DEFAULT_MINUTES[resource],
                args=task_args(account.pk, resource),
            )
        )
    return jobs


def scheduled_jobs(job_class) -> list:
    """Every sync job, for ``bridge.schedules`` (called after migrate and by setup_schedules).

    None while the sync tables do not exist yet (a migrate to an earlier migration).
    """
    if SyncState._meta.db_table not in connection.introspection.table_names():
        return []
    accounts = ProviderAccount.objects.filter(provider__in=SYNC_PROVIDERS, enabled=True)
    return [job for account in accounts for job in account_jobs(account, job_class)]


def refresh_schedules(account_id: int) -> None:
    """Make the account's sync schedules match its states: create, retime, rename, remove.

    Unlike ``ensure_schedules`` this owns the timing: an account's interval is set on its
    sync states, so a schedule's minutes follow them.
    """
    from django_q.models import Schedule

    from .schedules import Job

    account = ProviderAccount.objects.filter(pk=account_id).first()
    jobs = {job.args: job for job in account_jobs(account, Job)} if account else {}
    existing = Schedule.objects.filter(func=TASK, args__startswith=f"({account_id}, ")
    for schedule in existing:
        job = jobs.pop(schedule.args, None)
        if job is None:
            schedule.delete()
        elif (schedule.name, schedule.minutes) != (job.name, job.minutes):
            schedule.name, schedule.minutes = job.name, job.minutes
            schedule.save(update_fields=["name", "minutes"])
    for job in jobs.values():
        Schedule.objects.create(
            name=job.name,
            func=job.func,
            args=job.args,
            schedule_type=Schedule.MINUTES,
            minutes=job.minutes,
            repeats=-1,
        )


def _account_saved(sender, instance, raw=False, **kwargs):
    if raw:
        return
    if can_sync(instance):
        ensure_sync_states(instance)
    refresh_schedules(instance.pk)


def _account_deleted(sender, instance, **kwargs):
    refresh_schedules(instance.pk)


def _state_changed(sender, instance, raw=False, **kwargs):
    if not raw:
        refresh_schedules(instance.account_id)


def connect_signals() -> None:
    """Keep schedules in step with accounts and their states (called from the app's ready)."""
    post_save.connect(_account_saved, sender=ProviderAccount, dispatch_uid="bridge.sync.account")
    post_delete.connect(
        _account_deleted, sender=ProviderAccount, dispatch_uid="bridge.sync.account_deleted"
    )
    post_save.connect(_state_changed, sender=SyncState, dispatch_uid="bridge.sync.state")


# --- tasks and enqueueing ------------------------------------------------------------------


def run_sync_task(account_id: int, resource: str, full: bool = False) -> dict:
    """django-q2 task: one run of one resource; a summary dict (never raises on a refusal)."""
    close_old_connections()
    account = ProviderAccount.objects.filter(pk=account_id).first()
    if account is None:
        return {"skipped": f"no account #{account_id}"}
    try:
        run = run_sync(account, resource, full=full, max_seconds=task_seconds())
    except SyncRefused as refusal:
        logger.info("sync refused: %s", refusal)
        return {"refused": str(refusal)}
    return _hand_over(run)


def resume_sync_task(run_id: int) -> dict:
    """django-q2 task: continue a run a previous task stopped between pages."""
    close_old_connections()
    try:
        run = resume_run(run_id, max_seconds=task_seconds())
    except SyncRefused as refusal:
        logger.info("sync resume refused: %s", refusal)
        return {"refused": str(refusal)}
    return _hand_over(run)


def _hand_over(run: SyncRun) -> dict:
    if run.status == Status.RUNNING:
        from django_q.tasks import async_task

        async_task("bridge.sync.resume_sync_task", run.pk, group="sync")
    return run_summary(run)


def enqueue_syncs(account: ProviderAccount, resources: Iterable[str] = (), full=False) -> int:
    """Queue a run of each resource (all, by default) for the cluster; returns how many."""
    from django_q.tasks import async_task

    chosen = [resource for resource in RUN_ORDER if not resources or resource in resources]
    for resource in chosen:
        async_task(TASK, account.pk, resource, full=full, group="sync")
    return len(chosen)


def run_summary(run: SyncRun) -> dict:
    """A run's outcome as plain data (task results, the command's summary)."""
    return {
        "run": run.pk,
        "account": run.account.name,
        "resource": run.resource,
        "status": str(run.status),
        "pages": run.pages,
        "created": run.created_count,
        "updated": run.updated_count,
        "unchanged": run.unchanged_count,
        "failed": run.failed_count,
        "remote_total": run.remote_total,
        "linked_total": run.linked_total,
        "gone": run.gone_count,
        "error": run.error,
    }


def progress(accounts: Iterable[ProviderAccount], since: datetime) -> dict:
    """Where the runs started since ``since`` stand, per account and resource (live pages).

    A resource with no run yet is "queued"; a run's progress is the records it has read over
    the remote total Leeloo reported (unknown until its first page).
    """
    rows = []
    for account in accounts:
        latest = {}
        for run in SyncRun.objects.filter(account=account, started_at__gte=since).order_by(
            "started_at"
        ):
            latest[run.resource] = run
        for resource in RUN_ORDER:
            run = latest.get(resource)
            done = (
                0
                if run is None
                else (
                    run.created_count + run.updated_count + run.unchanged_count + run.failed_count
                )
            )
            rows.append(
                {
                    "account": account.name,
                    "resource": resource,
                    "status": "queued" if run is None else str(run.status),
                    "done": done,
                    "total": None if run is None else run.remote_total,
                    "error": "" if run is None else run.error[:300],
                }
            )
    finished = all(row["status"] in ("succeeded", "failed") for row in rows)
    return {"rows": rows, "finished": finished}


# --- starting, pacing and finishing a run --------------------------------------------------


def start_run(account: ProviderAccount, resource: str, *, full: bool = False) -> SyncRun:
    """Take the account/resource lock by inserting its running SyncRun; SyncRefused if taken.

    The window is fixed here: windowed resources read from the cursor minus the look-back (or
    from the far past on ``full`` or without a cursor) up to now, UTC.
    """
    if resource not in RESOURCES:
        raise SyncRefused(f"resource: '{resource}' is not one of {', '.join(RESOURCES)}.")
    if not can_sync(account):
        raise SyncRefused(f"Account '{account.name}' ({account.provider}) has nothing to sync.")
    account.refresh_from_db(fields=["enabled", "paused", "paused_reason"])
    if not account.enabled:
        raise SyncRefused(f"Account '{account.name}' is disabled.")
    if account.paused:
        raise SyncRefused(f"Account '{account.name}' is paused: {account.paused_reason}")
    state = ensure_sync_states(account)[resource]
    now = timezone.now()
    full = full or state.cursor is None
    window_from = window_to = None
    if resource in WINDOWED:
        window_to = now
        window_from = (
            EVERYONE_SINCE if full else state.cursor - timedelta(minutes=state.lookback_minutes)
        )
    _take_over_stale(account, resource, now)
    try:
        with transaction.atomic():
            return SyncRun.objects.create(
                account=account,
                resource=resource,
                full=full,
                window_from=window_from,
                window_to=window_to,
                heartbeat_at=now,
            )
    except IntegrityError:
        other = SyncRun.objects.filter(
            account=account, resource=resource, status=Status.RUNNING
        ).first()
        since = f" (run #{other.pk}, started {other.started_at:%Y-%m-%d %H:%M:%S} UTC)"
        raise SyncRefused(
            f"A {resource} sync of account '{account.name}' is already running"
            + (since if other else "")
            + "; this one was not started."
        ) from None


def _take_over_stale(account: ProviderAccount, resource: str, now: datetime) -> None:
    """Fail a running run that has shown no sign of life for too long (its worker died)."""
    cutoff = now - stale_after()
    silent = Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff)
    taken = SyncRun.objects.filter(silent, account=account, resource=resource, status="running")
    count = taken.update(
        status=Status.FAILED,
        finished_at=now,
        error=f"Abandoned: no sign of life for {stale_after()}; a new run took over.",
    )
    if count:
        logger.warning("took over %d stale %s sync run(s) of %s", count, resource, account.name)


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


def commit_without_waiting_for_disk() -> None:
    """This transaction commits without waiting for its WAL to reach the disk (PostgreSQL).

    For a sync's batches only: a crash can lose the last batches, never half of one, and the
    run's offset goes with them, so the next run reads them again.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


@dataclass
class Context:
    """What one run's functions share: the account, its client, the run and its counters."""

    account: ProviderAccount
    state: SyncState
    run: SyncRun
    client: object
    pacing: Pacing
    deadline: float | None = None
    progress: Callable[[SyncRun], None] | None = None
    now: datetime = field(default_factory=timezone.now)
    problems: list[str] = field(default_factory=list)
    #: Folded names of the account's tags at Leeloo (read once by the people sync).
    leeloo_tag_names: set[str] = field(default_factory=set)
    #: Rows this run had created when the planner's statistics were last refreshed.
    analyzed_at_created: int = 0
    _tags: dict[str, int] | None = None
    _leeloo_tag_ids: set[int] | None = None

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

    def leeloo_tag_ids(self) -> set[int]:
        """Local Tag ids that are this account's Leeloo tags: linked, or named at Leeloo."""
        if self._leeloo_tag_ids is None:
            tag_type = ContentType.objects.get_for_model(Tag)
            linked = RemoteLink.objects.filter(account=self.account, content_type=tag_type)
            self._leeloo_tag_ids = set(linked.values_list("object_id", flat=True))
            self._leeloo_tag_ids |= {
                self.tags()[key] for key in self.leeloo_tag_names if key in self.tags()
            }
        return self._leeloo_tag_ids

    @property
    def details(self) -> bool:
        return self.state.fetch_details

    def call(self, method: Callable, *args, **kwargs):
        """One provider request, paced."""
        self.pacing.before_request()
        return method(*args, **kwargs)

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
                commit_without_waiting_for_disk()
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
        every table. PostgreSQL only; a table the database user does not own is skipped by
        PostgreSQL with a warning, not an error.
        """
        created = self.run.created_count
        threshold = max(1000, ANALYZE_GROWTH * self.analyzed_at_created)
        if connection.vendor != "postgresql" or created < threshold:
            return
        tables = [model._meta.db_table for model in ANALYZED.get(self.run.resource, ())]
        with connection.cursor() as cursor:
            for table in tables:
                cursor.execute(f"ANALYZE {connection.ops.quote_name(table)}")
        self.analyzed_at_created = created

    def out_of_time(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline


#: How much a first pull's created rows grow between two ANALYZEs (Context.refresh_statistics).
#: At 4 a 100k pull analysed at 64k too: a tenth of PostgreSQL's CPU in the run, for
#: statistics that planned its lookups no differently.
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


def run_sync(
    account: ProviderAccount,
    resource: str,
    *,
    full: bool = False,
    max_seconds: float | None = None,
    progress: Callable[[SyncRun], None] | None = None,
) -> SyncRun:
    """Run one sync of one resource; the finished (or, past ``max_seconds``, still running) run.

    Raises SyncRefused when it may not start. Any failure during the run is recorded on the
    run (status failed, the error) rather than raised.
    """
    run = start_run(account, resource, full=full)
    return _execute(account, run, max_seconds, progress)


def resume_run(
    run_id: int,
    *,
    max_seconds: float | None = None,
    progress: Callable[[SyncRun], None] | None = None,
) -> SyncRun:
    """Continue a run stopped between pages, from its ``next_offset`` (compare-and-set claim)."""
    run = SyncRun.objects.select_related("account").filter(pk=run_id).first()
    if run is None or run.status != Status.RUNNING:
        raise SyncRefused(f"Sync run #{run_id} is not running; nothing to continue.")
    claimed = SyncRun.objects.filter(
        pk=run.pk, status=Status.RUNNING, heartbeat_at=run.heartbeat_at
    ).update(heartbeat_at=timezone.now())
    if not claimed:
        raise SyncRefused(f"Sync run #{run_id} was continued by another task.")
    run.refresh_from_db()
    return _execute(run.account, run, max_seconds, progress)


def _execute(account, run, max_seconds, progress) -> SyncRun:
    deadline = time.monotonic() + max_seconds if max_seconds is not None else None
    slot_wait = min(300.0, max_seconds / 4) if max_seconds is not None else 300.0
    try:
        lease = budget.wait_for_slot(account, timeout=slot_wait)
    except TimeoutError as exc:
        return _fail(run, exc)
    try:
        state = ensure_sync_states(account)[run.resource]
        pacing = Pacing(account, lease, run)
        ctx = Context(account, state, run, account.client(), pacing, deadline, progress)
        PULLS[run.resource](ctx)
    except Suspended:
        logger.info("sync run #%s suspended at offset %s", run.pk, run.next_offset)
        return run
    except Exception as exc:
        return _fail(run, exc)
    finally:
        lease.__exit__(None, None, None)
    return _succeed(ctx)


def _succeed(ctx: Context) -> SyncRun:
    """Finish a complete run and move the cursor to the end of its window."""
    run = ctx.run
    run.linked_total = LINKED[run.resource](ctx.account)
    run.status = Status.SUCCEEDED
    run.finished_at = timezone.now()
    run.next_offset = 0
    if ctx.problems:
        run.error = f"{run.failed_count} record(s) not mirrored: " + "; ".join(ctx.problems)
    with transaction.atomic():
        if reconcile.may_mark_gone(run):  # the whole list was read: who is not in it is gone
            run.gone_count = reconcile.mark_gone_people(run)
        run.save()
        SyncState.objects.filter(pk=ctx.state.pk).update(
            cursor=run.window_to or run.started_at, updated_at=run.finished_at
        )
    return run


def _fail(run: SyncRun, error: Exception) -> SyncRun:
    """Record a failed run; the cursor stays, so the next run reads the same window again."""
    if isinstance(error, ProviderError):
        accounts.react_to(run.account_id, error, fallback_wait=60.0)
    if not isinstance(error, ProviderError | TimeoutError):  # a bug, or the database
        logger.exception("sync run #%s of %s failed", run.pk, run.account.name, exc_info=error)
    run.status = Status.FAILED
    run.finished_at = timezone.now()
    run.error = (f"{type(error).__name__}: {error}" if str(error) else type(error).__name__)[:4000]
    run.save()
    return run


# --- paging --------------------------------------------------------------------------------


def _pages(
    ctx: Context,
    path: str,
    params,
    parse,
    handle: Callable[[Context, list], None],
    steps: tuple[Callable, Callable, Callable] | None = None,
):
    """Read a list page by page from the run's offset, handing the items to ``handle``.

    Stops on an empty or short page or when Leeloo's count is reached, and refuses a page that
    repeats the previous one (a server ignoring the offset) — the rules of
    ``LeelooProvider.iter_pages``, which cannot start at an offset. Between pages, when the
    task's time is up, it raises Suspended with the offset saved.

    Leeloo is asked for small pages (its document advises it), but the database is written in
    batches of ``BRIDGE_SYNC_WRITE_BATCH`` records: consecutive pages are handled together,
    in one transaction with the run's offset past them, so a run that dies resumes exactly
    after what it wrote. A page that fails to arrive still leaves the pages before it written.
    Pages are read ahead while a batch is written when the run holds a spare slot of the
    account's budget (see :class:`PageReader`). Items are handled strictly in order.

    ``steps`` (prepare, store, count) splits ``handle`` in three, so that on PostgreSQL
    batches are written on other connections while the next one is prepared
    (:class:`WritePipeline`).
    """
    size, batch_size = page_size(), write_batch()
    offset, previous = ctx.run.next_offset, None
    batch = _Batch()
    ahead = 2 * (batch_size // size) + 1
    with (
        PageReader(ctx, path, params, parse, size, ahead=ahead) as reader,
        WritePipeline.for_run(ctx, steps) as pipeline,
    ):
        batch.pipeline = pipeline
        while True:
            try:
                page = reader.page(offset)
                ids = [item.get("remote_id") for item in page.items]  # before handle() adds
                if page.items and ids == previous:
                    raise InvalidResponse(
                        f"Leeloo answered offset {offset} of {path} with the previous page"
                    )
            except Exception:
                batch.write(ctx, handle)  # what arrived before the failing page is kept
                raise
            total = page.meta.get("totalCount", page.total)
            if total is not None:
                ctx.run.remote_total = int(total)
            previous = ids
            offset += len(page.items)
            served = int(page.meta.get("limit") or size)
            last = len(page.items) < min(size, served) or (
                page.total is not None and offset >= page.total
            )
            if page.items:
                batch.add(page.items, offset)
            if last or len(batch.items) >= batch_size or ctx.out_of_time():
                batch.write(ctx, handle)
            if last:
                return
            if ctx.out_of_time():
                raise Suspended


class PageReader:
    """One list's pages, in order, read ahead on a helper thread when the run may.

    Reading ahead needs a second request in flight, so it needs a second slot of the account's
    budget: the run leases one more when one is free (never waiting for it), and the helper
    thread keeps to that slot's pace. Without it, each page is read when asked for, paced by
    the run's own slot. Reading ahead guesses the next offsets (a full page each, never past
    Leeloo's count), one more page ahead after each full page up to ``ahead``, so a list that
    ends soon costs at most a request or two past its end (Leeloo's counts may be the whole
    list's, not the window's); a page that comes back short or capped makes it drop its
    guesses and read from the true offset. The helper only sends requests and parses (no
    database).

    The helper is a thread, or, for a list with at least ``BRIDGE_SYNC_READ_PROCESS_PAGES``
    pages still to read, a child process (``integrations.readahead``): reading and parsing a
    page costs about as much CPU as writing it, and in one process the two take turns.
    """

    def __init__(self, ctx: Context, path: str, params, parse, size: int, ahead: int):
        self.ctx, self.path, self.params, self.parse, self.size = ctx, path, params, parse, size
        self.ahead = ahead if len(ctx.pacing.lease.take_more(1)) >= 2 else 0
        self.pending: deque[tuple[int, Future]] = deque()
        self.total: int | None = None
        self.full_pages = 0
        self.pacer = budget.Pacer(ctx.account)
        self.helper = ThreadPoolExecutor(1, "sync-read-ahead") if self.ahead else None
        self.child: ProcessPoolExecutor | None = None
        self.job: readahead.ListJob | None = None

    def __enter__(self) -> PageReader:
        return self

    def __exit__(self, *exc_info) -> None:
        self._drop_guesses()
        for executor in (self.helper, self.child):
            if executor is not None:
                executor.shutdown(wait=True)

    def page(self, offset: int):
        """The page at ``offset``."""
        if not self.ahead:
            return self.ctx.call(
                self.ctx.client.list_page,
                self.path,
                self.params,
                limit=self.size,
                offset=offset,
                parse=self.parse,
            )
        if self.pending and self.pending[0][0] != offset:
            self._drop_guesses()
        if not self.pending:
            self._request(offset)
        _, future = self.pending.popleft()
        page = future.result()
        if page.total is not None:
            self.total = page.total
        if len(page.items) >= self.size:
            self.full_pages += 1
            self._guess_after(offset + len(page.items))
        return page

    def _guess_after(self, offset: int) -> None:
        """Ask for the full pages from ``offset`` on, as many ahead as full pages came so far."""
        if self.full_pages == 1 and not self.pending:  # nothing in flight: the helper may change
            self._start_child_for(offset)
        next_offset = self.pending[-1][0] + self.size if self.pending else offset
        depth = min(self.ahead, self.full_pages)
        while len(self.pending) < depth and (self.total is None or next_offset < self.total):
            if self.ctx.out_of_time():
                return
            self._request(next_offset)
            next_offset += self.size

    def _request(self, offset: int) -> None:
        self.ctx.pacing.bookkeeping()
        if self.child is not None:
            future = self.child.submit(readahead.read_page, self.job, offset)
        else:
            future = self.helper.submit(self._fetch, offset)
        self.pending.append((offset, future))

    def _start_child_for(self, offset: int) -> None:
        """Read the rest in a child process when it is long enough and this process may fork."""
        pages = bridge_setting("BRIDGE_SYNC_READ_PROCESS_PAGES", 20)
        left = (self.total - offset) // self.size if self.total is not None else 0
        if pages <= 0 or left < pages or current_process().daemon:
            return  # a daemonic process (a django-q2 worker left daemonic) may not have children
        client = self.ctx.client
        self.job = readahead.ListJob(
            provider=f"{type(client).__module__}.{type(client).__qualname__}",
            config=self.ctx.account.config(),
            interval=self.pacer.interval,
            path=self.path,
            params=self.params,
            size=self.size,
            parse=self.parse,
            log_level=logging.getLogger("integrations").getEffectiveLevel(),
        )
        # spawn, not fork: a forked child would share this process's database connections.
        self.child = ProcessPoolExecutor(1, mp_context=get_context("spawn"))

    def _fetch(self, offset: int):
        """On the helper thread: wait for the spare slot's turn, then read and parse the page."""
        self.pacer.wait()
        return self.ctx.client.list_page(
            self.path, self.params, limit=self.size, offset=offset, parse=self.parse
        )

    def _drop_guesses(self) -> None:
        """Forget the pages asked for ahead (those already in flight finish, unread)."""
        while self.pending:
            _, future = self.pending.popleft()
            if not future.cancel():
                wait([future])


@dataclass
class _Batch:
    """Consecutive pages' items waiting to be written together, and the offset past them."""

    items: list = field(default_factory=list)
    pages: int = 0
    end_offset: int = 0
    pipeline: WritePipeline | None = None

    def add(self, items: list, end_offset: int) -> None:
        self.items += items
        self.pages += 1
        self.end_offset = end_offset

    def write(self, ctx: Context, handle: Callable[[Context, list], None]) -> None:
        """Handle the items and record the run's progress past them, in one transaction."""
        if not self.pages:
            return
        if self.pipeline is not None:
            self.pipeline.submit(self.items, self.end_offset, self.pages)
        else:
            with ctx.page_transaction():
                handle(ctx, self.items)
                ctx.page_done(self.end_offset, pages=self.pages)
        self.items, self.pages = [], 0


class WritePipeline:
    """Writes batches on other database connections while the next batch is prepared.

    A batch's handling is in three steps: *prepare* (read what it needs, match, compare:
    mostly Python, on this thread's connection), *store* (the inserts and updates: mostly the
    database's time) and *count* (the run's counters). Here up to ``BRIDGE_SYNC_WRITERS``
    batches are stored at once, each on a writer thread of its own with its own connection,
    while this thread prepares the next one. Each batch is still one transaction with the
    run's offset past it, and the offsets still commit in order: a batch stores its rows, then
    waits for the batch before it to commit, and only then counts, records its offset and
    commits — or rolls back when that batch failed. So a run that dies resumes exactly after
    what it committed, as with one connection.

    Preparing before the batches in flight commit reads the database without their rows.
    That gives the same answers unless a batch shares a remote id, a phone, an email or a
    contact with one of them (their *footprints*): then it waits for every batch in flight to
    commit and is prepared again. Batches that share nothing write disjoint rows, so their
    transactions never wait for each other's locks. An error in a writer is raised here at a
    later batch or at the end; the batches committed before it stay written.

    Used on PostgreSQL only, outside any transaction of the caller's: SQLite writes from one
    connection at a time, and a caller's open transaction must not be split over two.
    """

    def __init__(self, ctx: Context, prepare: Callable, store: Callable, count: Callable):
        self.ctx, self.prepare, self.store, self.count = ctx, prepare, store, count
        self.writers = [ThreadPoolExecutor(1, f"sync-writer-{n}") for n in range(writers())]
        #: The batches handed to writers and not yet known committed, oldest first.
        self.in_flight: deque[tuple[Future, frozenset]] = deque()
        self.submitted = 0

    @classmethod
    @contextmanager
    def for_run(cls, ctx: Context, steps: tuple[Callable, Callable, Callable] | None):
        """A pipeline for this run when it may have one, else None; closed on the way out."""
        if steps:
            writers()  # a bad setting is refused on every database, not only where it is used
        if not steps or connection.vendor != "postgresql" or connection.in_atomic_block:
            yield None
            return
        pipeline = cls(ctx, *steps)
        try:
            yield pipeline
        finally:
            pipeline.close()

    def submit(self, items: list, end_offset: int, pages: int) -> None:
        """Prepare a batch here, then hand it to a writer (waiting for one to be free)."""
        prepared = self.prepare(self.ctx, items)
        shared = set()
        for _, footprint in self.in_flight:
            shared |= prepared.footprint & footprint
        if shared:  # read what the batches in flight write
            self.wait()
            logger.debug(
                "sync run #%s: batch ending at offset %s shares %d key(s) with batches being "
                "written; prepared again after they committed",
                self.ctx.run.pk,
                end_offset,
                len(shared),
            )
            prepared = self.prepare(self.ctx, items)
        while len(self.in_flight) >= len(self.writers):
            self._wait_oldest()
        before = self.in_flight[-1][0] if self.in_flight else None
        writer = self.writers[self.submitted % len(self.writers)]
        self.submitted += 1
        future = writer.submit(self._write, prepared, end_offset, pages, before)
        self.in_flight.append((future, prepared.footprint))

    def wait(self) -> None:
        """Until every batch in flight is committed; the first error, if one failed, is raised."""
        while self.in_flight:
            self._wait_oldest()

    def _wait_oldest(self) -> None:
        future, _ = self.in_flight.popleft()
        future.result()

    def close(self) -> None:
        """Wait for the batches in flight, then close the writer threads and their connections."""
        try:
            self.wait()
        finally:
            for writer in self.writers:
                # Looked up on the writer's thread: its own connection, not this thread's.
                writer.submit(lambda: connection.close())
                writer.shutdown(wait=True)

    def _write(self, prepared, end_offset: int, pages: int, before: Future | None) -> None:
        """On a writer thread: one batch and the run's offset past it, one transaction."""
        saved = None
        try:
            with transaction.atomic():
                commit_without_waiting_for_disk()
                self.store(self.ctx, prepared)
                if before is not None:
                    before.result()  # committed; raises (rolling this one back) if it failed
                saved = self.ctx.counters()
                self.count(self.ctx, prepared)
                self.ctx.page_done(end_offset, pages=pages)
        except BaseException:
            if saved is not None:
                self.ctx.restore_counters(saved)
            raise


def _unique_by_remote_id(ctx: Context, items: list[dict], fail=None) -> list[dict]:
    """The page's items once each (the last copy wins); items without an id are failures
    (``fail(remote_id, reason)``, by default ``ctx.fail``)."""
    fail = fail or ctx.fail
    unique: dict[str, dict] = {}
    for item in items:
        if not item.get("remote_id"):
            fail("", "Leeloo sent a record without an id")
            continue
        unique[item["remote_id"]] = item
    return list(unique.values())


# --- comparing and writing -----------------------------------------------------------------


@cache
def _max_lengths(model) -> dict[str, int]:
    """Field name (and attname) -> max_length, for the fields that have one."""
    limits = {}
    for column in model._meta.concrete_fields:
        if getattr(column, "max_length", None):
            limits[column.name] = limits[column.attname] = column.max_length
    return limits


def fit(model, values: dict) -> dict:
    """Values cut to their columns' lengths, so one long name never fails a page."""
    limits = _max_lengths(model)
    fitted = {}
    for name, value in values.items():
        limit = limits.get(name)
        if limit and isinstance(value, str) and len(value) > limit:
            value = value[:limit]
        fitted[name] = value
    return fitted


def changes(obj, values: dict) -> list[str]:
    """The names of the fields whose stored value differs from ``values``."""
    return [name for name, value in values.items() if getattr(obj, name) != value]


def write(model, created: list, updated: list, fields: set[str]) -> None:
    """One bulk insert and one bulk update (auto_now is not applied by bulk_update: set here)."""
    if created:
        model.objects.bulk_create(created, batch_size=500)
    if updated:
        now = timezone.now()
        for obj in updated:
            obj.updated_at = now
        model.objects.bulk_update(updated, sorted(fields | {"updated_at"}), batch_size=500)


def upsert_owned(ctx: Context, model, rows: list[dict]) -> dict[str, models.Model]:
    """Create or update rows of a Leeloo-only model keyed by (account, remote_id), in bulk.

    ``rows`` are dicts of field values with a ``remote_id``; returns every row's object by id.
    """
    rows = _unique_by_remote_id(ctx, rows)
    existing = {
        obj.remote_id: obj
        for obj in model.objects.filter(
            account=ctx.account, remote_id__any=[r["remote_id"] for r in rows]
        )
    }
    created, updated, fields = [], [], set()
    for row in rows:
        values = fit(model, {k: v for k, v in row.items() if k != "remote_id"})
        obj = existing.get(row["remote_id"])
        if obj is None:
            obj = model(account=ctx.account, remote_id=row["remote_id"], **values)
            created.append(obj)
            existing[row["remote_id"]] = obj
            continue
        changed = changes(obj, values)
        if changed:
            for name in changed:
                setattr(obj, name, values[name])
            fields.update(changed)
            updated.append(obj)
        else:
            ctx.count(unchanged=1)
    with transaction.atomic(savepoint=False):  # inside the page's (see _pages)
        write(model, created, updated, fields)
    ctx.count(created=len(created), updated=len(updated))
    return existing


class Links:
    """The RemoteLinks of one model in one account, for a page's remote ids (one query).

    A remote id is unique per kind of record (``RemoteLink``), so only this model's links
    decide, whatever other kinds hold the same id (Leeloo gives a tag and a tunnel one id).
    ``also`` names other models whose links point at the same remote records (a lead pushed to
    Leeloo is a person, as a contact is): their links are read into ``elsewhere``.

    A page's new links are inserted, and its existing ones stamped (and re-pointed when their
    record was deleted locally and made again), together in :meth:`save`.
    """

    def __init__(self, ctx: Context, model, remote_ids: Iterable[str], also: tuple = ()):
        self.ctx = ctx
        self.content_type = ContentType.objects.get_for_model(model)
        types = [self.content_type.pk, *(ContentType.objects.get_for_model(m).pk for m in also)]
        rows = RemoteLink.objects.filter(
            account=ctx.account, remote_id__any=list(remote_ids), content_type_id__any=types
        )
        self.by_remote: dict[str, RemoteLink] = {}
        #: remote id -> (content type id, object id) of the ``also`` models' links
        self.elsewhere: dict[str, tuple[int, int]] = {}
        for link in rows:
            if link.content_type_id == self.content_type.pk:
                self.by_remote[link.remote_id] = link
            else:
                self.elsewhere[link.remote_id] = (link.content_type_id, link.object_id)
        #: (remote id, record, remote updated at) of links to create; the record has its pk by save
        self.new: list[tuple[str, object, datetime | None]] = []
        self.seen_links: list[tuple[RemoteLink, models.Model, datetime | None]] = []

    def pulled(self, remote_id: str, obj, remote_updated_at=None) -> None:
        """``obj`` is ``remote_id``: link it, or stamp its existing link."""
        link = self.by_remote.get(remote_id)
        if link is not None:
            self.seen_links.append((link, obj, remote_updated_at))
            return
        self.new.append((remote_id, obj, remote_updated_at))

    def save(self, stamp: bool = True) -> None:
        """Insert the new links (their objects have ids by now) and stamp the pulled ones
        (unless ``stamp`` is off: the people sync stamps every listed id itself)."""
        bulk.insert_rows(
            RemoteLink,
            [
                {
                    "account_id": self.ctx.account.pk,
                    "content_type_id": self.content_type.pk,
                    "object_id": obj.pk,
                    "remote_id": remote_id,
                    "last_pulled_at": self.ctx.now,
                    "remote_updated_at": remote_updated_at,
                }
                for remote_id, obj, remote_updated_at in self.new
            ],
        )
        changed = []
        for link, obj, remote_updated_at in self.seen_links:
            moved = link.object_id != obj.pk
            retimed = remote_updated_at is not None and link.remote_updated_at != remote_updated_at
            if moved or retimed:
                link.object_id = obj.pk
                link.remote_updated_at = remote_updated_at or link.remote_updated_at
                changed.append(link)
        if changed:
            RemoteLink.objects.bulk_update(
                changed, ["object_id", "remote_updated_at"], batch_size=500
            )
        pulled = [link.pk for link, _, _ in self.seen_links]
        if pulled and stamp:
            RemoteLink.objects.filter(pk__any=pulled).update(last_pulled_at=self.ctx.now)


def person_contacts(account: ProviderAccount, person_ids: Iterable[str]) -> dict[str, int]:
    """Leeloo person id -> Contact id, through the person's link to a contact or to a lead.

    A lead pushed to Leeloo is linked to its person; that person's Contact is the lead's,
    unless a contact of its own is linked to the person too (that one is).
    """
    person_ids = [pid for pid in set(person_ids) if pid]
    if not person_ids:
        return {}
    types = ContentType.objects.get_for_models(Contact, Lead)
    links = RemoteLink.objects.filter(
        account=account, remote_id__any=person_ids, content_type__in=types.values()
    ).values_list("remote_id", "content_type_id", "object_id")
    direct, lead_ids = {}, {}
    for remote_id, type_id, object_id in links:
        if type_id == types[Contact].pk:
            direct[remote_id] = object_id
        else:
            lead_ids[object_id] = remote_id
    found = {}
    for lead_id, contact_id in Lead.objects.filter(pk__in=lead_ids).values_list("pk", "contact_id"):
        found[lead_ids[lead_id]] = contact_id
    return {**found, **direct}


# --- people --------------------------------------------------------------------------------

CHANNEL_KEYS = ("account_id", "connection_id", "connection_status", "from")
#: Contact fields the people list carries, and those only a person's card has.
LIST_FIELDS = ("first_name", "last_name", "email", "phone", "channels", "last_message_at")
CARD_FIELDS = ("gender", "locale", "profile_image", "subscribe_history", "custom_fields")


def pull_people(ctx: Context) -> None:
    """People whose last message falls in the run's window, into Contacts (see upsert_people).

    The account's tag list is read first (one request), so that a tag taken off a person at
    Leeloo is taken off the contact, while tags Leeloo does not have stay.
    """
    tags = ctx.call(ctx.client.list_tags)
    ctx.leeloo_tag_names = {tag_key(tag["name"]) for tag in tags}
    params = ctx.client.people_params(ctx.run.window_from, ctx.run.window_to)
    parse = partial(parse_person_keyed, region=settings.DEFAULT_PHONE_REGION)
    steps = (prepare_people, store_people, count_people)
    _pages(ctx, "/people", params, parse, upsert_people, steps=steps)


def person_values(person: dict, contact: Contact | None, detailed: bool) -> dict:
    """The provider-owned Contact fields from a Leeloo person.

    A blank name, email or phone at Leeloo does not erase the local one (Leeloo not knowing is
    not Leeloo saying there is none). Custom fields merge over the local ones. The card-only
    fields are set only when the person's card was read.
    """
    values: dict = {}
    if person["first_name"] or person["last_name"]:
        values["first_name"], values["last_name"] = person["first_name"], person["last_name"]
    email, phone = person["email_key"], person["phone_key"]
    if email and "@" in email:
        values["email"] = email
    if phone:
        values["phone"] = phone
    values["channels"] = [
        {key: str(channel.get(key) or "") for key in CHANNEL_KEYS}
        for channel in person["channels"]
        if isinstance(channel, dict)
    ]
    if person.get("last_message_at") is not None:
        values["last_message_at"] = person["last_message_at"]
    if detailed:
        image = person["profile_image"]
        values.update(
            gender=person["gender"],
            locale=person["locale"],
            profile_image=image if len(image) <= 500 else "",
            subscribe_history=person["subscribe_history"],
            custom_fields={
                **(
                    contact.custom_fields
                    if contact and isinstance(contact.custom_fields, dict)
                    else {}
                ),
                **person["custom_fields"],
            },
        )
    return fit(Contact, values)


@dataclass
class PersonPlan:
    """One pulled person on its way into a Contact."""

    person: dict
    contact: Contact | None = None
    link: RemoteLink | None = None  # its existing link to a contact
    via_lead: bool = False  # its Leeloo id is linked to a lead of the contact instead
    detailed: bool = False
    new_id: int | None = None  # the id of the contact made for it, once written

    @property
    def linked(self) -> bool:
        return self.link is not None or self.via_lead

    @property
    def pk(self) -> int | None:
        """The contact's id: the matched one's, or the new one's once written (see Links)."""
        return self.contact.pk if self.contact is not None else self.new_id


def upsert_people(ctx: Context, people: list[dict]) -> None:
    """One page of people into Contacts, in bulk: match, read cards, compare, write.

    Matching is ``bridge.matching.match_contacts`` (remote id, phone, email); a person whose id
    is linked to a lead is that lead's contact. A contact already linked to another person of
    the account, or two people of one page matching one contact, cannot be linked twice: such a
    person is counted as failed with the reason. A phone or email another contact holds is not
    copied (the unique constraints would refuse it); the local value stays. The people come
    from ``parse_person_keyed``, with their matching keys already worked out.

    In steps, :func:`prepare_people` (reads and decisions), :func:`store_people` (the rows)
    and :func:`count_people` (the run's counters), so that on PostgreSQL batches are written
    while the next is prepared (:class:`WritePipeline`).
    """
    write_people(ctx, prepare_people(ctx, people))


def write_people(ctx: Context, batch: PeopleBatch) -> None:
    """Store a prepared batch and count it (inside the page's transaction, see :func:`_pages`)."""
    store_people(ctx, batch)
    count_people(ctx, batch)


@dataclass
class PeopleBatch:
    """A batch of people read, matched and compared: what :func:`write_people` writes.

    ``footprint`` is every remote id, phone, email and contact the batch read or will write;
    a batch prepared while another is being written is read again if the two share any.
    """

    plans: list[PersonPlan]
    links: Links
    tags: PageTags
    created: list[tuple[PersonPlan, dict]]
    updated: list[Contact]
    fields: set[str]
    unchanged: int
    failures: list[tuple[str, str]]
    footprint: frozenset
    #: Every person id the batch listed, mirrored or not (see reconcile.stamp_listed_people).
    listed: list[str] = field(default_factory=list)


def prepare_people(ctx: Context, people: list[dict]) -> PeopleBatch:
    """Read what a batch of people needs and decide every write; writes nothing but new Tags.

    Failures (``fail``) are kept on the batch and counted when it is written, so a batch
    prepared twice (see :class:`WritePipeline`) counts them once.
    """
    failures: list[tuple[str, str]] = []

    def fail(remote_id: str, reason: str) -> None:
        failures.append((remote_id, reason))

    people = _unique_by_remote_id(ctx, people, fail)
    keys = [matching_keys(person) for person in people]
    with lookups_by_key():  # the reads only: a card read below is an HTTP request
        links = Links(ctx, Contact, [p["remote_id"] for p in people], also=(Lead,))
        lead_contacts = _lead_contacts(ctx, links)
        owners = KeyOwners(people)
        matches = match_contacts(
            [Candidate(p["remote_id"], p["phone_key"], p["email_key"]) for p in people],
            ctx.account,
            linked={remote_id: link.object_id for remote_id, link in links.by_remote.items()},
            known=owners.owner,
            keyed=True,
        )
        contact_ids = {cid for cid in matches if cid} | set(lead_contacts.values())
        contacts = Contact.objects.in_bulk(contact_ids)
        linked_to = dict(
            RemoteLink.objects.filter(
                account=ctx.account, content_type=links.content_type, object_id__any=contact_ids
            ).values_list("object_id", "remote_id")
        )
        tags = PageTags(ctx, people, contact_ids)
    claims = PageClaims(linked_to)
    plans = []
    for person, person_keys, contact_id in zip(people, keys, matches, strict=True):
        remote_id = person["remote_id"]
        via_lead = remote_id in lead_contacts and remote_id not in links.by_remote
        if via_lead:
            contact_id = lead_contacts[remote_id]
        reason = claims.refusal(remote_id, contact_id, person_keys)
        if reason:
            fail(remote_id, reason)
            continue
        claims.claim(remote_id, contact_id, person_keys)
        plans.append(
            PersonPlan(
                person,
                contacts.get(contact_id),
                links.by_remote.get(remote_id),
                via_lead=via_lead,
            )
        )
    _read_cards(ctx, plans, tags, fail)
    footprint = _footprint(people, keys, links, contacts.values())
    batch = _compare_people(plans, links, tags, owners, failures, footprint)
    batch.listed = [person["remote_id"] for person in people]
    return batch


@contextmanager
def lookups_by_key():
    """A transaction whose reads by lists of keys are planned as index probes (PostgreSQL).

    A first pull fills the tables faster than their statistics follow, and below some 50,000
    rows the default ``random_page_cost`` (4, priced for spinning disks) makes a batch's 500
    index probes look dearer than reading the whole table: the contact and link look-ups became
    sequential scans, 7 ms each at 23,000 rows where the probes take under 1 ms. Here a random
    page is priced as the cached page it is, for this transaction only (``SET LOCAL``).
    """
    with transaction.atomic(savepoint=False):
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL random_page_cost TO 1.1")
        yield


def _footprint(
    people: list[dict], keys: list[list], links: Links, contacts: Iterable[Contact]
) -> frozenset:
    """The remote ids, keys and contacts a batch touches (see :class:`PeopleBatch`)."""
    touched: set[tuple] = {("remote", person["remote_id"]) for person in people}
    for person_keys in keys:
        touched.update(person_keys)
    for contact in contacts:
        touched.add(("contact", contact.pk))
        touched.update(
            (name, key) for name in ("phone", "email") if (key := getattr(contact, name))
        )
    touched.update(("contact", link.object_id) for link in links.by_remote.values())
    return frozenset(touched)


def _compare_people(plans, links, tags, owners, failures, footprint) -> PeopleBatch:
    """Compare each plan with its contact: what to create, what to update, what is unchanged."""
    created: list[tuple[PersonPlan, dict]] = []
    updated, fields = [], set()
    unchanged = 0
    for plan in plans:
        values = person_values(plan.person, plan.contact, plan.detailed)
        owners.drop_taken(values, plan.contact)
        if plan.contact is None:
            created.append((plan, values))
        else:
            changed = changes(plan.contact, values)
            for name in changed:
                setattr(plan.contact, name, values[name])
            fields.update(changed)
            if changed or not plan.linked or tags.changed(plan.contact.pk, plan.person):
                updated.append(plan.contact)
            else:
                unchanged += 1
        owners.claim(values, plan.contact.pk if plan.contact else id(plan))
        if not plan.via_lead:
            links.pulled(plan.person["remote_id"], plan, plan.person.get("remote_updated_at"))
    return PeopleBatch(plans, links, tags, created, updated, fields, unchanged, failures, footprint)


def store_people(ctx: Context, batch: PeopleBatch) -> None:
    """Write a prepared batch's rows in one transaction; the run's counters are not touched.

    New contacts are written from plain rows (``bridge.bulk``), not model instances: a first
    pull creates them by the hundred thousand.
    """
    plans = batch.plans
    with transaction.atomic(savepoint=False):
        new_ids = bulk.insert_rows(Contact, [values for _, values in batch.created])
        for (plan, _), new_id in zip(batch.created, new_ids, strict=True):
            plan.new_id = new_id
        write(Contact, [], batch.updated, batch.fields)
        batch.links.save(stamp=False)
        linked_now = {remote_id for remote_id, _, _ in batch.links.new}  # stamped as made
        listed = [remote_id for remote_id in batch.listed if remote_id not in linked_now]
        reconcile.stamp_listed_people(ctx.account, listed, ctx.now)
        batch.tags.save([(plan.pk, plan.person) for plan in plans], created=set(new_ids))
        _attach_channels(ctx, {plan.person["remote_id"]: plan.pk for plan in plans})


def count_people(ctx: Context, batch: PeopleBatch) -> None:
    """Add a written batch to the run's counters (and its failures to the run's problems)."""
    for remote_id, reason in batch.failures:
        ctx.fail(remote_id, reason)
    ctx.count(created=len(batch.created), updated=len(batch.updated), unchanged=batch.unchanged)


class PageClaims:
    """Which contact, phone and email each person of a page has taken so far.

    A contact is one Leeloo person per account. A person matching a contact that another
    person has — linked in the database, or taken earlier in this page directly or through a
    phone or email a new contact of this page will carry — would need a second link; the
    matching rule would send them to the same contact on the next run. Such a person is
    counted as failed, with the reason, wherever the page boundaries fall.
    """

    def __init__(self, linked_to: dict[int, str]):
        self.linked_to = linked_to
        self.contacts: dict[int, str] = {}
        self.keys: dict[tuple[str, str], str] = {}

    def refusal(self, remote_id: str, contact_id: int | None, keys: list) -> str:
        """Why this person (its ``matching_keys``) cannot be linked, or ""."""
        if contact_id:
            other = self.linked_to.get(contact_id)
            if other and other != remote_id:
                return f"its contact #{contact_id} is already Leeloo person {other}"
            if contact_id in self.contacts:
                return (
                    f"it matches contact #{contact_id}, as does person {self.contacts[contact_id]}"
                )
            return ""
        for key in keys:
            if key in self.keys:
                return f"it has the {key[0]} of person {self.keys[key]} in the same page"
        return ""

    def claim(self, remote_id: str, contact_id: int | None, keys: list) -> None:
        if contact_id:
            self.contacts[contact_id] = remote_id
        for key in keys:
            self.keys.setdefault(key, remote_id)


def matching_keys(person: dict) -> list[tuple[str, str]]:
    """The person's ("phone", …) and ("email", …) keys that are not blank."""
    keys = []
    if person["phone_key"]:
        keys.append(("phone", person["phone_key"]))
    if person["email_key"]:
        keys.append(("email", person["email_key"]))
    return keys


def _lead_contacts(ctx: Context, links: Links) -> dict[str, int]:
    """Remote id -> contact id for the page's people whose id is linked to a lead."""
    lead_type = ContentType.objects.get_for_model(Lead)
    lead_ids = {
        object_id: remote_id
        for remote_id, (type_id, object_id) in links.elsewhere.items()
        if type_id == lead_type.pk
    }
    pairs = Lead.objects.filter(pk__in=lead_ids).values_list("pk", "contact_id")
    return {lead_ids[lead_id]: contact_id for lead_id, contact_id in pairs}


def _read_cards(ctx: Context, plans: list[PersonPlan], tags: PageTags, fail: Callable) -> None:
    """Read the card of each new or changed person (or every one, on a full run).

    The card has what the list lacks (custom fields, subscribe history, gender…). A person gone
    between the list and the card is counted as failed; any other error fails the run.
    """
    if not ctx.details:
        return
    for plan in list(plans):
        new = plan.contact is None or not plan.linked
        if not (ctx.run.full or new or _list_changed(plan, tags)):
            continue
        try:
            card = ctx.call(ctx.client.get_person, plan.person["remote_id"])
        except PermanentError as error:
            fail(plan.person["remote_id"], f"its card could not be read: {error}")
            plans.remove(plan)
            continue
        for name in ("gender", "locale", "profile_image", "subscribe_history", "custom_fields"):
            plan.person[name] = card[name]
        plan.person["remote_updated_at"] = card["remote_updated_at"]
        plan.detailed = True


def _list_changed(plan: PersonPlan, tags: PageTags) -> bool:
    values = person_values(plan.person, plan.contact, detailed=False)
    return bool(changes(plan.contact, values)) or tags.changed(plan.contact.pk, plan.person)


class KeyOwners:
    """Who holds each phone and email among a page's values, in the database and the page.

    Read before matching, which uses it too (``match_contacts(known=…)``).
    """

    def __init__(self, people: list[dict]):
        phones = {p["phone_key"] for p in people} - {""}
        emails = {p["email_key"] for p in people} - {""}
        self.owner: dict[tuple[str, str], object] = {}
        if not (phones or emails):
            return
        # Two index lookups (an OR of the two lists is planned as a scan of the table).
        # Emails are stored lower-cased (Contact.save), as bridge.matching looks them up.
        for name, keys in (("phone", phones), ("email", emails)):
            if keys:
                found = Contact.objects.holding(name, keys)
                for key, pk in found.values_list(name, "pk"):
                    self.owner[(name, key)] = pk

    def drop_taken(self, values: dict, contact: Contact | None) -> None:
        """Leave out a phone or email another contact (stored or new in this page) holds."""
        mine = contact.pk if contact is not None else None
        for name in ("phone", "email"):
            if name in values:
                owner = self.owner.get((name, values[name]))
                if owner is not None and owner != mine:
                    del values[name]

    def claim(self, values: dict, owner: int) -> None:
        """``owner`` (a contact id, or a token for a contact not written yet) holds these keys."""
        for name in ("phone", "email"):
            if name in values:
                self.owner[(name, values[name])] = owner


def tag_key(name: str) -> str:
    """A tag name folded for comparing ("VIP " and "vip" are one tag), in Python.

    Not SQL ``LOWER``: SQLite's folds ASCII only, and Leeloo's tags are often Cyrillic.
    """
    return name.strip().casefold()


class PageTags:
    """Person tags by name: Tag rows (missing ones created in bulk) and contacts' tag sets.

    A contact's tags follow Leeloo for Leeloo's tags — those linked to the account by the tags
    sync, those in the account's tag list and those named by this page's people. Tags that are
    only local stay.
    """

    def __init__(self, ctx: Context, people: list[dict], contact_ids: set[int]):
        self.ctx = ctx
        self.through = Contact.tags.through
        names = {tag_key(name): name.strip() for p in people for name in p["tags"]}
        names.pop("", None)
        self.ids = self._tag_ids(names)
        self.leeloo_ids = ctx.leeloo_tag_ids() | set(self.ids.values())
        self.current: dict[int, dict[int, int]] = {}  # contact id -> {tag id: through row id}
        rows = self.through.objects.filter(contact_id__any=contact_ids)
        for row_id, contact_id, tag_id in rows.values_list("pk", "contact_id", "tag_id"):
            self.current.setdefault(contact_id, {})[tag_id] = row_id

    def _tag_ids(self, names: dict[str, str]) -> dict[str, int]:
        """Folded name -> Tag id for the page's names, creating the missing tags."""
        known = self.ctx.tags()
        missing = [names[key][:100] for key in sorted(names) if key not in known]
        if missing:  # another sync may make one meanwhile (in another case): read them all again
            # In name order, as the tags sync inserts: two syncs making the same new tags wait
            # for each other in one order, never in a cycle (a deadlock fails one of them).
            Tag.objects.bulk_create([Tag(name=name) for name in missing], ignore_conflicts=True)
            self.ctx.forget_tags()
            known = self.ctx.tags()
        return {key: known[key] for key in names if key in known}

    def wanted(self, person: dict) -> set[int]:
        return {self.ids[key] for key in map(tag_key, person["tags"]) if key in self.ids}

    def changed(self, contact_id: int | None, person: dict) -> bool:
        current = set(self.current.get(contact_id, {})) & self.leeloo_ids
        return current != self.wanted(person)

    def save(self, contacts: list[tuple[int, dict]], created: set[int] = frozenset()) -> None:
        """Add and remove through rows for the page's contacts: an insert for the contacts
        ``created`` in this transaction (none of their rows can exist), one for the others,
        and one delete."""
        add, add_new, remove = [], [], []
        for contact_id, person in contacts:
            wanted = self.wanted(person)
            current = self.current.get(contact_id, {})
            pairs = [(contact_id, tag_id) for tag_id in wanted - set(current)]
            (add_new if contact_id in created else add).extend(pairs)
            remove += [
                row_id
                for tag_id, row_id in current.items()
                if tag_id in self.leeloo_ids and tag_id not in wanted
            ]
        if remove:
            self.through.objects.filter(pk__any=remove).delete()
        bulk.add_pairs(self.through, "contact_id", "tag_id", add_new, new=True)
        bulk.add_pairs(self.through, "contact_id", "tag_id", add)


def _attach_channels(ctx: Context, contact_by_person: dict[str, int]) -> None:
    """Point already mirrored channels of these people at their contacts."""
    channels = Channel.objects.filter(
        account=ctx.account, person_remote_id__any=list(contact_by_person)
    ).only("pk", "person_remote_id", "contact_id")
    moved = []
    for channel in channels:
        if channel.contact_id != contact_by_person[channel.person_remote_id]:
            channel.contact_id = contact_by_person[channel.person_remote_id]
            moved.append(channel)
    if moved:
        Channel.objects.bulk_update(moved, ["contact"], batch_size=500)


# --- orders --------------------------------------------------------------------------------


def pull_orders(ctx: Context) -> None:
    """Every order (the list has no filter), linked to its person's contact."""
    _pages(ctx, "/orders", None, parse_order, upsert_orders)


def order_values(order: dict, contact_id: int | None, detailed: bool, new: bool) -> dict:
    """The provider-owned Order fields; local ones (offer, payment system, comments…) stay.

    An order whose person the bridge does not know yet keeps its contact until it does.
    """
    values = {
        "title": order["title"],
        "remote_created_at": order["remote_created_at"],
        "remote_updated_at": order["remote_updated_at"],
    }
    if order["price"] is not None:
        values["price"] = order["price"].quantize(Decimal("0.01"))
    elif new:
        values["price"] = Decimal("0.00")
    currency = order["currency"].upper()
    if len(currency) == 3 and currency.isalpha():
        values["currency"] = currency
    if order["status"]:
        values["status"] = order["status"].upper()
    if contact_id:
        values["contact_id"] = contact_id
    if detailed:
        values["description"] = order["description"]
        values["payment_method"] = order["payment_method"].upper()
    return fit(Order, values)


def upsert_orders(ctx: Context, orders: list[dict]) -> None:
    """One page of orders into Order rows, by their RemoteLink; new or changed ones' details.

    The list lacks the description and payment method, so the detail is read for an order that
    is new, whose ``updatedAt`` moved since the last pull, or on a full run.
    """
    orders = _unique_by_remote_id(ctx, orders)
    links = Links(ctx, Order, [o["remote_id"] for o in orders])
    existing = Order.objects.in_bulk([link.object_id for link in links.by_remote.values()])
    contacts = person_contacts(ctx.account, [o["person_id"] for o in orders])
    created, updated, fields = [], [], set()
    for order in orders:
        remote_id = order["remote_id"]
        link = links.by_remote.get(remote_id)
        obj = existing.get(link.object_id) if link else None
        detailed = _order_detail(ctx, order, link, obj)
        if detailed is None:
            continue
        values = order_values(order, contacts.get(order["person_id"]), detailed, obj is None)
        if obj is None:
            obj = Order(**values)
            created.append(obj)
        elif changed := changes(obj, values):
            for name in changed:
                setattr(obj, name, values[name])
            fields.update(changed)
            updated.append(obj)
        else:
            ctx.count(unchanged=1)
        links.pulled(remote_id, obj, order["remote_updated_at"])
    with transaction.atomic(savepoint=False):  # inside the page's (see _pages)
        write(Order, created, updated, fields)
        links.save()
    ctx.count(created=len(created), updated=len(updated))


def _order_detail(ctx: Context, order: dict, link, obj) -> bool | None:
    """Read the order's detail when needed; True when read, None when the order is gone."""
    if not ctx.details:
        return False
    fresh = link is not None and obj is not None and link.remote_updated_at is not None
    if fresh and not ctx.run.full and link.remote_updated_at == order["remote_updated_at"]:
        return False
    try:
        detail = ctx.call(ctx.client.get_order, order["remote_id"])
    except PermanentError as error:
        ctx.fail(order["remote_id"], f"its detail could not be read: {error}")
        return None
    for name in ("description", "payment_method", "price", "currency", "status"):
        if detail[name] not in ("", None):
            order[name] = detail[name]
    return True


# --- tags ----------------------------------------------------------------------------------


def pull_tags(ctx: Context) -> None:
    """The account's tags (one list, not paged) into Tag rows, by RemoteLink, else by name."""
    tags = ctx.call(ctx.client.list_tags)
    ctx.run.remote_total = len(tags)
    upsert_tags(ctx, tags)
    ctx.page_done()


def upsert_tags(ctx: Context, tags: list[dict]) -> None:
    """Each Leeloo tag to the Tag linked to its id, else the Tag of its name (any case), else a
    new Tag. A linked tag whose name changed at Leeloo is renamed, unless another tag has the
    new name; a tag of that name already linked to another Leeloo tag is a failure."""
    tags = _unique_by_remote_id(ctx, tags)
    links = Links(ctx, Tag, [t["remote_id"] for t in tags])
    all_links = dict(
        RemoteLink.objects.filter(account=ctx.account, content_type=links.content_type).values_list(
            "object_id", "remote_id"
        )
    )
    linked = Tag.objects.in_bulk([link.object_id for link in links.by_remote.values()])
    by_name = dict(ctx.tags())
    created, updated, unchanged = [], [], 0
    for tag in tags:
        remote_id, name = tag["remote_id"], tag["name"].strip()[:100]
        link = links.by_remote.get(remote_id)
        obj = linked.get(link.object_id) if link else None
        owner = by_name.get(tag_key(name))
        mine = obj.pk if obj is not None else None
        reason = "" if name else "the tag has no name"
        if not reason and owner is not None and owner != mine:
            other = all_links.get(owner)
            if obj is not None or (other and other != remote_id):
                reason = f"tag #{owner} '{name}' is already another tag"
        if reason:
            ctx.fail(remote_id, reason)
            continue
        if obj is None and owner is not None:
            obj = Tag(pk=owner, name=name)
            updated.append(obj)  # linked by name: no rename, a new link
        elif obj is None:
            obj = Tag(name=name)
            created.append(obj)
        elif obj.name != name:
            obj.name = name
            updated.append(obj)
        else:
            unchanged += 1
        by_name[tag_key(name)] = obj.pk or -len(created)
        all_links[obj.pk] = remote_id
        links.pulled(remote_id, obj)
    renamed = [tag for tag in updated if tag.pk in linked]
    with transaction.atomic(savepoint=False):  # inside the page's (see _pages)
        _create_tags(created)
        write(Tag, [], renamed, {"name"})
        links.save()
    ctx.count(created=len(created), updated=len(updated), unchanged=unchanged)


def _create_tags(tags: list[Tag]) -> None:
    """Insert new tags; one the people sync made meanwhile (same name, any case) is used."""
    if not tags:
        return
    # In name order, as the people sync inserts (see PageTags._tag_ids); no ids back from a
    # skipping insert, so they are read after.
    Tag.objects.bulk_create(sorted(tags, key=lambda tag: tag_key(tag.name)), ignore_conflicts=True)
    ids = {tag_key(name): pk for name, pk in Tag.objects.values_list("name", "pk")}
    for tag in tags:
        tag.pk = ids[tag_key(tag.name)]


# --- tunnels -------------------------------------------------------------------------------


def pull_tunnels(ctx: Context) -> None:
    """Every tunnel with its LGTs and statistics, then the statistics of all tunnels."""
    _pages(ctx, "/tunnels", None, parse_tunnel, upsert_tunnels)
    if ctx.details:
        save_tunnel_summary(ctx, ctx.call(ctx.client.all_tunnel_stats))


def upsert_tunnels(ctx: Context, tunnels: list[dict]) -> None:
    """One page of tunnels into Tunnel rows by RemoteLink, each with its LGTs and stats.

    The list has names and dates only: with details on, each tunnel's LGTs
    (``?include=leadgentools``) and statistics are read too — two requests per tunnel.
    """
    tunnels = _unique_by_remote_id(ctx, tunnels)
    links = Links(ctx, Tunnel, [t["remote_id"] for t in tunnels])
    existing = Tunnel.objects.in_bulk([link.object_id for link in links.by_remote.values()])
    created, updated, fields = [], [], set()
    for tunnel in tunnels:
        remote_id = tunnel["remote_id"]
        values = _tunnel_values(ctx, tunnel)
        if values is None:
            continue
        link = links.by_remote.get(remote_id)
        obj = existing.get(link.object_id) if link else None
        if obj is None:
            obj = Tunnel(**values, stats_updated_at=ctx.now if "stats" in values else None)
            created.append(obj)
        elif changed := changes(obj, values):
            for name in changed:
                setattr(obj, name, values[name])
            if "stats" in changed:
                obj.stats_updated_at = ctx.now
                changed.append("stats_updated_at")
            fields.update(changed)
            updated.append(obj)
        else:
            ctx.count(unchanged=1)
        links.pulled(remote_id, obj, tunnel["remote_updated_at"])
    with transaction.atomic(savepoint=False):  # inside the page's (see _pages)
        write(Tunnel, created, updated, fields)
        links.save()
    ctx.count(created=len(created), updated=len(updated))


def _tunnel_values(ctx: Context, tunnel: dict) -> dict | None:
    """A tunnel's fields, with its LGTs and stats when details are on; None when it is gone."""
    values = {
        "name": tunnel["name"],
        "remote_created_at": tunnel["remote_created_at"],
        "remote_updated_at": tunnel["remote_updated_at"],
    }
    if ctx.details:
        try:
            detail = ctx.call(ctx.client.get_tunnel, tunnel["remote_id"])
            stats = ctx.call(ctx.client.tunnel_stats, tunnel["remote_id"])
        except PermanentError as error:
            ctx.fail(tunnel["remote_id"], f"its detail could not be read: {error}")
            return None
        values["leadgen_tools"] = detail["leadgen_tools"]
        values["stats"] = stats
    return fit(Tunnel, values)


def save_tunnel_summary(ctx: Context, stats: list[dict]) -> None:
    """Keep the account-wide tunnel statistics (only written when they changed)."""
    summary, _ = TunnelStatsSummary.objects.get_or_create(account=ctx.account)
    if summary.stats != stats:
        summary.stats, summary.updated_at = stats, ctx.now
        summary.save(update_fields=["stats", "updated_at"])


# --- users, channels, connections, templates ------------------------------------------------


def pull_users(ctx: Context) -> None:
    """Every platform user (manager) into LeelooUser rows."""
    _pages(ctx, "/users", None, parse_user, lambda ctx, users: upsert_owned(ctx, LeelooUser, users))


def pull_channels(ctx: Context) -> None:
    """Communication channels in the run's window (with UTM marks), then the connections."""
    params = ctx.client.channel_params(ctx.run.window_from, ctx.run.window_to)
    _pages(ctx, "/communication-channels", params, parse_channel, upsert_channels)
    connections = ctx.call(ctx.client.list_connections)
    ctx.run.remote_total = (ctx.run.remote_total or 0) + len(connections)
    upsert_owned(ctx, Connection, connections)
    ctx.page_done()


def upsert_channels(ctx: Context, channels: list[dict]) -> None:
    """One page of channels, each tied to its person's Contact once that person is linked."""
    contacts = person_contacts(ctx.account, [c["person_id"] for c in channels])
    rows = []
    for channel in channels:
        row = {
            "remote_id": channel["remote_id"],
            "person_remote_id": channel["person_id"],
            "name": channel["name"],
            "source": channel["source"],
            "bot_status": channel["bot_status"],
            "last_message_at": channel["last_message_at"],
            "remote_created_at": channel["remote_created_at"],
            "utm_marks": channel["utm_marks"],
        }
        if channel["person_id"] in contacts:
            row["contact_id"] = contacts[channel["person_id"]]
        rows.append(row)
    upsert_owned(ctx, Channel, rows)


def pull_templates(ctx: Context) -> None:
    """Message template categories, then each category's templates (one request each)."""
    categories = ctx.call(ctx.client.list_template_categories)
    saved = upsert_owned(ctx, TemplateCategory, categories)
    total = len(categories)
    for category in categories:
        templates = ctx.call(ctx.client.list_templates, category["remote_id"])
        total += len(templates)
        owner = saved[category["remote_id"]]
        upsert_owned(ctx, Template, [{**t, "category_id": owner.pk} for t in templates])
    ctx.run.remote_total = total
    ctx.page_done()


# --- the table of resources ----------------------------------------------------------------

PULLS: dict[str, Callable[[Context], None]] = {
    "people": pull_people,
    "orders": pull_orders,
    "tags": pull_tags,
    "tunnels": pull_tunnels,
    "users": pull_users,
    "channels": pull_channels,
    "templates": pull_templates,
}


def _links_of(*models_):
    """Remote ids linked to these models: a lead and its contact may both be one person."""

    def count(account: ProviderAccount) -> int:
        types = ContentType.objects.get_for_models(*models_).values()
        linked = RemoteLink.objects.filter(account=account, content_type__in=types)
        if len(models_) == 1:
            return linked.count()
        return linked.values("remote_id").distinct().count()

    return count


def _rows_of(*models_):
    def count(account: ProviderAccount) -> int:
        return sum(model.objects.filter(account=account).count() for model in models_)

    return count


#: How many of a resource's records the account has linked locally (shown beside the total).
LINKED: dict[str, Callable[[ProviderAccount], int]] = {
    "people": _links_of(Contact, Lead),
    "orders": _links_of(Order),
    "tags": _links_of(Tag),
    "tunnels": _links_of(Tunnel),
    "users": _rows_of(LeelooUser),
    "channels": _rows_of(Channel, Connection),
    "templates": _rows_of(TemplateCategory, Template),
}
