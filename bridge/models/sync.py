"""Per account and resource: how often it syncs, how far back it looks, and where it got to."""

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from .accounts import ProviderAccount


class SyncState(models.Model):
    """One resource of one account: its schedule, its options and its cursor.

    The cursor is the end of the last complete window (UTC). Incremental runs of the windowed
    resources (people, channels) start ``lookback_minutes`` before it; a failed run leaves it
    alone, so the next run covers the gap. Staff may move it back to re-read a period.
    """

    class Resource(models.TextChoices):
        PEOPLE = "people", "People"
        ORDERS = "orders", "Orders"
        TAGS = "tags", "Tags"
        TUNNELS = "tunnels", "Tunnels"
        USERS = "users", "Users"
        CHANNELS = "channels", "Channels and connections"
        TEMPLATES = "templates", "Message templates"

    #: Minutes between runs for a new account, by resource: what changes often runs often.
    DEFAULT_MINUTES = {
        "people": 15,
        "channels": 15,
        "orders": 30,
        "tags": 60,
        "tunnels": 60,
        "users": 360,
        "templates": 360,
    }

    account = models.ForeignKey(
        ProviderAccount, on_delete=models.CASCADE, related_name="sync_states"
    )
    resource = models.CharField(max_length=32, choices=Resource.choices)
    enabled = models.BooleanField(default=True, help_text="Run this sync on its schedule.")
    minutes = models.PositiveIntegerField(
        "every (minutes)",
        default=60,
        validators=[MinValueValidator(1), MaxValueValidator(7 * 24 * 60)],
    )
    lookback_minutes = models.PositiveIntegerField(
        "look back (minutes)",
        default=60,
        validators=[MaxValueValidator(30 * 24 * 60)],
        help_text="People and channels: each window starts this long before the cursor, so "
        "records that moved while the last run paged are read again.",
    )
    fetch_details = models.BooleanField(
        "fetch details",
        default=True,
        help_text="Also read each new or changed record's detail (people: custom fields and "
        "subscribe history; orders: description and payment method; tunnels: LGTs and stats). "
        "One extra request per record.",
    )
    reconcile_hours = models.PositiveIntegerField(
        "reconcile every (hours)",
        default=24,
        validators=[MaxValueValidator(30 * 24)],
        help_text="A full run on its own schedule: re-reads everything (people edited without "
        "a new message too), writes only what changed, and marks people Leeloo no longer "
        "lists. 0: never.",
    )
    reconcile_hour = models.PositiveSmallIntegerField(
        "reconcile at (hour, UTC)",
        default=3,
        validators=[MaxValueValidator(23)],
        help_text="The hour of the day (UTC) the reconcile schedule is aligned to.",
    )
    cursor = models.DateTimeField(
        null=True,
        blank=True,
        help_text="End of the last complete window (UTC). Move it back to re-read from there; "
        "blank reads everything.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["account", "resource"]
        constraints = [
            models.UniqueConstraint(fields=["account", "resource"], name="syncstate_unique"),
        ]

    def __str__(self):
        return f"{self.account.name} {self.resource}"

    def clean(self):
        """A cursor in the future would skip records that have not happened yet."""
        super().clean()
        if self.cursor and self.cursor > timezone.now():
            raise ValidationError({"cursor": "The cursor cannot be in the future."})


class ListedPerson(models.Model):
    """A person a full people run listed without stamping its link, until the run ends
    (``bridge.sync.gone``).

    A complete full run marks gone the people it did not list. It used to know them by a stamp
    on every listed link: an update of each of a million rows and their indexes every night,
    most of a reconcile's database time, for people nothing had changed about. The ids of the
    people it settles (``bridge.sync.fingerprints``) are appended here instead (a narrow table
    with no index, one insert per batch in the batch's transaction, so a batch rolled back
    takes its rows with it), compared with the links once at the end, and deleted with the
    run's end.
    """

    # No constraint and no index: a row is written once, read once by the end's anti-join
    # and deleted by run; an index or a foreign-key check would cost every row written.
    run = models.ForeignKey(
        "bridge.SyncRun", on_delete=models.DO_NOTHING, db_constraint=False, db_index=False
    )
    remote_id = models.CharField(max_length=255)

    class Meta:
        verbose_name = "listed person"

    def __str__(self):
        return f"{self.remote_id} (run #{self.run_id})"
