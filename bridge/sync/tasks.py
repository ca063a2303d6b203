"""The sync's django-q2 tasks, and queueing runs for the cluster.

A run started by a task stops between pages before the worker's timeout and is continued by a
fresh task from the same offset (:func:`resume_sync_task`); the ``sync`` command runs to the
end in its own process. Task paths are ``bridge.sync.<name>`` (the package exports them).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.db import close_old_connections

from bridge import wakeups
from bridge.models import ProviderAccount, SyncRun

from . import tunables
from .context import SyncRefused
from .resources import RUN_ORDER, synced
from .runs import resume_run, run_summary, run_sync
from .schedules import TASK

logger = logging.getLogger("bridge.sync")
Status = SyncRun.Status


def run_sync_task(account_id: int, resource: str, full: bool = False) -> dict:
    """django-q2 task: one run of one resource; a summary dict (never raises on a refusal)."""
    close_old_connections()
    account = ProviderAccount.objects.filter(pk=account_id).first()
    if account is None:
        return {"skipped": f"no account #{account_id}"}
    try:
        run = run_sync(account, resource, full=full, max_seconds=tunables.task_seconds())
    except SyncRefused as refusal:
        logger.info("sync refused: %s", refusal)
        return {"refused": str(refusal)}
    return _hand_over(run)


def resume_sync_task(run_id: int) -> dict:
    """django-q2 task: continue a run a previous task stopped between pages."""
    close_old_connections()
    try:
        run = resume_run(run_id, max_seconds=tunables.task_seconds())
    except SyncRefused as refusal:
        logger.info("sync resume refused: %s", refusal)
        return {"refused": str(refusal)}
    return _hand_over(run)


def _hand_over(run: SyncRun) -> dict:
    """Queue the continuation of a run stopped between pages (a broker away leaves it to the
    stale takeover of the next scheduled run)."""
    if run.status == Status.RUNNING:
        wakeups.queue_task("bridge.sync.resume_sync_task", run.pk, group="sync")
    return run_summary(run)


def enqueue_syncs(account: ProviderAccount, resources: Iterable[str] = (), full=False) -> int:
    """Queue a run of each resource (all the provider syncs, by default) for the cluster;
    returns how many were queued (none while the broker is away)."""
    declared = synced(account)
    chosen = [
        resource
        for resource in RUN_ORDER
        if resource in declared and (not resources or resource in resources)
    ]
    return sum(
        wakeups.queue_task(TASK, account.pk, resource, full=full, group="sync")
        for resource in chosen
    )
