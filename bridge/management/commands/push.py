"""``python manage.py push --account NAME (--lead ID … | --contact ID … | --pending) [--wait]``.

Queues the same deliveries the admin's "Push to…" action does, prints a summary, and exits
non-zero when anything failed. ``--wait`` sends in this process until the batch settles, so it
works with or without a running django-q2 cluster.
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from bridge import audit, outbox
from bridge.admin.push import describe_requirement, requirement_filter
from bridge.models import Contact, Delivery, Lead, Order, ProviderAccount
from bridge.records import KINDS

MODELS = {"lead": Lead, "contact": Contact, "order": Order}


class Command(BaseCommand):
    help = "Push leads, contacts or orders to a provider account, or send what is pending."

    def add_arguments(self, parser):
        parser.add_argument("--account", required=True, help="Account name, e.g. aello.")
        group = parser.add_mutually_exclusive_group(required=True)
        for kind in MODELS:
            group.add_argument(f"--{kind}", type=int, nargs="+", metavar="ID", dest=kind)
        group.add_argument(
            "--pending", action="store_true", help="Send this account's due deliveries."
        )
        parser.add_argument(
            "--option",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help="A provider option for this push (repeatable), e.g. campaign_id=12.",
        )
        parser.add_argument("--wait", action="store_true", help="Send now and wait for the end.")
        parser.add_argument("--timeout", type=float, default=600, help="Seconds --wait waits.")
        audit.add_actor_argument(parser)

    def handle(self, *args, account, pending, option, wait, timeout, **options):
        self.actor = audit.cli_actor(options)
        target = ProviderAccount.objects.filter(name=account).first()
        if target is None:
            names = ", ".join(ProviderAccount.objects.values_list("name", flat=True)) or "none"
            raise CommandError(f"--account: no account named '{account}' (known: {names}).")
        if not target.enabled:
            raise CommandError(f"--account: account '{account}' is disabled.")
        if pending:
            deliveries = Delivery.objects.filter(account=target, state__in=outbox.DUE_STATES)
        else:
            deliveries = self._enqueue(target, options, self._params(option)).deliveries.all()
        if wait:
            outbox.run_until_settled([target.pk], timeout=timeout)
        self._summarise(target, deliveries)

    def _params(self, pairs):
        params = {}
        for pair in pairs:
            name, sep, value = pair.partition("=")
            if not sep or not name:
                raise CommandError(f"--option: '{pair}' is not NAME=VALUE.")
            lowered = value.lower()
            params[name] = {"true": True, "false": False}.get(
                lowered, int(value) if value.isdigit() else value
            )
        return params

    def _enqueue(self, account, options, params):
        kind = next(k for k in MODELS if options.get(k))
        model, ids = MODELS[kind], options[kind]
        spec = account.provider_class.operation_specs().get("push")
        if spec is None or KINDS[model] not in spec.kinds:
            raise CommandError(f"--{kind}: {account.provider_class.name} does not take {kind}s.")
        found = model.objects.filter(pk__in=ids)
        missing = sorted(set(ids) - set(found.values_list("pk", flat=True)))
        if missing:
            raise CommandError(f"--{kind}: no {kind} with id {', '.join(map(str, missing))}.")
        condition = requirement_filter(
            account.provider_class, "" if kind == "contact" else "contact__"
        )
        sendable = list(
            (found.filter(condition) if condition is not None else found).values_list(
                "pk", flat=True
            )
        )
        skipped = len(ids) - len(sendable)
        if skipped:
            self.stderr.write(
                f"Skipping {skipped} {kind}(s): {describe_requirement(account.provider_class)}."
            )
        description = f"CLI push of {len(sendable)} {kind}(s) to {account.name}"
        with transaction.atomic():
            batch = outbox.enqueue(
                model,
                {account: sendable},
                params={account.pk: params},
                user=self.actor,
                description=description,
                skipped={describe_requirement(account.provider_class): skipped} if skipped else {},
            )
            audit.record(
                audit.Action.PUSH,
                actor=self.actor,
                via=audit.Via.CLI,
                target=found,
                count=batch.total,
                summary=f"{description}: {batch.total} deliveries queued (batch #{batch.pk})",
                details={"batch": batch.pk, "operation": "push", "skipped": skipped},
            )
        self.stdout.write(f"Queued {batch.total} deliveries (batch #{batch.pk}).")
        return batch

    def _summarise(self, account, deliveries):
        counts = {}
        for state in deliveries.values_list("state", flat=True):
            counts[state] = counts.get(state, 0) + 1
        summary = ", ".join(f"{n} {state}" for state, n in sorted(counts.items())) or "nothing"
        self.stdout.write(f"{account.name}: {summary}")
        for failure in deliveries.filter(state__in=[Delivery.State.DEAD, Delivery.State.FAILED]):
            self.stdout.write(
                f"  delivery #{failure.pk} {failure.state}: "
                f"[{failure.error_code or failure.last_http_status or '-'}] {failure.error_message}"
            )
        account.refresh_from_db()
        if account.paused:
            self.stdout.write(f"  account paused: {account.paused_reason}")
        if counts.get("dead") or counts.get("failed") or account.paused:
            raise CommandError("Some deliveries did not go through.", returncode=1)
