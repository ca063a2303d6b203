"""Leads as rows: a new lead per row, for the contact its email or phone matches (or a new one);
a lead the bridge already has (by ``external_id``) is skipped, never overwritten.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from import_export.fields import Field

from bridge.matching import find_matching_contact
from bridge.models import Contact, Lead

from .base import BridgeResource
from .widgets import ChoiceWidget, DateTimeWidget, PriceWidget


class LeadResource(BridgeResource):
    """A new lead per row, for the contact its email/phone match (or a new one).

    Leads are never updated by an import: ``external_id`` is exported, and a row carrying the
    id of a lead the bridge already has is skipped, so re-importing an export adds nothing.
    """

    required_columns = (("email", "phone"),)
    extra_import_permissions = ("bridge.add_contact",)
    import_rules = (
        "Each row adds a lead. Its contact is found by phone, then by email, however they are "
        "typed, or created from email, phone, first_name and last_name; an existing contact is "
        "not changed. A row whose external_id the bridge already has is skipped: an import "
        "never changes existing leads. Each row needs an email or a phone."
    )

    external_id = Field(attribute="external_id", column_name="external_id", readonly=True)
    email = Field(attribute="contact__email", column_name="email", readonly=True)
    phone = Field(attribute="contact__phone", column_name="phone", readonly=True)
    first_name = Field(attribute="contact__first_name", column_name="first_name", readonly=True)
    last_name = Field(attribute="contact__last_name", column_name="last_name", readonly=True)
    product_price = Field(
        attribute="product_price", column_name="product_price", widget=PriceWidget()
    )
    status = Field(
        attribute="status", column_name="status", widget=ChoiceWidget(Lead.Status.choices)
    )
    received_at = Field(attribute="received_at", column_name="received_at", widget=DateTimeWidget())

    class Meta:
        model = Lead
        name = "Leads"
        force_init_instance = True
        fields = (
            "external_id",
            "received_at",
            "status",
            "source",
            "email",
            "phone",
            "first_name",
            "last_name",
            "product_reference",
            "product_title",
            "product_link",
            "product_image",
            "product_price",
            "message",
        )
        import_order = export_order = fields

    def get_user_visible_fields(self):
        """The columns an import reads (external_id is export-only)."""
        return [field for field in self.get_import_fields() if field.column_name != "external_id"]

    def import_instance(self, instance, row, **kwargs):
        """Set the lead's values and find or prepare its contact; all errors together."""
        errors = {}
        try:
            super().import_instance(instance, row, **kwargs)
        except ValidationError as exc:
            errors = exc.update_error_dict(errors)
        instance._import_known_lead = self.is_known_lead(row)
        if not instance._import_known_lead:
            try:
                self.attach_contact(instance, row)
            except ValidationError as exc:
                errors = exc.update_error_dict(errors)
        if errors:
            raise ValidationError(errors)

    def attach_contact(self, instance: Lead, row) -> None:
        """The matching contact, else a new one built from the row (saved with the lead)."""
        email, phone = str(row.get("email") or ""), str(row.get("phone") or "")
        if not email and not phone:
            raise ValidationError({"email": "give the contact's email or phone (both are empty)."})
        contact = find_matching_contact(phone=phone, email=email)
        if contact is None:
            contact = Contact(
                email=email,
                phone=phone,
                first_name=str(row.get("first_name") or ""),
                last_name=str(row.get("last_name") or ""),
            )
            contact.full_clean()
        instance.contact = contact

    def is_known_lead(self, row) -> bool:
        """True when the row carries the external_id of a lead the bridge already has."""
        external_id = str(row.get("external_id") or "")
        return bool(external_id) and Lead.objects.filter(external_id=external_id).exists()

    def skip_row(self, instance, original, row, import_validation_errors=None):
        """Skip (never overwrite) a lead the bridge already has."""
        return getattr(instance, "_import_known_lead", False)

    def validate_instance(self, instance, import_validation_errors=None, validate_unique=True):
        """The lead's full_clean; its contact is left out while it is new (already checked)."""
        errors = dict(import_validation_errors or {})
        exclude = set(errors)
        if instance.contact_id is None:
            exclude.add("contact")
        try:
            instance.full_clean(exclude=exclude, validate_unique=validate_unique)
        except ValidationError as exc:
            errors = exc.update_error_dict(errors)
        if errors:
            raise ValidationError(errors)

    def before_save_instance(self, instance, row, **kwargs):
        """Save a contact the row brought in, so the next rows match it instead of adding it."""
        if instance.contact.pk is None:
            instance.contact.save()
            instance.contact = instance.contact

    def filter_export(self, queryset, **kwargs):
        return queryset.select_related("contact")
