"""Admin for the mirror models: contacts, leads, orders, tags and tunnels."""

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.contrib.admin.widgets import AutocompleteSelect
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.html import format_html

from bridge import tag_history
from bridge.models import Contact, Lead, Order, Tag, TagChange, Tunnel
from bridge.resources import ContactResource, ImportExportAdminMixin, LeadResource

from .base import BridgeModelAdmin
from .filters import ContactGoneFilter, IndexedValuesFilter
from .inbox import ActivityInline, LeadActivityInline
from .merge import MergeContactsMixin
from .outbox import DeliveryInline, RemoteLinkInline
from .pagination import EstimatedCountPaginator
from .push import PushActionsMixin
from .search import PersonSearchMixin
from .sent_to import SENT_TO_FILTERS, SentToMixin
from .timeline import ContactTimelineMixin, LeadTimelineMixin


class LargeTableChangeList(ChangeList):
    """Removes the duplicates a to-many filter (a tag) may bring with ``pk IN (…)`` rather
    than Django's ``SELECT DISTINCT`` over every column, which sorts the whole filtered set."""

    def get_queryset(self, request, exclude_parameters=None):
        queryset = super().get_queryset(request, exclude_parameters)
        if not queryset.query.distinct or queryset.query.distinct_fields:
            return queryset
        matching = queryset.order_by()
        matching.query.distinct = False
        deduplicated = self.root_queryset.filter(pk__in=matching.values("pk"))
        return self.apply_select_related(deduplicated).order_by(*queryset.query.order_by)


class KeySafeAutocompleteSelect(AutocompleteSelect):
    """Django's autocomplete select, minus values that are not keys at all.

    A refused form is shown again with what was posted; for ``contact=abc`` Django's widget
    looked "abc" up as an integer id and the page failed with a 500 instead of showing the
    field's error (found by bench/faults.py's bad inputs).
    """

    def optgroups(self, name, value, attr=None):
        target = self.field.remote_field.model._meta.get_field(self.field.remote_field.field_name)
        keys = []
        for item in value:
            try:
                target.to_python(item)
            except ValidationError:
                continue
            keys.append(item)
        return super().optgroups(name, keys, attr)


class LargeTableAdmin(BridgeModelAdmin):
    """Changelists that stay fast at millions of rows: no full count, estimated pages.

    No ``date_hierarchy`` on the million-row lists (contacts, leads): its year links are a
    ``SELECT DISTINCT date_trunc(…)`` over every row on every page (the slowest part of a
    million-lead page, docs/benchmarks.md); the date list filter covers the same need from an
    index.
    """

    paginator = EstimatedCountPaginator
    show_full_result_count = False
    list_per_page = 50

    def get_changelist(self, request, **kwargs):
        return LargeTableChangeList

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name in self.get_autocomplete_fields(request) and "widget" not in kwargs:
            kwargs["widget"] = KeySafeAutocompleteSelect(
                db_field, self.admin_site, using=kwargs.get("using")
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class ContactTagInline(admin.TabularInline):
    model = Contact.tags.through
    autocomplete_fields = ["tag"]
    extra = 1
    verbose_name = "tag"
    verbose_name_plural = "tags"


@admin.register(Tag)
class TagAdmin(BridgeModelAdmin):
    list_display = ["name", "created_at"]
    search_fields = ["name"]
    inlines = [RemoteLinkInline]


@admin.register(Tunnel)
class TunnelAdmin(PushActionsMixin, BridgeModelAdmin):
    contact_path = None  # a tunnel has no contact: providers' contact requirements do not apply
    list_display = ["name", "subscribers", "orders", "stats_updated_at", "remote_updated_at"]
    search_fields = ["name"]
    readonly_fields = [
        "leadgen_tools",
        "stats",
        "stats_updated_at",
        "remote_created_at",
        "remote_updated_at",
        "created_at",
        "updated_at",
    ]

    inlines = [RemoteLinkInline]

    @admin.display(description="Subscribers")
    def subscribers(self, obj):
        return (obj.stats or {}).get("subscribers", "–")

    @admin.display(description="Orders")
    def orders(self, obj):
        return (obj.stats or {}).get("orders", "–")


@admin.register(Contact)
class ContactAdmin(
    ContactTimelineMixin,
    MergeContactsMixin,
    SentToMixin,
    ImportExportAdminMixin,
    PushActionsMixin,
    PersonSearchMixin,
    LargeTableAdmin,
):
    resource_classes = [ContactResource]
    contact_path = ""
    # City and source stay off the list (the source is a filter) so it fits a 1366-px screen.
    list_display = ["__str__", "company", "email", "phone", "created_at", "sent_to"]
    list_filter = [
        ("lead_source", IndexedValuesFilter),
        ("country", IndexedValuesFilter),
        "tags",
        ContactGoneFilter,
        "created_at",
        *SENT_TO_FILTERS,
    ]
    # Searched as phone, email or name/company prefixes (PersonSearchMixin), from indexes.
    search_fields = ["first_name", "last_name", "company"]
    prefix_search_fields = ("company",)
    inlines = [ContactTagInline, ActivityInline, RemoteLinkInline, DeliveryInline]

    def save_related(self, request, form, formsets, change):
        """Save the tags inline (and the rest), and record the tags it added or took off as
        this staff member's (the inline writes tag rows directly, past the m2m signal)."""
        contact = form.instance
        before = tag_history.tag_ids(contact) if change else set()
        with tag_history.attributed(TagChange.Source.STAFF, muted=True):
            super().save_related(request, form, formsets, change)
        changes = tag_history.changes_between(contact.pk, before, tag_history.tag_ids(contact))
        tag_history.record(changes, TagChange.Source.STAFF, user=request.user)

    readonly_fields = [
        "gender",
        "locale",
        "profile_image",
        "channels",
        "subscribe_history",
        "last_message_at",
        "created_at",
        "updated_at",
    ]
    fieldsets = [
        (None, {"fields": [("first_name", "last_name"), "email", "phone", "other_phones"]}),
        (
            "Company and address",
            {
                "fields": [
                    "company",
                    "address",
                    ("city", "state"),
                    ("zipcode", "country"),
                    "timezone",
                    "website",
                ],
            },
        ),
        ("About", {"fields": ["date_of_birth", "lead_source", "notes", "custom_fields"]}),
        (
            "From Leeloo (read-only)",
            {
                "classes": ["collapse"],
                "fields": [
                    "gender",
                    "locale",
                    "profile_image",
                    "channels",
                    "subscribe_history",
                    "last_message_at",
                ],
            },
        ),
        ("Record", {"fields": ["created_at", "updated_at"]}),
    ]


@admin.register(Lead)
class LeadAdmin(
    LeadTimelineMixin,
    SentToMixin,
    ImportExportAdminMixin,
    PushActionsMixin,
    PersonSearchMixin,
    LargeTableAdmin,
):
    resource_classes = [LeadResource]
    person_lookup = "contact"
    list_display = [
        "received_at",
        "contact_link",
        "product_title",
        "product_reference",
        "source",
        "status",
        "sent_to",
    ]
    list_filter = ["status", ("source", IndexedValuesFilter), "received_at", *SENT_TO_FILTERS]
    # Searched as phone, email, or contact name / product reference prefixes (PersonSearchMixin).
    search_fields = ["product_reference", "contact__last_name", "contact__first_name"]
    prefix_search_fields = ("product_reference",)
    list_select_related = ["contact"]
    autocomplete_fields = ["contact"]
    readonly_fields = ["external_id", "created_at", "updated_at"]
    inlines = [LeadActivityInline, RemoteLinkInline, DeliveryInline]
    fieldsets = [
        (
            None,
            {"fields": ["contact", "status", "source", "received_at", "message", "custom_fields"]},
        ),
        (
            "Product",
            {
                "fields": [
                    "product_reference",
                    "product_title",
                    "product_link",
                    "product_image",
                    "product_price",
                ],
                "description": "The reference is required as soon as any product field is filled.",
            },
        ),
        ("Record", {"fields": ["external_id", "created_at", "updated_at"]}),
    ]

    @admin.display(description="Contact", ordering="contact__last_name")
    def contact_link(self, obj):
        url = reverse("admin:bridge_contact_change", args=[obj.contact_id])
        return format_html('<a href="{}">{}</a>', url, obj.contact)


@admin.register(Order)
class OrderAdmin(PushActionsMixin, PersonSearchMixin, LargeTableAdmin):
    person_lookup = "contact"
    list_display = [
        "title",
        "contact_link",
        "price",
        "currency",
        "status",
        "payment_method",
        "created_at",
    ]
    list_filter = ["status", "payment_method", "currency", "created_at"]
    search_fields = ["title", "contact__last_name"]
    prefix_search_fields = ("title",)
    date_hierarchy = "created_at"
    list_select_related = ["contact"]
    autocomplete_fields = ["contact"]
    readonly_fields = ["remote_created_at", "remote_updated_at", "created_at", "updated_at"]
    inlines = [RemoteLinkInline, DeliveryInline]

    @admin.display(description="Contact", ordering="contact__last_name")
    def contact_link(self, obj):
        if obj.contact_id is None:
            return "–"
        url = reverse("admin:bridge_contact_change", args=[obj.contact_id])
        return format_html('<a href="{}">{}</a>', url, obj.contact)
