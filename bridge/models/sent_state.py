"""Where each record stands with each account, one row per (record, account): the "Sent to"
column's and filters' table.

A record's state at an account is that of its newest push there (operation ``push``, cancelled
ones aside) — failing, dead, sending or delivered (``bridge/admin/sent_to.py`` says what each
means) — and ``delivered_at`` is the last time any of its pushes was delivered ("ever
delivered", what the contacts' "delivered to" asks). ``contact_id`` is the person: the contact
itself, or a lead's contact, so a contact's filters read its own rows and its leads' in one
index.

Nothing in Python writes it: database triggers on the delivery, lead and contact tables keep it
(``bridge/db/sent_state.py``, installed by migration 0029), so a bulk UPDATE of deliveries, a
merge or a raw SQL write cannot leave it behind. ``manage.py sent_state`` checks it against
the deliveries and ``--rebuild`` rebuilds it in one statement.
"""

from django.contrib.contenttypes.models import ContentType
from django.db import models

from .accounts import ProviderAccount


class SentState(models.Model):
    """One record's newest push to one account, summarised (kept by triggers, never saved)."""

    class Status(models.TextChoices):
        FAILING = "failing", "failing, will retry"
        DEAD = "dead", "dead"
        SENDING = "sending", "sending"
        DELIVERED = "delivered", "delivered"

    pk = models.CompositePrimaryKey("content_type", "object_id", "account")
    # No database constraints: the triggers write these from a delivery's own columns, and a
    # constraint check would cost every delivery write a look-up more.
    content_type = models.ForeignKey(
        ContentType,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    object_id = models.PositiveBigIntegerField()
    account = models.ForeignKey(
        ProviderAccount,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    contact_id = models.BigIntegerField(help_text="The person: the contact, or a lead's contact.")
    status = models.CharField(max_length=16, choices=Status.choices)
    since = models.DateTimeField(help_text="When the newest push last changed.")
    delivered_at = models.DateTimeField(
        null=True, blank=True, help_text="The last time any push of it here was delivered."
    )
    newest_push_id = models.BigIntegerField()

    class Meta:
        db_table = "bridge_sentstate"
        indexes = [
            # A contact's rows (its own and its leads'): the column and the contact filters.
            models.Index(fields=["contact_id", "account"], name="sentstate_contact_idx"),
            # "failed at X": the account's few failing or dead records, read from the index
            # alone (a lead's key, or the person). PostgreSQL only: SQLite has no INCLUDE.
            models.Index(
                fields=["account", "content_type", "object_id"],
                include=["contact_id"],
                condition=models.Q(status__in=["failing", "dead"]),
                name="sentstate_failing_idx",
            ),
        ]

    def __str__(self):
        return f"{self.content_type_id}:{self.object_id} → account {self.account_id}: {self.status}"
