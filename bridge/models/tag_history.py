"""TagChange: each tag added to or taken off a contact, when and by what (the timeline's
"Tag added" / "Tag removed" lines). Written by ``bridge.tag_history``, in bulk by a sync."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from .accounts import ProviderAccount
from .crm import Contact


class TagChange(models.Model):
    """One tag added to or removed from one contact: a line of its history, never edited."""

    class Action(models.TextChoices):
        ADDED = "added", "added"
        REMOVED = "removed", "removed"

    class Source(models.TextChoices):
        SYNC = "sync", "a sync"
        STAFF = "staff", "staff"
        MERGE = "merge", "a merge"
        IMPORT = "import", "an import"
        OTHER = "other", "the bridge"

    # Indexed by tagchange_contact_idx, which starts with it.
    contact = models.ForeignKey(
        Contact, on_delete=models.CASCADE, related_name="tag_changes", db_index=False
    )
    # The tag's id and its name then: history outlives a deleted or renamed tag, and a sync
    # writing thousands of lines pays for no index or constraint check on the tag.
    tag_id = models.BigIntegerField()
    tag_name = models.CharField(max_length=100)
    action = models.CharField(max_length=8, choices=Action.choices)
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.OTHER)
    account = models.ForeignKey(
        ProviderAccount,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The account whose sync made the change.",
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The staff member who made the change.",
    )
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["contact", "-at", "-id"], name="tagchange_contact_idx")]

    def __str__(self):
        return f"{self.tag_name} {self.action} ({self.get_source_display()})"
