"""Log-like admins for remote links, deliveries and sync runs: read-only, filterable."""

import json

from django.contrib import admin, messages
from django.contrib.admin.utils import display_for_value, unquote
from django.contrib.contenttypes.admin import GenericTabularInline
from django.db import transaction
from django.http import Http404, JsonResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.text import capfirst
from django.utils.translation import ngettext

from bridge import audit, outbox
from bridge.models import Delivery, PushBatch, RemoteLink, SyncRun

from . import delivery_messages
from .base import BridgeModelAdmin
from .filters import GoneFilter
from .pagination import EstimatedCountPaginator
from .scheduled import ScheduledBatchesMixin, ScheduledFilter

STATE_COLOURS = {
    "pending": "#6b7280",
    "sending": "#2563eb",
    "delivered": "#15803d",
    "failed": "#b45309",
    "dead": "#b91c1c",
    "skipped": "#4b5563",
    "cancelled": "#4b5563",
}


#: What staff can do about a refusal, by (provider, error code): the documented way out.
NEXT_STEPS = {
    ("aloware", "contact_exists"): (
        "Aloware already has a contact with this phone number and, without force_update, "
        "does not overwrite the fields it has filled. To overwrite them with this record's, "
        'select this delivery in the Deliveries list and run "Retry with force update".'
    ),
}


SYNC_STATUS_COLOURS = {
    "running": "#2563eb",
    "succeeded": "#15803d",
    "failed": "#b91c1c",
}


def badge(css_class: str, colour: str, label: str):
    """Words on a coloured pill: the words carry the meaning, the colour only repeats it."""
    return format_html(
        '<span class="{}" style="color:#fff;background:{};'
        'padding:1px 6px;border-radius:8px;white-space:nowrap">{}</span>',
        css_class,
        colour,
        label,
    )


def state_badge(state: str, label: str):
    """A delivery state as coloured text (colour and words, never colour alone)."""
    return badge(f"delivery-state state-{state}", STATE_COLOURS.get(state, "#4b5563"), label)


def sync_status_badge(status: str, label: str):
    """A sync run's status as coloured text."""
    return badge(f"sync-status sync-{status}", SYNC_STATUS_COLOURS.get(status, "#4b5563"), label)


def changelist_link(model, label: str, **filters):
    """A link to ``model``'s admin list filtered by ``filters`` (e.g. account__id__exact=3)."""
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    if filters:
        url = f"{url}?{urlencode(filters)}"
    return format_html('<a href="{}">{}</a>', url, label)


def change_link(obj, label=None):
    """A link to ``obj``'s admin page, labelled with ``label`` or the object itself."""
    if obj is None:
        return "–"
    opts = obj._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, label if label is not None else obj)


class ReadOnlyAdmin(BridgeModelAdmin):
    """Records written by the bridge itself: staff read them, never edit them."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


def pretty_json(value):
    """JSON indented in a <pre>, for request and response bodies; "–" when there is none."""
    if value in (None, "", {}, []):
        return "–"
    text = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)
    return format_html('<pre style="margin:0;white-space:pre-wrap">{}</pre>', text)


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
        return f"{capfirst(model._meta.verbose_name)} #{obj.object_id}"
    return format_html(
        '<a href="{}">{} #{}</a>', url, capfirst(model._meta.verbose_name), obj.object_id
    )


def record_deliveries_link(obj, label: str = "Deliveries"):
    """A link to the deliveries of the record behind ``obj`` to ``obj``'s account."""
    return changelist_link(
        Delivery,
        label,
        account__id__exact=obj.account_id,
        content_type=obj.content_type_id,
        object_id=obj.object_id,
    )


class AccountLinkMixin:
    """An "Account" column linking to the row's provider account."""

    @admin.display(description="Account", ordering="account__name")
    def account_link(self, obj):
        return change_link(obj.account)


@admin.register(RemoteLink)
class RemoteLinkAdmin(AccountLinkMixin, ReadOnlyAdmin):
    list_display = [
        "remote_id",
        "account_link",
        "record",
        "last_pushed_at",
        "last_pulled_at",
        "remote_gone_at",
        "deliveries",
    ]
    list_filter = ["account", "content_type", GoneFilter]
    search_fields = ["remote_id"]
    list_select_related = ["account", "content_type"]
    fields = [
        "account_link",
        "record",
        "remote_id",
        "last_pushed_at",
        "last_pulled_at",
        "remote_gone_at",
        "remote_updated_at",
        "pushed_hash",
        "created_at",
        "deliveries",
    ]
    readonly_fields = fields

    @admin.display(description="Local record")
    def record(self, obj):
        return record_link(obj)

    @admin.display(description="Deliveries")
    def deliveries(self, obj):
        return record_deliveries_link(obj, "This record's deliveries to this account")


@admin.register(Delivery)
class DeliveryAdmin(AccountLinkMixin, ReadOnlyAdmin):
    list_display = [
        "id",
        "queued_at",
        "account",
        "operation",
        "record",
        "state_display",
        "attempts",
        "http_status",
        "error_code",
        "short_error",
        "remote_id",
    ]
    list_filter = ["state", "account", "error_code", "created_at", "operation", "is_test"]
    search_fields = ["=remote_id", "=error_code"]
    date_hierarchy = "created_at"
    list_select_related = ["account", "content_type"]
    actions = ["retry_now", "retry_with_force_update", "cancel"]
    readonly_fields = [
        "account_link",
        "batch_link",
        "record",
        "remote_link",
        "operation",
        "params",
        "is_test",
        "state_display",
        "attempts",
        "max_attempts",
        "next_attempt_at",
        "claimed_at",
        "http_status",
        "error_code",
        "error_message",
        "next_step",
        "remote_id",
        "request_sent",
        "response_received",
        "queued_at",
        "updated_at",
        "delivered_at",
    ]
    exclude = [
        "account",
        "batch",
        "content_type",
        "object_id",
        "content_hash",
        "state",
        "last_http_status",
    ]

    def has_push_permission(self, request):
        return request.user.has_perm("bridge.push_to_providers")

    @admin.display(description="Record")
    def record(self, obj):
        return record_link(obj)

    @admin.display(description="Queued", ordering="created_at")
    def queued_at(self, obj):
        return display_for_value(obj.created_at, "–")

    @admin.display(description="HTTP status", ordering="last_http_status")
    def http_status(self, obj):
        return obj.last_http_status

    @admin.display(description="Request sent (secrets redacted)")
    def request_sent(self, obj):
        return pretty_json(obj.request_redacted)

    @admin.display(description="Provider's response (secrets redacted)")
    def response_received(self, obj):
        return pretty_json(obj.response_redacted)

    @admin.display(description="Push batch")
    def batch_link(self, obj):
        return change_link(obj.batch)

    @admin.display(description="Remote link")
    def remote_link(self, obj):
        link = RemoteLink.objects.filter(
            account_id=obj.account_id, content_type_id=obj.content_type_id, object_id=obj.object_id
        ).first()
        if link is None:
            return "– (not linked to a remote record in this account yet)"
        return change_link(link, f"{link.remote_id} in {obj.account.name}")

    @admin.display(description="State", ordering="state")
    def state_display(self, obj):
        return state_badge(obj.state, obj.get_state_display())

    @admin.display(description="Provider's reason")
    def short_error(self, obj):
        return (obj.error_message or "")[:120]

    @admin.display(description="What to do")
    def next_step(self, obj):
        return NEXT_STEPS.get((obj.account.provider, obj.error_code), "–")

    @admin.action(description="Retry now", permissions=["push"])
    def retry_now(self, request, queryset):
        left = delivery_messages.not_retriable(queryset)
        selected = audit.target_of(queryset)
        with transaction.atomic():
            count = outbox.retry_now(queryset)
            audit.record(
                audit.Action.RETRY,
                actor=request.user,
                target=selected,
                count=count,
                summary=f"Retried {count} of {selected.count} selected deliveries",
            )
        for text, warning in delivery_messages.retry_outcome(count, left):
            self.message_user(request, text, messages.WARNING if warning else messages.SUCCESS)

    @admin.action(description="Retry with force update (Aloware)", permissions=["push"])
    def retry_with_force_update(self, request, queryset):
        """Aloware's documented way out of "contact already exists": send with force_update."""
        aloware = queryset.filter(account__provider="aloware")
        selected = audit.target_of(aloware)
        with transaction.atomic():
            count = outbox.retry_now(aloware, params={"force_update": True})
            audit.record(
                audit.Action.RETRY,
                actor=request.user,
                target=selected,
                count=count,
                summary=f"Retried {count} Aloware deliveries with force update",
                details={"force_update": True},
            )
        self.message_user(
            request,
            delivery_messages.sent_again(count, "Aloware", "with force update"),
            messages.SUCCESS,
        )
        others = queryset.exclude(account__provider="aloware").count()
        if others:
            self.message_user(
                request,
                ngettext(
                    "%(count)d selected delivery is not to Aloware and was left as it was "
                    "(force update is an Aloware option).",
                    "%(count)d selected deliveries are not to Aloware and were left as they "
                    "were (force update is an Aloware option).",
                    others,
                )
                % {"count": others},
                messages.WARNING,
            )

    @admin.action(description="Cancel", permissions=["push"])
    def cancel(self, request, queryset):
        selected = audit.target_of(queryset)
        with transaction.atomic():
            count = outbox.cancel(queryset)
            audit.record(
                audit.Action.CANCEL,
                actor=request.user,
                target=selected,
                count=count,
                summary=f"Cancelled {count} of {selected.count} selected deliveries",
            )
        self.message_user(request, delivery_messages.cancelled(count), messages.SUCCESS)

    def has_delete_permission(self, request, obj=None):
        # Deliveries are the audit trail of what was sent: cancel them, never delete them.
        return False


@admin.register(PushBatch)
class PushBatchAdmin(ScheduledBatchesMixin, ReadOnlyAdmin):
    list_display = [
        "id",
        "created_at",
        "description",
        "total",
        "scheduled",
        "progress",
        "created_by",
    ]
    list_select_related = ["created_by"]
    list_filter = [ScheduledFilter]
    date_hierarchy = "created_at"
    fields = ["description", "total", "send_at", "skipped_summary", "created_by", "created_at"]
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
        """The batch's counts as JSON, for its page's script; refused before the batch is
        looked up, so a user without the permission cannot tell which batches exist."""
        if not self.has_view_permission(request):
            return JsonResponse({"error": "forbidden"}, status=403)
        batch = self.get_object(request, unquote(object_id))
        if batch is None:
            raise Http404(f"No push batch {object_id}.")
        return JsonResponse(outbox.batch_counts(batch))

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        # Here, not in change_view: Django has checked the permission by now.
        if obj is not None:
            context["counts"] = outbox.batch_counts(obj)
        return super().render_change_form(request, context, add, change, form_url, obj)

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
    fields = ["account", "remote_id", "last_pushed_at", "last_pulled_at", "remote_gone_at"]
    readonly_fields = fields
    show_change_link = True
    verbose_name_plural = "remote links"

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(SyncRun)
class SyncRunAdmin(AccountLinkMixin, ReadOnlyAdmin):
    list_display = [
        "started_at",
        "account_link",
        "resource",
        "status_display",
        "full",
        "pages",
        "created_count",
        "updated_count",
        "unchanged_count",
        "failed_count",
        "remote_total",
        "linked_total",
        "gone_count",
        "duration_display",
        "short_error",
    ]
    list_filter = ["status", "resource", "account", "full", "started_at"]
    date_hierarchy = "started_at"
    list_select_related = ["account"]
    fields = [
        "account_link",
        "resource",
        "status_display",
        "full",
        "window_from",
        "window_to",
        "started_at",
        "finished_at",
        "heartbeat_at",
        "next_offset",
        "duration_display",
        "pages",
        "created_count",
        "updated_count",
        "unchanged_count",
        "failed_count",
        "remote_total",
        "linked_total",
        "gone_count",
        "error",
    ]
    readonly_fields = fields

    @admin.display(description="Status", ordering="status")
    def status_display(self, obj):
        return sync_status_badge(obj.status, obj.get_status_display())

    @admin.display(description="Duration")
    def duration_display(self, obj):
        duration = obj.duration
        if duration is None:
            return "still running" if obj.status == SyncRun.Status.RUNNING else "–"
        seconds = int(duration.total_seconds())
        return f"{seconds // 60} min {seconds % 60} s" if seconds >= 60 else f"{seconds} s"

    @admin.display(description="Error")
    def short_error(self, obj):
        return (obj.error or "")[:120]
