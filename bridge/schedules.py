"""The bridge's recurring jobs, as django-q2 Schedules that exist without anyone adding them.

``ensure_schedules()`` runs after every migrate and from ``python manage.py setup_schedules``;
it creates missing schedules and updates the function of existing ones, but leaves the timing
staff set in the admin alone. Each entry is keyed by its name.
"""

from __future__ import annotations

from dataclasses import dataclass

from django_q.models import Schedule


@dataclass(frozen=True)
class Job:
    """One recurring job: a name staff see, the function, its arguments and how often."""

    name: str
    func: str
    minutes: int
    args: str = ""


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
        from bridge.sync import scheduled_jobs
    except ImportError:
        return []
    return scheduled_jobs(Job)


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
            )
            created += 1
        elif schedule.func != job.func or (schedule.args or "") != job.args:
            schedule.func, schedule.args = job.func, job.args or None
            schedule.save(update_fields=["func", "args"])
            updated += 1
    return {"created": created, "updated": updated}


def ensure_after_migrate(sender, using="default", **kwargs) -> None:
    """post_migrate hook: schedules exist as soon as the tables do."""
    if using == "default":
        ensure_schedules()
