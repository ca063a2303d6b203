"""Provider accounts: which service, where it lives, the credential, and its sending budget."""

import secrets
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from bridge import provider_hosts
from bridge.crypto import EncryptedSecretField
from integrations import registry
from integrations.base import AccountConfig
from integrations.mapping import FieldMap, MappingRow
from integrations.secrets import Secret

from .hours import BusinessHoursMixin


def default_time_zone() -> str:
    """The site's time zone (``TIME_ZONE``): an account's until staff say otherwise."""
    return settings.TIME_ZONE


def validate_time_zone(value: str) -> None:
    """An IANA time zone name ("Europe/Paris"), as zoneinfo knows it."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(
            f"'{value}' is not a time zone name (e.g. Europe/Paris, America/New_York, UTC)."
        ) from None


class ProviderAccount(BusinessHoursMixin, models.Model):
    """One account at one provider. Deliveries and syncs run against an account."""

    class Environment(models.TextChoices):
        PRODUCTION = "production", "Production"
        SANDBOX = "sandbox", "Sandbox"

    provider = models.CharField(max_length=32, choices=registry.as_choices, db_index=True)
    name = models.SlugField(
        max_length=64,
        unique=True,
        help_text="Short name used by the CLI (--account NAME). Accounts configured from the "
        "environment are named after their provider.",
    )
    environment = models.CharField(
        max_length=16, choices=Environment.choices, default=Environment.PRODUCTION
    )
    base_url = models.URLField(
        "base URL",
        blank=True,
        help_text="Leave blank for the provider's documented URL for the environment; set it "
        "to point the account at a sandbox or the local fake providers.",
    )
    credential = EncryptedSecretField(
        blank=True,
        help_text="API key or token. Stored encrypted; never shown again after saving.",
    )
    options = models.JSONField(
        default=dict,
        blank=True,
        help_text="Per-provider defaults (campaign id, ring group, lead-generation tool…).",
    )
    time_zone = models.CharField(
        max_length=64,
        default=default_time_zone,
        blank=True,
        validators=[validate_time_zone],
        help_text="Where the people behind this account work (IANA name, e.g. Europe/Paris): "
        "routing rules' business hours are read in it. Blank: the site's time zone.",
    )
    # When pushes from the push page may go out (blank: any time), read in ``time_zone``.
    business_days = models.CharField(
        "sending days",
        max_length=40,
        blank=True,
        help_text="Days pushes from the push page may go out, e.g. mon-fri (with the hours "
        "below). Blank: any day and time.",
    )
    business_start = models.TimeField("sending from", null=True, blank=True, help_text="e.g. 09:00")
    business_end = models.TimeField(
        "sending until",
        null=True,
        blank=True,
        help_text="e.g. 18:00, in the time zone above. A push outside these hours (or one "
        "scheduled with “send at”) waits for the next window.",
    )
    enabled = models.BooleanField(default=True, db_index=True)
    paused = models.BooleanField(
        default=False,
        db_index=True,
        help_text="Paused accounts keep their deliveries waiting; nothing is dropped.",
    )
    paused_reason = models.CharField(max_length=255, blank=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    throttled_until = models.DateTimeField(
        null=True,
        blank=True,
        help_text="The provider asked us to slow down (429 Retry-After): nothing is sent before.",
    )
    throttled_since = models.DateTimeField(
        "answering 429 since",
        null=True,
        blank=True,
        help_text="When the provider started answering 429; cleared by the next delivery sent.",
    )
    concurrency = models.PositiveSmallIntegerField(
        default=4,
        validators=[MinValueValidator(1), MaxValueValidator(64)],
        help_text="How many requests may be in flight to this account at once.",
    )
    requests_per_second = models.FloatField(
        default=10.0,
        # Up to 5,000: at the largest concurrency (64) a cap of 1,000 would bind before a
        # provider's latency does whenever it answers in under 64 ms (docs/benchmarks.md).
        validators=[MinValueValidator(0.1), MaxValueValidator(5000)],
        help_text="Upper bound on requests per second, shared by pushes, retries and syncs.",
    )
    connect_timeout = models.FloatField(
        default=5.0, validators=[MinValueValidator(0.1), MaxValueValidator(60)]
    )
    read_timeout = models.FloatField(
        default=30.0, validators=[MinValueValidator(0.1), MaxValueValidator(300)]
    )
    # The webhook receiver (bridge/inbox/). The token is the secret part of the account's
    # receiver URL. It is stored encrypted like the credential, not hashed: staff copy the
    # URL from the account page (and `webhook_url --account`) whenever they set a provider
    # up again, and a hashed token could only be shown once and would force a rotation each
    # time. The request names the account, so the token is compared with that one account's
    # (constant time) and needs no index. Rotated by `webhook_url --account NAME --rotate`.
    webhook_token = EncryptedSecretField(blank=True, editable=False)
    webhook_auth = models.CharField(
        "webhook authentication",
        max_length=8,
        choices=[("", "None (the token in the URL)"), ("basic", "Basic"), ("bearer", "Bearer")],
        blank=True,
        help_text="Also require this Authorization header on webhook requests, for providers "
        "that can send one (Aloware). The credential to enter there is shown below.",
    )
    webhook_secret = EncryptedSecretField(blank=True, editable=False)
    webhook_refused = models.PositiveIntegerField(
        "webhook requests refused",
        default=0,
        help_text="Requests naming this account with a wrong token or credential.",
    )
    webhook_refused_at = models.DateTimeField("last refused", null=True, blank=True)
    #: When a drain task was queued for this account and has not started yet (bridge.wakeups):
    #: commits meanwhile queue no other.
    drain_queued_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The latest failed delivery attempt, kept when the delivery later goes through (its own
    # error is cleared then): the dashboard's "last delivery error" after a recovery.
    last_failure_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_failure = models.CharField(max_length=500, blank=True, editable=False)
    last_failure_delivery_id = models.PositiveBigIntegerField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["provider", "name"]

    def __str__(self):
        return f"{self.name} ({self.get_provider_display()})"

    def save(self, *args, **kwargs):
        """A provider that sends webhooks gets its receiver token (and header credential)."""
        filled = fill_webhook_secrets(self)
        if filled and kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], *filled}
        super().save(*args, **kwargs)

    @property
    def provider_class(self):
        return registry.get_provider_class(self.provider)

    def clean(self):
        """Rules every path shares (admin, environment, demo): https outside the allowlist,
        and no sandbox account that would silently reach production."""
        super().clean()
        try:
            provider_class = self.provider_class
        except KeyError:
            return  # the provider field's own validation names the problem
        hours = self._hours_errors()
        if hours:
            raise ValidationError(hours)
        if self.base_url:
            provider_hosts.check_scheme(self.base_url)
        provider_hosts.check_sandbox(provider_class, self.environment, self.base_url)
        if self.webhook_auth and self.webhook_auth not in self.webhook_auth_styles:
            offered = ", ".join(self.webhook_auth_styles) or "none"
            raise ValidationError(
                {
                    "webhook_auth": f"{provider_class.name} cannot send {self.webhook_auth} "
                    f"authentication with its webhooks (it can send: {offered})."
                }
            )

    @property
    def receives_webhooks(self) -> bool:
        """Whether the provider sends events the bridge can receive (Aéllo sends none)."""
        try:
            return self.provider_class.events is not None
        except KeyError:
            return False

    @property
    def webhook_auth_styles(self) -> tuple[str, ...]:
        """The Authorization styles this account's provider can send with its webhooks."""
        return self.provider_class.events.setup.auth_styles if self.receives_webhooks else ()

    def rotate_webhook_token(self) -> None:
        """A new receiver token (and header credential): the old URL stops working at once."""
        self.webhook_token, self.webhook_secret = new_webhook_token(), new_webhook_token()
        self.save(update_fields=["webhook_token", "webhook_secret", "updated_at"])

    @property
    def effective_base_url(self) -> str:
        return self.base_url or self.provider_class.default_base_url(self.environment)

    def config(self) -> AccountConfig:
        """Plain-data view of this account for the integrations layer."""
        return AccountConfig(
            name=self.name,
            provider=str(self.provider),  # str: plain data, not the model's choices
            credential=self.credential,
            base_url=self.base_url,
            environment=str(self.environment),
            options=dict(self.options or {}),
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            pool_size=max(self.concurrency, 1),
            field_map=self.field_map(),
        )

    def field_map(self) -> FieldMap:
        """The account's mapping rows, and (for a provider whose targets are the fields its
        pull saw) those fields' types, as the provider receives them: two small queries."""
        if self.pk is None:
            return FieldMap()
        rows = tuple(
            MappingRow(source, target)
            for source, target in self.field_mappings.order_by("id").values_list("source", "target")
        )
        types = {}
        if self.provider in registry.providers() and self.provider_class.field_mapping.pulled:
            types = dict(self.remote_fields.values_list("name", "type"))
        return FieldMap(rows, types)

    def client(self):
        """A provider client for this account."""
        return self.provider_class(self.config())

    def pause(self, reason: str) -> None:
        """Stop sending to this account until staff resume it (e.g. after a 401)."""
        self.paused, self.paused_reason, self.paused_at = True, reason[:255], timezone.now()
        self.save(update_fields=["paused", "paused_reason", "paused_at", "updated_at"])

    def resume(self) -> None:
        self.paused, self.paused_reason, self.paused_at = False, "", None
        self.save(update_fields=["paused", "paused_reason", "paused_at", "updated_at"])

    @property
    def zone(self) -> ZoneInfo:
        """The account's time zone (the site's when the stored name is unknown)."""
        try:
            return ZoneInfo(self.time_zone or default_time_zone())
        except (ZoneInfoNotFoundError, ValueError):
            return ZoneInfo(default_time_zone())

    @property
    def sendable(self) -> bool:
        """Whether deliveries to this account may go out now."""
        return self.enabled and not self.paused


def new_webhook_token() -> Secret:
    """A random, URL-safe token (192 bits)."""
    return Secret(secrets.token_urlsafe(24))


def fill_webhook_secrets(account: ProviderAccount) -> list[str]:
    """Give an account whose provider sends webhooks its token and header credential;
    the names of the fields filled."""
    if not account.receives_webhooks:
        return []
    filled = []
    for name in ("webhook_token", "webhook_secret"):
        if not getattr(account, name):
            setattr(account, name, new_webhook_token())
            filled.append(name)
    return filled


class AccountSlot(models.Model):
    """One of an account's ``concurrency`` sending slots, leased by a worker thread.

    Holding a slot is the right to have one request in flight to the account; each slot is
    paced to ``concurrency / requests_per_second`` seconds per request, so the account's budget
    holds across every worker process and cluster without a shared counter. Pushes, retries and
    syncs all draw on the same slots. A lease that is not renewed expires, so a killed worker
    gives its slots back by itself.
    """

    account = models.ForeignKey(ProviderAccount, on_delete=models.CASCADE, related_name="slots")
    number = models.PositiveSmallIntegerField()
    holder = models.CharField(max_length=100, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "number"], name="accountslot_unique"),
        ]

    def __str__(self):
        return f"{self.account.name} slot {self.number}"
