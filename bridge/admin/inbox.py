"""Admin for the inbox: inbound events (filters, the body with secrets redacted, "Process
again"), activities, their inlines on contacts and leads, and the receiver on account pages."""

import json

from django.contrib import admin, messages
from django.db import transaction
from django.forms.models import BaseInlineFormSet
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from bridge import inbox
from bridge.models import Activity, InboundEvent, ProviderAccount
from integrations.secrets import redact, redact_text

from .filters import IndexedValuesFilter
from .outbox import AccountLinkMixin, ReadOnlyAdmin, badge, change_link, changelist_link

EVENT_STATE_COLOURS = {
    "received": "#2563eb",
    "processed": "#15803d",
    "ignored": "#4b5563",
    "failed": "#b91c1c",
}
#: Activities shown on a contact's or lead's page (newest first); the rest are a link away.
INLINE_ACTIVITIES = 20


def event_state_badge(event: InboundEvent):
    """The event's state in words on its colour; "failed, will retry" when a retry is set."""
    label = event.get_state_display()
    if event.state == InboundEvent.State.FAILED and event.next_attempt_at:
        label = f"Failed, will retry at {timezone.localtime(event.next_attempt_at):%H:%M:%S}"
    colour = EVENT_STATE_COLOURS.get(event.state, "#4b5563")
    return badge(f"event-state event-{event.state}", colour, label)


def redacted_body(raw: str):
    """The body pretty-printed, with secret fields and known secret values masked."""
    try:
        text = json.dumps(redact(json.loads(raw)), indent=2, ensure_ascii=False, sort_keys=True)
    except (ValueError, RecursionError):
        text = redact_text(raw)
    return format_html('<pre class="event-body" style="white-space:pre-wrap">{}</pre>', text)


@admin.register(InboundEvent)
class InboundEventAdmin(AccountLinkMixin, ReadOnlyAdmin):
    list_display = [
        "id",
        "received_at",
        "account_link",
        "event_type",
        "kind",
        "state_display",
        "attempts",
        "repeats",
        "short_error",
    ]
    list_filter = [
        "account",
        ("event_type", IndexedValuesFilter),
        "state",
        "kind",
        "received_at",
    ]
    search_fields = ["=dedup_key"]
    date_hierarchy = "received_at"
    list_select_related = ["account"]
    actions = ["process_again"]
    fields = [
        "account_link",
        "event_type",
        "kind",
        "state_display",
        "error",
        "attempts",
        "next_attempt_at",
        "processed_at",
        "received_at",
        "last_received_at",
        "repeats",
        "dedup_key",
        "activities_made",
        "headers_display",
        "body_display",
    ]
    readonly_fields = fields

    @admin.display(description="State", ordering="state")
    def state_display(self, obj):
        return event_state_badge(obj)

    @admin.display(description="Error")
    def short_error(self, obj):
        return (obj.error[:80] + "…") if len(obj.error) > 80 else obj.error or "–"

    @admin.display(description="Headers")
    def headers_display(self, obj):
        return redacted_body(json.dumps(obj.headers))

    @admin.display(description="Body (secrets redacted)")
    def body_display(self, obj):
        return redacted_body(obj.body)

    @admin.display(description="Activities")
    def activities_made(self, obj):
        found = list(obj.activities.all()[:5])
        if not found:
            return "–"
        return format_html_join(", ", "{}", ((change_link(activity),) for activity in found))

    def has_process_permission(self, request):
        """Processing again writes only what the provider sent, as the workers would: the
        account manager's right (change on provider accounts), like "Sync now"."""
        return request.user.has_perm("bridge.change_provideraccount")

    @admin.action(
        description="Process again (applies each event once more; safe to repeat)",
        permissions=["process"],
    )
    def process_again(self, request, queryset):
        ids = list(queryset.values_list("pk", flat=True))
        count = inbox.process_again(InboundEvent.objects.filter(pk__in=ids))
        transaction.on_commit(lambda: inbox.kick(ids))
        self.message_user(
            request,
            f"{count} event(s) queued to be processed again; their state changes as the "
            "workers take them.",
            messages.SUCCESS,
        )


@admin.register(Activity)
class ActivityAdmin(AccountLinkMixin, ReadOnlyAdmin):
    list_display = ["occurred_at", "kind", "summary", "contact_link", "lead_link", "account_link"]
    list_filter = ["kind", "account", "occurred_at"]
    list_select_related = ["account", "contact", "lead"]
    search_fields = ["=remote_id"]
    fields = [
        "occurred_at",
        "kind",
        "summary",
        "account_link",
        "contact_link",
        "lead_link",
        "remote_id",
        "event_link",
        "details_display",
        "created_at",
    ]
    readonly_fields = fields

    @admin.display(description="Contact")
    def contact_link(self, obj):
        return change_link(obj.contact)

    @admin.display(description="Lead")
    def lead_link(self, obj):
        return change_link(obj.lead)

    @admin.display(description="From event")
    def event_link(self, obj):
        return change_link(obj.event)

    @admin.display(description="Details")
    def details_display(self, obj):
        return redacted_body(json.dumps(obj.details))


class NewestActivities(BaseInlineFormSet):
    """Only the newest activities: a person called a thousand times keeps a light page."""

    def get_queryset(self):
        return super().get_queryset().order_by("-occurred_at", "-id")[:INLINE_ACTIVITIES]


class ActivityInline(admin.TabularInline):
    """What happened with this person at the services, newest first, read-only."""

    model = Activity
    formset = NewestActivities
    extra = 0
    can_delete = False
    show_change_link = True
    fields = ["occurred_at", "kind", "summary", "account", "lead"]
    readonly_fields = fields
    verbose_name_plural = f"activities (the newest {INLINE_ACTIVITIES})"

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class LeadActivityInline(ActivityInline):
    fk_name = "lead"
    fields = ["occurred_at", "kind", "summary", "account"]
    readonly_fields = fields


def webhook_receiver(account: ProviderAccount, base: str):
    """The account's receiver URL (copyable), its header credential and the setup steps."""
    if account.pk is None or not account.receives_webhooks or not account.webhook_token:
        return "– (this provider sends no webhooks)" if account.pk else "– (shown once saved)"
    url = inbox.webhook_url(account, base)
    steps, mapped = inbox.setup_steps(account)
    credential = inbox.auth_credential(account)
    return format_html(
        '<input class="webhook-url vTextField" readonly value="{}" size="90" '
        'onclick="this.select()"> <button type="button" class="button copy-webhook-url" '
        'onclick="navigator.clipboard.writeText(this.previousElementSibling.value);'
        "this.textContent='Copied'\">Copy</button>{}"
        "<p><strong>Set it up:</strong></p><ol>{}</ol><p><strong>What is mapped:</strong></p>"
        "<ul>{}</ul><p>Refused requests (wrong token or credential): {}{}</p>",
        url,
        format_html(
            "<p>Authentication to choose at the provider: {}</p>",
            " · ".join(f"{key} {value}" for key, value in credential.items()),
        )
        if credential
        else "",
        format_html_join("", "<li>{}</li>", ((step,) for step in steps)),
        format_html_join("", "<li>{}</li>", ((line,) for line in mapped)),
        account.webhook_refused,
        f", last at {timezone.localtime(account.webhook_refused_at):%Y-%m-%d %H:%M}"
        if account.webhook_refused_at
        else "",
    )


def inbound_links(account: ProviderAccount):
    """Links to the account's inbound events (all, failed) and activities."""
    return format_html(
        "{} · {} · {}",
        changelist_link(InboundEvent, "Inbound events", account__id__exact=account.pk),
        changelist_link(
            InboundEvent, "Failed events", account__id__exact=account.pk, state__exact="failed"
        ),
        changelist_link(Activity, "Activities", account__id__exact=account.pk),
    )
