"""``python manage.py intake_source NAME [--rotate]``: make an intake source, or rotate its token.

For scripted set-ups: the new token is printed once, alone on standard output
(``TOKEN=$(python manage.py intake_source website)``); what was done goes to standard error.
"""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from bridge import audit
from bridge.models import IntakeSource


class Command(BaseCommand):
    help = (
        "Create an intake source (or, with --rotate, give an existing one a new token) and "
        "print its token once."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="The source's name (letters, digits, - and _).")
        parser.add_argument(
            "--rotate", action="store_true", help="Give the existing source a new token."
        )
        parser.add_argument(
            "--origin",
            action="append",
            default=[],
            help="A page origin allowed to call the API from a browser (repeatable).",
        )
        parser.add_argument("--rate-limit", type=int, help="Requests a minute (default 60).")
        parser.add_argument("--thank-you-url", default="", help="Where a form is sent after.")
        parser.add_argument(
            "--allow-form-token",
            action="store_true",
            help="Accept the token in a form's hidden 'token' field.",
        )
        audit.add_actor_argument(parser)

    def handle(self, *args, name, rotate, **options):
        actor = audit.cli_actor(options)
        with transaction.atomic():
            if rotate:
                source, token = self.rotate(name)
                done = f"Rotated the token of intake source '{source.name}'"
                audit.record(
                    audit.Action.TOKEN_ROTATED,
                    actor=actor,
                    via=audit.Via.CLI,
                    target=source,
                    summary=f"Rotated the token of {source.name}",
                )
            else:
                source, token = self.create(name, options)
                done = f"Created intake source '{source.name}'"
        self.stderr.write(f"{done}. Its token follows; it is shown this once.")
        self.stdout.write(token)

    def rotate(self, name):
        source = IntakeSource.objects.select_for_update().filter(name=name).first()
        if source is None:
            raise CommandError(
                f"name: there is no intake source '{name}'; run without --rotate to create it."
            )
        token = source.issue_token()
        source.save(update_fields=["token_hash", "token_prefix", "token_rotated_at", "updated_at"])
        return source, token

    def create(self, name, options):
        if IntakeSource.objects.filter(name=name).exists():
            raise CommandError(
                f"name: intake source '{name}' already exists; use --rotate for a new token."
            )
        source = IntakeSource(
            name=name,
            allowed_origins="\n".join(options["origin"]),
            thank_you_url=options["thank_you_url"],
            allow_form_token=options["allow_form_token"],
        )
        if options["rate_limit"] is not None:
            source.rate_limit_per_minute = options["rate_limit"]
        token = source.issue_token()
        try:
            source.full_clean()
        except ValidationError as exc:
            problems = "; ".join(
                f"{field}: {' '.join(messages)}" for field, messages in exc.message_dict.items()
            )
            raise CommandError(problems) from None
        source.save()
        return source, token
