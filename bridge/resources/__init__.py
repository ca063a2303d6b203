"""Import and export of contacts and leads as CSV and XLSX, from their admin changelists.

Built on django-import-export. The resources say which columns a file has and how a row becomes
a Contact or a Lead: every person is matched through ``bridge.matching`` (phone, then email), so
an import updates the contact the bridge already has instead of adding a duplicate; each row goes
through the model's ``full_clean`` (phone to E.164, email lower-cased, the product-reference
rule, choices, dates); each problem is reported as "Row N, column C: problem", N being the row as
a spreadsheet numbers it (the header is row 1).

One module per role:

- ``widgets``: cells and widgets (dates, prices, choices, phones, tags; the formula escape);
- ``base``: ``BridgeResource``, what both resources share (whole-file checks, row errors);
- ``contacts``: ``ContactResource``;
- ``leads``: ``LeadResource``;
- ``admin``: ``ImportExportAdminMixin``, the admin half: CSV and XLSX only, a size and row cap,
  readable messages for unreadable files, permission checks, and a confirm step that, like the
  preview, refuses the whole file when any row is invalid.
"""

from .admin import (
    ImportExportAdminMixin,
    LimitedImportForm,
    result_problems,
    unreadable_file_message,
)
from .base import BridgeResource, ImportFileError
from .contacts import ContactResource
from .leads import LeadResource
from .widgets import escape_formula

__all__ = [
    "BridgeResource",
    "ContactResource",
    "ImportExportAdminMixin",
    "ImportFileError",
    "LeadResource",
    "LimitedImportForm",
    "escape_formula",
    "result_problems",
    "unreadable_file_message",
]
