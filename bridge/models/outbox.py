"""The bridge's bookkeeping: which record is which remote id, each push, each sync run."""

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models

from .accounts import ProviderAccount


class RemoteLink(models.Model):
    """Local record ↔ remote id in one account, so later pushes update and syncs match.

    A remote id is unique per account *and kind of record* (the content type): a provider's
    ids need only be unique within one resource, and Leeloo's own reference gives a tag and a
    tunnel the same id (migration 0013). ``remote_gone_at`` marks a record the provider no
    longer lists (a complete full people sync, ``bridge.reconcile``); it is never deleted.
    """

    # No index of their own: the unique constraints lead with the account, the record index
    # with the content type (a sync writes links by the hundred thousand; see 0009).
    account = models.ForeignKey(
        ProviderAccount, on_delete=models.CASCADE, related_name="links", db_index=False
    )
    # No database constraint either: the record is (content type, object id) and object_id
    # cannot have one, so the pair is kept by Django (its delete cascades, here as for every
    # generic relation); checking the type alone cost each link written a trigger query, a
    # noticeable share of PostgreSQL's CPU in a large pull (see 0012 and docs/benchmarks.md).
    content_type = models.ForeignKey(
        ContentType, on_delete=models.CASCADE, db_index=False, db_constraint=False
    )
    object_id = models.PositiveBigIntegerField()
    record = GenericForeignKey("content_type", "object_id")
    remote_id = models.CharField(max_length=255)
    last_pushed_at = models.DateTimeField(null=True, blank=True)
    last_pulled_at = models.DateTimeField(null=True, blank=True)
    pushed_hash = models.CharField(
        max_length=64, blank=True, help_text="Fingerprint of the content last delivered."
    )
    pulled_hash = models.CharField(
        max_length=32,
        blank=True,
        default="",
        db_default="",  # links are also inserted by SQL (bridge.db.outcomes)
        help_text="Fingerprint of the remote record as last pulled and applied (people: "
        "a run skips a person whose fingerprint and contact are unchanged since).",
    )
    remote_updated_at = models.DateTimeField(null=True, blank=True)
    remote_gone_at = models.DateTimeField(
        "gone from the provider",
        null=True,
        blank=True,
        help_text="When a complete full sync found the provider no longer lists this record "
        "(the local record stays); cleared when it is listed again.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # Remote id before type: a look-up by (account, remote ids) is served either way.
            models.UniqueConstraint(
                fields=["account", "remote_id", "content_type"],
                name="remotelink_account_remote_type_unique",
            ),
            models.UniqueConstraint(
                fields=["account", "content_type", "object_id"],
                name="remotelink_account_record_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["content_type", "object_id"], name="remotelink_record_idx"),
            # The admin's "gone from the provider" filter: only the few marked rows.
            models.Index(
                fields=["account", "remote_gone_at"],
                condition=models.Q(remote_gone_at__isnull=False),
                name="remotelink_gone_idx",
            ),
        ]

    def __str__(self):
        return f"{self.account.name}:{self.remote_id}"


class PushBatch(models.Model):
    """One "Push to…" from the admin or the CLI: its deliveries, for its progress page."""

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    description = models.CharField(max_length=255)
    total = models.PositiveIntegerField(default=0)
    skipped = models.JSONField(
        default=dict, blank=True, help_text="Records not sent, counted by reason."
    )
    send_at = models.DateTimeField(
        "send at",
        null=True,
        blank=True,
        help_text="When staff scheduled it to go out (blank: at once). Each account's sending "
        "hours may hold its deliveries later still.",
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = "push batch"
        verbose_name_plural = "push batches"
        ordering = ["-created_at"]

    def __str__(self):
        return f"Batch #{self.pk}: {self.description}"


class Delivery(models.Model):
    """One push of one record to one account: the outbox row the workers deliver."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed, will retry"
        DEAD = "dead", "Dead"
        SKIPPED = "skipped", "Skipped (unchanged)"
        CANCELLED = "cancelled", "Cancelled"

    # No single-column indexes where a composite one below starts with the column: every
    # index is written on each of a delivery's state changes (claimed, sent, retried), and a
    # push changes 10,000 rows at a time (migration 0011).
    account = models.ForeignKey(
        ProviderAccount, on_delete=models.PROTECT, related_name="deliveries", db_index=False
    )
    batch = models.ForeignKey(
        PushBatch,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="deliveries",
        db_index=False,
    )
    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE, db_index=False)
    object_id = models.PositiveBigIntegerField()
    record = GenericForeignKey("content_type", "object_id")
    operation = models.CharField(
        max_length=64,
        default="push",
        help_text="What to do at the provider (push, add_tag…).",
    )
    params = models.JSONField(default=dict, blank=True, help_text="Options chosen for this push.")
    is_test = models.BooleanField(
        "test",
        default=False,
        help_text="Sent with the push page's “Send a test”: one record staff chose, to check "
        "an account end to end.",
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    max_attempts = models.PositiveSmallIntegerField(default=8)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(
        max_length=100,
        blank=True,
        help_text="The slot lease holder sending it: while that lease lives it is not recovered.",
    )
    last_http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error_code = models.CharField("provider error code", max_length=100, blank=True)
    error_message = models.TextField("provider error message", blank=True)
    remote_id = models.CharField(max_length=255, blank=True)
    request_redacted = models.JSONField(null=True, blank=True, editable=False)
    response_redacted = models.JSONField(null=True, blank=True, editable=False)
    content_hash = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "deliveries"
        ordering = ["-created_at", "-id"]
        permissions = [("push_to_providers", "Can push records to providers")]
        indexes = [
            models.Index(fields=["state", "next_attempt_at"], name="delivery_due_idx"),
            models.Index(fields=["account", "state"], name="delivery_account_state_idx"),
            models.Index(fields=["content_type", "object_id"], name="delivery_record_idx"),
            models.Index(fields=["error_code"], name="delivery_error_code_idx"),
            # The admin's filter by operation (no LIKE twin: nothing searches it by prefix).
            models.Index(fields=["operation"], name="delivery_operation_idx"),
            models.Index(fields=["batch", "state"], name="delivery_batch_state_idx"),
            models.Index(fields=["state", "claimed_at"], name="delivery_claimed_idx"),
            # The dashboard: oldest pending, newest failures, and counts by state and day read
            # from this index alone (bridge/dashboard/).
            models.Index(fields=["state", "created_at"], name="delivery_state_created_idx"),
            # The claim's "next due of this account" read in order, without sorting every
            # waiting delivery of the account on each claim (a 10,000-delivery batch).
            models.Index(
                fields=["account", "next_attempt_at", "id"],
                condition=models.Q(state__in=["pending", "failed"]),
                name="delivery_claim_order_idx",
            ),
        ]

    def __str__(self):
        return f"Delivery #{self.pk} {self.operation} → {self.account.name} ({self.state})"


class SyncRun(models.Model):
    """One pull of one resource from one account: its window, counts, duration and error."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    account = models.ForeignKey(ProviderAccount, on_delete=models.CASCADE, related_name="syncs")
    resource = models.CharField(max_length=32, db_index=True)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.RUNNING, db_index=True
    )
    full = models.BooleanField(default=False, help_text="Re-read everything, not a window.")
    window_from = models.DateTimeField(null=True, blank=True)
    window_to = models.DateTimeField(null=True, blank=True)
    pages = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField("created", default=0)
    updated_count = models.PositiveIntegerField("updated", default=0)
    unchanged_count = models.PositiveIntegerField("unchanged", default=0)
    failed_count = models.PositiveIntegerField("failed", default=0)
    remote_total = models.PositiveIntegerField(null=True, blank=True)
    linked_total = models.PositiveIntegerField(null=True, blank=True)
    gone_count = models.PositiveIntegerField(
        "marked gone",
        null=True,
        blank=True,
        help_text="Linked records a complete full run found the provider no longer lists.",
    )
    started_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Last sign of life of a running run; a run silent for long is taken over.",
    )
    next_offset = models.PositiveIntegerField(
        default=0, help_text="Where a run continued by a fresh task picks up its list."
    )
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [
            models.Index(fields=["account", "resource", "-started_at"], name="syncrun_latest_idx"),
        ]
        constraints = [
            # The lock: two runs of one account's resource never overlap.
            models.UniqueConstraint(
                fields=["account", "resource"],
                condition=models.Q(status="running"),
                name="syncrun_one_running",
                violation_error_message="A sync of this resource is already running.",
            ),
        ]

    def __str__(self):
        return f"{self.account.name} {self.resource} at {self.started_at:%Y-%m-%d %H:%M}"

    @property
    def duration(self):
        if self.finished_at and self.started_at:
            return self.finished_at - self.started_at
        return None
