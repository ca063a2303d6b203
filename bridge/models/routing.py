"""Routing rules: which new leads go to which accounts, with which options, and when.

A rule's conditions are all optional and ANDed (an empty rule matches every lead); its action
is one or more targets (an account, an operation and that operation's options, checked as the
"Push to…" page checks them), an optional delay, optional business hours read in each target
account's time zone, and whether later rules are still tried after it matched. Each lead is
routed once: its :class:`LeadRouting` row says so, and what was decided.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
from django.db import models
from django.utils import timezone

from bridge.push_options import check_options

from .accounts import ProviderAccount
from .crm import Lead, Tag
from .hours import BusinessHoursMixin, split_list

#: The longest delay a rule may ask for: 30 days.
MAX_DELAY_SECONDS = 30 * 24 * 3600


class RoutingRule(BusinessHoursMixin, models.Model):
    """One rule: conditions a new lead must meet, and where it is then pushed."""

    name = models.CharField(max_length=100, unique=True)
    enabled = models.BooleanField(default=True, db_index=True)
    order = models.PositiveIntegerField(
        default=0, help_text="Rules are tried from the lowest order up (then by id)."
    )
    # Conditions: each blank one is not checked; all given ones must hold.
    sources = models.CharField(
        max_length=500,
        blank=True,
        help_text="Comma-separated lead sources (a lead's Source, e.g. an intake source's "
        "name); the lead's must be one of them.",
    )
    product_reference_contains = models.CharField(
        max_length=100, blank=True, help_text="Text the lead's product reference contains."
    )
    product_title_contains = models.CharField(
        max_length=255, blank=True, help_text="Text the lead's product title contains."
    )
    tags = models.ManyToManyField(
        Tag,
        blank=True,
        related_name="routing_rules",
        help_text="The lead's contact has at least one of these tags.",
    )
    countries = models.CharField(
        max_length=200,
        blank=True,
        help_text="Comma-separated ISO country codes (US, FR…); the contact's must be one.",
    )
    has_phone = models.BooleanField(
        null=True, blank=True, help_text="Yes: the contact has a phone; No: it has none."
    )
    has_email = models.BooleanField(
        null=True, blank=True, help_text="Yes: the contact has an email; No: it has none."
    )
    # When: a delay after the lead arrived, then the next business-hours window.
    delay_seconds = models.PositiveIntegerField(
        "delay (seconds)",
        default=0,
        validators=[MaxValueValidator(MAX_DELAY_SECONDS)],
        help_text="Wait this long after the lead arrived before pushing (0: at once).",
    )
    business_days = models.CharField(
        max_length=40,
        blank=True,
        help_text="Days pushes may go out, e.g. mon-fri or mon,wed,sat (with the hours below).",
    )
    business_start = models.TimeField(null=True, blank=True, help_text="e.g. 09:00")
    business_end = models.TimeField(
        null=True,
        blank=True,
        help_text="e.g. 18:00. Read in each target account's time zone; outside these hours "
        "the push waits for the next window.",
    )
    stop_after_match = models.BooleanField(
        default=False, help_text="When this rule matches, later rules are not tried."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["order", "id"]

    def __str__(self):
        return self.name

    def touch(self) -> None:
        """Mark the rule changed (a target or tag of it was), without saving anything else."""
        RoutingRule.objects.filter(pk=self.pk).update(updated_at=timezone.now())

    @property
    def source_list(self) -> list[str]:
        return split_list(self.sources)

    @property
    def country_list(self) -> list[str]:
        return [code.upper() for code in split_list(self.countries)]

    def clean(self):
        """Normalise the lists and check the business hours: days, start and end together."""
        super().clean()
        errors = {}
        self.sources = ", ".join(self.source_list)
        countries = self.country_list
        bad = [code for code in countries if len(code) != 2 or not code.isalpha()]
        if bad:
            errors["countries"] = f"not a two-letter ISO country code: {', '.join(bad)}."
        self.countries = ", ".join(countries)
        errors.update(self._hours_errors())
        if errors:
            raise ValidationError(errors)

    def describe_conditions(self) -> str:
        """The conditions in words, for the admin list and ``manage.py routes``."""
        parts = []
        if self.sources:
            parts.append(f"source in [{self.sources}]")
        if self.product_reference_contains:
            parts.append(f"product reference contains '{self.product_reference_contains}'")
        if self.product_title_contains:
            parts.append(f"product title contains '{self.product_title_contains}'")
        if self.pk:
            names = [tag.name for tag in self.tags.all()]
            if names:
                parts.append(f"tagged any of [{', '.join(names)}]")
        if self.countries:
            parts.append(f"country in [{self.countries}]")
        for label, value in (("phone", self.has_phone), ("email", self.has_email)):
            if value is not None:
                parts.append(f"{'has' if value else 'has no'} {label}")
        return " and ".join(parts) or "every lead"

    def describe_timing(self) -> str:
        """The delay and hours in words ("at once", "after 5m, mon-fri 09:00–18:00")."""
        parts = []
        if self.delay_seconds:
            parts.append(f"after {format_delay(self.delay_seconds)}")
        if self.has_hours:
            parts.append(
                f"{self.business_days} {self.business_start:%H:%M}–{self.business_end:%H:%M}"
            )
        return ", ".join(parts) or "at once"


def format_delay(seconds: int) -> str:
    """3600 → "1h", 300 → "5m", 90 → "90s"."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


class RuleTarget(models.Model):
    """Where a matching lead goes: an account, an operation and its options."""

    rule = models.ForeignKey(RoutingRule, on_delete=models.CASCADE, related_name="targets")
    account = models.ForeignKey(
        ProviderAccount, on_delete=models.PROTECT, related_name="routing_targets"
    )
    operation = models.CharField(
        max_length=64, default="push", help_text="What to do at the provider (push by default)."
    )
    options = models.JSONField(
        default=dict,
        blank=True,
        help_text='The operation\'s options as on the "Push to…" page, e.g. {"campaign_id": 12}; '
        "blank ones use the account's defaults.",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "account", "operation"],
                name="ruletarget_unique",
                violation_error_message="This rule already has that account and operation.",
            )
        ]

    def __str__(self):
        return f"{self.account.name} {self.operation}"

    def save(self, *args, **kwargs):
        """Saved, and its rule marked changed (routing's loaded rules are read again)."""
        super().save(*args, **kwargs)
        self.rule.touch()

    def delete(self, *args, **kwargs):
        rule = self.rule
        deleted = super().delete(*args, **kwargs)
        rule.touch()
        return deleted

    def clean(self):
        """The operation must take leads, and its options pass the push page's checks."""
        super().clean()
        if self.account_id is None:
            return
        spec = self.account.provider_class.operation_specs().get(self.operation)
        if spec is None or "lead" not in spec.kinds:
            takes = [
                name
                for name, other in self.account.provider_class.operation_specs().items()
                if "lead" in other.kinds
            ]
            raise ValidationError(
                {
                    "operation": f"{self.account.provider_class.name} cannot '{self.operation}' "
                    f"a lead (it can: {', '.join(takes) or 'nothing'})."
                }
            )
        self.options = check_options(self.account, self.operation, self.options or {})


class LeadRouting(models.Model):
    """That a lead was routed (once), and what was decided: rules, targets, skips, when."""

    lead = models.OneToOneField(Lead, on_delete=models.CASCADE, related_name="routing")
    routed_at = models.DateTimeField(auto_now_add=True, db_index=True)
    rules = models.JSONField(default=list, blank=True, help_text="Names of the rules matched.")
    fallback = models.BooleanField(
        default=False, help_text="No rule matched: the lead's source's default routing applied."
    )
    targets = models.JSONField(
        default=list, blank=True, help_text="What was queued: account, operation, options, due."
    )
    skipped = models.JSONField(
        default=list, blank=True, help_text="Targets not queued, each with its reason."
    )

    class Meta:
        verbose_name = "lead routing"
        ordering = ["-routed_at"]

    def __str__(self):
        return f"Routing of lead #{self.lead_id}"

    @property
    def summary(self) -> str:
        if not self.rules and not self.fallback:
            return "no rule matched"
        queued = ", ".join(f"{t['account']} {t['operation']}" for t in self.targets) or "nothing"
        return f"{', '.join(self.rules) or 'fallback'} → {queued}"


class RoutingWake(models.Model):
    """One row: when a routing task was queued and has not started yet (bridge.wakeups).

    New leads committed meanwhile queue no other task: the queued one routes every lead
    waiting when it starts.
    """

    queued_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "routing wake-up"

    def __str__(self):
        return f"Routing task queued at {self.queued_at}" if self.queued_at else "No routing queued"
