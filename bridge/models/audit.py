"""The audit trail: one row per staff action, who did it, when, to what, and how many.

Rows are written by :func:`bridge.audit.record` in the transaction of the action they describe,
and never changed afterwards (the admin is read-only for everyone). ``details`` holds plain
facts (ids, option names, the fields a save changed), never a secret: a credential change is
recorded as "credential set" or "credential cleared", never with the value.
"""

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone


class AuditEntry(models.Model):
    """One staff action (admin, CLI or API): who, when, what, and how many records."""

    class Action(models.TextChoices):
        PUSH = "push", "Push"
        RETRY = "retry", "Retry"
        CANCEL = "cancel", "Cancel"
        PAUSE = "pause", "Pause account"
        RESUME = "resume", "Resume account"
        SYNC = "sync", "Sync now"
        CREDENTIAL_SET = "credential_set", "Credential set"
        CREDENTIAL_CLEARED = "credential_cleared", "Credential cleared"
        BASE_URL_CHANGED = "base_url_changed", "Base URL changed"
        MAPPING_CHANGED = "mapping_changed", "Field mapping changed"
        RULE_ADDED = "rule_added", "Routing rule added"
        RULE_CHANGED = "rule_changed", "Routing rule changed"
        RULE_DELETED = "rule_deleted", "Routing rule deleted"
        RULE_ENABLED = "rule_enabled", "Routing rule enabled"
        RULE_DISABLED = "rule_disabled", "Routing rule disabled"
        TOKEN_ROTATED = "token_rotated", "Intake token rotated"
        WEBHOOK_ROTATED = "webhook_rotated", "Webhook URL rotated"
        IMPORT = "import", "Import"
        #: Merging duplicate contacts: ``record("merge", target=kept, count=merged, …)``.
        MERGE = "merge", "Merge"

    class Via(models.TextChoices):
        ADMIN = "admin", "Admin"
        CLI = "cli", "Command line"
        API = "api", "API"

    at = models.DateTimeField("when", default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="Django user",
        help_text="The Django user, when the action was done as one.",
    )
    actor_name = models.CharField(
        "who",
        max_length=150,
        db_index=True,
        help_text="The user name at the time (a command run without --as: the OS user).",
    )
    via = models.CharField(max_length=8, choices=Via.choices, default=Via.ADMIN)
    action = models.CharField(max_length=32, choices=Action.choices, db_index=True)
    content_type = models.ForeignKey(
        ContentType,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="model",
    )
    object_ids = models.JSONField(
        default=list, blank=True, help_text="The ids of the records acted on (the first 100)."
    )
    object_repr = models.CharField("object", max_length=200, blank=True)
    count = models.PositiveIntegerField("how many", default=1)
    summary = models.CharField(max_length=500, blank=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = "audit entry"
        verbose_name_plural = "audit trail entries"
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["action", "-at"], name="bridge_audit_action_at")]

    def __str__(self):
        return f"{self.actor_name} — {self.get_action_display()} — {self.summary or self.count}"
