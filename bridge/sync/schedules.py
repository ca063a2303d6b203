"""The sync's schedules: a SyncState per resource and a django-q2 schedule per enabled one.

Saving an account or one of its sync states keeps its schedules in step (signals connected by
:func:`connect_signals`). Rows are created through ``bridge.schedules.create_schedule``, the
one place schedule rows are made; the bridge's ``ensure_schedules`` asks :func:`scheduled_jobs`
for the sync's jobs (registered with ``bridge.schedules.add_job_source``).
"""

from __future__ import annotations

from django.db import connection
from django.db.models.signals import post_delete, post_save
from django_q.models import Schedule

from bridge import schedules
from bridge.models import ProviderAccount, SyncState

from .resources import can_sync, sync_providers, synced

TASK = "bridge.sync.run_sync_task"


def ensure_sync_states(account: ProviderAccount) -> dict[str, SyncState]:
    """The account's SyncState per resource its provider syncs, creating the missing ones with
    the defaults."""
    states = {state.resource: state for state in account.sync_states.all()}
    missing = [
        SyncState(account=account, resource=resource, minutes=SyncState.DEFAULT_MINUTES[resource])
        for resource in synced(account)
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
    for resource in synced(account):
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
    accounts = ProviderAccount.objects.filter(provider__in=sync_providers(), enabled=True)
    return [job for account in accounts for job in account_jobs(account, job_class)]


def refresh_schedules(account_id: int) -> None:
    """Make the account's sync schedules match its states: create, retime, rename, remove.

    Unlike ``ensure_schedules`` this owns the timing: an account's interval is set on its
    sync states, so a schedule's minutes follow them.
    """
    account = ProviderAccount.objects.filter(pk=account_id).first()
    jobs = {job.args: job for job in account_jobs(account, schedules.Job)} if account else {}
    existing = Schedule.objects.filter(func=TASK, args__startswith=f"({account_id}, ")
    for schedule in existing:
        job = jobs.pop(schedule.args, None)
        if job is None:
            schedule.delete()
        elif (schedule.name, schedule.minutes) != (job.name, job.minutes):
            schedule.name, schedule.minutes = job.name, job.minutes
            schedule.save(update_fields=["name", "minutes"])
    for job in jobs.values():
        schedules.create_schedule(job)


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
    """Keep sync and reconcile schedules in step with accounts and their states, and list the
    sync's jobs among the bridge's (called from the app's ready)."""
    schedules.add_job_source(scheduled_jobs)
    post_save.connect(_account_saved, sender=ProviderAccount, dispatch_uid="bridge.sync.account")
    post_delete.connect(
        _account_deleted, sender=ProviderAccount, dispatch_uid="bridge.sync.account_deleted"
    )
    post_save.connect(_state_changed, sender=SyncState, dispatch_uid="bridge.sync.state")
