"""Log-like admins for remote links, deliveries and sync runs: read-only, filterable."""

from django.contrib import admin, messages
from django.contrib.contenttypes.admin import GenericTabularInline
from django.http import JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import NoReverseMatch, path, reverse
from django.utils.html import format_html

from bridge import outbox
from bridge.models import Delivery, PushBatch, RemoteLink, SyncRun

from .pagination import EstimatedCountPaginator

STATE_COLOURS = {
    "pending": "#6b7280",
    "sending": "#2563eb",
    "delivered": "#15803d",
    "failed": "#b45309",
    "dead": "#b91c1c",
    "skipped": "#4b5563",
    "cancelled": "#4b5563",
}


def state_badge(state: str, label: str):
    """A delivery state as coloured text (colour and words, never colour alone)."""
    return format_html(
        '<span class="delivery-state state-{}" style="color:#fff;background:{};'
        'padding:1px 6px;border-radius:8px;white-space:nowrap">{}</span>',
        state,
        STATE_COLOURS.get(state, "#4b5563"),
        label,
    )


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
        "state_display",
        "attempts",
        "last_http_status",
        "error_code",
        "short_error",
        "remote_id",
    ]
    list_filter = ["state", "account", "error_code", "created_at", "operation"]
    search_fields = ["=remote_id", "=error_code"]
    date_hierarchy = "created_at"
    list_select_related = ["account", "content_type"]
    actions = ["retry_now", "cancel"]
    readonly_fields = [
        "account",
        "batch",
        "record",
        "operation",
        "params",
        "state_display",
        "attempts",
        "max_attempts",
        "next_attempt_at",
        "claimed_at",
        "last_http_status",
        "error_code",
        "error_message",
        "remote_id",
        "request_redacted",
        "response_redacted",
        "created_at",
        "updated_at",
        "delivered_at",
    ]
    exclude = ["content_type", "object_id", "content_hash", "state"]

    def has_push_permission(self, request):
        return request.user.has_perm("bridge.push_to_providers")

    @admin.display(description="Record")
    def record(self, obj):
        return record_link(obj)

    @admin.display(description="State", ordering="state")
    def state_display(self, obj):
        return state_badge(obj.state, obj.get_state_display())

    @admin.display(description="Provider's reason")
    def short_error(self, obj):
        return (obj.error_message or "")[:120]

    @admin.action(description="Retry now", permissions=["push"])
    def retry_now(self, request, queryset):
        count = outbox.retry_now(queryset)
        self.message_user(request, f"{count} deliveries will be sent again.", messages.SUCCESS)

    @admin.action(description="Cancel", permissions=["push"])
    def cancel(self, request, queryset):
        count = outbox.cancel(queryset)
        self.message_user(request, f"{count} deliveries cancelled.", messages.SUCCESS)

    def has_delete_permission(self, request, obj=None):
        # Deliveries are the audit trail of what was sent: cancel them, never delete them.
        return False


@admin.register(PushBatch)
class PushBatchAdmin(ReadOnlyAdmin):
    list_display = ["id", "created_at", "description", "total", "progress", "created_by"]
    list_select_related = ["created_by"]
    date_hierarchy = "created_at"
    fields = ["description", "total", "skipped_summary", "created_by", "created_at"]
    readonly_fields = fields

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Not sent")
    def skipped_summary(self, obj):
        if not obj.skipped:
            return "–"
        return "; ".join(f"{reason}: {count}" for reason, count in obj.skipped.items())

    def get_urls(self):
        progress = path(
            "<path:object_id>/progress/",
            self.admin_site.admin_view(self.progress_view),
            name="bridge_pushbatch_progress",
        )
        return [progress, *super().get_urls()]

    def progress_view(self, request, object_id):
        batch = get_object_or_404(PushBatch, pk=object_id)
        if not self.has_view_permission(request, batch):
            return JsonResponse({"error": "forbidden"}, status=403)
        return JsonResponse(outbox.batch_counts(batch))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        batch = get_object_or_404(PushBatch, pk=object_id)
        extra_context = {**(extra_context or {}), "counts": outbox.batch_counts(batch)}
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description="Progress")
    def progress(self, obj):
        counts = outbox.batch_counts(obj)
        return f"{counts['done']}/{counts['total']}" + (" ✓" if counts["finished"] else "")


class DeliveryInline(GenericTabularInline):
    """A record's deliveries, newest first, on its change page."""

    model = Delivery
    extra = 0
    can_delete = False
    show_change_link = True
    fields = [
        "created_at",
        "account",
        "operation",
        "state_display",
        "attempts",
        "last_http_status",
        "error_code",
        "error_message",
        "remote_id",
        "delivered_at",
    ]
    readonly_fields = fields
    ordering = ["-created_at"]
    verbose_name_plural = "deliveries to providers"

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="State")
    def state_display(self, obj):
        return state_badge(obj.state, obj.get_state_display())


class RemoteLinkInline(GenericTabularInline):
    """Which remote record this is in each account."""

    model = RemoteLink
    extra = 0
    can_delete = False
    fields = ["account", "remote_id", "last_pushed_at", "last_pulled_at"]
    readonly_fields = fields
    verbose_name_plural = "remote links"

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdmin):
    list_display = [
        "started_at",
        "account",
        "resource",
        "status",
        "full",
        "pages",
        "created_count",
        "updated_count",
        "unchanged_count",
        "failed_count",
        "remote_total",
        "linked_total",
        "duration",
        "short_error",
    ]
    list_filter = ["status", "resource", "account", "full", "started_at"]
    date_hierarchy = "started_at"
    list_select_related = ["account"]

    def has_change_permission(self, request, obj=None):
        # Read-only fields only; "change" is what lets staff open a run and read its error.
        return super(ReadOnlyAdmin, self).has_change_permission(request, obj)

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in SyncRun._meta.fields]

    def save_model(self, request, obj, form, change):
        """Nothing on a run is edited by hand."""

    @admin.display(description="Error")
    def short_error(self, obj):
        return (obj.error or "")[:120]
