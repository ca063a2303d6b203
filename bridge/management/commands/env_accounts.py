"""``python manage.py env_accounts``: create or update the provider accounts the environment sets.

The same step runs after every ``migrate``; this command runs it on demand (after changing a
variable without migrating) and prints what it did. Credentials are never printed.
"""

from django.core.management.base import BaseCommand, CommandError

from bridge.env_accounts import EnvAccountError, apply_env_accounts


class Command(BaseCommand):
    help = (
        "Create or update the accounts named aello, leeloo, aiployees and aloware from "
        "AELLO_API_KEY, LEELOO_AUTH_TOKEN, AIPLOYEES_TOKEN, ALOWARE_API_TOKEN and their "
        "*_BASE_URL / AELLO_ENVIRONMENT / AIPLOYEES_CAMPAIGN_ID companions."
    )

    def handle(self, *args, **options):
        try:
            results = apply_env_accounts()
        except EnvAccountError as exc:
            raise CommandError(str(exc)) from None
        for result in results:
            style = self.style.SUCCESS if result.action in ("created", "updated") else str
            self.stdout.write(style(str(result)))
