"""The bridge's recurring jobs, as django-q2 Schedules that exist without anyone adding them.

``ensure_schedules()`` runs after every migrate and from ``python manage.py setup_schedules``;
it creates missing schedules and updates the function of existing ones, but leaves the timing
staff set in the admin alone. Each entry is keyed by its name.

This module is the one place schedule rows are created (:func:`create_schedule`,
:func:`schedule_once`). It imports no feature: a feature with jobs of its own (the sync, the
reconcile) registers a job source with :func:`add_job_source` from the app's ready.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django_q.models import Schedule


@dataclass(frozen=True)
class Job:
    """One recurring job: a name staff see, the function, its arguments, how often, and when
    it first runs (None: as soon as the cluster sees it)."""

    name: str
    func: str
    minutes: int
    args: str = ""
    next_run: datetime | None = None


#: Functions ``source(Job) -> list[Job]`` adding their feature's jobs (see add_job_source).
_job_sources: list[Callable[[type[Job]], list[Job]]] = []


def add_job_source(source: Callable[[type[Job]], list[Job]]) -> None:
    """Have ``source(Job)`` list its jobs among the bridge's (once; in registration order)."""
    if source not in _job_sources:
        _job_sources.append(source)


def bridge_jobs() -> list[Job]:
    """Every recurring job the bridge needs right now (syncs add one per account/resource)."""
    jobs = [
        Job(
            "outbox: send due deliveries and recover stranded ones",
            "bridge.outbox.dispatch_due",
            minutes=1,
        ),
        Job(
            "django-q: keep the newest successful tasks",
            "bridge.task_history.prune_task_history",
            minutes=5,
        ),
    ]
    for source in _job_sources:
        jobs.extend(source(Job))
    return jobs


def create_schedule(job: Job) -> Schedule:
    """The recurring schedule row of ``job``: every ``minutes``, from its ``next_run`` if set."""
    return Schedule.objects.create(
        name=job.name,
        func=job.func,
        args=job.args or None,
        schedule_type=Schedule.MINUTES,
        minutes=job.minutes,
        repeats=-1,
        **({"next_run": job.next_run} if job.next_run else {}),
    )


def schedule_once(name: str, func: str, args: str, at: datetime) -> Schedule:
    """A one-off schedule at ``at`` (replacing one of that name still waiting); deleted once
    it has run."""
    schedule, _ = Schedule.objects.update_or_create(
        name=name,
        defaults={
            "func": func,
            "args": args,
            "schedule_type": Schedule.ONCE,
            "repeats": -1,
            "next_run": at,
        },
    )
    return schedule


def ensure_schedules() -> dict[str, int]:
    """Create the missing schedules and fix the function of changed ones; returns counts."""
    created = updated = 0
    for job in bridge_jobs():
        schedule = Schedule.objects.filter(name=job.name).first()
        if schedule is None:
            create_schedule(job)
            created += 1
        elif schedule.func != job.func or (schedule.args or "") != job.args:
            schedule.func, schedule.args = job.func, job.args or None
            schedule.save(update_fields=["func", "args"])
            updated += 1
    return {"created": created, "updated": updated}


def ensure_after_migrate(sender, using="default", **kwargs) -> None:
    """post_migrate hook: schedules exist as soon as the tables do (not after a migrate to
    an earlier or intermediate migration: the models then have columns the tables lack)."""
    if using == "default" and _fully_migrated(using):
        ensure_schedules()


def _fully_migrated(using: str) -> bool:
    from django.db import connections
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connections[using])
    return not executor.migration_plan(executor.loader.graph.leaf_nodes())
