"""Admin for provider accounts; the credential is write-only."""

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from bridge import outbox
from bridge.models import Delivery, ProviderAccount, RemoteLink, SyncRun

from .outbox import badge, changelist_link

HEALTH_COLOURS = {"active": "#15803d", "paused": "#b45309", "disabled": "#4b5563"}


def account_status(account: ProviderAccount) -> tuple[str, str]:
    """The account's status as a key and the words staff read: "Active", "Paused — reason",
    "Disabled"."""
    if not account.enabled:
        return "disabled", "Disabled"
    if account.paused:
        reason = account.paused_reason.strip()
        return "paused", f"Paused — {reason}" if reason else "Paused"
    return "active", "Active"


def health_badge(account: ProviderAccount):
    """The account's status in words on its colour."""
    status, label = account_status(account)
    return badge(f"account-health health-{status}", HEALTH_COLOURS[status], label)


def account_links(account: ProviderAccount, *, deliveries_only: bool = False):
    """Links to the account's deliveries (all, failed, dead, pending), remote links and syncs."""
    links = [
        changelist_link(Delivery, "Deliveries", account__id__exact=account.pk),
        *(
            changelist_link(Delivery, label, account__id__exact=account.pk, state__exact=state)
            for state, label in (
                (Delivery.State.FAILED, "Failed"),
                (Delivery.State.DEAD, "Dead"),
                (Delivery.State.PENDING, "Pending"),
            )
        ),
    ]
    if not deliveries_only:
        links += [
            changelist_link(RemoteLink, "Remote links", account__id__exact=account.pk),
            changelist_link(SyncRun, "Sync runs", account__id__exact=account.pk),
        ]
    return format_html_join(" · ", "{}", ((link,) for link in links))


class ProviderAccountForm(forms.ModelForm):
    """The stored credential is never rendered; typing a new one replaces it."""

    new_credential = forms.CharField(
        label="Credential",
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="API key or token. Leave blank to keep the stored one; it is never shown.",
    )
    clear_credential = forms.BooleanField(label="Remove the stored credential", required=False)

    class Meta:
        model = ProviderAccount
        fields = [
            "name",
            "provider",
            "environment",
            "base_url",
            "enabled",
            "options",
            "concurrency",
            "requests_per_second",
            "connect_timeout",
            "read_timeout",
            "paused",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and self.instance.credential:
            self.fields[
                "new_credential"
            ].help_text = "A credential is stored (hidden). Type a new one to replace it."

    def save(self, commit=True):
        account = super().save(commit=False)
        if self.cleaned_data.get("clear_credential"):
            account.credential = ""
        elif self.cleaned_data.get("new_credential"):
            account.credential = self.cleaned_data["new_credential"]
        if commit:
            account.save()
            self.save_m2m()
        return account


@admin.register(ProviderAccount)
class ProviderAccountAdmin(admin.ModelAdmin):
    form = ProviderAccountForm
    list_display = [
        "name",
        "provider",
        "environment",
        "health",
        "throttled",
        "has_credential",
        "effective_base_url",
        "deliveries",
    ]
    list_filter = ["provider", "environment", "enabled", "paused"]
    search_fields = ["name"]
    readonly_fields = [
        "health",
        "paused_reason",
        "paused_at",
        "throttled",
        "created_at",
        "updated_at",
        "links",
    ]
    actions = ["pause_accounts", "resume_accounts"]
    fieldsets = [
        (None, {"fields": ["name", "provider", "environment", "base_url", "enabled"]}),
        ("Credential", {"fields": ["new_credential", "clear_credential"]}),
        ("Options", {"fields": ["options"]}),
        (
            "Sending budget",
            {
                "fields": ["concurrency", "requests_per_second", "connect_timeout", "read_timeout"],
            },
        ),
        (
            "State",
            {
                "fields": [
                    "health",
                    "paused",
                    "paused_reason",
                    "paused_at",
                    "throttled",
                    "created_at",
                    "updated_at",
                ]
            },
        ),
        ("Activity", {"fields": ["links"]}),
    ]

    @admin.display(description="Health")
    def health(self, obj):
        if obj.pk is None:
            return "–"
        return health_badge(obj)

    @admin.display(description="Throttled until")
    def throttled(self, obj):
        if obj.throttled_until and obj.throttled_until > timezone.now():
            return obj.throttled_until
        return "–"

    @admin.display(description="Deliveries")
    def deliveries(self, obj):
        links = account_links(obj, deliveries_only=True)
        return format_html('<span style="white-space:nowrap">{}</span>', links)

    @admin.display(description="Related")
    def links(self, obj):
        if obj.pk is None:
            return "–"
        return account_links(obj)

    @admin.display(description="Credential set", boolean=True)
    def has_credential(self, obj):
        return bool(obj.credential)

    @admin.display(description="Base URL")
    def effective_base_url(self, obj):
        return obj.effective_base_url

    @admin.action(description="Pause selected accounts (deliveries wait)")
    def pause_accounts(self, request, queryset):
        for account in queryset:
            account.pause(f"Paused by {request.user.get_username()}")
        self.message_user(request, f"Paused {queryset.count()} account(s).", messages.SUCCESS)

    @admin.action(description="Resume selected accounts (send what waited)")
    def resume_accounts(self, request, queryset):
        for account in queryset:
            account.resume()
        account_ids = list(queryset.values_list("pk", flat=True))
        transaction.on_commit(lambda: outbox.kick_accounts(account_ids))
        self.message_user(request, f"Resumed {queryset.count()} account(s).", messages.SUCCESS)
