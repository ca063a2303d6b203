"""The scheduled full reconcile of each Leeloo resource, and people gone from Leeloo.

Incremental people runs read only the people whose last message falls in their window, so a
person edited at Leeloo without a new message is never read by them. Each resource therefore
also has a reconcile schedule of its own (``SyncState.reconcile_hours``, default every 24
hours, aligned to ``reconcile_hour``, default 03:00 UTC): a full run of the resource, which
compares every record and writes only the changed ones.

The end of a complete full people run marks the people it no longer found
(``bridge.sync.gone``, re-exported here). The task's dotted path stays
``bridge.reconcile.reconcile_task`` (a thin alias module), as stored in Schedule rows.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.db import connection
from django.db.models.signals import post_delete, post_save
from django.utils import timezone
from django_q.models import Schedule

from bridge import schedules
from bridge.models import ProviderAccount, SyncRun, SyncState

from .gone import PEOPLE_MODELS, mark_gone_people, may_mark_gone, stamp_listed_people
from .resources import can_sync, sync_providers, synced
from .schedules import task_args
from .tasks import run_sync_task

#: The old module's path, kept by ``bridge/reconcile.py``: Schedule rows and queued tasks hold it.
TASK = "bridge.reconcile.reconcile_task"
__all__ = [
    "PEOPLE_MODELS",
    "mark_gone_people",
    "may_mark_gone",
    "reconcile_task",
    "stamp_listed_people",
]


# --- the task ------------------------------------------------------------------------------


#: How long a reconcile that found another run of its resource going on waits to try again.
RETRY_MINUTES = 5


def reconcile_task(account_id: int, resource: str) -> dict:
    """django-q2 task: a full run of one resource (``bridge.sync.run_sync_task``, full).

    The resource's own schedule may have started a run at the same moment (both are often
    due on the hour); a reconcile refused for that is not lost but tried again a few minutes
    later, once (a one-off schedule, replaced if it was still waiting).
    """
    summary = run_sync_task(account_id, resource, full=True)
    if "refused" in summary and _running(account_id, resource):
        summary["retry_at"] = _retry_later(account_id, resource).isoformat()
    return summary


def _running(account_id: int, resource: str) -> bool:
    return SyncRun.objects.filter(
        account_id=account_id, resource=resource, status=SyncRun.Status.RUNNING
    ).exists()


def _retry_later(account_id: int, resource: str) -> datetime:
    """A one-off schedule of this reconcile, RETRY_MINUTES from now; its time."""
    at = timezone.now() + timedelta(minutes=RETRY_MINUTES)
    schedules.schedule_once(
        f"reconcile #{account_id}: {resource} (again after a busy start)",
        TASK,
        task_args(account_id, resource),
        at,
    )
    return at


# --- schedules -----------------------------------------------------------------------------


def schedule_name(account: ProviderAccount, resource: str) -> str:
    """The name staff see in django-q2's Scheduled tasks."""
    return f"reconcile {account.name}: {resource}"


def next_run(state: SyncState, now: datetime | None = None) -> datetime:
    """The first time after ``now`` that is ``reconcile_hour`` plus a whole number of
    intervals (UTC): daily at 03:00, or every 6 hours at 03:00, 09:00, 15:00, 21:00."""
    now = now or timezone.now()
    every = timedelta(hours=state.reconcile_hours)
    anchor = now.astimezone(UTC).replace(
        hour=state.reconcile_hour, minute=0, second=0, microsecond=0
    ) - timedelta(days=1)
    while anchor <= now:
        anchor += every
    return anchor


def is_aligned(moment: datetime | None, state: SyncState) -> bool:
    """Whether a schedule's next run falls on the state's hour plus whole intervals."""
    if moment is None:
        return False
    moment = moment.astimezone(UTC)
    base = moment.replace(hour=state.reconcile_hour, minute=0, second=0, microsecond=0)
    return (moment - base).total_seconds() % (state.reconcile_hours * 3600) == 0


def account_jobs(account: ProviderAccount, job_class) -> list:
    """One reconcile job per enabled resource of an enabled syncing account, unless its
    reconcile interval is 0."""
    if account is None or not (account.enabled and can_sync(account)):
        return []
    states = {state.resource: state for state in account.sync_states.all()}
    jobs = []
    for resource in synced(account):
        state = states.get(resource) or SyncState(account=account, resource=resource)
        if not state.enabled or not state.reconcile_hours:
            continue
        jobs.append(
            job_class(
                name=schedule_name(account, resource),
                func=TASK,
                minutes=state.reconcile_hours * 60,
                args=task_args(account.pk, resource),
                next_run=next_run(state),
            )
        )
    return jobs


def scheduled_jobs(job_class) -> list:
    """Every reconcile job, for ``bridge.schedules`` (after migrate, ``setup_schedules``)."""
    if SyncState._meta.db_table not in connection.introspection.table_names():
        return []
    accounts = ProviderAccount.objects.filter(provider__in=sync_providers(), enabled=True)
    return [job for account in accounts for job in account_jobs(account, job_class)]


def refresh_schedules(account_id: int) -> None:
    """Make the account's reconcile schedules match its states: create, retime, remove.

    A schedule whose interval or hour changed gets its next run moved to the new rhythm; one
    that only ran (django-q2 moved its next run by one interval) is left alone.
    """
    account = ProviderAccount.objects.filter(pk=account_id).first()
    jobs = {job.args: job for job in account_jobs(account, schedules.Job)} if account else {}
    states = {
        task_args(account_id, state.resource): state
        for state in (account.sync_states.all() if account else ())
    }
    recurring = Schedule.objects.filter(
        func=TASK, args__startswith=f"({account_id}, ", schedule_type=Schedule.MINUTES
    )
    for schedule in recurring:
        job = jobs.pop(schedule.args, None)
        if job is None:
            schedule.delete()
            continue
        state = states.get(job.args)
        retimed = schedule.minutes != job.minutes or (
            state is not None and not is_aligned(schedule.next_run, state)
        )
        if retimed or schedule.name != job.name:
            schedule.name, schedule.minutes = job.name, job.minutes
            if retimed:
                schedule.next_run = job.next_run
            schedule.save(update_fields=["name", "minutes", "next_run"])
    for job in jobs.values():
        schedules.create_schedule(job)


def _account_changed(sender, instance, raw=False, **kwargs):
    if not raw:
        refresh_schedules(instance.pk)


def _state_changed(sender, instance, raw=False, **kwargs):
    if not raw:
        refresh_schedules(instance.account_id)


def connect_signals() -> None:
    """Keep reconcile schedules in step with accounts and their states, and list the reconcile
    jobs among the bridge's (the app's ready; after ``bridge.sync.schedules.connect_signals``,
    whose handler makes a new account's states)."""
    schedules.add_job_source(scheduled_jobs)
    post_save.connect(
        _account_changed, sender=ProviderAccount, dispatch_uid="bridge.reconcile.account"
    )
    post_delete.connect(
        _account_changed, sender=ProviderAccount, dispatch_uid="bridge.reconcile.account_gone"
    )
    post_save.connect(_state_changed, sender=SyncState, dispatch_uid="bridge.reconcile.state")
