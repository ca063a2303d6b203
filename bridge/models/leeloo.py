"""Mirror models for what only Leeloo.ai has: its users, channels, connections and templates.

People, orders, tags and tunnels mirror into the shared models (Contact, Order, Tag, Tunnel)
and are tied to their Leeloo ids by RemoteLink. The records here exist only in Leeloo, so each
row belongs to one account and carries its Leeloo id itself (unique per account); the syncs in
``bridge.sync`` are the only writers.
"""

from django.db import models

from .accounts import ProviderAccount
from .crm import Contact, TimestampedModel


class LeelooRecord(TimestampedModel):
    """A record of one Leeloo account, known by its Leeloo id."""

    account = models.ForeignKey(ProviderAccount, on_delete=models.CASCADE, related_name="+")
    remote_id = models.CharField("Leeloo id", max_length=64)

    class Meta:
        abstract = True

    def __str__(self):
        return getattr(self, "name", "") or self.remote_id


def unique_per_account(name: str) -> models.UniqueConstraint:
    """One row per Leeloo id per account: what the syncs' bulk upserts key on."""
    return models.UniqueConstraint(fields=["account", "remote_id"], name=name)


class LeelooUser(LeelooRecord):
    """A platform user of a Leeloo account: the managers orders and people are assigned to."""

    name = models.CharField(max_length=200, blank=True)
    remote_created_at = models.DateTimeField(null=True, blank=True)
    remote_updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "Leeloo user"
        ordering = ["name"]
        constraints = [unique_per_account("leeloouser_account_remote_unique")]


class Connection(LeelooRecord):
    """One of an account's bots (``GET /connections``): telegram, sendGrid, an SMS gateway…"""

    type = models.CharField(max_length=50, blank=True)
    name = models.CharField(max_length=200, blank=True)

    class Meta:
        verbose_name = "Leeloo connection"
        ordering = ["name"]
        constraints = [unique_per_account("connection_account_remote_unique")]


class Channel(LeelooRecord):
    """A communication channel: one person's chat on one messenger, with its UTM marks.

    Leeloo calls its id ``account_id``; ``person_remote_id`` is the Leeloo person it belongs
    to, and ``contact`` that person's Contact once the people sync has linked it.
    """

    contact = models.ForeignKey(
        Contact,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="leeloo_channels",
    )
    person_remote_id = models.CharField("Leeloo person id", max_length=64, blank=True)
    name = models.CharField(max_length=200, blank=True)
    source = models.CharField(max_length=50, blank=True, help_text="TELEGRAM, FACEBOOK, SMS…")
    bot_status = models.CharField(max_length=50, blank=True)
    last_message_at = models.DateTimeField(null=True, blank=True)
    remote_created_at = models.DateTimeField(null=True, blank=True)
    utm_marks = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = "Leeloo channel"
        ordering = ["-last_message_at"]
        constraints = [unique_per_account("channel_account_remote_unique")]
        indexes = [
            models.Index(fields=["account", "person_remote_id"], name="channel_person_idx"),
        ]


class TemplateCategory(LeelooRecord):
    """A message template category (Sales Funnels, Message Templates)."""

    name = models.CharField(max_length=200, blank=True)

    class Meta:
        verbose_name = "template category"
        verbose_name_plural = "template categories"
        ordering = ["name"]
        constraints = [unique_per_account("templatecategory_account_remote_unique")]


class Template(LeelooRecord):
    """A message template, in its category."""

    category = models.ForeignKey(
        TemplateCategory, on_delete=models.CASCADE, related_name="templates"
    )
    name = models.CharField(max_length=255, blank=True)

    class Meta:
        verbose_name = "message template"
        ordering = ["name"]
        constraints = [unique_per_account("template_account_remote_unique")]


class TunnelStatsSummary(models.Model):
    """The statistics of all an account's tunnels at once (``GET /tunnels/stats``).

    Each tunnel's own statistics are on its Tunnel; this is the account-wide answer, kept as
    Leeloo gives it (a list of stats with snake_case keys).
    """

    account = models.OneToOneField(
        ProviderAccount, on_delete=models.CASCADE, related_name="tunnel_stats_summary"
    )
    stats = models.JSONField(default=list, blank=True)
    updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "all-tunnel statistics"
        verbose_name_plural = "all-tunnel statistics"

    def __str__(self):
        return f"{self.account.name}: all tunnels"
