"""The audit trail in the admin: read-only for everyone, filterable, searchable, and exported
as CSV by an action (select the rows, or "select all" across the filtered list).

Also what a save of a provider account's page did, for the trail (``record_account_changes``,
called by the account admin's ``save_model``).
"""

import csv
import json

from django.contrib import admin
from django.http import StreamingHttpResponse
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.text import capfirst

from bridge import audit
from bridge.models import AuditEntry, ProviderAccount
from bridge.resources import escape_formula

from .filters import IndexedValuesFilter
from .outbox import ReadOnlyAdmin, pretty_json

#: The export's columns: (header, how a row gives it).
CSV_COLUMNS = [
    ("when", lambda e: timezone.localtime(e.at).isoformat()),
    ("who", lambda e: e.actor_name),
    ("via", lambda e: e.get_via_display()),
    ("action", lambda e: e.get_action_display()),
    ("model", lambda e: model_label(e, "")),
    ("object", lambda e: e.object_repr),
    ("ids", lambda e: " ".join(str(pk) for pk in e.object_ids or [])),
    ("how many", lambda e: e.count),
    ("summary", lambda e: e.summary),
    ("details", lambda e: json.dumps(e.details, sort_keys=True) if e.details else ""),
]


def model_label(entry, blank: str) -> str:
    """The entry's kind of record as staff name it ("lead"), or ``blank`` when it has none."""
    model = entry.content_type.model_class() if entry.content_type else None
    return str(model._meta.verbose_name) if model else blank


class Echo:
    """A file-like object whose ``write`` hands the line back, for a streamed CSV."""

    def write(self, value):
        return value


def csv_rows(queryset):
    """The header, then one row per entry, every cell safe to open in a spreadsheet."""
    writer = csv.writer(Echo())
    yield writer.writerow([header for header, _ in CSV_COLUMNS])
    for entry in queryset.select_related("content_type").iterator(chunk_size=2000):
        yield writer.writerow([escape_formula(value(entry)) for _, value in CSV_COLUMNS])


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = [
        "at",
        "actor_name",
        "via",
        "action",
        "record_model",
        "object_link",
        "count",
        "summary",
    ]
    list_filter = [
        "action",
        ("actor_name", IndexedValuesFilter),
        "via",
        "at",
        ("content_type", admin.RelatedOnlyFieldListFilter),
    ]
    search_fields = ["summary", "actor_name", "object_repr"]
    date_hierarchy = "at"
    list_select_related = ["content_type"]
    actions = ["export_csv"]
    fields = [
        "at",
        "actor_name",
        "actor",
        "via",
        "action",
        "record_model",
        "object_link",
        "ids",
        "count",
        "summary",
        "details_shown",
    ]
    readonly_fields = fields

    def has_delete_permission(self, request, obj=None):
        # The trail of what staff did: nobody rewrites it, superusers included.
        return False

    @admin.display(description="Model", ordering="content_type")
    def record_model(self, entry):
        return capfirst(model_label(entry, "–"))

    @admin.display(description="Object")
    def object_link(self, entry):
        """The record itself when the entry names one that still exists, else its name."""
        model = entry.content_type.model_class() if entry.content_type else None
        if model is None or len(entry.object_ids or []) != 1:
            return entry.object_repr or "–"
        opts = model._meta
        try:
            url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=entry.object_ids)
        except NoReverseMatch:  # no admin page for that model
            return entry.object_repr or "–"
        return format_html('<a href="{}">{}</a>', url, entry.object_repr or entry.object_ids[0])

    @admin.display(description="Ids (the first 100)")
    def ids(self, entry):
        if not entry.object_ids:
            return "–"
        return format_html_join(", ", "{}", ((pk,) for pk in entry.object_ids))

    @admin.display(description="Details")
    def details_shown(self, entry):
        return pretty_json(entry.details)

    @admin.action(description="Export as CSV", permissions=["view"])
    def export_csv(self, request, queryset):
        """The selected entries (all the filtered ones with "select all") as a CSV file."""
        response = StreamingHttpResponse(csv_rows(queryset), content_type="text/csv")
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
        response["Content-Disposition"] = f'attachment; filename="audit-trail-{stamp}.csv"'
        return response


def record_account_changes(user, stored: ProviderAccount | None, account, form) -> None:
    """Audit what a save of the account's page did to its credential, base URL and pause,
    compared with the stored row (``stored`` is None for a new account); never the values of
    a credential, only that it was set or cleared."""
    before_credential = bool(stored and stored.credential)
    if form.cleaned_data.get("new_credential"):
        audit.record(
            audit.Action.CREDENTIAL_SET,
            actor=user,
            target=account,
            summary=f"Credential of {account.name} " + ("replaced" if before_credential else "set"),
        )
    elif before_credential and not account.credential:
        why = "moved to another address" if form.credential_cleared else "removed by hand"
        audit.record(
            audit.Action.CREDENTIAL_CLEARED,
            actor=user,
            target=account,
            summary=f"Credential of {account.name} cleared ({why})",
        )
    if stored is not None and stored.base_url != account.base_url:
        audit.record(
            audit.Action.BASE_URL_CHANGED,
            actor=user,
            target=account,
            summary=f"Base URL of {account.name}: {stored.base_url or '(documented)'} → "
            f"{account.base_url or '(documented)'}",
            details={"from": stored.base_url, "to": account.base_url},
        )
    if stored is not None and stored.paused != account.paused:
        audit.record(
            audit.Action.PAUSE if account.paused else audit.Action.RESUME,
            actor=user,
            target=account,
            summary=f"{'Paused' if account.paused else 'Resumed'} {account.name} on its page",
        )
