"""Admin for the mirror models: contacts, leads, orders, tags and tunnels."""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from bridge.models import Contact, Lead, Order, Tag, Tunnel
from bridge.resources import ContactResource, ImportExportAdminMixin, LeadResource

from .outbox import DeliveryInline, RemoteLinkInline
from .pagination import EstimatedCountPaginator
from .push import PushActionsMixin
from .search import PersonSearchMixin


class LargeTableAdmin(admin.ModelAdmin):
    """Changelists that stay fast at millions of rows: no full count, estimated pages."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False
    list_per_page = 50


class ContactTagInline(admin.TabularInline):
    model = Contact.tags.through
    autocomplete_fields = ["tag"]
    extra = 1
    verbose_name = "tag"
    verbose_name_plural = "tags"


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ["name", "created_at"]
    search_fields = ["name"]
    inlines = [RemoteLinkInline]


@admin.register(Tunnel)
class TunnelAdmin(PushActionsMixin, admin.ModelAdmin):
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
class ContactAdmin(ImportExportAdminMixin, PushActionsMixin, PersonSearchMixin, LargeTableAdmin):
    resource_classes = [ContactResource]
    contact_path = ""
    list_display = ["__str__", "email", "phone", "company", "city", "lead_source", "created_at"]
    list_filter = ["lead_source", "country", "tags", "created_at"]
    search_fields = ["first_name", "last_name", "company"]
    date_hierarchy = "created_at"
    inlines = [ContactTagInline, RemoteLinkInline, DeliveryInline]
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
class LeadAdmin(ImportExportAdminMixin, PushActionsMixin, PersonSearchMixin, LargeTableAdmin):
    resource_classes = [LeadResource]
    person_lookup = "contact"
    list_display = [
        "received_at",
        "contact_link",
        "product_title",
        "product_reference",
        "source",
        "status",
    ]
    list_filter = ["status", "source", "received_at"]
    search_fields = ["product_reference", "contact__last_name", "contact__first_name"]
    date_hierarchy = "received_at"
    list_select_related = ["contact"]
    autocomplete_fields = ["contact"]
    readonly_fields = ["external_id", "created_at", "updated_at"]
    inlines = [RemoteLinkInline, DeliveryInline]
    fieldsets = [
        (None, {"fields": ["contact", "status", "source", "received_at", "message"]}),
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
