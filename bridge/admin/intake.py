"""Admin for intake sources: the token is shown once, on the page that made or rotated it.

Only the token's hash is stored. Adding a source, or running "Rotate token" on sources, answers
with a page that shows each new token once (nothing is put in a message, a session or a log);
after that, the source's page shows only the token's first characters, with a curl example and
an HTML form snippet that carry a placeholder where the token goes.
"""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import transaction
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from bridge import audit
from bridge.intake.snippets import TOKEN_PLACEHOLDER, curl_example, form_example
from bridge.models import IntakeSource, Lead
from bridge.push_options import check_options

from .base import BridgeModelAdmin
from .outbox import changelist_link

TOKEN_PAGE = "admin/bridge/intakesource/token_once.html"


class IntakeSourceForm(forms.ModelForm):
    """Push options may name only the source's default accounts, and each account's options
    are checked as the push page checks them (a required campaign id, a known option name)."""

    class Meta:
        model = IntakeSource
        fields = [
            "name",
            "enabled",
            "allowed_origins",
            "allow_form_token",
            "thank_you_url",
            "rate_limit_per_minute",
            "default_accounts",
            "default_push_options",
        ]

    def clean(self):
        cleaned = super().clean()
        accounts = cleaned.get("default_accounts")
        options = cleaned.get("default_push_options")
        if accounts is not None and isinstance(options, dict):
            chosen = {str(account.pk) for account in accounts}
            strays = sorted(str(key) for key in options if str(key) not in chosen)
            if strays:
                self.add_error(
                    "default_push_options",
                    f"Options for account id(s) {', '.join(strays)}, which are not among the "
                    "default accounts.",
                )
            for account in accounts:
                try:
                    check_options(
                        account, "push", options.get(str(account.pk)) or {}, "default_push_options"
                    )
                except ValidationError as error:
                    for message in error.message_dict.get("default_push_options", error.messages):
                        self.add_error("default_push_options", f"{account.name}: {message}")
        return cleaned


@admin.register(IntakeSource)
class IntakeSourceAdmin(BridgeModelAdmin):
    form = IntakeSourceForm
    change_form_template = "admin/bridge/intakesource/change_form.html"
    list_display = [
        "name",
        "enabled",
        "token_shown_as",
        "rate_limit_per_minute",
        "allow_form_token",
        "leads",
    ]
    list_filter = ["enabled", "allow_form_token"]
    search_fields = ["name"]
    filter_horizontal = ["default_accounts"]
    readonly_fields = ["token_shown_as", "token_rotated_at", "created_at", "updated_at"]
    actions = ["rotate_tokens"]
    fieldsets = [
        (None, {"fields": ["name", "enabled", "token_shown_as", "token_rotated_at"]}),
        (
            "Browsers and forms",
            {"fields": ["allowed_origins", "allow_form_token", "thank_you_url"]},
        ),
        ("Limits", {"fields": ["rate_limit_per_minute"]}),
        (
            "Default routing",
            {
                "fields": ["default_accounts", "default_push_options"],
                "description": "Where this source's leads go when no routing rule matches.",
            },
        ),
        ("Record", {"fields": ["created_at", "updated_at"]}),
    ]

    @admin.display(description="Token")
    def token_shown_as(self, obj):
        if not obj.pk:
            return "Made when you save; shown once."
        return format_html("<code>{}…</code>", obj.token_prefix)

    @admin.display(description="Leads")
    def leads(self, obj):
        return changelist_link(Lead, "Leads", source__exact=obj.name)

    def save_model(self, request, obj, form, change):
        """A new source gets its token here; the add answer shows it once."""
        if not change:
            request.intake_tokens = [(obj, obj.issue_token())]
        super().save_model(request, obj, form, change)

    def response_add(self, request, obj, post_url_continue=None):
        tokens = getattr(request, "intake_tokens", None)
        if not tokens:
            return super().response_add(request, obj, post_url_continue)
        return self.token_page(request, tokens, "Intake source added")

    @admin.action(description="Rotate token (the new one is shown once)", permissions=["change"])
    def rotate_tokens(self, request, queryset):
        """Give each selected source a new token; the old one stops working at once."""
        issued = []
        with transaction.atomic():
            for source in queryset.select_for_update().order_by("name"):
                token = source.issue_token()
                source.save(
                    update_fields=["token_hash", "token_prefix", "token_rotated_at", "updated_at"]
                )
                self.log_change(request, source, "Rotated the token.")
                issued.append((source, token))
            audit.record(
                audit.Action.TOKEN_ROTATED,
                actor=request.user,
                target=[source for source, _ in issued],
                summary="Rotated the token of " + ", ".join(source.name for source, _ in issued),
            )
        return self.token_page(request, issued, "Tokens rotated")

    def token_page(self, request, issued, title):
        """The one page a token is ever shown on; never cached."""
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            "issued": [
                {
                    "source": source,
                    "token": token,
                    "url": reverse("admin:bridge_intakesource_change", args=[source.pk]),
                }
                for source, token in issued
            ],
        }
        response = TemplateResponse(request, TOKEN_PAGE, context)
        response["Cache-Control"] = "no-store"
        return response

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """The page of a source, with its curl and HTML form examples (placeholder token)."""
        extra_context = dict(extra_context or {})
        source = self.get_object(request, object_id)
        if source is not None:
            url = request.build_absolute_uri(reverse("intake_leads"))
            extra_context["examples"] = {
                "curl": curl_example(url),
                "form": form_example(url, source),
                "placeholder": TOKEN_PLACEHOLDER,
            }
        return super().change_view(request, object_id, form_url, extra_context)
