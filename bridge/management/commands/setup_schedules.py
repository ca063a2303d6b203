"""``python manage.py setup_schedules``: create the bridge's django-q2 schedules (idempotent)."""

from django.core.management.base import BaseCommand

from bridge.schedules import bridge_jobs, ensure_schedules


class Command(BaseCommand):
    help = "Create the bridge's recurring jobs as django-q2 schedules; safe to run again."

    def handle(self, *args, **options):
        counts = ensure_schedules()
        self.stdout.write(
            f"Schedules: {counts['created']} created, {counts['updated']} updated, "
            f"{len(bridge_jobs())} in all."
        )
