"""The bridge's recurring jobs, as django-q2 Schedules that exist without anyone adding them.

``ensure_schedules()`` runs after every migrate and from ``python manage.py setup_schedules``;
it creates missing schedules and updates the function of existing ones, but leaves the timing
staff set in the admin alone. Each entry is keyed by its name.
"""

from __future__ import annotations

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


def bridge_jobs() -> list[Job]:
    """Every recurring job the bridge needs right now (syncs add one per account/resource)."""
    jobs = [
        Job(
            "outbox: send due deliveries and recover stranded ones",
            "bridge.outbox.dispatch_due",
            minutes=1,
        ),
    ]
    jobs.extend(_sync_jobs())
    return jobs


def _sync_jobs() -> list[Job]:
    try:
        from bridge import reconcile, sync
    except ImportError:
        return []
    return sync.scheduled_jobs(Job) + reconcile.scheduled_jobs(Job)


def ensure_schedules() -> dict[str, int]:
    """Create the missing schedules and fix the function of changed ones; returns counts."""
    created = updated = 0
    for job in bridge_jobs():
        schedule = Schedule.objects.filter(name=job.name).first()
        if schedule is None:
            Schedule.objects.create(
                name=job.name,
                func=job.func,
                args=job.args or None,
                schedule_type=Schedule.MINUTES,
                minutes=job.minutes,
                repeats=-1,
                **({"next_run": job.next_run} if job.next_run else {}),
            )
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
