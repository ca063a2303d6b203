"""Import and export of contacts and leads as CSV and XLSX, from their admin changelists.

Built on django-import-export. The resources say which columns a file has and how a row becomes
a Contact or a Lead: every person is matched through ``bridge.matching`` (phone, then email), so
an import updates the contact the bridge already has instead of adding a duplicate; each row goes
through the model's ``full_clean`` (phone to E.164, email lower-cased, the product-reference
rule, choices, dates); each problem is reported as "Row N, column C: problem", N being the row as
a spreadsheet numbers it (the header is row 1).

``ImportExportAdminMixin`` is the admin half: CSV and XLSX only, a size and row cap, readable
messages for unreadable files, permission checks, and a confirm step that, like the preview,
refuses the whole file when any row is invalid.
"""

from __future__ import annotations

import csv
import re
import zipfile
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation

import tablib
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db.models.functions import Lower
from django.http import HttpResponseRedirect
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils.dateparse import parse_date, parse_datetime
from import_export import resources, widgets
from import_export.admin import ImportExportMixin
from import_export.fields import Field
from import_export.formats import base_formats
from import_export.forms import ImportForm
from import_export.results import Error, RowResult

from bridge.import_confirm import KeptImportMixin
from bridge.matching import find_matching_contact
from bridge.models import Contact, Lead, Tag
from bridge.uploads import CheckedCSV, CheckedXLSX, UploadRefused

# ---------------------------------------------------------------------------------------------
# Cells and widgets: what staff type, read the way they mean it, with errors in their words.
# ---------------------------------------------------------------------------------------------


def is_blank(value) -> bool:
    """True for an empty cell (None, or only whitespace)."""
    return value is None or (isinstance(value, str) and not value.strip())


#: What a spreadsheet takes as the start of a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"[+-]?[\d\s().-]*")


def escape_formula(value):
    """A cell that would run as a spreadsheet formula, made inert with a leading apostrophe.

    Values typed into a web form ("=HYPERLINK(…)") must not execute when staff open an export
    in Excel. Signed numbers (E.164 phones like +13105550143) stay as they are.
    """
    if (
        isinstance(value, str)
        and value.startswith(FORMULA_STARTS)
        and not PLAIN_NUMBER.fullmatch(value)
    ):
        return "'" + value
    return value


def tidy_cell(value):
    """Strip text; undo the export's formula escape; turn Excel's whole-number floats
    (3105550143.0) back into integers."""
    if isinstance(value, str):
        value = value.strip()
        if value.startswith("'") and value[1:].startswith(FORMULA_STARTS):
            value = value[1:]
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def normalise_header(header) -> str:
    """A column name as the resources know it: "First name " becomes "first_name"."""
    return "_".join(str(header or "").strip().lower().split())


def split_list(value) -> list[str]:
    """The items of a comma-separated cell, stripped, blanks dropped."""
    return [item.strip() for item in str(value or "").split(",") if item.strip()]


class DateWidget(widgets.DateWidget):
    """A date as YYYY-MM-DD (or the US forms Django accepts), or an Excel date cell."""

    def clean(self, value, row=None, **kwargs):
        if isinstance(value, datetime):
            return value.date()
        try:
            return super().clean(value, row, **kwargs)
        except ValueError:
            raise ValueError(
                f"'{value}' is not a date; write it as YYYY-MM-DD, e.g. 1985-04-23."
            ) from None


class DateTimeWidget(widgets.DateTimeWidget):
    """A moment: ISO 8601 (with or without an offset), "YYYY-MM-DD HH:MM", a bare date, or an
    Excel date cell. Times without an offset are in the bridge's TIME_ZONE, as exports write them.
    """

    def clean(self, value, row=None, **kwargs):
        try:
            if isinstance(value, str):
                value = parse_datetime(value) or _midnight(parse_date(value)) or value
            return super().clean(value, row, **kwargs)
        except ValueError:
            raise ValueError(
                f"'{value}' is not a date and time; write it as YYYY-MM-DD HH:MM, "
                "e.g. 2024-05-01 14:30."
            ) from None


def _midnight(day: date | None) -> datetime | None:
    return datetime.combine(day, time()) if day else None


class PriceWidget(widgets.DecimalWidget):
    """A price in digits with a dot for cents; a "$" and thousands commas are tolerated."""

    def clean(self, value, row=None, **kwargs):
        if self.is_empty(value):
            return None
        text = str(value).strip().lstrip("$").replace(",", "").strip()
        try:
            price = Decimal(text)
        except InvalidOperation:
            price = None
        if price is None or not price.is_finite():
            raise ValueError(
                f"'{value}' is not a price; write digits with a dot for cents, e.g. 45000.50."
            )
        return price


class ChoiceWidget(widgets.CharWidget):
    """One of a model field's choices, given by its value or its label in any case."""

    def __init__(self, choices, **kwargs):
        super().__init__(**kwargs)
        self.lookup = {}
        for stored, label in choices:
            self.lookup[str(stored).lower()] = stored
            self.lookup[str(label).lower()] = stored

    def clean(self, value, row=None, **kwargs):
        text = super().clean(value, row, **kwargs).strip()
        if text.lower() in self.lookup:
            return self.lookup[text.lower()]
        allowed = ", ".join(sorted({v for v in self.lookup.values() if v}))
        raise ValueError(f"'{value}' is not one of: {allowed}.")


class OtherPhonesWidget(widgets.Widget):
    """Further phones as "mobile: +13105550100, +13105550101" (label optional)."""

    def clean(self, value, row=None, **kwargs):
        entries = []
        for item in split_list(value):
            label, sep, number = item.rpartition(":")
            entries.append({"label": label.strip() if sep else "", "phone_number": number.strip()})
        return entries

    def render(self, value, obj=None, **kwargs):
        return ", ".join(
            f"{entry['label']}: {entry['phone_number']}"
            if entry.get("label")
            else entry["phone_number"]
            for entry in value or []
            if isinstance(entry, dict) and entry.get("phone_number")
        )


class TagListWidget(widgets.Widget):
    """Tags as a comma-separated list of names (exports only; imports go through the resource)."""

    def render(self, value, obj=None, **kwargs):
        return ", ".join(tag.name for tag in value.all()) if value is not None else ""


# ---------------------------------------------------------------------------------------------
# Resources
# ---------------------------------------------------------------------------------------------


class ImportFileError(Exception):
    """A problem with the whole file (too many rows, missing columns); no row is imported."""


class BridgeResource(resources.ModelResource):
    """What both imports share: tidy cells, blank cells leave values alone, whole-file checks,
    errors named by row and column, and an export that reads the database in chunks.
    """

    #: Columns a file must have: at least one of each group.
    required_columns: tuple[tuple[str, ...], ...] = ()
    #: Permissions an import needs besides add and change on the resource's own model.
    extra_import_permissions: tuple[str, ...] = ()
    #: How rows are matched and merged, told to staff on the import page.
    import_rules = ""

    class Meta:
        # Rows are saved one by one (no bulk) so that a later row of the same file matches the
        # person an earlier row created: two rows for one person make one contact.
        use_bulk = False
        clean_model_instances = True
        skip_unchanged = False
        report_skipped = True

    def import_data(self, dataset, *args, **kwargs):
        """Check the file as a whole first; a file that fails is not imported row by row."""
        if dataset.headers:
            dataset.headers = [normalise_header(header) for header in dataset.headers]
        problem = self.file_problem(dataset)
        if problem:
            result = self.get_result_class()()
            result.total_rows = len(dataset)
            result.append_base_error(Error(ImportFileError(problem)))
            return result
        result = super().import_data(dataset, *args, **kwargs)
        known = {field.column_name for field in self.fields.values()}
        result.ignored_columns = [h for h in dataset.headers or [] if h and h not in known]
        return result

    def file_problem(self, dataset: tablib.Dataset) -> str:
        """Why this file cannot be imported at all, or ""."""
        limit = settings.BRIDGE_IMPORT_MAX_ROWS
        if len(dataset) > limit:
            return (
                f"The file has more than {limit:,} rows; import at most {limit:,} at a time "
                "(split the file)."
            )
        headers = set(dataset.headers or [])
        missing = [group for group in self.required_columns if not headers & set(group)]
        if missing:
            wanted = "; ".join(" or ".join(group) for group in missing)
            found = ", ".join(h for h in dataset.headers or [] if h) or "none"
            return f"The file is missing required columns: {wanted}. Columns found: {found}."
        return ""

    def import_row(self, row, instance_loader, **kwargs):
        """Import one row; blank rows are skipped; errors are renamed "Row N, column C: …"."""
        for column, value in row.items():
            row[column] = tidy_cell(value)
        if all(is_blank(value) for value in row.values()):
            row_result = self.get_row_result_class()()
            row_result.import_type = RowResult.IMPORT_TYPE_SKIP
            return row_result
        row_result = super().import_row(row, instance_loader, **kwargs)
        if row_result.validation_error is not None:
            row_result.validation_error = self.name_rows_and_columns(
                row_result.validation_error, row, kwargs["row_number"] + 1
            )
        return row_result

    def name_rows_and_columns(self, error: ValidationError, row, sheet_row: int):
        """The same errors, keyed by column and each saying its row, column and the value."""
        columns = {field.attribute: field.column_name for field in self.fields.values()}
        error_dict = getattr(error, "error_dict", None) or {NON_FIELD_ERRORS: error.error_list}
        named = {}
        for key, errors in error_dict.items():
            column = columns.get(key, key)
            where = (
                f"Row {sheet_row}"
                if key == NON_FIELD_ERRORS
                else f"Row {sheet_row}, column {column}"
            )
            value = row.get(column)
            texts = []
            for message in ValidationError(errors).messages:
                if not is_blank(value) and str(value) not in message:
                    message = f"{message} (the cell holds '{value}')"
                texts.append(f"{where}: {message}")
            named[column] = texts
        return ValidationError(named)

    def import_field(self, field, instance, row, is_m2m=False, **kwargs):
        """Leave the value alone when the cell is blank: an import adds and corrects, it never
        erases (and a new record keeps its defaults, e.g. a lead's status and received time)."""
        if field.column_name in row and is_blank(row[field.column_name]):
            return
        value = row.get(field.column_name)
        if isinstance(value, str) and "\x00" in value:
            # The admin's forms refuse it (Django's null-character validator); a model field
            # does not, and PostgreSQL cannot store it.
            raise ValueError("Null characters are not allowed.")
        super().import_field(field, instance, row, is_m2m, **kwargs)

    def export_field(self, field, instance, **kwargs):
        """Every exported cell is safe to open in a spreadsheet (see :func:`escape_formula`)."""
        return escape_formula(super().export_field(field, instance, **kwargs))

    def iter_queryset(self, queryset):
        """Rows in chunks from one query; Django prefetches related rows per chunk (tags)."""
        yield from queryset.iterator(chunk_size=self.get_chunk_size())


class ContactResource(BridgeResource):
    """A contact per row; matched to an existing one by phone, then email, and updated."""

    required_columns = (("email", "phone"),)
    import_rules = (
        "Each row is matched to an existing contact by phone, then by email, however they are "
        "typed: a match is updated, not duplicated, and two rows for one person make one "
        "contact. Blank cells leave the current value alone; tags are added (missing ones "
        "created), never removed. Each row needs an email or a phone."
    )

    other_phones = Field(
        attribute="other_phones", column_name="other_phones", widget=OtherPhonesWidget()
    )
    date_of_birth = Field(
        attribute="date_of_birth", column_name="date_of_birth", widget=DateWidget()
    )
    tags = Field(attribute="tags", column_name="tags", widget=TagListWidget())

    class Meta:
        model = Contact
        name = "Contacts"
        fields = (
            "first_name",
            "last_name",
            "email",
            "phone",
            "other_phones",
            "company",
            "address",
            "city",
            "state",
            "zipcode",
            "country",
            "timezone",
            "date_of_birth",
            "website",
            "lead_source",
            "notes",
            "tags",
        )
        import_order = export_order = fields

    def get_instance(self, instance_loader, row):
        """The contact this row is, by THE matching rule (bridge.matching): phone, then email."""
        return find_matching_contact(
            phone=str(row.get("phone") or ""), email=str(row.get("email") or "")
        )

    def import_instance(self, instance, row, **kwargs):
        """Set the row's values; a contact needs an email or a phone to be matched later."""
        errors = {}
        try:
            super().import_instance(instance, row, **kwargs)
        except ValidationError as exc:
            errors = exc.update_error_dict(errors)
        if is_blank(row.get("email")) and is_blank(row.get("phone")):
            errors.setdefault("email", []).append(
                "give an email or a phone (both are empty), so the contact can be matched."
            )
        if errors:
            raise ValidationError(errors)

    def import_field(self, field, instance, row, is_m2m=False, **kwargs):
        """Tags are read here and added after the contact is saved (see ``save_m2m``)."""
        if field.column_name == "tags":
            instance._import_tag_names = self.read_tag_names(row.get("tags"), kwargs.get("user"))
            return
        super().import_field(field, instance, row, is_m2m, **kwargs)

    def read_tag_names(self, cell, user) -> list[str]:
        """The tag names in the cell, once each; a ValueError naming any that cannot be used."""
        names = list({name.lower(): name for name in split_list(cell)}.values())
        limit = Tag._meta.get_field("name").max_length
        too_long = [name for name in names if len(name) > limit]
        if too_long:
            raise ValueError(f"tag name '{too_long[0][:20]}…' is longer than {limit} characters.")
        missing = {name.lower() for name in names} - set(_existing_tags(names))
        if missing and user is not None and not user.has_perm("bridge.add_tag"):
            raise ValueError(
                f"tag {', '.join(sorted(missing))} does not exist and you may not create tags."
            )
        return names

    def save_m2m(self, instance, row, **kwargs):
        """Add the row's tags, creating missing ones; tags already on the contact stay."""
        names = getattr(instance, "_import_tag_names", [])
        if not names:
            return
        existing = _existing_tags(names)
        tags = [existing.get(name.lower()) or Tag.objects.create(name=name) for name in names]
        instance.tags.add(*tags)

    def filter_export(self, queryset, **kwargs):
        return queryset.prefetch_related("tags")


def _existing_tags(names: list[str]) -> dict[str, Tag]:
    """Tags with these names, keyed by lower-cased name (names are unique regardless of case)."""
    lowered = [name.lower() for name in names]
    found = Tag.objects.annotate(lower_name=Lower("name")).filter(lower_name__in=lowered)
    return {tag.lower_name: tag for tag in found}


class LeadResource(BridgeResource):
    """A new lead per row, for the contact its email/phone match (or a new one).

    Leads are never updated by an import: ``external_id`` is exported, and a row carrying the
    id of a lead the bridge already has is skipped, so re-importing an export adds nothing.
    """

    required_columns = (("email", "phone"),)
    extra_import_permissions = ("bridge.add_contact",)
    import_rules = (
        "Each row adds a lead. Its contact is found by phone, then by email, however they are "
        "typed, or created from email, phone, first_name and last_name; an existing contact is "
        "not changed. A row whose external_id the bridge already has is skipped: an import "
        "never changes existing leads. Each row needs an email or a phone."
    )

    external_id = Field(attribute="external_id", column_name="external_id", readonly=True)
    email = Field(attribute="contact__email", column_name="email", readonly=True)
    phone = Field(attribute="contact__phone", column_name="phone", readonly=True)
    first_name = Field(attribute="contact__first_name", column_name="first_name", readonly=True)
    last_name = Field(attribute="contact__last_name", column_name="last_name", readonly=True)
    product_price = Field(
        attribute="product_price", column_name="product_price", widget=PriceWidget()
    )
    status = Field(
        attribute="status", column_name="status", widget=ChoiceWidget(Lead.Status.choices)
    )
    received_at = Field(attribute="received_at", column_name="received_at", widget=DateTimeWidget())

    class Meta:
        model = Lead
        name = "Leads"
        force_init_instance = True
        fields = (
            "external_id",
            "received_at",
            "status",
            "source",
            "email",
            "phone",
            "first_name",
            "last_name",
            "product_reference",
            "product_title",
            "product_link",
            "product_image",
            "product_price",
            "message",
        )
        import_order = export_order = fields

    def get_user_visible_fields(self):
        """The columns an import reads (external_id is export-only)."""
        return [field for field in self.get_import_fields() if field.column_name != "external_id"]

    def import_instance(self, instance, row, **kwargs):
        """Set the lead's values and find or prepare its contact; all errors together."""
        errors = {}
        try:
            super().import_instance(instance, row, **kwargs)
        except ValidationError as exc:
            errors = exc.update_error_dict(errors)
        instance._import_known_lead = self.is_known_lead(row)
        if not instance._import_known_lead:
            try:
                self.attach_contact(instance, row)
            except ValidationError as exc:
                errors = exc.update_error_dict(errors)
        if errors:
            raise ValidationError(errors)

    def attach_contact(self, instance: Lead, row) -> None:
        """The matching contact, else a new one built from the row (saved with the lead)."""
        email, phone = str(row.get("email") or ""), str(row.get("phone") or "")
        if not email and not phone:
            raise ValidationError({"email": "give the contact's email or phone (both are empty)."})
        contact = find_matching_contact(phone=phone, email=email)
        if contact is None:
            contact = Contact(
                email=email,
                phone=phone,
                first_name=str(row.get("first_name") or ""),
                last_name=str(row.get("last_name") or ""),
            )
            contact.full_clean()
        instance.contact = contact

    def is_known_lead(self, row) -> bool:
        """True when the row carries the external_id of a lead the bridge already has."""
        external_id = str(row.get("external_id") or "")
        return bool(external_id) and Lead.objects.filter(external_id=external_id).exists()

    def skip_row(self, instance, original, row, import_validation_errors=None):
        """Skip (never overwrite) a lead the bridge already has."""
        return getattr(instance, "_import_known_lead", False)

    def validate_instance(self, instance, import_validation_errors=None, validate_unique=True):
        """The lead's full_clean; its contact is left out while it is new (already checked)."""
        errors = dict(import_validation_errors or {})
        exclude = set(errors)
        if instance.contact_id is None:
            exclude.add("contact")
        try:
            instance.full_clean(exclude=exclude, validate_unique=validate_unique)
        except ValidationError as exc:
            errors = exc.update_error_dict(errors)
        if errors:
            raise ValidationError(errors)

    def before_save_instance(self, instance, row, **kwargs):
        """Save a contact the row brought in, so the next rows match it instead of adding it."""
        if instance.contact.pk is None:
            instance.contact.save()
            instance.contact = instance.contact

    def filter_export(self, queryset, **kwargs):
        return queryset.select_related("contact")


# ---------------------------------------------------------------------------------------------
# The admin half
# ---------------------------------------------------------------------------------------------


class LimitedImportForm(ImportForm):
    """The library's import form, refusing files over BRIDGE_IMPORT_MAX_BYTES."""

    def clean_import_file(self):
        upload = self.cleaned_data["import_file"]
        limit = settings.BRIDGE_IMPORT_MAX_BYTES
        if upload.size > limit:
            raise ValidationError(
                f"The file is {filesizeformat(upload.size)}; the limit is "
                f"{filesizeformat(limit)}. Split it into smaller files."
            )
        return upload


def unreadable_file_message(exc: Exception) -> str:
    """What to tell staff when the uploaded file cannot be read in the chosen format."""
    if isinstance(exc, (ImportFileError, UploadRefused)):
        return str(exc)
    if isinstance(exc, UnicodeDecodeError):
        return (
            'The file is not UTF-8 text. Save it from Excel as "CSV UTF-8 (Comma delimited)", '
            "or upload the .xlsx workbook and choose the xlsx format."
        )
    if (
        isinstance(exc, (zipfile.BadZipFile, KeyError))
        or type(exc).__name__ == "InvalidFileException"
    ):
        return (
            "The file is not an XLSX workbook. Choose the csv format for a .csv file, or save "
            "the sheet from Excel as .xlsx."
        )
    if isinstance(exc, csv.Error):
        return f"The CSV file could not be read: {exc}."
    return f"The file could not be read ({type(exc).__name__}). Check the file and its format."


class ImportExportAdminMixin(KeptImportMixin, ImportExportMixin):
    """Import (with preview and confirm) and export buttons for a changelist.

    Import needs add and change permission on the model (and whatever else the resource
    writes); export needs view permission and exports what the changelist's filters show. The
    confirmation imports only the file this session's preview kept (``KeptImportMixin``).
    """

    formats = [base_formats.CSV, base_formats.XLSX]
    #: Imports read through bridge/uploads.py: limits checked before and while parsing.
    import_formats = [CheckedCSV, CheckedXLSX]
    import_form_class = LimitedImportForm
    import_template_name = "admin/bridge/import.html"

    def get_import_context_data(self, **kwargs):
        context = super().get_import_context_data(**kwargs)
        context["import_rules"] = [resource.import_rules for resource in self.resource_classes]
        context["import_limits"] = {
            "rows": f"{settings.BRIDGE_IMPORT_MAX_ROWS:,}",
            "columns": f"{settings.BRIDGE_IMPORT_MAX_COLUMNS:,}",
            "size": settings.BRIDGE_IMPORT_MAX_BYTES,
        }
        return context

    def has_import_permission(self, request):
        extra = set()
        for resource_class in self.get_import_resource_classes(request):
            extra.update(getattr(resource_class, "extra_import_permissions", ()))
        return (
            self.has_add_permission(request)
            and self.has_change_permission(request)
            and request.user.has_perms(extra)
        )

    def has_export_permission(self, request):
        return self.has_view_permission(request)

    def add_data_read_fail_error_to_form(self, form, e):
        form.add_error("import_file", unreadable_file_message(e))

    def unreadable_message(self, exc):
        return unreadable_file_message(exc)

    def process_dataset(self, dataset, form, request, **kwargs):
        """The confirmed import: all or nothing, even if the data changed since the preview."""
        return super().process_dataset(
            dataset, form, request, rollback_on_validation_errors=True, **kwargs
        )

    def process_result(self, result, request):
        """After a confirmed import: success, or (rolled back) every problem and no write."""
        if result.has_errors() or result.has_validation_errors():
            messages.error(request, "Nothing was imported. " + " ".join(result_problems(result)))
            app_label, model_name = self.get_model_info()
            url = reverse(
                f"admin:{app_label}_{model_name}_import", current_app=self.admin_site.name
            )
            return HttpResponseRedirect(url)
        return super().process_result(result, request)


def result_problems(result) -> list[str]:
    """Every problem of an import, one message each, rows named as in the spreadsheet."""
    problems = [str(error.error) for error in result.base_errors]
    for row in result.error_rows:
        problems += [f"Row {row.number + 1}: {error.error}" for error in row.errors]
    for row in result.invalid_rows:
        for messages_ in row.error_dict.values():
            problems += list(messages_)
    return problems
