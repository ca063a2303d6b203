"""Mirror models: the people, leads, orders, tags and sales funnels staff work with.

Each carries the fields the providers' documents carry (Aloware's address fields, Leeloo's
channels and subscribe history, Aéllo's product) so nothing a provider sends or needs is dropped.
Phones are stored as E.164 and emails lower-cased: those are the dedup keys the matching rule
(``bridge.matching``) and the unique constraints rely on.
"""

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.utils import timezone

from integrations.phones import InvalidPhoneNumber, normalize_phone

from ..lookups import AnyOf


def full_name(first_name: str, last_name: str) -> str:
    """A person's name as staff and providers read it: the parts present, one space apart."""
    return " ".join(part for part in (first_name, last_name) if part)


def clean_phone_field(value: str, field: str) -> str:
    """E.164 form of ``value``; a ValidationError naming ``field`` when it is not a number."""
    try:
        return normalize_phone(value, settings.DEFAULT_PHONE_REGION)
    except InvalidPhoneNumber as exc:
        raise ValidationError({field: str(exc)}) from None


class TimestampedModel(models.Model):
    """Local creation and modification times (remote ones are separate fields)."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class Tag(TimestampedModel):
    """A label on people (Leeloo tags; also sent to Aloware as its tag id option)."""

    name = models.CharField(max_length=100)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                Lower("name"),
                name="tag_name_unique_ci",
                violation_error_message="Name: a tag with this name already exists.",
            ),
        ]

    def __str__(self):
        return self.name


class Tunnel(TimestampedModel):
    """A Leeloo sales funnel, its lead-generation tools and the latest stats snapshot."""

    name = models.CharField(max_length=200, db_index=True)
    leadgen_tools = models.JSONField(
        default=list,
        blank=True,
        help_text="Lead-generation tools of this funnel, as Leeloo lists them (id, name, type).",
    )
    stats = models.JSONField(
        default=dict,
        blank=True,
        help_text="Latest statistics: subscribers, orders, sales, visits, shows, totals in USD.",
    )
    stats_updated_at = models.DateTimeField(null=True, blank=True)
    remote_created_at = models.DateTimeField(null=True, blank=True)
    remote_updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class ContactQuerySet(models.QuerySet):
    """``Contact.objects``: the look-ups by key every path that matches people shares."""

    def holding(self, key: str, values) -> "ContactQuerySet":
        """Contacts whose ``key`` ("phone" or "email") is one of ``values``, by its unique index.

        The unique indexes are the only indexes on the keys: partial (no blank key) and, for
        the email, on ``LOWER(email)``. PostgreSQL uses a partial or expression index only for
        a query that says the same, so this spells both out. Keys are stored normalised (E.164
        phones, lower-cased emails, see ``Contact.save``): the answer is that of
        ``key__in=values``, in no order (the default one would be planned as a walk of the
        ``created_at`` index instead).
        """
        if key not in ("phone", "email"):
            raise ValueError(f"key: {key!r} is not a contact key (phone or email)")
        values = [value for value in values if value]
        if not values:
            return self.none()
        column = Lower("email") if key == "email" else F("phone")
        return self.filter(AnyOf(column, values)).exclude(**{key: ""}).order_by()


class Contact(TimestampedModel):
    """A person: the one record every provider's lead, person or contact maps to."""

    class Gender(models.TextChoices):
        UNKNOWN = "", "Unknown"
        MALE = "MALE", "Male"
        FEMALE = "FEMALE", "Female"
        OTHER = "OTHER", "Other"

    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    email = models.EmailField(
        max_length=254, blank=True, help_text="Stored lower-cased; one contact per email."
    )
    phone = models.CharField(
        max_length=20,
        blank=True,
        help_text="Main phone, stored in E.164 (+13105550143). Numbers without a country code "
        "are read in the default region.",
    )
    other_phones = models.JSONField(
        default=list,
        blank=True,
        help_text='Further numbers as a list of {"label": "mobile", "phone_number": "+1…"}.',
    )
    company = models.CharField(max_length=200, blank=True)
    address = models.CharField(max_length=255, blank=True)
    city = models.CharField(max_length=100, blank=True)
    state = models.CharField(max_length=100, blank=True)
    zipcode = models.CharField("ZIP code", max_length=20, blank=True)
    country = models.CharField(max_length=2, blank=True, help_text="ISO country code, e.g. US.")
    timezone = models.CharField(
        max_length=64, blank=True, help_text="IANA time zone, e.g. America/Los_Angeles."
    )
    date_of_birth = models.DateField(null=True, blank=True)
    website = models.URLField(blank=True)
    lead_source = models.CharField(max_length=100, blank=True)
    notes = models.TextField(blank=True, help_text="Local notes; syncs never overwrite them.")
    tags = models.ManyToManyField(Tag, blank=True, related_name="contacts")
    custom_fields = models.JSONField(
        default=dict, blank=True, help_text="Free-form fields (Aloware csf1/csf2, Leeloo fields)."
    )
    # What Leeloo knows of a person.
    gender = models.CharField(max_length=16, choices=Gender.choices, blank=True)
    locale = models.CharField(max_length=16, blank=True)
    profile_image = models.URLField(max_length=500, blank=True)
    channels = models.JSONField(
        default=list,
        blank=True,
        help_text="Messaging channels the person is reachable on (Leeloo accounts).",
    )
    subscribe_history = models.JSONField(default=list, blank=True)
    last_message_at = models.DateTimeField(null=True, blank=True)

    objects = ContactQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["phone"],
                condition=~Q(phone=""),
                name="contact_phone_unique",
                violation_error_message="Phone: a contact with this phone number already exists.",
            ),
            models.UniqueConstraint(
                Lower("email"),
                condition=~Q(email=""),
                name="contact_email_unique_ci",
                violation_error_message="Email: a contact with this email already exists.",
            ),
        ]
        indexes = [
            # Phones and emails are looked up by their unique indexes (Contact.objects.holding);
            # plain indexes beside them cost every write and served no query of their own.
            # The admin's source and country filters list their values from these (a loose
            # index scan, bridge/admin/filters.py). Names are searched by the UPPER() prefix
            # indexes of migration 0007; no index serves only LIKE on raw case (db_index's
            # "_like" twins), since every contact written pays for each index it has.
            models.Index(fields=["lead_source"], name="contact_lead_source_idx"),
            models.Index(fields=["country"], name="contact_country_idx"),
        ]

    def __str__(self):
        return self.full_name or self.email or self.phone or f"Contact #{self.pk}"

    def save(self, *args, **kwargs):
        """Keep the dedup keys normalised even for code paths that skip ``full_clean``."""
        self.email = (self.email or "").strip().lower()
        if self.phone and not self.phone.startswith("+"):
            self.phone = clean_phone_field(self.phone, "phone")
        super().save(*args, **kwargs)

    @property
    def full_name(self) -> str:
        return full_name(self.first_name, self.last_name)

    def clean(self):
        """Normalise the dedup keys (phone to E.164, email lower-cased) and check other phones."""
        super().clean()
        self.email = (self.email or "").strip().lower()
        self.phone = clean_phone_field(self.phone, "phone")
        self.other_phones = self._clean_other_phones(self.other_phones)
        if self.country:
            self.country = self.country.upper()

    @staticmethod
    def _clean_other_phones(entries) -> list:
        if not entries:
            return []
        if not isinstance(entries, list):
            raise ValidationError({"other_phones": "Must be a list of phone entries."})
        cleaned = []
        for index, entry in enumerate(entries, start=1):
            if isinstance(entry, str):
                entry = {"label": "", "phone_number": entry}
            if not isinstance(entry, dict) or "phone_number" not in entry:
                raise ValidationError({"other_phones": f"Entry {index} needs a 'phone_number'."})
            number = clean_phone_field(str(entry["phone_number"]), "other_phones")
            cleaned.append({"label": str(entry.get("label", "")), "phone_number": number})
        return cleaned


def new_external_id() -> str:
    """A stable id the bridge sends to providers for a lead (Aéllo's ``externalId``)."""
    return f"crmb-{uuid.uuid4().hex}"


class Lead(TimestampedModel):
    """A sales lead: a contact's interest in a product, with its message and source."""

    class Status(models.TextChoices):
        NEW = "new", "New"
        CONTACTED = "contacted", "Contacted"
        QUALIFIED = "qualified", "Qualified"
        WON = "won", "Won"
        LOST = "lost", "Lost"

    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="leads")
    external_id = models.CharField(
        max_length=64,
        unique=True,
        default=new_external_id,
        editable=False,
        help_text="Stable id sent to providers so a re-sent lead is recognised, not duplicated.",
    )
    product_reference = models.CharField(max_length=100, blank=True, db_index=True)
    product_title = models.CharField(max_length=255, blank=True)
    product_link = models.URLField(max_length=500, blank=True)
    product_image = models.URLField(max_length=500, blank=True)
    product_price = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
    )
    message = models.TextField(blank=True)
    source = models.CharField(max_length=100, blank=True, db_index=True)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.NEW, db_index=True
    )
    custom_fields = models.JSONField(
        default=dict,
        blank=True,
        help_text="Free-form fields sent with the lead (a form's extra fields, UTM marks…).",
    )
    received_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(fields=["status", "-received_at"], name="lead_status_received_idx"),
            models.Index(fields=["source", "-received_at"], name="lead_source_received_idx"),
        ]

    def __str__(self):
        product = self.product_title or self.product_reference
        return f"{self.contact} – {product}" if product else f"Lead from {self.contact}"

    @property
    def has_product(self) -> bool:
        return (
            any((self.product_title, self.product_link, self.product_image))
            or self.product_price is not None
        )

    def clean(self):
        """A product needs its reference as soon as any product field is given (Aéllo's rule)."""
        super().clean()
        if self.has_product and not self.product_reference:
            raise ValidationError(
                {
                    "product_reference": "A product reference is required when any product "
                    "field (title, link, image, price) is filled in."
                }
            )


class Order(TimestampedModel):
    """An order or sale, as Leeloo keeps them (manual orders included)."""

    class Status(models.TextChoices):
        OPENED = "OPENED", "Opened"
        ORDER = "ORDER", "Order"
        PENDING = "PENDING", "Pending"
        SUCCESS = "SUCCESS", "Paid"
        FAILED = "FAILED", "Failed"
        REFUNDED = "REFUNDED", "Refunded"
        RESOLVED = "RESOLVED", "Resolved"
        REJECTED = "REJECTED", "Rejected"

    class PaymentMethod(models.TextChoices):
        UNKNOWN = "", "Unknown"
        WAYFORPAY = "WAYFORPAY", "WayForPay"
        YANDEX_MONEY = "YANDEX_MONEY", "Yandex Money"
        ASSET_PAYMENT = "ASSET_PAYMENT", "Asset Payment"
        MANUAL = "MANUAL", "Manual"

    contact = models.ForeignKey(
        Contact, on_delete=models.SET_NULL, null=True, blank=True, related_name="orders"
    )
    title = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    price = models.DecimalField(
        max_digits=12, decimal_places=2, default=0, validators=[MinValueValidator(0)]
    )
    currency = models.CharField(
        max_length=3, default="USD", db_index=True, help_text="ISO 4217, e.g. USD."
    )
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.OPENED, db_index=True
    )
    payment_method = models.CharField(
        max_length=20, choices=PaymentMethod.choices, blank=True, db_index=True
    )
    offer_id = models.CharField("Leeloo offer id", max_length=64, blank=True)
    payment_credits_id = models.CharField("Leeloo payment system id", max_length=64, blank=True)
    manager_id = models.CharField("Leeloo manager id", max_length=64, blank=True)
    transaction_date = models.DateTimeField(null=True, blank=True)
    payment_date = models.DateTimeField(null=True, blank=True)
    user_comments = models.TextField(blank=True)
    remote_created_at = models.DateTimeField(null=True, blank=True, db_index=True)
    remote_updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.title} ({self.price} {self.currency})"

    def clean(self):
        super().clean()
        self.currency = (self.currency or "").upper()
        if len(self.currency) != 3 or not self.currency.isalpha():
            raise ValidationError({"currency": "Use a three-letter ISO 4217 code, e.g. USD."})
