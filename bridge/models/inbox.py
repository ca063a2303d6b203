"""The inbox: each provider webhook request as received, and what happened with each person.

``InboundEvent`` is the outbox's mirror image (``Delivery``): a row stored before anything is
done with it, a state, attempts and a next attempt with backoff, and an error staff read.
``Activity`` is the mirror's record of something that happened with a person at a service (a
call, a message, an order, a subscription), linked to the contact and, where known, the lead.
"""

from django.db import models
from django.db.models import Q

from .accounts import ProviderAccount
from .crm import Contact, Lead


class InboundEvent(models.Model):
    """One webhook request from a provider account, stored raw before it is processed.

    ``dedup_key`` is the provider's natural key for the event (Leeloo's type and order id,
    Aiployees' call id…) or a hash of the body: unique per account, so a repeated delivery is
    counted in ``repeats`` on the first row instead of being stored and applied again. Rows are
    kept for ``BRIDGE_INBOX_RETENTION_DAYS``; the same key after that is a new event.
    """

    class State(models.TextChoices):
        RECEIVED = "received", "Received"
        PROCESSED = "processed", "Processed"
        IGNORED = "ignored", "Ignored"
        FAILED = "failed", "Failed"

    account = models.ForeignKey(
        ProviderAccount, on_delete=models.CASCADE, related_name="inbound_events", db_index=False
    )
    event_type = models.CharField(
        "event type", max_length=100, blank=True, help_text="As the provider names it."
    )
    kind = models.CharField(
        max_length=32, blank=True, help_text="What the bridge maps it to; blank when nothing."
    )
    received_at = models.DateTimeField(db_index=True)
    last_received_at = models.DateTimeField(null=True, blank=True)
    repeats = models.PositiveIntegerField(
        default=0, help_text="How many more times the same event arrived (not applied again)."
    )
    headers = models.JSONField(
        default=dict, blank=True, help_text="Request headers, without credentials or cookies."
    )
    body = models.TextField(blank=True, help_text="The raw body as received (UTF-8).")
    dedup_key = models.CharField(max_length=255)
    state = models.CharField(max_length=16, choices=State.choices, default=State.RECEIVED)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(
        null=True, blank=True, help_text="A failed event with a time here is retried then."
    )
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "inbound event"
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "dedup_key"], name="inboundevent_account_dedup_unique"
            ),
        ]
        indexes = [
            models.Index(fields=["state", "next_attempt_at"], name="inboundevent_due_idx"),
            models.Index(fields=["account", "-received_at"], name="inboundevent_account_idx"),
            models.Index(fields=["event_type"], name="inboundevent_type_idx"),
        ]

    def __str__(self):
        return f"{self.account.name} {self.event_type or 'event'} #{self.pk} ({self.state})"


class Activity(models.Model):
    """Something that happened with a person at a service, as its webhook told it."""

    class Kind(models.TextChoices):
        CALL = "call", "Call"
        MESSAGE = "message", "Message"
        ORDER = "order", "Order"
        SUBSCRIPTION = "subscription", "Subscription"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    account = models.ForeignKey(
        ProviderAccount, on_delete=models.CASCADE, related_name="activities"
    )
    # Indexed by the composite indexes below, which start with them.
    contact = models.ForeignKey(
        Contact, on_delete=models.CASCADE, related_name="activities", db_index=False
    )
    lead = models.ForeignKey(
        Lead,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="activities",
        db_index=False,
    )
    occurred_at = models.DateTimeField()
    summary = models.CharField(max_length=255)
    details = models.JSONField(default=dict, blank=True)
    remote_id = models.CharField(max_length=255, blank=True)
    event = models.ForeignKey(
        InboundEvent,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="activities",
        help_text="The webhook request it came from.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "activities"
        ordering = ["-occurred_at", "-id"]
        constraints = [
            # One activity per event: processing an event again updates it.
            models.UniqueConstraint(
                fields=["event"], condition=Q(event__isnull=False), name="activity_event_unique"
            ),
        ]
        indexes = [
            models.Index(fields=["contact", "-occurred_at"], name="activity_contact_idx"),
            models.Index(fields=["lead", "-occurred_at"], name="activity_lead_idx"),
        ]

    def __str__(self):
        return self.summary
