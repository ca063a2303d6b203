"""The admin half of import and export: ``ImportExportAdminMixin`` for a changelist.

CSV and XLSX only, a size and row cap, readable messages for unreadable files, permission
checks, and a confirm step that, like the preview, refuses the whole file when any row is
invalid.
"""

from __future__ import annotations

import csv
import zipfile

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpResponseRedirect
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from import_export.admin import ImportExportMixin
from import_export.formats import base_formats
from import_export.forms import ImportForm, SelectableFieldsExportForm

from bridge import audit
from bridge.import_confirm import KeptImportMixin
from bridge.uploads import CheckedCSV, CheckedXLSX, UploadRefused

from .base import ImportFileError


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


class CsvFirstExportForm(SelectableFieldsExportForm):
    """The export form with CSV chosen, not django-import-export's blank "---" first choice
    (which only earns a "This field is required" after the click)."""

    def __init__(self, formats, resources, **kwargs):
        super().__init__(formats, resources, **kwargs)
        field = self.fields["format"]
        field.choices = [(value, title) for value, title in field.choices if value != ""]
        csv = next((value for value, title in field.choices if title.lower() == "csv"), None)
        if csv is not None:
            self.initial.setdefault("format", csv)


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
    export_form_class = CsvFirstExportForm
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
        """The confirmed import: all or nothing, even if the data changed since the preview;
        a clean one is written to the audit trail in the same transaction."""
        with transaction.atomic():
            result = super().process_dataset(
                dataset, form, request, rollback_on_validation_errors=True, **kwargs
            )
            if not (result.has_errors() or result.has_validation_errors()):
                record_import(request.user, self.model, result, form)
        return result

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


def record_import(user, model, result, form) -> None:
    """The audit entry of a confirmed import: the file's name, and rows new, updated, skipped."""
    totals = {kind: result.totals.get(kind, 0) for kind in ("new", "update", "skip")}
    name = form.cleaned_data.get("original_file_name") or "a file"
    audit.record(
        audit.Action.IMPORT,
        actor=user,
        target=model,
        count=totals["new"] + totals["update"],
        summary=f"Imported {model._meta.verbose_name_plural} from {name}: {totals['new']} new, "
        f"{totals['update']} updated, {totals['skip']} skipped",
        details={"file": name, **totals},
    )


def result_problems(result) -> list[str]:
    """Every problem of an import, one message each, rows named as in the spreadsheet."""
    problems = [str(error.error) for error in result.base_errors]
    for row in result.error_rows:
        problems += [f"Row {row.number + 1}: {error.error}" for error in row.errors]
    for row in result.invalid_rows:
        for messages_ in row.error_dict.values():
            problems += list(messages_)
    return problems
