"""The account page's "Field mapping": rows of "local field → sent as", checked as staff save.

Each row picks a local field from a menu (contact fields, lead fields, or "Custom field" with
its name) and the provider field it is sent as: a menu of the provider's fields (Aloware), a
call variable's name (Aiployees), or a menu of the custom fields the last pull saw, with their
types (Leeloo). What each provider offers is its ``Provider.field_mapping`` declaration; the
checks are ``integrations.mapping.check_rows``, each error naming the row and the field. A
save that changes the rows is recorded in the audit trail.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.forms.models import BaseInlineFormSet
from django.utils.html import format_html, format_html_join

from bridge import audit
from bridge.models import FieldMapping, ProviderAccount, RemoteField
from integrations.mapping import (
    CONTACT_SOURCES,
    CUSTOM_PREFIX,
    LEAD_SOURCES,
    MappingRow,
    check_rows,
    source_label,
)

#: The "Custom field" entry of the local-field menu; its name goes in the next column.
CUSTOM = "custom"
LOCAL_CHOICES = [
    ("", "---------"),
    ("Contact", list(CONTACT_SOURCES.items())),
    ("Lead", list(LEAD_SOURCES.items())),
    ("Custom field", [(CUSTOM, "Custom field (its name →)")]),
]
#: Which form field a problem of ``check_rows`` belongs to.
FORM_FIELD = {"local field": "local_field", "sent as": "target"}


def pulled_types(account: ProviderAccount | None) -> dict[str, str]:
    """The custom fields (name -> type) the account's pulls saw."""
    if account is None or account.pk is None:
        return {}
    return dict(RemoteField.objects.filter(account=account).values_list("name", "type"))


class FieldMappingForm(forms.ModelForm):
    """One row. ``account``, ``spec`` and ``types`` are set per account by :func:`form_for`."""

    account: ProviderAccount | None = None
    types: dict[str, str] = {}

    # Menus over plain text fields: what a menu offers is checked by ``check_rows``, whose
    # words (the row, the field, the provider's own list) beat a bare "not a valid choice".
    local_field = forms.CharField(label="Local field", widget=forms.Select(choices=LOCAL_CHOICES))
    custom_name = forms.CharField(
        label="Custom field name",
        required=False,
        max_length=140,
        help_text="Only with “Custom field”: the key in the lead's or contact's custom fields.",
    )

    class Meta:
        model = FieldMapping
        fields = ["target"]

    def __init__(self, *args, row: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.row = row
        source = self.instance.source or ""
        if source.startswith(CUSTOM_PREFIX):
            self.initial.setdefault("local_field", CUSTOM)
            self.initial.setdefault("custom_name", source[len(CUSTOM_PREFIX) :])
        elif source:
            self.initial.setdefault("local_field", source)
        if "target" not in self.fields:
            return  # a page the user may only look at: the rows are shown, not edited
        self.fields["target"] = self.target_field()
        self.fields["local_field"].error_messages["required"] = self.numbered(
            "choose the local field to send."
        )
        self.fields["target"].error_messages["required"] = self.numbered(
            "choose the field it is sent as."
        )

    def target_field(self) -> forms.Field:
        """A menu of the provider's fields, or a name to type for a call variable."""
        spec = self.account.provider_class.field_mapping
        if spec.variables:
            return forms.CharField(
                label="Sent as (call variable)",
                max_length=64,
                help_text="The variable's name in the campaign's call assistant, e.g. "
                "vehicle_model.",
            )
        if spec.pulled:
            choices = [(name, f"{name} ({kind})") for name, kind in sorted(self.types.items())]
            stored = self.instance.target
            if stored and stored not in self.types:
                choices.append((stored, f"{stored} (not in the last pull)"))
            return forms.CharField(
                label="Sent as (custom field)",
                widget=forms.Select(choices=[("", "---------"), *choices]),
            )
        return forms.CharField(
            label="Sent as",
            widget=forms.Select(
                choices=[
                    ("", "---------"),
                    *((t.name, f"{t.label} ({t.name})") for t in spec.targets),
                ]
            ),
        )

    def clean(self):
        """The row's source from the menu (and the custom field's name)."""
        cleaned = super().clean()
        local = cleaned.get("local_field")
        if local == CUSTOM:
            name = (cleaned.get("custom_name") or "").strip()
            if not name:
                self.add_error("custom_name", self.numbered("name the custom field to read."))
            self.instance.source = f"{CUSTOM_PREFIX}{name}"
        elif local:
            self.instance.source = local
        return cleaned

    def numbered(self, message: str) -> str:
        return f"Row {self.row}: {message}" if self.row else message


class FieldMappingFormSet(BaseInlineFormSet):
    """The rows together: the provider's checks, each problem on its row's field."""

    def get_form_kwargs(self, index):
        return {**super().get_form_kwargs(index), "row": None if index is None else index + 1}

    def clean(self):
        super().clean()
        kept = [
            form
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE") and not form.errors
        ]
        rows = [MappingRow(form.instance.source, form.cleaned_data["target"]) for form in kept]
        account = self.instance
        spec = account.provider_class.field_mapping
        for problem in check_rows(account.provider_class.name, spec, rows, self.form.types):
            form = kept[problem.row - 1]
            form.add_error(FORM_FIELD[problem.field], form.numbered(problem.message))


def form_for(account: ProviderAccount) -> type[FieldMappingForm]:
    """The row form for this account: its provider's targets and its pulled fields."""
    return type(
        "AccountFieldMappingForm",
        (FieldMappingForm,),
        {"account": account, "types": pulled_types(account)},
    )


class FieldMappingInline(admin.TabularInline):
    """The account's rows, under their "Field mapping" heading and what it says (the
    template shows ``field_mapping_help``, which the account's change view puts in context)."""

    model = FieldMapping
    template = "admin/bridge/provideraccount/field_mapping_inline.html"
    formset = FieldMappingFormSet
    fields = ["local_field", "custom_name", "target"]
    readonly_fields = ["local_field_shown"]
    extra = 1
    verbose_name = "field mapping row"
    verbose_name_plural = "mapping rows (local field → sent as)"

    def get_fields(self, request, obj=None):
        """The menus for who may change the account; the rows in words for who may look."""
        if self.has_change_permission(request, obj):
            return self.fields
        return ["local_field_shown", "target"]

    @admin.display(description="Local field")
    def local_field_shown(self, row):
        return source_label(row.source) if row.source else "–"

    def get_formset(self, request, obj=None, **kwargs):
        kwargs["form"] = form_for(obj)
        return super().get_formset(request, obj, **kwargs)

    # The rows are part of the account's setup, like its options: whoever may change the
    # account may change them (no separate permission on the rows to hand out).
    def _account_may(self, request, obj, action: str) -> bool:
        account_admin = self.admin_site.get_model_admin(ProviderAccount)
        return getattr(account_admin, f"has_{action}_permission")(request, obj)

    def has_view_permission(self, request, obj=None):
        return self._account_may(request, obj, "view")

    def has_add_permission(self, request, obj=None):
        return self._account_may(request, obj, "change")

    def has_change_permission(self, request, obj=None):
        return self._account_may(request, obj, "change")

    def has_delete_permission(self, request, obj=None):
        return self._account_may(request, obj, "change")


def mappable(account: ProviderAccount | None) -> bool:
    """Whether the account's page shows mapping rows (its provider has fields to map to)."""
    if account is None or account.pk is None:
        return False
    try:
        return account.provider_class.field_mapping.mappable
    except KeyError:
        return False


def mapping_help(account: ProviderAccount | None):
    """What the "Field mapping" section says: what is sent by default, what may be mapped."""
    if account is None or account.pk is None:
        return "Save the account first: its provider's fields to map to are shown then."
    provider = account.provider_class
    spec = provider.field_mapping
    if not spec.mappable:
        return spec.unmappable
    parts = [format_html("<p><strong>Unmapped:</strong> {}</p>", spec.defaults)]
    if spec.targets:
        parts.append(
            format_html(
                "<p><strong>{} fields a row can fill:</strong> {}</p>",
                provider.name,
                format_html_join(
                    ", ", "{} (<code>{}</code>)", ((t.label, t.name) for t in spec.targets)
                ),
            )
        )
    if spec.pulled:
        parts.append(pulled_fields(account, provider.name))
    parts.append(
        format_html(
            "<p>{}</p>",
            "A row replaces the default of the field it fills; a blank local value then "
            "sends nothing for that field.",
        )
    )
    return format_html_join("", "{}", ((part,) for part in parts))


def pulled_fields(account: ProviderAccount, provider_name: str):
    """The custom fields the last pulls saw, with their types, or how to get them."""
    fields = list(RemoteField.objects.filter(account=account).order_by("name"))
    if not fields:
        return format_html(
            "<p><strong>No custom field seen yet.</strong> Run “Sync now” (people, with "
            "“fetch details” on): the fields {} shows on people's cards appear here with "
            "their types.</p>",
            provider_name,
        )
    return format_html(
        "<p><strong>Custom fields the last pull saw:</strong> {}</p>",
        format_html_join(
            ", ", "<code>{}</code> ({})", ((field.name, field.type) for field in fields)
        ),
    )


# --- the audit trail -----------------------------------------------------------------------


def stored_rows(account: ProviderAccount) -> list[tuple[str, str]]:
    """(source, target) of the account's rows as stored, in order."""
    return list(account.field_mappings.order_by("id").values_list("source", "target"))


def record_mapping_changes(user, account: ProviderAccount, before: list[tuple[str, str]]) -> None:
    """An audit entry when a save changed the account's rows: what was added, removed or
    changed, with the rows before and after in its details."""
    after = stored_rows(account)
    if sorted(before) == sorted(after):
        return
    added = [row for row in after if row not in before]
    removed = [row for row in before if row not in after]
    words = [f"+ {source_label(s)} → {t}" for s, t in added]
    words += [f"− {source_label(s)} → {t}" for s, t in removed]
    audit.record(
        audit.Action.MAPPING_CHANGED,
        actor=user,
        target=account,
        summary=f"Field mapping of {account.name}: " + "; ".join(words),
        details={
            "before": [{"source": s, "target": t} for s, t in before],
            "after": [{"source": s, "target": t} for s, t in after],
        },
    )
