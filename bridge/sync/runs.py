"""A run's lifecycle: start (the lock), execute, succeed or fail; resume; summaries.

A run is a SyncRun row. Runs of the same account and resource never overlap: a unique
constraint on the running row is the lock, and a run silent for ``BRIDGE_SYNC_STALE_SECONDS``
is taken over. A run past its ``max_seconds`` stops between pages (``Suspended``) and stays
running, to be continued by :func:`resume_run` from its offset (``bridge.sync.tasks`` hands it
over). A failure is recorded on the run; a provider's refusal also goes to the account's policy
(``bridge.accounts.react_to``: a 401 pauses the account, a 429 throttles it).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from bridge import accounts, budget
from bridge.db.reconnect import write_surviving_restart
from bridge.models import ProviderAccount, SyncRun, SyncState
from integrations.errors import ProviderError

from . import gone, tunables
from .context import Context, Pacing, Suspended, SyncRefused
from .resources import LINKED, PULLS, RESOURCES, RUN_ORDER, can_sync, declaration, synced
from .schedules import ensure_sync_states

logger = logging.getLogger("bridge.sync")
Status = SyncRun.Status


#: The shortest wait for a sending slot, however short the task's time budget.
MIN_SLOT_WAIT = 10.0


def start_run(account: ProviderAccount, resource: str, *, full: bool = False) -> SyncRun:
    """Take the account/resource lock by inserting its running SyncRun; SyncRefused if taken.

    The window is fixed here: resources the provider declares windowed read from the cursor
    minus the look-back (or from the declaration's ``everyone_since`` on ``full`` or without a
    cursor) up to now, UTC.
    """
    if resource not in RESOURCES:
        raise SyncRefused(f"resource: '{resource}' is not one of {', '.join(RESOURCES)}.")
    if not can_sync(account):
        raise SyncRefused(f"Account '{account.name}' ({account.provider}) has nothing to sync.")
    if resource not in synced(account):
        raise SyncRefused(
            f"resource: '{resource}' is not one {account.provider_class.name} syncs "
            f"({', '.join(synced(account))})."
        )
    account.refresh_from_db(fields=["enabled", "paused", "paused_reason"])
    if not account.enabled:
        raise SyncRefused(f"Account '{account.name}' is disabled.")
    if account.paused:
        raise SyncRefused(f"Account '{account.name}' is paused: {account.paused_reason}")
    state = ensure_sync_states(account)[resource]
    now = timezone.now()
    full = full or state.cursor is None
    window_from = window_to = None
    declared = declaration(account, resource)
    if declared.windowed:
        window_to = now
        window_from = (
            declared.everyone_since
            if full
            else state.cursor - timedelta(minutes=state.lookback_minutes)
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
    cutoff = now - tunables.stale_after()
    silent = Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff)
    taken = SyncRun.objects.filter(silent, account=account, resource=resource, status="running")
    count = taken.update(
        status=Status.FAILED,
        finished_at=now,
        error=f"Abandoned: no sign of life for {tunables.stale_after()}; a new run took over.",
    )
    if count:
        logger.warning("took over %d stale %s sync run(s) of %s", count, resource, account.name)


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
    # A task with little time left still waits a few seconds for a slot: the slot it needs is
    # often the one the task before it (or a run beside it) is giving back.
    slot_wait = (
        min(300.0, max(MIN_SLOT_WAIT, max_seconds / 4)) if max_seconds is not None else 300.0
    )
    try:
        lease = budget.wait_for_slot(account, timeout=slot_wait)
    except TimeoutError as exc:
        return _fail(run, exc)
    try:
        state = ensure_sync_states(account)[run.resource]
        pacing = Pacing(account, lease, run)
        ctx = Context(
            account,
            state,
            run,
            account.client(),
            pacing,
            declaration(account, run.resource),
            deadline,
            progress,
        )
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
        if gone.may_mark_gone(run):  # the whole list was read: who is not in it is gone
            run.gone_count = gone.mark_gone_people(run)
        gone.forget_listed(run)
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
    # A database restart killed the run's connection: record the failure on a new one, or the
    # run would stay "running" until its stale takeover.
    write_surviving_restart(run.save)
    write_surviving_restart(lambda: gone.forget_listed(run))
    return run


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
    the remote total the provider reported (unknown until its first page).
    """
    rows = []
    for account in accounts:
        latest = {}
        for run in SyncRun.objects.filter(account=account, started_at__gte=since).order_by(
            "started_at"
        ):
            latest[run.resource] = run
        for resource in (r for r in RUN_ORDER if r in synced(account)):
            run = latest.get(resource)
            done = (
                0
                if run is None
                else (
                    run.created_count + run.updated_count + run.unchanged_count + run.failed_count
                )
            )
            total = None if run is None else run.remote_total
            status = "queued" if run is None else str(run.status)
            rows.append(
                {
                    "account": account.name,
                    "resource": resource,
                    "run_id": None if run is None else run.pk,
                    "status": status,
                    "done": done,
                    "total": total,
                    "counts": progress_counts(status, done, total),
                    # A run that succeeded read all it had to: its bar is full, not "3 of 8"
                    # (an incremental run reads only what changed of the provider's total).
                    "full": status == "succeeded",
                    "error": "" if run is None else run.error[:300],
                }
            )
    finished = all(row["status"] in ("succeeded", "failed") for row in rows)
    return {"rows": rows, "finished": finished}


def progress_counts(status: str, done: int, total: int | None) -> str:
    """A run's counts as the progress page says them: "3 of 8" while it runs; once it has
    succeeded, what it read, and the provider's total only when it read fewer (a window)."""
    if status != "succeeded":
        return f"{done} of {total}" if total is not None else str(done)
    if total is not None and done < total:
        return f"{done} read (changes since the last run; {total} at the provider)"
    return f"{done} read"
