"""What the contact and lead resources share: whole-file checks, tidy cells, blank cells that
leave values alone, errors named "Row N, column C: problem", and an export read in chunks.

N is the row as a spreadsheet numbers it (the header is row 1).
"""

from __future__ import annotations

import tablib
from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from import_export import resources
from import_export.results import Error, RowResult

from .widgets import escape_formula, is_blank, normalise_header, tidy_cell


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
