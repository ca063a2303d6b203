"""Alerts: where staff are told that something broke, and each thing that broke.

``AlertChannel`` is a place alerts go: email addresses (Django's mail) or a Slack-compatible
webhook whose URL is a secret (Slack's are), stored encrypted and shown masked. ``Alert`` is one
condition ("account 3 paused") from the moment the minute's check found it until it no longer
holds; at most one is open per condition (a partial unique constraint), and it keeps which
channels were told of its opening and of its resolution, so a failed send is retried without
telling anyone twice.
"""

from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import models
from django.db.models import Q
from django.utils import timezone

from bridge import provider_hosts
from bridge.crypto import EncryptedSecretField
from integrations.secrets import Secret

#: Characters of a webhook URL's path shown at the end of its masked form, to tell two apart.
MASK_TAIL = 4


def split_addresses(text: str) -> list[str]:
    """Email addresses typed one a line or separated by commas or semicolons."""
    return [
        part.strip()
        for part in text.replace(";", ",").replace("\n", ",").split(",")
        if part.strip()
    ]


def mask_url(url: str) -> str:
    """A webhook URL as staff may see it after saving: scheme and host, the path hidden but for
    its last few characters ("https://hooks.slack.com/…x7Qe")."""
    if not url:
        return ""
    parts = urlsplit(url)
    secret = (parts.path + ("?" + parts.query if parts.query else "")).rstrip("/")
    tail = secret[-MASK_TAIL:] if len(secret) > 3 * MASK_TAIL else ""
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}/…{tail}"


class AlertChannel(models.Model):
    """One place alerts are sent: email addresses, or a webhook URL (Slack-compatible JSON)."""

    class Kind(models.TextChoices):
        EMAIL = "email", "Email"
        WEBHOOK = "webhook", "Webhook (Slack-compatible)"

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.EMAIL)
    addresses = models.TextField(
        "email addresses",
        blank=True,
        help_text="Email: one or more addresses, separated by commas or one a line.",
    )
    url = EncryptedSecretField(
        "webhook URL",
        blank=True,
        help_text='Webhook: the URL the alert is POSTed to as JSON {"text": …} (a Slack '
        "incoming webhook works). Stored encrypted and shown masked after saving.",
    )
    enabled = models.BooleanField(default=True)
    last_sent_at = models.DateTimeField("last sent", null=True, blank=True)
    last_error = models.TextField("last error", blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    digest_sent_at = models.DateTimeField(
        "daily digest sent",
        default=timezone.now,
        help_text="The daily digest goes out once its hour has passed since this.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "alert channel"
        ordering = ["name"]

    def __str__(self):
        return self.name

    def clean(self):
        """An email channel needs valid addresses, a webhook a URL on https (or on a host of
        BRIDGE_ALLOWED_PROVIDER_HOSTS, where the local test servers listen)."""
        super().clean()
        if self.kind == self.Kind.EMAIL:
            self.clean_addresses()
        elif self.kind == self.Kind.WEBHOOK:
            self.clean_url()

    def clean_addresses(self):
        found = split_addresses(self.addresses)
        if not found:
            raise ValidationError({"addresses": "An email channel needs at least one address."})
        for address in found:
            try:
                validate_email(address)
            except ValidationError:
                raise ValidationError(
                    {"addresses": f"“{address}” is not an email address."}
                ) from None

    def clean_url(self):
        url = self.plain_url()
        if not url:
            raise ValidationError({"url": "A webhook channel needs its URL."})
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValidationError({"url": "Enter a whole URL, starting with https://."})
        insecure = parts.scheme != "https"
        if insecure and provider_hosts.host_of(url) not in provider_hosts.allowlisted_hosts():
            raise ValidationError(
                {
                    "url": f"Use https: the URL is a secret, and plain http is allowed only for "
                    f"hosts in BRIDGE_ALLOWED_PROVIDER_HOSTS ({parts.hostname} is not)."
                }
            )

    def plain_url(self) -> str:
        """The webhook URL itself, for the one place that posts to it (and its checks)."""
        if isinstance(self.url, Secret):
            return self.url.reveal()
        return self.url or ""

    def address_list(self) -> list[str]:
        return split_addresses(self.addresses)

    @property
    def destination(self) -> str:
        """Where it sends, as staff may see it: the addresses, or the masked URL."""
        if self.kind == self.Kind.WEBHOOK:
            return mask_url(self.plain_url())
        return ", ".join(self.address_list())


class Alert(models.Model):
    """One condition that broke, from when it was found until it no longer held."""

    class Severity(models.TextChoices):
        WARNING = "warning", "Warning"
        CRITICAL = "critical", "Critical"

    class Kind(models.TextChoices):
        DELIVERY_DEAD = "delivery_dead", "Deliveries dead"
        ACCOUNT_PAUSED = "account_paused", "Account paused"
        ACCOUNT_THROTTLED = "account_throttled", "Account throttled"
        SYNC_FAILING = "sync_failing", "Sync failing"
        SYNC_BEHIND = "sync_behind", "Sync behind"
        INBOUND_FAILING = "inbound_failing", "Inbound events failing"

    key = models.CharField(
        "condition", max_length=200, help_text="What broke, e.g. “account 3 paused”."
    )
    kind = models.CharField(max_length=32, choices=Kind.choices)
    severity = models.CharField(max_length=16, choices=Severity.choices)
    subject = models.CharField(max_length=255)
    message = models.TextField()
    link = models.URLField("admin page", max_length=500, blank=True)
    opened_at = models.DateTimeField("opened", default=timezone.now, db_index=True)
    resolved_at = models.DateTimeField("resolved", null=True, blank=True)
    resolution = models.TextField("resolved message", blank=True)
    #: Channel ids told of each phase: {"opened": [1, 2], "resolved": [1]}.
    sent = models.JSONField(default=dict, blank=True)
    channels_notified = models.CharField(
        "channels notified", max_length=1000, blank=True, help_text="Who was told of what."
    )
    pending = models.BooleanField(
        default=True, help_text="A message of this alert is still to be sent to some channel."
    )
    send_attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField("last error of sending", blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    #: While a run of the job is sending this alert (a compare-and-set claim).
    claimed_until = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["key"],
                condition=Q(resolved_at__isnull=True),
                name="alert_one_open_per_condition",
            ),
        ]
        indexes = [
            models.Index(fields=["pending"], condition=Q(pending=True), name="alert_pending_idx"),
        ]

    def __str__(self):
        return self.subject

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None

    def phases(self) -> list[str]:
        """The messages this alert has to tell: its opening, and its resolution once resolved."""
        return ["opened", "resolved"] if self.resolved_at else ["opened"]

    def told(self, phase: str) -> set[int]:
        return set((self.sent or {}).get(phase, []))
