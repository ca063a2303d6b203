"""An account's field mapping, and the custom fields a pull saw at the provider.

:class:`FieldMapping` rows are what staff set on the account's page (a local field sent as a
provider field); :class:`RemoteField` is the mirror of the provider's custom-field definitions
as the people sync saw them, name and type (Leeloo's API lists no fields, only each person's
values with their type). ``ProviderAccount.config`` hands both to the provider as plain data
(``integrations.mapping.FieldMap``).
"""

from django.db import models
from django.utils import timezone

from integrations.mapping import source_label

from .accounts import ProviderAccount


class FieldMapping(models.Model):
    """One row of an account's mapping: the local ``source`` sent as the provider's ``target``.

    A target takes one source; the admin's formset refuses a second row for it, naming both
    rows. No unique constraint backs that up: a save that swaps two rows' targets would trip
    over it half-way, and the provider side reads the rows in order (the later row wins).
    """

    account = models.ForeignKey(
        ProviderAccount, on_delete=models.CASCADE, related_name="field_mappings"
    )
    source = models.CharField(
        "local field",
        max_length=150,
        help_text="A contact or lead field, or custom:<name> for a custom field.",
    )
    target = models.CharField("sent as", max_length=150)

    class Meta:
        ordering = ["account", "id"]
        verbose_name = "field mapping row"

    def __str__(self):
        return f"{source_label(self.source)} → {self.target}"


class RemoteField(models.Model):
    """A custom field of an account at the provider, with the type its values came in.

    Written by the people sync from the cards it reads (a field seen again with another type
    takes the new one); read by pushes, which convert a value to the field's type.
    """

    account = models.ForeignKey(
        ProviderAccount, on_delete=models.CASCADE, related_name="remote_fields"
    )
    name = models.CharField(max_length=200)
    type = models.CharField(max_length=16)
    seen_at = models.DateTimeField(
        "type seen at", default=timezone.now, help_text="When a pull first saw it with this type."
    )

    class Meta:
        ordering = ["account", "name"]
        constraints = [
            models.UniqueConstraint(fields=["account", "name"], name="remotefield_unique"),
        ]

    def __str__(self):
        return f"{self.name} ({self.type})"
