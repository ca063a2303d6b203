"""``python manage.py inbound --process``: process the webhook events that are waiting.

For operations and tests: what the workers and the minute's sweep do, now, in this process —
received events, and failed ones whose retry time has come. ``--all-failed`` first makes every
failed event due again (staff's "Process again"). Prints the counts; exits non-zero when an
event failed.
"""

from django.core.management.base import BaseCommand, CommandError

from bridge import inbox
from bridge.models import InboundEvent


class Command(BaseCommand):
    help = "Process the provider webhook events that are waiting (received or due retries)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--process", action="store_true", required=True, help="Process what is waiting."
        )
        parser.add_argument(
            "--all-failed",
            action="store_true",
            help="Make every failed event due again first (attempts start over).",
        )
        parser.add_argument(
            "--limit", type=int, default=10_000, help="At most this many events (default 10000)."
        )

    def handle(self, *args, process, all_failed, limit, **options):
        if limit < 1:
            raise CommandError("--limit: must be at least 1.")
        if all_failed:
            again = inbox.process_again(
                InboundEvent.objects.filter(state=InboundEvent.State.FAILED)
            )
            self.stdout.write(f"{again} failed event(s) made due again.")
        counts = inbox.process_due(limit=limit, max_seconds=float("inf"))
        total = sum(counts.values())
        summary = ", ".join(f"{count} {state}" for state, count in sorted(counts.items()))
        self.stdout.write(f"Processed {total} event(s)" + (f": {summary}." if total else "."))
        if counts.get(InboundEvent.State.FAILED):
            raise CommandError(
                f"{counts[InboundEvent.State.FAILED]} event(s) failed; see Inbound events in "
                "the admin.",
                returncode=1,
            )
