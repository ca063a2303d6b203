"""``python manage.py env_accounts``: create or update the provider accounts the environment sets.

The same step runs after every ``migrate``; this command runs it on demand (after changing a
variable without migrating) and prints what it did. Credentials are never printed. A credential
or a base URL it changes is written to the audit trail (as the OS user, or ``--as USER``).
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from bridge import audit
from bridge.env_accounts import SPECS, EnvAccountError, apply_env_accounts
from bridge.models import ProviderAccount


def describe_variables() -> str:
    """The command's help: each provider's account and the variables that set it."""
    accounts = "; ".join(
        f"{spec.provider} from {spec.credential} "
        f"({', '.join(name for name in (spec.base_url, spec.environment) if name)}"
        f"{''.join(f', {variable}' for variable, _ in spec.options.values())})"
        for spec in SPECS
    )
    return f"Create or update the provider accounts the environment sets: {accounts}."


def env_accounts() -> dict[str, ProviderAccount]:
    """The accounts the environment may set, by name."""
    names = [spec.provider for spec in SPECS]
    return {account.name: account for account in ProviderAccount.objects.filter(name__in=names)}


def record_changes(actor, before: dict[str, ProviderAccount]) -> None:
    """An audit entry for each credential set and each base URL changed from the environment."""
    for name, account in env_accounts().items():
        old = before.get(name)
        if old is None or old.credential != account.credential:
            audit.record(
                audit.Action.CREDENTIAL_SET,
                actor=actor,
                via=audit.Via.CLI,
                target=account,
                summary=f"Credential of {name} set from the environment",
            )
        if old is not None and old.base_url != account.base_url:
            audit.record(
                audit.Action.BASE_URL_CHANGED,
                actor=actor,
                via=audit.Via.CLI,
                target=account,
                summary=f"Base URL of {name} set from the environment",
                details={"from": old.base_url, "to": account.base_url},
            )


class Command(BaseCommand):
    help = describe_variables()

    def add_arguments(self, parser):
        audit.add_actor_argument(parser)

    def handle(self, *args, **options):
        actor = audit.cli_actor(options)
        try:
            with transaction.atomic():
                before = env_accounts()
                results = apply_env_accounts()
                record_changes(actor, before)
        except EnvAccountError as exc:
            raise CommandError(str(exc)) from None
        for result in results:
            style = self.style.SUCCESS if result.action in ("created", "updated") else str
            self.stdout.write(style(str(result)))
