"""Scheduled syncs: pull every syncing account's records into the mirror models.

Which accounts sync, which resources and how each is read is their provider's declaration
(``Provider.syncs``: one ``integrations.syncing.SyncedResource`` each; today Leeloo.ai's); this
package knows no provider by name and keeps the storing side, keyed by resource.

One *run* (a SyncRun row) reads one resource of one account page by page and upserts each page
in bulk — a few queries per page, never a save per row, never the whole list in memory. Runs
of the same account and resource never overlap (a unique constraint on the running row is the
lock; a run silent for ``BRIDGE_SYNC_STALE_SECONDS`` is taken over). Every request waits its
turn in the account's sending budget (``bridge.budget``), shared with the pushes.

Resources declared with a window (Leeloo's people and channels) are read incrementally: the
window runs from the resource's cursor minus the account's look-back up to the run's start
(UTC); a run that fails leaves the cursor alone so the next one covers the gap. The other
resources are read whole each time; unchanged records are compared, counted and left
untouched. A person edited without a new message is only read by a full run:
``bridge.sync.reconcile`` schedules one per resource (nightly by default) and marks the people
a complete full run no longer finds.

A run started by a django-q2 task stops between pages before the worker's timeout and is
continued by a fresh task from the same offset (``resume_sync_task``); the command runs to the
end in its own process.

The package, by role: ``runs`` (lifecycle, lock, hand-over), ``tasks`` (django-q2 tasks,
queueing), ``schedules`` (sync states and their schedules), ``reconcile`` and ``gone``
(nightly full runs, people gone), ``paging`` (a run's walk through a list, on
``integrations.paging``'s stop rules), ``pipeline`` (read-ahead and parallel writers),
``upsert`` (generic upserts), ``people``/``people_match``, ``orders`` and ``catalog`` (the
resources), ``resources`` (their table), ``context`` and ``tunables``. Vendor-specific database
work is ``bridge.db``'s.
"""

from __future__ import annotations

from . import reconcile
from . import schedules as _schedules
from .context import Suspended, SyncRefused
from .reconcile import reconcile_task
from .resources import (
    RESOURCES,
    RUN_ORDER,
    SYNC_PROVIDERS,
    WINDOWED,
    can_sync,
    declaration,
    sync_providers,
    synced,
)
from .runs import progress, resume_run, run_summary, run_sync, start_run
from .schedules import (
    TASK,
    ensure_sync_states,
    refresh_schedules,
    schedule_name,
    scheduled_jobs,
    task_args,
)
from .tasks import enqueue_syncs, resume_sync_task, run_sync_task
from .tunables import page_size, stale_after, task_seconds, write_batch, writers

__all__ = [
    "RESOURCES",
    "RUN_ORDER",
    "SYNC_PROVIDERS",
    "TASK",
    "WINDOWED",
    "Suspended",
    "SyncRefused",
    "can_sync",
    "connect_signals",
    "declaration",
    "enqueue_syncs",
    "ensure_sync_states",
    "page_size",
    "progress",
    "reconcile_task",
    "refresh_schedules",
    "resume_run",
    "resume_sync_task",
    "run_summary",
    "run_sync",
    "run_sync_task",
    "schedule_name",
    "scheduled_jobs",
    "stale_after",
    "start_run",
    "sync_providers",
    "synced",
    "task_args",
    "task_seconds",
    "write_batch",
    "writers",
]


def connect_signals() -> None:
    """Keep sync and reconcile schedules in step with accounts and their states, and list
    their jobs among the bridge's (the app's ready). The sync's first: its handler makes a
    new account's states, which the reconcile's reads."""
    _schedules.connect_signals()
    reconcile.connect_signals()
