"""``python manage.py routes`` lists the routing rules; ``routes add NAME …`` adds one.

For scripted set-ups::

    python manage.py routes add web-to-caller --source website --account aiployees \\
        --option campaign_id=42 --delay 5m --hours mon-fri 09:00-18:00 --stop
    python manage.py routes pending --since 2h   # route new leads a crash left unrouted

Bad input is a CommandError naming the argument and the problem; nothing is half-written.
"""

from __future__ import annotations

import re
from datetime import time, timedelta

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from bridge import audit
from bridge.models import ProviderAccount, RoutingRule, RuleTarget, Tag
from bridge.routing import route_unrouted

#: Which argument each model field comes from, for errors.
ARGUMENTS = {
    "name": "NAME",
    "sources": "--source",
    "product_reference_contains": "--product-reference",
    "product_title_contains": "--product-title",
    "countries": "--country",
    "business_days": "--hours",
    "business_start": "--hours",
    "business_end": "--hours",
    "delay_seconds": "--delay",
    "order": "--order",
    "options": "--option",
    "operation": "--operation",
    "account": "--account",
}
DURATION = re.compile(r"^(\d+)\s*([smhd]?)$")
UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
YES_NO = {"yes": True, "no": False}


def parse_duration(value: str, argument: str) -> int:
    """ "90", "90s", "5m", "2h", "1d" → seconds."""
    found = DURATION.match(value.strip().lower())
    if not found:
        raise CommandError(f"{argument}: '{value}' is not a duration (e.g. 90s, 5m, 2h, 1d).")
    return int(found[1]) * UNITS[found[2]]


def parse_hours(days: str, span: str) -> tuple[str, time, time]:
    """ "mon-fri", "09:00-18:00" → (days, start, end)."""
    start, sep, end = span.partition("-")
    try:
        if not sep:
            raise ValueError
        return days, time.fromisoformat(start.strip()), time.fromisoformat(end.strip())
    except ValueError:
        raise CommandError(f"--hours: '{span}' is not a time span (e.g. 09:00-18:00).") from None


def parse_option(pair: str):
    """NAME=VALUE, the value typed as ``manage.py push --option`` types it."""
    name, sep, value = pair.partition("=")
    if not sep or not name:
        raise CommandError(f"--option: '{pair}' is not NAME=VALUE.")
    lowered = value.lower()
    typed = {"true": True, "false": False}.get(lowered, int(value) if value.isdigit() else value)
    return name.strip(), typed


def name_errors(error: ValidationError, prefix: str = "") -> str:
    """A model's ValidationError as "--argument: problem" lines."""
    lines = []
    for field, messages in error.message_dict.items():
        argument = ARGUMENTS.get(field, field)
        lines.extend(f"{prefix}{argument}: {message}" for message in messages)
    return "\n".join(lines)


class Command(BaseCommand):
    help = "List the routing rules, add one (routes add NAME …), or route unrouted new leads."

    def add_arguments(self, parser):
        commands = parser.add_subparsers(dest="command", title="commands")
        add = commands.add_parser("add", help="Add a routing rule.")
        add.add_argument("name", metavar="NAME")
        add.add_argument("--account", action="append", required=True, help="Target account.")
        add.add_argument("--operation", default="push", help="What to do there (push).")
        add.add_argument("--option", action="append", default=[], metavar="NAME=VALUE")
        add.add_argument("--source", action="append", default=[], help="A lead source.")
        add.add_argument("--product-reference", default="", help="Reference contains this.")
        add.add_argument("--product-title", default="", help="Title contains this.")
        add.add_argument("--tag", action="append", default=[], help="A contact tag's name.")
        add.add_argument("--country", action="append", default=[], help="ISO code, e.g. US.")
        add.add_argument("--has-phone", choices=YES_NO, help="yes or no.")
        add.add_argument("--has-email", choices=YES_NO, help="yes or no.")
        add.add_argument("--delay", default="0", help="e.g. 90s, 5m, 2h.")
        add.add_argument("--hours", nargs=2, metavar=("DAYS", "START-END"))
        add.add_argument("--stop", action="store_true", help="Stop after this rule matches.")
        add.add_argument("--order", type=int, help="Position (default: after the last).")
        add.add_argument("--disabled", action="store_true", help="Add it disabled.")
        audit.add_actor_argument(add)
        pending = commands.add_parser("pending", help="Route new leads left unrouted.")
        pending.add_argument("--since", default="1h", help="How far back (default 1h).")

    def handle(self, *args, command=None, **options):
        if command == "add":
            return self.add(options)
        if command == "pending":
            return self.route_pending(options["since"])
        return self.list_rules()

    # --- listing ------------------------------------------------------------------------

    def list_rules(self):
        rules = RoutingRule.objects.prefetch_related("targets__account", "tags")
        if not rules:
            self.stdout.write("No routing rules.")
        for rule in rules:
            targets = ", ".join(
                f"{target.account.name} {target.operation}"
                + (f" {target.options}" if target.options else "")
                for target in rule.targets.all()
            )
            self.stdout.write(
                f"{rule.order:>4}  {rule.name}  [{'enabled' if rule.enabled else 'disabled'}]"
                f"\n      when: {rule.describe_conditions()}"
                f"\n      send: {targets or 'nowhere'} ({rule.describe_timing()})"
                + ("\n      then stop" if rule.stop_after_match else "")
            )

    # --- adding -------------------------------------------------------------------------

    def add(self, options):
        actor = audit.cli_actor(options)
        rule = self.build_rule(options)
        accounts = self.find_accounts(options["account"])
        tags = self.find_tags(options["tag"])
        params = dict(parse_option(pair) for pair in options["option"])
        with transaction.atomic():
            self.validate(rule)
            rule.save()
            rule.tags.set(tags)
            for account in accounts:
                target = RuleTarget(
                    rule=rule, account=account, operation=options["operation"], options=params
                )
                self.validate(target, exclude=["rule"], prefix=f"(account {account.name}) ")
                target.save()
            audit.record(
                audit.Action.RULE_ADDED,
                actor=actor,
                via=audit.Via.CLI,
                target=rule,
                summary=f"Added rule “{rule.name}” (order {rule.order}) from the command line",
            )
        self.stdout.write(f"Added rule '{rule.name}' (order {rule.order}).")

    def build_rule(self, options) -> RoutingRule:
        hours = parse_hours(*options["hours"]) if options["hours"] else ("", None, None)
        order = options["order"]
        if order is None:
            last = RoutingRule.objects.order_by("-order").values_list("order", flat=True).first()
            order = 10 if last is None else last + 10
        return RoutingRule(
            name=options["name"],
            enabled=not options["disabled"],
            order=order,
            sources=", ".join(options["source"]),
            product_reference_contains=options["product_reference"],
            product_title_contains=options["product_title"],
            countries=", ".join(options["country"]),
            has_phone=YES_NO.get(options["has_phone"]),
            has_email=YES_NO.get(options["has_email"]),
            delay_seconds=parse_duration(options["delay"], "--delay"),
            business_days=hours[0],
            business_start=hours[1],
            business_end=hours[2],
            stop_after_match=options["stop"],
        )

    def find_accounts(self, names: list[str]) -> list[ProviderAccount]:
        found = {
            account.name: account for account in ProviderAccount.objects.filter(name__in=names)
        }
        missing = [name for name in names if name not in found]
        if missing:
            known = ", ".join(ProviderAccount.objects.values_list("name", flat=True)) or "none"
            raise CommandError(
                f"--account: no account named {', '.join(missing)} (known: {known})."
            )
        return [found[name] for name in dict.fromkeys(names)]

    def find_tags(self, names: list[str]) -> list[Tag]:
        found = {tag.name: tag for tag in Tag.objects.filter(name__in=names)}
        missing = [name for name in names if name not in found]
        if missing:
            raise CommandError(f"--tag: no tag named {', '.join(missing)}.")
        return list(found.values())

    def validate(self, instance, exclude=None, prefix: str = "") -> None:
        try:
            instance.full_clean(exclude=exclude)
        except ValidationError as exc:
            raise CommandError(name_errors(exc, prefix)) from None

    # --- routing what was left ----------------------------------------------------------

    def route_pending(self, since: str):
        seconds = parse_duration(since, "--since")
        plans = route_unrouted(timedelta(seconds=seconds), settle=timedelta(0))
        queued = sum(len(plan.targets) for plan in plans)
        self.stdout.write(f"Routed {len(plans)} lead(s); {queued} push(es) queued.")
