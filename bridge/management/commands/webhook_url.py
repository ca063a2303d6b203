"""``python manage.py webhook_url --account NAME [--rotate] [--base URL]``.

Prints the account's webhook receiver URL (to paste into the provider) and, when the account
requires an Authorization header (Aloware), the credential to enter with it. ``--rotate``
makes a new token first: the old URL stops working at once. The URL starts with
``BRIDGE_PUBLIC_URL`` unless ``--base`` says otherwise.
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from bridge import audit, inbox
from bridge.models import ProviderAccount


class Command(BaseCommand):
    help = "Print a provider account's webhook URL (the address to paste into the provider)."

    def add_arguments(self, parser):
        parser.add_argument("--account", required=True, help="Account name, e.g. aiployees.")
        parser.add_argument(
            "--rotate", action="store_true", help="Make a new token; the old URL stops working."
        )
        parser.add_argument(
            "--base", default="", help="Public address of the bridge (default BRIDGE_PUBLIC_URL)."
        )
        audit.add_actor_argument(parser)

    def handle(self, *args, account, rotate, base, **options):
        actor = audit.cli_actor(options)
        target = ProviderAccount.objects.filter(name=account).first()
        if target is None:
            names = ", ".join(ProviderAccount.objects.values_list("name", flat=True)) or "none"
            raise CommandError(f"--account: no account named '{account}' (known: {names}).")
        if not target.receives_webhooks:
            raise CommandError(
                f"--account: '{account}' is at {target.get_provider_display()}, which sends no "
                "webhooks."
            )
        if base and not base.startswith(("http://", "https://")):
            raise CommandError(f"--base: {base!r} is not an http(s) address.")
        if rotate:
            with transaction.atomic():
                target.rotate_webhook_token()
                audit.record(
                    audit.Action.WEBHOOK_ROTATED,
                    actor=actor,
                    via=audit.Via.CLI,
                    target=target,
                    summary=f"Rotated the webhook URL of {target.name}",
                )
        elif not target.webhook_token:
            target.save()  # an account made before its provider sent webhooks gets its token
        self.stdout.write(inbox.webhook_url(target, base))
        credential = inbox.auth_credential(target)
        if credential:
            self.stdout.write(
                "Authorization: " + ", ".join(f"{key} {value}" for key, value in credential.items())
            )
