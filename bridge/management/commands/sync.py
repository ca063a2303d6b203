"""``python manage.py sync --account NAME [--resource people|orders|…] [--full]``.

Pulls one Leeloo.ai account's records into the mirror models in this process, as the scheduled
jobs do: one run per resource, a line each time a batch of pages is written (pages read so
far, records so far) and a summary per run. Exits non-zero when a run
fails or is refused (another run of the same resource is going on).
"""

from django.core.management.base import BaseCommand, CommandError

from bridge import audit, sync
from bridge.models import ProviderAccount, SyncRun


class Command(BaseCommand):
    help = "Pull a Leeloo.ai account's people, orders, tags, tunnels… into the mirror models."

    def add_arguments(self, parser):
        parser.add_argument("--account", required=True, help="Account name, e.g. leeloo.")
        parser.add_argument(
            "--resource",
            action="append",
            choices=sync.RESOURCES,
            help="What to pull (repeatable); every resource when left out.",
        )
        parser.add_argument(
            "--full",
            action="store_true",
            help="Re-read everything, not the window since the cursor (what the scheduled "
            "reconcile runs; a complete full people run marks people Leeloo no longer lists).",
        )
        audit.add_actor_argument(parser)

    def handle(self, *args, account, resource, full, **options):
        actor = audit.cli_actor(options)
        target = self._account(account)
        declared = sync.synced(target)
        chosen = [
            name for name in sync.RUN_ORDER if (name in resource if resource else name in declared)
        ]
        audit.record(
            audit.Action.SYNC,
            actor=actor,
            via=audit.Via.CLI,
            target=target,
            count=len(chosen),
            summary=f"{'Full sync' if full else 'Sync'} of {target.name} from the command line: "
            + ", ".join(chosen),
            details={"full": full, "resources": chosen},
        )
        failures = 0
        for name in chosen:
            try:
                run = sync.run_sync(target, name, full=full, progress=self._progress)
            except sync.SyncRefused as refusal:
                self.stderr.write(f"{name}: refused: {refusal}")
                failures += 1
                continue
            self._summarise(run)
            failures += run.status != SyncRun.Status.SUCCEEDED
        if failures:
            raise CommandError(f"{failures} of {len(chosen)} sync run(s) failed.", returncode=1)

    def _account(self, name: str) -> ProviderAccount:
        found = ProviderAccount.objects.filter(name=name).first()
        if found is None:
            names = ", ".join(ProviderAccount.objects.values_list("name", flat=True)) or "none"
            raise CommandError(f"--account: no account named '{name}' (known: {names}).")
        if not sync.can_sync(found):
            raise CommandError(
                f"--account: '{name}' is at {found.get_provider_display()}, which has nothing "
                f"to sync; only {', '.join(sync.sync_providers())} accounts sync."
            )
        if not found.enabled:
            raise CommandError(f"--account: account '{name}' is disabled.")
        return found

    def _progress(self, run: SyncRun) -> None:
        self.stdout.write(
            f"{run.resource}: {run.pages} page(s) — {run.created_count} created, "
            f"{run.updated_count} updated, {run.unchanged_count} unchanged, "
            f"{run.failed_count} failed"
        )

    def _summarise(self, run: SyncRun) -> None:
        window = ""
        if run.window_from:
            moment = "%Y-%m-%d %H:%M:%S"
            window = f" window {run.window_from:{moment}} → {run.window_to:{moment}} UTC;"
        self.stdout.write(
            f"{run.resource}: {run.status} in {run.duration};{window} "
            f"{run.created_count} created, {run.updated_count} updated, "
            f"{run.unchanged_count} unchanged, {run.failed_count} failed; "
            f"{run.linked_total if run.linked_total is not None else '?'} linked locally of "
            f"{run.remote_total if run.remote_total is not None else '?'} at Leeloo."
            + (f" {run.gone_count} marked gone from Leeloo." if run.gone_count else "")
        )
        if run.error:
            self.stdout.write(f"  {run.error}")
