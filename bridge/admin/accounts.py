"""Admin for provider accounts; the credential is write-only."""

from django import forms
from django.contrib import admin, messages
from django.db import transaction

from bridge import outbox
from bridge.models import ProviderAccount


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
        "enabled",
        "paused",
        "has_credential",
        "effective_base_url",
    ]
    list_filter = ["provider", "environment", "enabled", "paused"]
    search_fields = ["name"]
    readonly_fields = ["paused_reason", "paused_at", "created_at", "updated_at"]
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
        ("State", {"fields": ["paused", "paused_reason", "paused_at", "created_at", "updated_at"]}),
    ]

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
