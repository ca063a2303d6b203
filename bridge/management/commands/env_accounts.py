"""``python manage.py env_accounts``: create or update the provider accounts the environment sets.

The same step runs after every ``migrate``; this command runs it on demand (after changing a
variable without migrating) and prints what it did. Credentials are never printed.
"""

from django.core.management.base import BaseCommand, CommandError

from bridge.env_accounts import SPECS, EnvAccountError, apply_env_accounts


def describe_variables() -> str:
    """The command's help: each provider's account and the variables that set it."""
    accounts = "; ".join(
        f"{spec.provider} from {spec.credential} "
        f"({', '.join(name for name in (spec.base_url, spec.environment) if name)}"
        f"{''.join(f', {variable}' for variable, _ in spec.options.values())})"
        for spec in SPECS
    )
    return f"Create or update the provider accounts the environment sets: {accounts}."


class Command(BaseCommand):
    help = describe_variables()

    def handle(self, *args, **options):
        try:
            results = apply_env_accounts()
        except EnvAccountError as exc:
            raise CommandError(str(exc)) from None
        for result in results:
            style = self.style.SUCCESS if result.action in ("created", "updated") else str
            self.stdout.write(style(str(result)))
