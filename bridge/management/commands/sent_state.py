"""``python manage.py sent_state [--rebuild]``: check the "Sent to" table, or rebuild it.

``SentState`` is kept by database triggers (bridge/db/sent_state.py); this compares it with
what the deliveries say, row for row, and says how many rows are missing or wrong and how many
should not be there. It exits non-zero when they differ or the triggers are missing, so a
deploy check can run it. ``--rebuild`` empties the table and fills it again in one
``INSERT … SELECT`` (in one transaction: the lists read the old rows until it commits) — for
a database restored without its triggers, or one written while they were disabled.
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from bridge.db import sent_state


class Command(BaseCommand):
    help = "Check SentState (the Sent-to column's table) against the deliveries, or rebuild it."

    def add_arguments(self, parser):
        parser.add_argument(
            "--rebuild", action="store_true", help="Empty the table and fill it from deliveries."
        )

    def handle(self, *args, rebuild, **options):
        installed, expected = sent_state.triggers_installed(), sent_state.expected_trigger_count()
        if rebuild:
            with transaction.atomic():
                written = sent_state.rebuild()
            self.stdout.write(f"Rebuilt: {written} rows.")
        missing, extra = sent_state.differences()
        self.stdout.write(
            f"Triggers: {installed} of {expected}. Rows missing or wrong: {missing}; "
            f"rows that should not be there: {extra}."
        )
        if installed != expected:
            raise CommandError(
                "The triggers that keep SentState are missing: run `manage.py migrate` "
                "(migration 0029 installs them), then `sent_state --rebuild`."
            )
        if missing or extra:
            raise CommandError("SentState differs from the deliveries: run `sent_state --rebuild`.")
