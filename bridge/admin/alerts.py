"""Alerts in the admin: the channels (the webhook URL write-only, shown masked; "Send a test
alert") and every alert, read-only."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html

from bridge import alerts
from bridge.models import Alert, AlertChannel

from .base import BridgeModelAdmin
from .outbox import ReadOnlyAdmin, badge

SEVERITY_COLOURS = {"critical": "#b91c1c", "warning": "#b45309"}


class AlertChannelForm(forms.ModelForm):
    """The webhook URL is never rendered back: typing one replaces it, blank keeps it."""

    url = forms.CharField(
        label="Webhook URL",
        required=False,
        max_length=2000,
        widget=forms.TextInput(attrs={"autocomplete": "off", "size": 80}),
    )

    class Meta:
        model = AlertChannel
        fields = ["name", "kind", "enabled", "addresses", "url"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.initial["url"] = ""
        stored = self.instance.url if self.instance.pk else None
        if stored:
            self.fields["url"].help_text = (
                f"A URL is stored: {self.instance.destination}. Type a new one to replace it; "
                "leave blank to keep it."
            )
        else:
            self.fields["url"].help_text = AlertChannel._meta.get_field("url").help_text

    def clean_url(self):
        typed = self.cleaned_data.get("url", "").strip()
        if not typed and self.instance.pk:
            return self.instance.url  # kept as stored
        return typed


@admin.register(AlertChannel)
class AlertChannelAdmin(BridgeModelAdmin):
    form = AlertChannelForm
    list_display = ["name", "kind", "destination", "enabled", "last_sent_at", "short_error"]
    list_filter = ["kind", "enabled"]
    search_fields = ["name"]
    readonly_fields = ["last_sent_at", "last_error", "last_error_at", "digest_sent_at"]
    fieldsets = [
        (None, {"fields": ["name", "kind", "enabled"]}),
        ("Email", {"fields": ["addresses"]}),
        ("Webhook", {"fields": ["url"]}),
        ("Last sending", {"fields": readonly_fields}),
    ]
    change_form_template = "admin/bridge/alertchannel/change_form.html"

    @admin.display(description="Sends to")
    def destination(self, obj):
        return obj.destination or "–"

    @admin.display(description="Last error")
    def short_error(self, obj):
        return (obj.last_error[:80] + "…") if len(obj.last_error) > 80 else obj.last_error or "–"

    def get_urls(self):
        views = [
            path(
                "<path:object_id>/test/",
                self.admin_site.admin_view(self.send_test_view),
                name="bridge_alertchannel_test",
            ),
        ]
        return views + super().get_urls()

    def send_test_view(self, request, object_id):
        """POST: send a test alert to this channel; the answer names it and what happened.
        Staff with the change permission on channels only."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        channel = self.get_object(request, unquote(object_id))
        if not self.has_change_permission(request, channel):
            raise PermissionDenied
        if channel is None:
            raise Http404(f"No alert channel with id {object_id!r}.")
        try:
            alerts.send_test(channel)
        except alerts.ChannelError as error:
            self.message_user(request, f"The test alert was not sent: {error}", messages.ERROR)
        else:
            self.message_user(
                request,
                f"Test alert sent to {channel.name} ({channel.destination}).",
                messages.SUCCESS,
            )
        return HttpResponseRedirect(reverse("admin:bridge_alertchannel_change", args=[channel.pk]))


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdmin):
    list_display = [
        "opened_at",
        "severity_badge",
        "subject",
        "state",
        "resolved_at",
        "channels_notified",
        "short_error",
    ]
    list_display_links = ["subject"]
    list_filter = ["severity", "kind", ("resolved_at", admin.EmptyFieldListFilter), "opened_at"]
    search_fields = ["key", "subject"]
    date_hierarchy = "opened_at"
    fields = [
        "key",
        "kind",
        "severity_badge",
        "subject",
        "message",
        "link_display",
        "opened_at",
        "resolved_at",
        "resolution",
        "channels_notified",
        "pending",
        "send_attempts",
        "last_error",
        "last_error_at",
    ]
    readonly_fields = fields

    @admin.display(description="Severity", ordering="severity")
    def severity_badge(self, obj):
        colour = SEVERITY_COLOURS.get(obj.severity, "#4b5563")
        return badge(f"alert-{obj.severity}", colour, obj.get_severity_display())

    @admin.display(description="State", ordering="resolved_at")
    def state(self, obj):
        return "Open" if obj.is_open else "Resolved"

    @admin.display(description="Admin page")
    def link_display(self, obj):
        return format_html('<a href="{}">{}</a>', obj.link, obj.link) if obj.link else "–"

    @admin.display(description="Last error of sending")
    def short_error(self, obj):
        return (obj.last_error[:80] + "…") if len(obj.last_error) > 80 else obj.last_error or "–"
