"""Log-like admins for remote links, deliveries and sync runs: read-only, filterable."""

from django.contrib import admin
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html

from bridge.models import Delivery, RemoteLink, SyncRun

from .pagination import EstimatedCountPaginator


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records written by the bridge itself: staff read them, never edit them."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


def record_link(obj):
    """A link to the local record behind a link or delivery, when it still exists."""
    model = obj.content_type.model_class()
    if model is None:
        return "–"
    try:
        url = reverse(
            f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[obj.object_id]
        )
    except NoReverseMatch:
        return f"{model._meta.verbose_name} #{obj.object_id}"
    return format_html('<a href="{}">{} #{}</a>', url, model._meta.verbose_name, obj.object_id)


@admin.register(RemoteLink)
class RemoteLinkAdmin(ReadOnlyAdmin):
    list_display = ["remote_id", "account", "record", "last_pushed_at", "last_pulled_at"]
    list_filter = ["account", "content_type"]
    search_fields = ["remote_id"]
    list_select_related = ["account", "content_type"]

    @admin.display(description="Local record")
    def record(self, obj):
        return record_link(obj)


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "created_at",
        "account",
        "operation",
        "record",
        "state",
        "attempts",
        "last_http_status",
        "error_code",
        "remote_id",
    ]
    list_filter = ["state", "account", "error_code", "created_at"]
    search_fields = ["=remote_id", "=error_code"]
    date_hierarchy = "created_at"
    list_select_related = ["account", "content_type"]

    @admin.display(description="Record")
    def record(self, obj):
        return record_link(obj)


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdmin):
    list_display = [
        "started_at",
        "account",
        "resource",
        "status",
        "pages",
        "created_count",
        "updated_count",
        "unchanged_count",
        "failed_count",
        "remote_total",
        "linked_total",
        "duration",
    ]
    list_filter = ["status", "resource", "account", "started_at"]
    date_hierarchy = "started_at"
    list_select_related = ["account"]
