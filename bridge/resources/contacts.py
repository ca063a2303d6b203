"""Contacts as rows: each matched to the contact the bridge already has (``bridge.matching``:
phone, then email) and updated; tags added, missing ones created.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db.models.functions import Lower
from import_export.fields import Field

from bridge import tag_history
from bridge.matching import find_matching_contact
from bridge.models import Contact, Tag, TagChange

from .base import BridgeResource
from .widgets import DateWidget, OtherPhonesWidget, TagListWidget, is_blank, split_list


class ContactResource(BridgeResource):
    """A contact per row; matched to an existing one by phone, then email, and updated."""

    required_columns = (("email", "phone"),)
    import_rules = (
        "Each row is matched to an existing contact by phone, then by email, however they are "
        "typed: a match is updated, not duplicated, and two rows for one person make one "
        "contact. Blank cells leave the current value alone; tags are added (missing ones "
        "created), never removed. Each row needs an email or a phone."
    )

    other_phones = Field(
        attribute="other_phones", column_name="other_phones", widget=OtherPhonesWidget()
    )
    date_of_birth = Field(
        attribute="date_of_birth", column_name="date_of_birth", widget=DateWidget()
    )
    tags = Field(attribute="tags", column_name="tags", widget=TagListWidget())

    class Meta:
        model = Contact
        name = "Contacts"
        fields = (
            "first_name",
            "last_name",
            "email",
            "phone",
            "other_phones",
            "company",
            "address",
            "city",
            "state",
            "zipcode",
            "country",
            "timezone",
            "date_of_birth",
            "website",
            "lead_source",
            "notes",
            "tags",
        )
        import_order = export_order = fields

    def get_instance(self, instance_loader, row):
        """The contact this row is, by THE matching rule (bridge.matching): phone, then email."""
        return find_matching_contact(
            phone=str(row.get("phone") or ""), email=str(row.get("email") or "")
        )

    def import_instance(self, instance, row, **kwargs):
        """Set the row's values; a contact needs an email or a phone to be matched later."""
        errors = {}
        try:
            super().import_instance(instance, row, **kwargs)
        except ValidationError as exc:
            errors = exc.update_error_dict(errors)
        if is_blank(row.get("email")) and is_blank(row.get("phone")):
            errors.setdefault("email", []).append(
                "give an email or a phone (both are empty), so the contact can be matched."
            )
        if errors:
            raise ValidationError(errors)

    def import_field(self, field, instance, row, is_m2m=False, **kwargs):
        """Tags are read here and added after the contact is saved (see ``save_m2m``)."""
        if field.column_name == "tags":
            instance._import_tag_names = self.read_tag_names(row.get("tags"), kwargs.get("user"))
            return
        super().import_field(field, instance, row, is_m2m, **kwargs)

    def read_tag_names(self, cell, user) -> list[str]:
        """The tag names in the cell, once each; a ValueError naming any that cannot be used."""
        names = list({name.lower(): name for name in split_list(cell)}.values())
        limit = Tag._meta.get_field("name").max_length
        too_long = [name for name in names if len(name) > limit]
        if too_long:
            raise ValueError(f"tag name '{too_long[0][:20]}…' is longer than {limit} characters.")
        missing = {name.lower() for name in names} - set(_existing_tags(names))
        if missing and user is not None and not user.has_perm("bridge.add_tag"):
            raise ValueError(
                f"tag {', '.join(sorted(missing))} does not exist and you may not create tags."
            )
        return names

    def save_m2m(self, instance, row, **kwargs):
        """Add the row's tags, creating missing ones; tags already on the contact stay."""
        names = getattr(instance, "_import_tag_names", [])
        if not names:
            return
        existing = _existing_tags(names)
        tags = [existing.get(name.lower()) or Tag.objects.create(name=name) for name in names]
        with tag_history.attributed(TagChange.Source.IMPORT, user=kwargs.get("user")):
            instance.tags.add(*tags)

    def filter_export(self, queryset, **kwargs):
        return queryset.prefetch_related("tags")


def _existing_tags(names: list[str]) -> dict[str, Tag]:
    """Tags with these names, keyed by lower-cased name (names are unique regardless of case)."""
    lowered = [name.lower() for name in names]
    found = Tag.objects.annotate(lower_name=Lower("name")).filter(lower_name__in=lowered)
    return {tag.lower_name: tag for tag in found}
